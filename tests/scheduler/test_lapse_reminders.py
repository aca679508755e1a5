"""The 30-day lapse (docs/rules.md §4): a recorded interruption 30 days old means re-enrollment
(day 30 counts; day 29 keeps the enrollment). The lapses scan (06:30 daily) warns the
prescriber's people a week before (day 23), and on day 30 marks the patient
`reenrollment_required` in the stored state and tells them, once."""

from datetime import timedelta

import pytest

from monitoring.acts import treatment_event_record
from monitoring.models import MonitoringState
from notifications.models import Kind
from patients.models import Patient
from tests.conftest import TODAY
from tests.factories import at
from tests.scheduler.helpers import occasions, recipients, reminders, run_scan_on, subject_of

INTERRUPTED_ON = TODAY
LAPSE_ON = INTERRUPTED_ON + timedelta(days=30)


def day(n):
    return INTERRUPTED_ON + timedelta(days=n)


def lapses_on(clock, n, hour=6, minute=30):
    run_scan_on(clock, "lapses", day(n), hour, minute)


def stored_statuses(patient):
    state = MonitoringState.objects.get(patient=patient)
    record = Patient.objects.get(pk=patient.pk)
    return state.enrollment_status, record.enrollment_status


@pytest.fixture
def interrupted(weekly_patient, alice, clock):
    """Alice's patient (no dispenses on record), interrupted by the prescriber today."""
    treatment_event_record(
        patient=weekly_patient,
        actor=alice,
        kind="interrupt",
        effective_date=INTERRUPTED_ON,
        reason="patient admitted elsewhere",
    )
    assert MonitoringState.objects.get(patient=weekly_patient).lapse_on == LAPSE_ON
    return weekly_patient


def test_day_22_of_the_interruption_sends_no_warning(clock, interrupted):
    lapses_on(clock, 22)

    assert not reminders().exists()


def test_day_23_warns_the_prescribers_people_that_the_lapse_is_a_week_away(
    clock, interrupted, alice_people
):
    lapses_on(clock, 23)

    warning = reminders(kind=Kind.LAPSE_WARNING)
    assert recipients(kind=Kind.LAPSE_WARNING) == alice_people
    assert warning.count() == len(alice_people)
    assert set(warning.values_list("subject_key", "key_date")) == {
        (subject_of(interrupted), LAPSE_ON)
    }
    assert LAPSE_ON.isoformat() in warning[0].body
    assert not reminders(kind=Kind.LAPSED).exists()


def test_the_warning_is_sent_once_through_day_29_and_the_patient_stays_enrolled(
    clock, interrupted, alice_people
):
    for n in range(23, 30):
        lapses_on(clock, n)

    assert reminders(kind=Kind.LAPSE_WARNING).count() == len(alice_people)
    assert not reminders(kind=Kind.LAPSED).exists()
    assert stored_statuses(interrupted) == ("enrolled", "enrolled")


def test_day_30_marks_the_patient_reenrollment_required_and_tells_the_prescriber(
    clock, interrupted, alice_people
):
    lapses_on(clock, 29)
    assert stored_statuses(interrupted) == ("enrolled", "enrolled")

    lapses_on(clock, 30)

    lapsed = reminders(kind=Kind.LAPSED)
    assert recipients(kind=Kind.LAPSED) == alice_people
    assert lapsed.count() == len(alice_people)
    assert all(reminder.urgent for reminder in lapsed)
    assert set(lapsed.values_list("subject_key", "key_date")) == {
        (subject_of(interrupted), LAPSE_ON)
    }
    assert stored_statuses(interrupted) == ("reenrollment_required", "reenrollment_required")
    state = MonitoringState.objects.get(patient=interrupted)
    assert state.lapsed_on == LAPSE_ON
    assert state.next_draw_due is None
    assert state.monitoring_frequency is None


