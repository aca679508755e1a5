"""The draws scan (docs/rules.md §3: a draw is due on its due date and overdue from the day after),
run as beat runs it, `monitoring.tasks.scan.delay("draws")`, with the clock frozen at 07:00
clinic time on each day of interest.

Settings: an overdue reminder on the first overdue day and every 2 days after
(CLOZREMS_OVERDUE_REPEAT_DAYS), escalation to the administrators from day 3
(CLOZREMS_OVERDUE_ESCALATE_AFTER_DAYS).
"""

from datetime import timedelta

import pytest

from monitoring.models import MonitoringState
from notifications.models import Channel, Kind, Status
from tests import factories
from tests.conftest import TODAY
from tests.scheduler.helpers import (
    occasions,
    recipients,
    reminders,
    run_scan_on,
    subject_of,
    user_key,
)

START = TODAY - timedelta(days=20)
LAST_DRAW = TODAY - timedelta(days=6)
DUE = LAST_DRAW + timedelta(days=7)  # weekly: tomorrow


def overdue(days: int):
    return DUE + timedelta(days=days)


@pytest.fixture
def patient(alice, clock):
    """Alice's weekly patient, last drawn 6 days ago: due tomorrow (DUE)."""
    patient = factories.enrolled_patient(
        actor=alice,
        start=START,
        draws=factories.weekly_draws(START, LAST_DRAW),
        first_name="Ada",
        last_name="Duedate",
    )
    assert patient.monitoring.next_draw_due == DUE
    return patient


def draws_on(clock, day, hour=7):
    run_scan_on(clock, "draws", day, hour)


# --- due today vs tomorrow -------------------------------------------------------------------


def test_the_day_before_the_due_date_sends_no_reminder(clock, patient, alice_people):
    draws_on(clock, DUE - timedelta(days=1))

    assert not reminders().exists()


def test_late_evening_before_the_due_date_is_still_the_day_before_in_the_clinics_zone(
    clock, patient, alice_people
):
    # 23:00 in New York (EDT) is 03:00 UTC on the due date.
    draws_on(clock, DUE - timedelta(days=1), hour=23)

    assert not reminders().exists()


def test_on_the_due_date_the_prescriber_its_designee_and_its_email_are_told_once(
    clock, patient, alice_people
):
    draws_on(clock, DUE)

    due = reminders(kind=Kind.DRAW_DUE)
    assert recipients(kind=Kind.DRAW_DUE) == alice_people
    assert due.count() == len(alice_people)
    for reminder in due:
        assert (reminder.subject_key, reminder.key_date) == (subject_of(patient), DUE)
        assert reminder.patient_id == patient.pk
        assert reminder.occurrence == 0
        assert not reminder.urgent
    # Not urgent: both channels wait for the morning's digest (tests/scheduler/test_digests.py).
    assert set(due.values_list("status", flat=True)) == {Status.HELD}
    assert not reminders().exclude(kind=Kind.DRAW_DUE).exists()


def test_the_reminder_names_the_patient_by_id_and_initials_only(clock, patient, alice_people):
    draws_on(clock, DUE)

    email = reminders(kind=Kind.DRAW_DUE, channel=Channel.EMAIL).get()
    assert f"patient #{patient.pk} (A.D.)" in email.subject
    assert DUE.isoformat() in email.body
    assert "Duedate" not in email.subject + email.body
    assert "Ada" not in email.subject + email.body


# --- overdue, repeats and escalation ---------------------------------------------------------


def test_the_first_overdue_day_sends_draw_overdue_occurrence_1(clock, patient, alice_people):
    draws_on(clock, DUE)
    draws_on(clock, overdue(1))

    first = reminders(kind=Kind.DRAW_OVERDUE)
    assert recipients(kind=Kind.DRAW_OVERDUE) == alice_people
    assert set(first.values_list("occurrence", "key_date")) == {(1, DUE)}
    assert first.count() == len(alice_people)
    assert "overdue 1 day(s)" in first[0].subject


def test_a_scan_first_run_on_an_overdue_day_does_not_send_a_late_due_reminder(
    clock, patient, alice_people
):
    draws_on(clock, overdue(1))

    assert not reminders(kind=Kind.DRAW_DUE).exists()
    assert reminders(kind=Kind.DRAW_OVERDUE).count() == len(alice_people)


def test_the_second_overdue_day_sends_no_repeat(clock, patient, alice_people):
    draws_on(clock, overdue(1))
    before = occasions()

    draws_on(clock, overdue(2))

    assert occasions() == before


def test_the_third_overdue_day_repeats_as_occurrence_3(clock, patient, alice_people):
    draws_on(clock, overdue(1))
    draws_on(clock, overdue(2))
    draws_on(clock, overdue(3))

    repeat = reminders(kind=Kind.DRAW_OVERDUE, occurrence=3)
    assert recipients(kind=Kind.DRAW_OVERDUE, occurrence=3) == alice_people
    assert repeat.count() == len(alice_people)
    assert set(repeat.values_list("key_date", flat=True)) == {DUE}


def test_overdue_reminders_repeat_every_second_day_while_no_draw_arrives(clock, patient, alice):
    for days in range(0, 8):
        draws_on(clock, overdue(days))

    occurrences = reminders(kind=Kind.DRAW_OVERDUE, recipient_key=user_key(alice))
    assert sorted(occurrences.values_list("occurrence", flat=True)) == [1, 3, 5, 7]


