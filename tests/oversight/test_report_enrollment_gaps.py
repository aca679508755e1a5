"""Enrollment gaps: BEN without documentation, enrollments without labs in the 30 days before,
and lapses (30 days interrupted: re-enrollment required)."""

from datetime import timedelta

import pytest

from monitoring.services import monitoring_state_refresh
from patients.models import EnrollmentEvent, Patient
from tests import factories
from tests.conftest import TODAY
from tests.oversight.conftest import csv_rows

URL = "/api/v1/reports/enrollment-gaps/"


@pytest.fixture
def gaps(alice, bob):
    ben = factories.PatientFactory.create(
        actor=alice, prescriber=alice.prescriber, population="ben", last_name="Ben"
    )
    documented = factories.PatientFactory.create(
        actor=alice, prescriber=alice.prescriber, population="ben", last_name="Documented"
    )
    Patient.objects.filter(pk=ben.pk).update(ben_documented_by=None, ben_documented_at=None)

    stale_labs = factories.PatientFactory.create(actor=bob, prescriber=bob.prescriber)
    factories.record_anc(stale_labs, bob, TODAY - timedelta(days=45), 2200)
    # imported straight into the table: no service would have allowed it
    EnrollmentEvent.objects.create(
        patient=stale_labs, kind="enroll", effective_date=TODAY - timedelta(days=10), actor=bob
    )
    monitoring_state_refresh(patient=stale_labs)

    lapsed = factories.enrolled_patient(
        actor=bob,
        start=TODAY - timedelta(days=60),
        draws=[(TODAY - timedelta(days=50), 2100)],
        last_name="Lapsed",
    )
    factories.treatment_event_record(
        patient=lapsed,
        actor=bob,
        kind="interrupt",
        effective_date=TODAY - timedelta(days=45),
        reason="patient away",
    )
    return ben, documented, stale_labs, lapsed


def test_each_kind_of_gap_is_listed_with_its_date(api, aud, gaps):
    ben, documented, stale_labs, lapsed = gaps
    rows = api(aud).get(URL).json()["results"]

    found = sorted((r["kind"], r["patient_id"], r["date"]) for r in rows)
    assert found == sorted(
        [
            ("ben_undocumented", ben.pk, TODAY.isoformat()),
            (
                "enrolled_without_recent_labs",
                stale_labs.pk,
                (TODAY - timedelta(days=10)).isoformat(),
            ),
            ("lapse", lapsed.pk, (TODAY - timedelta(days=15)).isoformat()),
        ]
    )
    assert documented.pk not in {r["patient_id"] for r in rows}


def test_the_range_and_prescriber_filters_and_csv(api, admin, alice, bob, gaps):
    ben, documented, stale_labs, lapsed = gaps
    early = (
        api(admin)
        .get(URL, {"from": (TODAY - timedelta(days=40)).isoformat(), "to": "2026-05-01"})
        .json()["results"]
    )
    assert [r["kind"] for r in early] == ["ben_undocumented"]  # not dated by the range

    rows = csv_rows(api(admin).get(URL, {"format": "csv", "prescriber": bob.prescriber_id}))
    assert sorted(r["kind"] for r in rows) == ["enrolled_without_recent_labs", "lapse"]
    assert {r["prescriber"] for r in rows} == {bob.prescriber.name}


def _imported(patient, actor, day, *, analyte="anc", status="final", value=2200):
    """A result written straight into the table, as an import would."""
    from decimal import Decimal

    from monitoring.models import LabResult

    LabResult.objects.create(
        patient=patient,
        value=Decimal(value),
        unit="/uL",
        value_per_ul=value,
        drawn_at=factories.at(day),
        recorded_by=actor,
        analyte=analyte,
        status=status,
    )


def test_only_a_result_the_engine_counts_is_a_lab_at_enrollment(api, aud, bob):
    """A preliminary result never decides, and a uk-cpms draw needs both its counts: neither is
    a lab at enrollment; a uk-cpms draw with neutrophils and WBC is."""
    enrolled_on = TODAY - timedelta(days=5)
    patients = {}
    for name, protocol, results in [
        ("preliminary", "us-label-2015", [("anc", "preliminary")]),
        ("wbc_only", "uk-cpms", [("wbc", "final")]),
        ("full_count", "uk-cpms", [("anc", "final"), ("wbc", "final")]),
        ("final_anc", "us-label-2015", [("anc", "final")]),
    ]:
        patient = factories.PatientFactory.create(
            actor=bob, prescriber=bob.prescriber, protocol=protocol, last_name=name
        )
        for analyte, status in results:
            _imported(patient, bob, enrolled_on - timedelta(days=3), analyte=analyte, status=status)
        EnrollmentEvent.objects.create(
            patient=patient, kind="enroll", effective_date=enrolled_on, actor=bob
        )
        patients[name] = patient

    rows = api(aud).get(URL).json()["results"]
    gaps = {
        r["patient_id"]: r["detail"] for r in rows if r["kind"] == "enrolled_without_recent_labs"
    }
    assert set(gaps) == {patients["preliminary"].pk, patients["wbc_only"].pk}
    assert gaps[patients["wbc_only"].pk] == "enroll: no blood count in the 30 days before"
    assert gaps[patients["preliminary"].pk] == "enroll: no ANC in the 30 days before"