def test_the_patient_record_shows_reenrollment_required_through_the_api(
    api, clock, interrupted, alice
):
    lapses_on(clock, 30)

    response = api(alice).get(f"/api/v1/patients/{interrupted.pk}/")

    assert response.status_code == 200
    assert response.json()["enrollment_status"] == "reenrollment_required"


def test_the_next_days_scan_sends_no_duplicate(clock, interrupted, alice_people):
    lapses_on(clock, 30)
    first = occasions()

    lapses_on(clock, 31)
    lapses_on(clock, 32, hour=14)

    assert occasions() == first
    assert stored_statuses(interrupted) == ("reenrollment_required", "reenrollment_required")


def test_a_run_missed_on_day_30_still_marks_and_tells_later(clock, interrupted, alice_people):
    lapses_on(clock, 33)

    assert recipients(kind=Kind.LAPSED) == alice_people
    assert set(reminders(kind=Kind.LAPSED).values_list("key_date", flat=True)) == {LAPSE_ON}
    assert stored_statuses(interrupted) == ("reenrollment_required", "reenrollment_required")


def test_a_resume_on_day_29_means_no_lapse(clock, interrupted, alice, alice_people):
    lapses_on(clock, 23)
    clock.move_to(at(day(29), 10))
    treatment_event_record(
        patient=interrupted, actor=alice, kind="resume", effective_date=day(29), reason="back"
    )

    lapses_on(clock, 30)
    lapses_on(clock, 31)

    assert not reminders(kind=Kind.LAPSED).exists()
    assert stored_statuses(interrupted) == ("enrolled", "enrolled")


def test_another_prescribers_users_hear_nothing_of_the_lapse(clock, interrupted, bob):
    lapses_on(clock, 23)
    lapses_on(clock, 30)

    assert f"user:{bob.pk}" not in recipients()


def test_thirty_days_without_supply_on_hand_lapse_too(clock, weekly_patient, phil, pharmacy):
    """docs/rules.md §4: no supply on hand for 30 days is an interruption of 30 days as well."""
    from pharmacy.services import dispense_record

    dispense_record(patient=weekly_patient, pharmacy=pharmacy, actor=phil, days_supply=7)
    lapse_on = MonitoringState.objects.get(patient=weekly_patient).lapse_on
    assert lapse_on is not None
    first_day_without_supply = lapse_on - timedelta(days=30)
    assert first_day_without_supply == TODAY + timedelta(days=7)  # 7 days: today to day 6

    run_scan_on(clock, "lapses", lapse_on - timedelta(days=8), 6, 30)
    assert not reminders().exists()
    run_scan_on(clock, "lapses", lapse_on - timedelta(days=7), 6, 30)
    assert set(reminders().values_list("kind", flat=True)) == {Kind.LAPSE_WARNING}
    run_scan_on(clock, "lapses", lapse_on - timedelta(days=1), 6, 30)
    assert stored_statuses(weekly_patient) == ("enrolled", "enrolled")

    run_scan_on(clock, "lapses", lapse_on, 6, 30)

    assert reminders(kind=Kind.LAPSED).exists()
    assert stored_statuses(weekly_patient) == ("reenrollment_required", "reenrollment_required")


def test_the_lapse_is_stored_as_a_rebuild_at_that_moment_would_store_it(clock, interrupted):
    """The scan has no writer of its own for the state's columns: what it stores on day 30 is
    what rebuilding the patient from its history at that moment writes."""
    from monitoring.services import STATE_COLUMNS, monitoring_state_compute

    lapses_on(clock, 30)

    stored = MonitoringState.objects.get(patient=interrupted)
    rebuilt = monitoring_state_compute(
        patient=Patient.objects.get(pk=interrupted.pk), now=stored.computed_at
    )
    compared = [name for name in STATE_COLUMNS if name != "computed_at"]
    assert {n: getattr(stored, n) for n in compared} == {n: getattr(rebuilt, n) for n in compared}
    assert stored.enrollment_status == "reenrollment_required"
    assert stored.computed_at == at(day(30), 6, 30)  # written by the scan, at its moment
