"""The 24-hour repeat (docs/rules.md §1): a first low ANC asks the prescriber for a repeat at once
(`confirmation_requested`, enqueued when the result's transaction commits); the confirmations
scan (every 5 minutes) sends one urgent `confirmation_overdue` once the deadline has passed
with no repeat."""

from datetime import UTC, timedelta

import pytest
from django.core import mail

from clozrems.zones import clinic_zone
from monitoring.models import MonitoringState
from notifications.models import Channel, Kind, Status
from tests.conftest import NOW
from tests.scheduler.helpers import recipients, reminders, run_scan, subject_of

DRAWN = NOW - timedelta(hours=1)
DEADLINE = DRAWN + timedelta(hours=24)


@pytest.fixture
def patient(weekly_patient):
    return weekly_patient


def record(api, user, patient, drawn_at, value, capture):
    """POST the result as a lab user would; the callbacks run as the transaction commits."""
    body = {"drawn_at": drawn_at.isoformat(), "value": value, "unit": "/uL"}
    with capture(execute=True):
        response = api(user).post(
            f"/api/v1/patients/{patient.pk}/anc-results/", body, format="json"
        )
    assert response.status_code == 201, response.json()
    return response.json()


@pytest.fixture
def first_low(api, alice, patient, django_capture_on_commit_callbacks):
    """A first low (mild, 1200/µL) ANC drawn an hour ago, recorded through the API now."""
    data = record(api, alice, patient, DRAWN, 1200, django_capture_on_commit_callbacks)
    assert data["monitoring"]["confirmation_due"] is not None
    assert MonitoringState.objects.get(patient=patient).confirmation_due == DEADLINE
    return data


def confirmations_at(clock, moment):
    clock.move_to(moment)
    run_scan("confirmations")


def test_a_first_low_anc_asks_the_prescribers_people_for_a_repeat_at_once(
    clock, patient, first_low, alice_people, alice_prescriber
):
    requested = reminders(kind=Kind.CONFIRMATION_REQUESTED)

    assert recipients(kind=Kind.CONFIRMATION_REQUESTED) == alice_people
    assert requested.count() == len(alice_people)
    key_date = DEADLINE.astimezone(clinic_zone()).date()
    assert set(requested.values_list("subject_key", "key_date")) == {
        (subject_of(patient), key_date)
    }
    assert not any(reminder.urgent for reminder in requested)
    # The e-mail went out through Django's e-mail backend as the transaction committed.
    email = requested.get(channel=Channel.EMAIL)
    assert email.status == Status.SENT
    assert [message.to for message in mail.outbox] == [[alice_prescriber.email]]
    assert mail.outbox[0].subject == email.subject


def test_the_deadline_is_written_in_the_clinics_local_time(clock, patient, first_low):
    """A prescriber in New York reading "by 15:00+00:00" may take it for 3 pm local time, four
    hours after the real deadline: the message gives the clinic's time (settings.TIME_ZONE)."""
    local = DEADLINE.astimezone(clinic_zone()).strftime("%Y-%m-%d %H:%M %Z")  # ... 11:00 EDT
    utc_clock = DEADLINE.astimezone(UTC).strftime("%H:%M")  # 15:00
    confirmations_at(clock, DEADLINE + timedelta(minutes=1))

    told = reminders(kind__in=[Kind.CONFIRMATION_REQUESTED, Kind.CONFIRMATION_OVERDUE])
    assert set(told.values_list("kind", flat=True)) == {
        Kind.CONFIRMATION_REQUESTED,
        Kind.CONFIRMATION_OVERDUE,
    }
    for reminder in told:
        assert local in reminder.body, reminder.body
        assert utc_clock not in reminder.body, reminder.body


def test_a_first_low_anc_recorded_by_the_designee_is_still_told_to_the_prescriber(
    api, clock, patient, designee, alice, alice_people, django_capture_on_commit_callbacks
):
    record(api, designee, patient, DRAWN, 1200, django_capture_on_commit_callbacks)

    assert recipients(kind=Kind.CONFIRMATION_REQUESTED) == alice_people


