"""`monitoring_rebuild --check` for patients on either protocol, and stored snapshots that stay
compact and decodable (a us-label-2015 snapshot holds none of the keys only uk-cpms uses)."""

import re
from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from engine.codec import snapshot_from_json
from monitoring.acts import limit_agreement_record, patient_enroll, treatment_event_record
from monitoring.models import MonitoringState
from monitoring.services import anc_result_record, step_down_confirm
from tests import factories
from tests.conftest import NOW, TODAY

US_SNAPSHOT_KEYS = {
    "protocol",
    "population",
    "high_water",
    "enrollment_status",
    "enrolled_on",
    "treatment_status",
    "clock_started_on",
    "first_dose_on",
    "interrupted_by_prescriber_on",
    "interrupted_by_neutropenia_on",
    "lapsed_on",
    "has_dispenses",
    "supply_until",
    "latest",
    # the per-course baseline (docs/rules.md §9.8) and the episode behind the interruption
    "baseline",
    "baseline_fresh",
    "course_dosed",
    "episode",
    "weekly_until",
    "needs_rechallenge",
    "authorizations",
    "last_key",
    "format",
}


def _fbc(patient, actor, when, neutrophils, wbc):
    for analyte, value in (("anc", neutrophils), ("wbc", wbc)):
        anc_result_record(
            patient=patient,
            actor=actor,
            drawn_at=when,
            value=Decimal(value),
            unit="10*9/L",
            analyte=analyte,
        )


@pytest.fixture
def uk_patients(clock, alice):
    """A uk-cpms patient past week 18 with a confirmed step-down, a BEN one with agreed limits,
    and one in a red episode that has seen one green."""
    start = TODAY - timedelta(days=130)
    stepped = factories.PatientFactory.create(
        actor=alice, prescriber=alice.prescriber, protocol="uk-cpms"
    )
    _fbc(stepped, alice, NOW - timedelta(days=130), "2.5", "5.0")
    patient_enroll(patient=stepped, actor=alice, effective_date=start)
    treatment_event_record(
        patient=stepped, actor=alice, kind="start", effective_date=start, reason="first"
    )
    _fbc(stepped, alice, NOW - timedelta(hours=3), "2.5", "5.0")
    step_down_confirm(patient=stepped, actor=alice, frequency="every_2_weeks")

    ben = factories.PatientFactory.create(
        actor=alice, prescriber=alice.prescriber, protocol="uk-cpms", population="ben"
    )
    limit_agreement_record(
        patient=ben,
        actor=alice,
        limits={"neutrophils_green_per_ul": 1200, "neutrophils_red_per_ul": 800},
        haematologist="Dr H. Haem",
        second_haematologist="Dr S. Second",  # a red limit below the floor (docs/rules.md §9.10)
        agreed_on=TODAY - timedelta(days=10),
    )
    _fbc(ben, alice, NOW - timedelta(days=5), "1.3", "4.0")
    patient_enroll(patient=ben, actor=alice, effective_date=TODAY - timedelta(days=5))

    red = factories.PatientFactory.create(
        actor=alice, prescriber=alice.prescriber, protocol="uk-cpms"
    )
    _fbc(red, alice, NOW - timedelta(days=10), "2.5", "5.0")
    patient_enroll(patient=red, actor=alice, effective_date=TODAY - timedelta(days=10))
    treatment_event_record(
        patient=red,
        actor=alice,
        kind="start",
        effective_date=TODAY - timedelta(days=10),
        reason="first",
    )
    _fbc(red, alice, NOW - timedelta(days=2), "1.2", "3.1")
    _fbc(red, alice, NOW - timedelta(days=1), "2.2", "4.0")
    us = factories.enrolled_patient(
        actor=alice, start=TODAY - timedelta(days=20), draws=[(TODAY - timedelta(days=1), 800)]
    )
    return stepped, ben, red, us


def _check():
    out = StringIO()
    call_command("monitoring_rebuild", "--check", stdout=out)
    return out.getvalue()


def test_the_rebuild_check_passes_for_both_protocols(uk_patients):
    stepped, ben, red, us = uk_patients
    states = {s.patient_id: s for s in MonitoringState.objects.all()}

    assert states[stepped.pk].monitoring_frequency == "every_2_weeks"
    assert states[ben.pk].band == "green"
    assert (states[red.pk].band, states[red.pk].monitoring_frequency) == ("red", "daily")
    assert states[us.pk].protocol == "us-label-2015"
    assert re.search(r"checked 4 patients .* 0 with differences", _check())


def test_the_rebuild_check_sees_a_lost_step_down(uk_patients):
    stepped = uk_patients[0]
    snapshot = MonitoringState.objects.get(patient=stepped).snapshot
    del snapshot["confirmed_routine"]
    MonitoringState.objects.filter(patient=stepped).update(snapshot=snapshot)

    with pytest.raises(CommandError, match="1 stored states differ"):
        _check()


def test_the_rebuild_check_sees_a_wrong_protocol_version(uk_patients):
    MonitoringState.objects.filter(patient=uk_patients[1]).update(protocol_version="old")

    with pytest.raises(CommandError, match="1 stored states differ"):
        _check()


def test_a_us_label_snapshot_keeps_its_keys_and_decodes(uk_patients):
    us = uk_patients[3]
    stored = MonitoringState.objects.get(patient=us).snapshot

    assert set(stored) == US_SNAPSHOT_KEYS
    assert set(stored["latest"]) == {
        "result_id",
        "value_per_ul",
        "drawn_at",
        "drawn_on",
        "known_at",
    }
    assert "recovering" not in stored["episode"]
    assert snapshot_from_json(stored).protocol == "us-label-2015"


def test_a_uk_snapshot_keeps_the_wbc_and_the_recovery_run(uk_patients):
    red = uk_patients[2]
    stored = MonitoringState.objects.get(patient=red).snapshot

    assert stored["latest"]["wbc_per_ul"] == 4000
    assert stored["episode"]["recovering"] == 1
    decoded = snapshot_from_json(stored)
    assert decoded.latest is not None and decoded.latest.wbc_per_ul == 4000