def test_no_escalation_before_the_third_overdue_day(clock, patient, admin, root, admin_people):
    draws_on(clock, overdue(1))
    draws_on(clock, overdue(2))

    assert not reminders(kind=Kind.DRAW_OVERDUE_ESCALATION).exists()
    assert not recipients() & admin_people


def test_on_the_third_overdue_day_admins_and_superusers_are_told_once(
    clock, patient, admin, root, admin_people, alice_people
):
    draws_on(clock, overdue(3))
    draws_on(clock, overdue(4))
    draws_on(clock, overdue(5))

    escalation = reminders(kind=Kind.DRAW_OVERDUE_ESCALATION)
    assert recipients(kind=Kind.DRAW_OVERDUE_ESCALATION) == admin_people
    assert escalation.count() == len(admin_people), "once per administrator, not daily"
    assert all(reminder.urgent for reminder in escalation)
    assert set(escalation.values_list("subject_key", "key_date")) == {(subject_of(patient), DUE)}
    # The administrators hear only of the escalation; the prescriber's people keep the repeats.
    assert set(reminders(recipient_key__in=admin_people).values_list("kind", flat=True)) == {
        Kind.DRAW_OVERDUE_ESCALATION
    }
    assert not recipients(kind=Kind.DRAW_OVERDUE_ESCALATION) & alice_people


def test_a_draw_recorded_on_the_due_date_stops_the_reminders(clock, patient, alice, admin):
    draws_on(clock, DUE)
    clock.move_to(factories.at(DUE, 11))
    factories.record_anc(patient, alice, DUE, 2200, hour=10)

    for days in range(1, 5):
        draws_on(clock, overdue(days))

    assert not reminders(kind__in=[Kind.DRAW_OVERDUE, Kind.DRAW_OVERDUE_ESCALATION]).exists()


# --- who is told -----------------------------------------------------------------------------


def test_another_prescribers_users_hear_nothing(clock, patient, bob, bob_prescriber):
    for days in range(0, 4):
        draws_on(clock, overdue(days))

    told = recipients()
    assert user_key(bob) not in told
    assert f"email:{bob_prescriber.email.lower()}" not in told


def test_an_inactive_designee_hears_nothing(clock, patient, designee, alice_people):
    designee.is_active = False
    designee.save(update_fields=["is_active"])

    draws_on(clock, DUE)

    assert recipients(kind=Kind.DRAW_DUE) == alice_people - {user_key(designee)}


def test_the_admin_who_recorded_the_result_is_not_told_unless_escalated(
    clock, alice, designee, alice_people, admin, root, admin_people
):
    """Reminders follow the accountable prescriber, not whoever touched the record last."""
    patient = factories.enrolled_patient(
        actor=alice, start=START, draws=factories.weekly_draws(START, LAST_DRAW - timedelta(7))
    )
    factories.record_anc(patient, admin, LAST_DRAW, 2100)
    assert MonitoringState.objects.get(patient=patient).next_draw_due == DUE

    for days in range(0, 3):
        draws_on(clock, overdue(days))

    assert recipients() == alice_people
    assert not recipients() & admin_people

    draws_on(clock, overdue(3))

    assert recipients(recipient_key__in=admin_people) == admin_people
    assert set(reminders(recipient_key=user_key(admin)).values_list("kind", flat=True)) == {
        Kind.DRAW_OVERDUE_ESCALATION
    }


def test_another_prescriber_who_recorded_the_result_hears_nothing(
    clock, alice, designee, bob, alice_people
):
    """Bob recorded the last draw of Alice's patient (through the service, as a lab feed or a
    covering colleague might): the reminders still go to Alice's people only."""
    patient = factories.enrolled_patient(
        actor=alice, start=START, draws=factories.weekly_draws(START, LAST_DRAW - timedelta(7))
    )
    factories.record_anc(patient, bob, LAST_DRAW, 2100)

    draws_on(clock, DUE)

    assert recipients() == alice_people
    assert user_key(bob) not in recipients()


# --- who is not reminded at all --------------------------------------------------------------


def test_enrolled_patients_not_started_get_no_draw_reminder(clock, alice, alice_people):
    patient = factories.enrolled_patient(actor=alice, start=START, started=False)
    state = MonitoringState.objects.get(patient=patient)
    assert state.treatment_status == "not_started"

    for days in range(-1, 5):
        draws_on(clock, overdue(days))

    assert not reminders(subject_key=subject_of(patient)).exists()


def test_patients_not_enrolled_get_no_draw_reminder(clock, alice, alice_people):
    pending = factories.PatientFactory.create(actor=alice, prescriber=alice.prescriber)
    factories.record_anc(pending, alice, START, 2300)
    assert pending.enrollment_status == "pending"

    for days in range(-1, 5):
        draws_on(clock, overdue(days))

    assert not reminders(subject_key=subject_of(pending)).exists()


def test_a_discontinued_patient_gets_no_draw_reminder(clock, alice, patient):
    from monitoring.acts import treatment_event_record

    treatment_event_record(
        patient=patient, actor=alice, kind="discontinue", effective_date=TODAY, reason="stopped"
    )

    for days in range(0, 5):
        draws_on(clock, overdue(days))

    assert not reminders(subject_key=subject_of(patient)).exists()


# --- idempotency -----------------------------------------------------------------------------


def test_running_the_scan_twice_on_a_day_gives_the_same_rows(
    clock, patient, alice_people, admin_people
):
    draws_on(clock, overdue(3))
    first = occasions()

    draws_on(clock, overdue(3), hour=8)

    assert first
    assert occasions() == first