def test_a_normal_result_asks_for_no_repeat(
    api, clock, alice, patient, alice_people, django_capture_on_commit_callbacks
):
    record(api, alice, patient, DRAWN, 2100, django_capture_on_commit_callbacks)

    assert not reminders().exists()


def test_the_scan_just_before_the_deadline_sends_nothing(clock, patient, first_low):
    confirmations_at(clock, DEADLINE - timedelta(minutes=1))

    assert not reminders(kind=Kind.CONFIRMATION_OVERDUE).exists()


def test_the_scan_just_after_the_deadline_sends_one_urgent_reminder_per_recipient(
    clock, patient, first_low, alice_people
):
    confirmations_at(clock, DEADLINE + timedelta(minutes=1))
    confirmations_at(clock, DEADLINE + timedelta(minutes=6))
    confirmations_at(clock, DEADLINE + timedelta(hours=5))

    overdue = reminders(kind=Kind.CONFIRMATION_OVERDUE)
    assert recipients(kind=Kind.CONFIRMATION_OVERDUE) == alice_people
    assert overdue.count() == len(alice_people), "one reminder, not one per 5-minute run"
    assert all(reminder.urgent for reminder in overdue)
    assert overdue[0].subject.startswith("URGENT")
    assert set(overdue.values_list("subject_key", flat=True)) == {subject_of(patient)}


@pytest.mark.parametrize(
    "repeat",
    [
        pytest.param(2100, id="normal repeat: the episode is refuted"),
        pytest.param(1300, id="low repeat: the episode is confirmed"),
    ],
)
def test_a_repeat_drawn_in_time_means_no_overdue_reminder(
    api, clock, alice, patient, first_low, repeat, django_capture_on_commit_callbacks
):
    clock.move_to(DEADLINE - timedelta(hours=1))
    record(
        api,
        alice,
        patient,
        DEADLINE - timedelta(hours=2),
        repeat,
        django_capture_on_commit_callbacks,
    )

    confirmations_at(clock, DEADLINE + timedelta(minutes=1))
    confirmations_at(clock, DEADLINE + timedelta(hours=2))

    assert not reminders(kind=Kind.CONFIRMATION_OVERDUE).exists()
    assert reminders(kind=Kind.CONFIRMATION_REQUESTED, channel=Channel.IN_APP).count() == 2


def test_a_repeat_drawn_after_the_deadline_does_not_undo_the_reminder_or_repeat_it(
    api, clock, alice, patient, first_low, alice_people, django_capture_on_commit_callbacks
):
    confirmations_at(clock, DEADLINE + timedelta(minutes=1))
    clock.move_to(DEADLINE + timedelta(hours=3))
    record(
        api, alice, patient, DEADLINE + timedelta(hours=2), 1400, django_capture_on_commit_callbacks
    )

    confirmations_at(clock, DEADLINE + timedelta(hours=4))

    assert reminders(kind=Kind.CONFIRMATION_OVERDUE).count() == len(alice_people)
    assert (
        not reminders(kind=Kind.CONFIRMATION_REQUESTED)
        .exclude(key_date=DEADLINE.astimezone(clinic_zone()).date())
        .exists()
    )


def test_a_low_result_after_a_normal_repeat_within_24_hours_confirms_the_first_episode(
    api, clock, alice, patient, alice_people, django_capture_on_commit_callbacks
):
    """08:00 low (repeat due by 08:00 tomorrow), 10:00 normal repeat (the episode left
    unconfirmed), 11:00 low again: within the first result's 24 hours, so it confirms that
    episode (docs/rules.md §1) - no new repeat is asked for, and the one request stands."""
    for hour, value in ((8, 1200), (10, 2100), (11, 1100)):
        record(
            api,
            alice,
            patient,
            NOW.replace(hour=hour),
            value,
            django_capture_on_commit_callbacks,
        )
    state = MonitoringState.objects.get(patient=patient)
    assert state.confirmation_due is None
    assert state.band == "mild"

    requested = reminders(kind=Kind.CONFIRMATION_REQUESTED, recipient_key__in=alice_people)

    assert requested.count() == len(alice_people)
