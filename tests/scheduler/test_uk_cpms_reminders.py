"""uk-cpms: the scheduler reads the engine's output, so a uk-cpms patient gets its reminders on
its own schedule (twice weekly while amber) and in its own words (a blood count, not an ANC)."""

from datetime import timedelta
from decimal import Decimal

import pytest

from monitoring.acts import patient_enroll, treatment_event_record
from monitoring.models import MonitoringState
from monitoring.services import anc_result_record
from notifications.models import Kind
from tests import factories
from tests.conftest import TODAY
from tests.scheduler.helpers import reminders, run_scan_on

START = TODAY - timedelta(days=20)
AMBER_DRAW = TODAY - timedelta(days=2)


def _fbc(patient, actor, day, neutrophils, wbc):
    for analyte, value in (("anc", neutrophils), ("wbc", wbc)):
        anc_result_record(
            patient=patient,
            actor=actor,
            drawn_at=factories.at(day, 9),
            value=Decimal(value),
            unit="10*9/L",
            analyte=analyte,
        )


@pytest.fixture
def amber_patient(alice, clock):
    """A uk-cpms patient in amber since two days ago: twice weekly, due tomorrow."""
    patient = factories.PatientFactory.create(
        actor=alice,
        prescriber=alice.prescriber,
        protocol="uk-cpms",
        first_name="Ada",
        last_name="Amber",
    )
    _fbc(patient, alice, START, "2.5", "5.0")
    patient_enroll(patient=patient, actor=alice, effective_date=START)
    treatment_event_record(
        patient=patient, actor=alice, kind="start", effective_date=START, reason="first"
    )
    _fbc(patient, alice, AMBER_DRAW, "1.7", "4.0")
    state = MonitoringState.objects.get(patient=patient)
    assert (state.band, state.monitoring_frequency) == ("amber", "twice_weekly")
    assert state.next_draw_due == AMBER_DRAW + timedelta(days=3)
    return patient


def test_an_amber_patient_is_reminded_of_its_blood_count_on_the_twice_weekly_due_date(
    clock, amber_patient, alice_people
):
    run_scan_on(clock, "draws", AMBER_DRAW + timedelta(days=2))
    assert not reminders().exists()

    run_scan_on(clock, "draws", AMBER_DRAW + timedelta(days=3))
    due = reminders(kind=Kind.DRAW_DUE, patient=amber_patient)
    assert due.exists()
    subjects = {n.subject for n in due}
    assert subjects == {f"blood count draw due today for patient #{amber_patient.pk} (A.A.)"}
    assert all("ANC" not in n.body for n in due)


def test_a_red_blood_count_sends_a_haematology_consult_reminder(clock, amber_patient, alice):
    # The protocol's specialty, spelt its way (the consult scan asks the patient's protocol).
    _fbc(amber_patient, alice, TODAY, "1.2", "2.8")
    state = MonitoringState.objects.get(patient=amber_patient)
    assert (state.band, state.hematology_consult) == ("red", True)

    run_scan_on(clock, "consults", TODAY, 12)

    consults = reminders(kind=Kind.CONSULT_NEEDED, patient=amber_patient)
    assert consults.exists()
    for n in consults:
        assert n.subject.startswith("Haematology consult recommended for patient #")
        assert "hematology" not in f"{n.subject} {n.body}".lower()
