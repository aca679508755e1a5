"""`monitoring_rebuild` by chunks of patient ids (rows read by id range, states written in one
statement) gives the states the per-patient path writes, and costs the same number of queries
for a chunk of 3 patients as for one of 12."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from monitoring.models import MonitoringState
from monitoring.services import (
    STATE_COLUMNS,
    monitoring_state_refresh,
    monitoring_states_rebuild,
    monitoring_states_rebuild_range,
)
from patients.models import Dispense, Patient
from tests import factories
from tests.conftest import TODAY


def _mixed(alice, pharmacy, copies: int = 1) -> list[Patient]:
    """Patients of every kind the rebuild meets: weekly draws, a moderate count that
    interrupted, a BEN patient, enrolled but not started, not enrolled, lapsed with a supply."""
    made: list[Patient] = []
    start = TODAY - timedelta(days=30)
    for _ in range(copies):
        made.append(
            factories.enrolled_patient(
                actor=alice, start=start, draws=factories.weekly_draws(start, TODAY)
            )
        )
        made.append(
            factories.enrolled_patient(
                actor=alice,
                start=start,
                draws=[(TODAY - timedelta(days=20), 2100), (TODAY - timedelta(days=1), 800)],
            )
        )
        made.append(
            factories.enrolled_patient(
                actor=alice,
                start=start,
                population="ben",
                baselines=(1400, 1600),
                draws=factories.weekly_draws(start, TODAY, value=1300),
            )
        )
        made.append(
            factories.enrolled_patient(actor=alice, start=TODAY - timedelta(days=3), started=False)
        )
        made.append(factories.PatientFactory.create(actor=alice, prescriber=alice.prescriber))
        lapsed = factories.enrolled_patient(
            actor=alice,
            start=TODAY - timedelta(days=90),
            draws=[(TODAY - timedelta(days=85), 2100)],
        )
        Dispense.objects.create(
            patient=lapsed,
            pharmacy=pharmacy,
            recorded_by=alice,
            dispensed_at=timezone.now() - timedelta(days=84),
            days_supply=7,
            authorization_code=f"T{lapsed.pk:07d}",
            decision_as_answered={},
        )
        made.append(lapsed)
    return made


def _states() -> dict[int, dict[str, object]]:
    states = {
        state.patient_id: {name: getattr(state, name) for name in STATE_COLUMNS}
        for state in MonitoringState.objects.all()
    }
    for pk, enrollment, treatment in Patient.objects.values_list(
        "pk", "enrollment_status", "treatment_status"
    ):
        states.setdefault(pk, {})["patient"] = (enrollment, treatment)
    return states


def _spoil(patients: list[Patient]) -> None:
    """Stored states that differ from the histories in every way the rebuild repairs."""
    MonitoringState.objects.filter(patient=patients[0]).delete()
    MonitoringState.objects.filter(patient=patients[1]).update(
        snapshot={"format": 0}, high_water=None, band="normal", protocol_version=""
    )
    Patient.objects.filter(pk=patients[2].pk).update(
        enrollment_status="pending", treatment_status="not_started"
    )
    MonitoringState.objects.filter(patient=patients[5]).update(lapse_on=None, lapsed_on=None)


@pytest.fixture
def pharmacy(db):
    return factories.PharmacyFactory.create()


def test_the_chunked_rebuild_writes_what_the_per_patient_path_writes(clock, alice, pharmacy):
    patients = _mixed(alice, pharmacy, copies=2)
    _spoil(patients)

    out = StringIO()
    call_command("monitoring_rebuild", "--chunk", "5", stdout=out)
    chunked = _states()

    _spoil(patients)
    for patient in Patient.objects.order_by("pk"):
        with transaction.atomic():
            monitoring_state_refresh(patient=patient)
    per_patient = _states()

    assert "rebuilt 12 patients" in out.getvalue()
    assert chunked == per_patient
    # Not a trivial equality: the histories make different states.
    assert len({str(state["snapshot"]) for state in chunked.values()}) > 4
    assert {state["patient"] for state in chunked.values()} >= {
        ("enrolled", "active"),
        ("enrolled", "interrupted"),
        ("reenrollment_required", "interrupted"),
        ("pending", "not_started"),
    }


def test_a_list_of_patients_and_their_id_range_give_the_same_states(clock, alice, pharmacy):
    patients = _mixed(alice, pharmacy)
    call_command("monitoring_rebuild", stdout=StringIO())  # the supply written behind its back
    now = timezone.now()
    _spoil(patients)
    patients = list(Patient.objects.filter(pk__in=[p.pk for p in patients]).order_by("pk"))
    with transaction.atomic():
        by_list = monitoring_states_rebuild(patients=patients, now=now)
    listed = _states()
    # The instances given follow their rows.
    assert (patients[2].enrollment_status, patients[2].treatment_status) == listed[patients[2].pk][
        "patient"
    ]
    assert patients[2].enrollment_status == "enrolled"

    _spoil(patients)
    ids = [p.pk for p in patients]
    with transaction.atomic():
        count, by_range = monitoring_states_rebuild_range(lo=min(ids), hi=max(ids) + 1, now=now)

    assert count == len(patients)
    assert by_range == by_list
    # What --check compares: the row, the snapshot and its high-water mark, the version.
    assert by_list == {
        patients[0].pk: ["missing"],
        patients[1].pk: ["snapshot", "high_water", "protocol_version"],
    }
    assert _states() == listed


def _queries(lo: int, hi: int, *, check: bool) -> int:
    with CaptureQueriesContext(connection) as captured, transaction.atomic():
        monitoring_states_rebuild_range(lo=lo, hi=hi, now=timezone.now(), check=check)
    return len(captured.captured_queries)


@pytest.mark.parametrize("check", [True, False], ids=["check", "rebuild"])
def test_a_chunk_costs_the_same_queries_whatever_its_size(clock, alice, pharmacy, check):
    small = _mixed(alice, pharmacy)
    more = _mixed(alice, pharmacy, copies=3)
    call_command("monitoring_rebuild", stdout=StringIO())
    lo = small[0].pk

    few = _queries(lo, small[-1].pk + 1, check=check)
    many = _queries(lo, more[-1].pk + 1, check=check)

    assert few == many
    # The patients, the history tables, the stored states; and one upsert when rebuilding.
    assert few <= 14
