"""Hematology consult (docs/rules.md §1: flagged for general moderate and severe): a daily
`consult_needed` reminder until the prescriber acknowledges it for the episode
(POST /api/v1/patients/{id}/consult-acknowledgement/); a new episode starts them again."""

from datetime import timedelta

import pytest

from monitoring.models import ConsultAcknowledgement, MonitoringState
from notifications.models import Kind
from tests import factories
from tests.conftest import TODAY
from tests.scheduler.helpers import recipients, reminders, run_scan_on, subject_of, user_key

FIRST_LOW = factories.at(TODAY, 9)


def acknowledge(api, user, patient, note="hematology booked for Friday"):
    return api(user).post(
        f"/api/v1/patients/{patient.pk}/consult-acknowledgement/", {"note": note}, format="json"
    )


def consults_on(clock, day, hour=8):
    run_scan_on(clock, "consults", day, hour)


@pytest.fixture
def moderate(weekly_patient, alice, clock):
    """Alice's patient with a moderate ANC (800/µL) drawn this morning: consult flagged."""
    factories.record_anc(weekly_patient, alice, TODAY, 800, hour=9)
    state = MonitoringState.objects.get(patient=weekly_patient)
    assert state.hematology_consult
    assert state.episode_opened_at == FIRST_LOW
    return weekly_patient


def consult_days(user):
    rows = reminders(kind=Kind.CONSULT_NEEDED, recipient_key=user_key(user))
    return sorted(rows.values_list("key_date", flat=True))


def test_a_moderate_result_sends_a_consult_reminder_to_the_prescribers_people(
    clock, moderate, alice_people
):
    consults_on(clock, TODAY, hour=12)

    assert recipients(kind=Kind.CONSULT_NEEDED) == alice_people
    assert set(reminders(kind=Kind.CONSULT_NEEDED).values_list("subject_key", "key_date")) == {
        (subject_of(moderate), TODAY)
    }


def test_the_consult_reminder_repeats_once_a_day_until_acknowledged(clock, moderate, alice):
    consults_on(clock, TODAY, hour=12)
    consults_on(clock, TODAY, hour=18)
    for days in (1, 2):
        consults_on(clock, TODAY + timedelta(days=days))
        consults_on(clock, TODAY + timedelta(days=days), hour=9)

    assert consult_days(alice) == [TODAY, TODAY + timedelta(days=1), TODAY + timedelta(days=2)]


def test_after_the_prescriber_acknowledges_no_reminder_the_next_day(
    api, clock, moderate, alice, alice_people
):
    consults_on(clock, TODAY, hour=12)

    response = acknowledge(api, alice, moderate)

    assert response.status_code == 201, response.json()
    assert response.json()["id"] == moderate.pk
    acknowledgement = ConsultAcknowledgement.objects.get(patient=moderate)
    assert acknowledgement.acknowledged_by == alice
    assert acknowledgement.episode_opened_at == FIRST_LOW
    assert acknowledgement.note == "hematology booked for Friday"

    for days in (1, 2, 3):
        consults_on(clock, TODAY + timedelta(days=days))

    assert consult_days(alice) == [TODAY]
    assert reminders(kind=Kind.CONSULT_NEEDED).count() == len(alice_people)


def test_a_new_episode_after_recovery_brings_the_reminders_back(
    api, clock, moderate, alice, alice_people
):
    assert acknowledge(api, alice, moderate).status_code == 201
    # Recovery (>= 1500/µL) two days later closes the episode.
    clock.move_to(factories.at(TODAY + timedelta(days=2), 12))
    factories.record_anc(moderate, alice, TODAY + timedelta(days=2), 1600, hour=9)
    assert not MonitoringState.objects.get(patient=moderate).hematology_consult
    consults_on(clock, TODAY + timedelta(days=3))
    assert consult_days(alice) == []

    # A new moderate result opens a new episode.
    new_low_day = TODAY + timedelta(days=4)
    clock.move_to(factories.at(new_low_day, 12))
    factories.record_anc(moderate, alice, new_low_day, 700, hour=9)
    consults_on(clock, new_low_day, hour=12)
    consults_on(clock, new_low_day + timedelta(days=1))

    assert consult_days(alice) == [new_low_day, new_low_day + timedelta(days=1)]
    assert recipients(kind=Kind.CONSULT_NEEDED) == alice_people

    # ... and that episode needs its own acknowledgement.
    assert acknowledge(api, alice, moderate).status_code == 201
    consults_on(clock, new_low_day + timedelta(days=2))
    assert consult_days(alice) == [new_low_day, new_low_day + timedelta(days=1)]


def test_a_mild_result_flags_no_consult(clock, weekly_patient, alice):
    factories.record_anc(weekly_patient, alice, TODAY, 1200, hour=9)

    consults_on(clock, TODAY, hour=12)

    assert not reminders(kind=Kind.CONSULT_NEEDED).exists()


# --- who may acknowledge ---------------------------------------------------------------------


def test_a_pharmacist_may_not_acknowledge_a_consult(api, clock, moderate, phil):
    response = acknowledge(api, phil, moderate)

    assert response.status_code == 403
    assert not ConsultAcknowledgement.objects.exists()


def test_another_prescriber_gets_404_for_a_patient_not_its_own(api, clock, moderate, bob):
    response = acknowledge(api, bob, moderate)

    assert response.status_code == 404
    assert not ConsultAcknowledgement.objects.exists()


def test_acknowledging_with_no_consult_flagged_is_409(api, clock, weekly_patient, alice):
    response = acknowledge(api, alice, weekly_patient)

    assert response.status_code == 409
    assert not ConsultAcknowledgement.objects.exists()


def test_acknowledging_the_same_episode_twice_is_409(api, clock, moderate, alice):
    assert acknowledge(api, alice, moderate).status_code == 201

    response = acknowledge(api, alice, moderate)

    assert response.status_code == 409
    assert ConsultAcknowledgement.objects.count() == 1


def test_anonymous_acknowledgement_is_401(api, clock, moderate):
    assert acknowledge(api, None, moderate).status_code == 401
