"""docs/rules.md §2, §4, §5: interruptions, the 30-day lapse, resume, and re-enrollment."""

import pytest

from engine import treatment_event_refusal
from engine.types import (
    EnrollmentStatus,
    Frequency,
    Reason,
    TreatmentEventKind,
    TreatmentStatus,
)
from tests.engine.builders import (
    START,
    at,
    day,
    decide,
    enrollment_refusal_for,
    monthly_patient,
    started_patient,
)

STOPPED_ON = day(420)  # the day the monthly patient's treatment stops


def monthly_patient_interrupted_by(cause):
    history = monthly_patient().anc(2000, day(-14, STOPPED_ON))
    if cause == "prescriber":
        return history.interrupt(STOPPED_ON)
    return history.anc(800, at(STOPPED_ON, 9)).anc(850, at(STOPPED_ON, 15))


# --- the 30-day lapse ----------------------------------------------------------------------


@pytest.mark.parametrize("cause", [pytest.param("prescriber"), pytest.param("neutropenia")])
def test_day_29_of_a_recorded_interruption_keeps_the_enrollment(cause):
    assessment = decide(monthly_patient_interrupted_by(cause), day(29, STOPPED_ON))

    assert assessment.enrollment_status == EnrollmentStatus.ENROLLED
    assert assessment.treatment_status == TreatmentStatus.INTERRUPTED
    assert assessment.interrupted_since == STOPPED_ON
    assert assessment.lapse_on == day(30, STOPPED_ON)
    assert "patient_not_enrolled" not in assessment.reason_codes


@pytest.mark.parametrize("cause", [pytest.param("prescriber"), pytest.param("neutropenia")])
def test_day_30_of_a_recorded_interruption_requires_reenrollment(cause):
    assessment = decide(monthly_patient_interrupted_by(cause), day(30, STOPPED_ON))

    assert assessment.enrollment_status == EnrollmentStatus.REENROLLMENT_REQUIRED
    assert "patient_not_enrolled" in assessment.reason_codes
    assert assessment.monitoring_frequency is None
    assert assessment.next_draw_due is None


def test_the_lapse_is_derived_at_decision_time_at_any_hour_of_day_30():
    history = monthly_patient_interrupted_by("prescriber")

    assessment = decide(history, at(day(30, STOPPED_ON), 0, 1))

    assert assessment.enrollment_status == EnrollmentStatus.REENROLLMENT_REQUIRED


@pytest.mark.parametrize(
    ("days_after_the_supply_ran_out", "status"),
    [
        pytest.param(29, EnrollmentStatus.ENROLLED, id="day 29 without supply: enrolled"),
        pytest.param(30, EnrollmentStatus.REENROLLMENT_REQUIRED, id="day 30: lapsed"),
    ],
)
def test_thirty_days_without_supply_on_hand_lapse_the_enrollment(
    days_after_the_supply_ran_out, status
):
    # 7 days dispensed on day 40 last until day 46; day 47 is the first day without supply.
    history = started_patient().anc(2000, day(40)).dispense(day(40), 7)
    ran_out_on = day(47)

    assessment = decide(history, day(days_after_the_supply_ran_out, ran_out_on))

    assert assessment.enrollment_status == status


def test_the_supply_lapse_date_is_the_first_day_without_supply_plus_30_days():
    history = started_patient().anc(2000, day(40)).dispense(day(40), 7)

    assessment = decide(history, day(50))

    assert assessment.supply_until == day(47)
    assert assessment.lapse_on == day(77)


def test_a_recorded_interruption_after_the_supply_ran_out_counts_from_the_supply():
    history = started_patient().anc(2000, day(40)).dispense(day(40), 7).interrupt(day(60))

    assessment = decide(history, day(61))

    assert assessment.lapse_on == day(77)


def test_a_recorded_interruption_before_the_supply_runs_out_counts_from_the_interruption():
    history = started_patient().anc(2000, day(40)).dispense(day(40), 7).interrupt(day(43))

    assessment = decide(history, day(44))

    assert assessment.lapse_on == day(73)


def test_a_patient_with_no_dispenses_on_record_is_interrupted_only_by_recorded_events():
    history = started_patient()

    assessment = decide(history, day(200))

    assert assessment.enrollment_status == EnrollmentStatus.ENROLLED
    assert assessment.treatment_status == TreatmentStatus.ACTIVE
    assert assessment.lapse_on is None


@pytest.mark.parametrize(
    ("days_after_the_low_result", "status"),
    [
        pytest.param(30, EnrollmentStatus.ENROLLED, id="day 30: the authorization held it"),
        pytest.param(55, EnrollmentStatus.ENROLLED, id="day 29 after the expiry: enrolled"),
        pytest.param(56, EnrollmentStatus.REENROLLMENT_REQUIRED, id="day 30 after the expiry"),
    ],
)
def test_a_continuation_authorization_stops_the_interruption_count(
    days_after_the_low_result, status
):
    # Interrupted by neutropenia on STOPPED_ON; a continuation from +10 to +25, with a daily
    # moderate count keeping it able to allow a supply, counts as on treatment, so the count
    # starts again on +26 and the lapse falls on +56 (docs/rules.md §9.5).
    history = monthly_patient_interrupted_by("neutropenia")
    for offset in range(10, 26):
        history = history.anc(850, day(offset, STOPPED_ON))
    history = history.continuation(day(10, STOPPED_ON), day(25, STOPPED_ON))

    assessment = decide(history, day(days_after_the_low_result, STOPPED_ON))

    assert assessment.enrollment_status == status


def test_a_continuation_written_after_the_count_went_stale_does_not_stop_the_count():
    # docs/rules.md §9.5: on treatment only while it could actually allow a supply. The 850 of
    # STOPPED_ON is current for 2 days at the daily frequency; a continuation from +10 never
    # allowed anything, so the lapse falls on +30 as without it.
    history = monthly_patient_interrupted_by("neutropenia").continuation(
        day(10, STOPPED_ON), day(25, STOPPED_ON)
    )

    assert decide(history, day(30, STOPPED_ON)).enrollment_status == (
        EnrollmentStatus.REENROLLMENT_REQUIRED
    )


# --- resume ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("latest", "refusal_reasons"),
    [
        pytest.param(999, (Reason.ANC_BELOW_THRESHOLD,), id="999 is refused"),
        pytest.param(1000, None, id="1000 may resume"),
        pytest.param(1400, None, id="1400 may resume"),
    ],
)
def test_a_resume_after_moderate_needs_a_latest_anc_of_at_least_1000(latest, refusal_reasons):
    history = monthly_patient_interrupted_by("neutropenia").anc(latest, day(2, STOPPED_ON))

    refusal = treatment_event_refusal(
        history.build(), TreatmentEventKind.RESUME, day(2, STOPPED_ON)
    )

    if refusal_reasons is None:
        assert refusal is None
    else:
        assert refusal is not None
        assert refusal.kind == "rules"
        assert refusal.reasons == refusal_reasons


def test_a_recorded_resume_below_1000_does_not_lift_the_interruption():
    history = (
        monthly_patient_interrupted_by("neutropenia")
        .anc(999, day(2, STOPPED_ON))
        .resume(day(2, STOPPED_ON))
    )

    assessment = decide(history, day(2, STOPPED_ON))

    assert assessment.treatment_status == TreatmentStatus.INTERRUPTED
    assert "treatment_interrupted" in assessment.reason_codes


def test_a_resume_at_1000_lifts_a_moderate_interruption():
    history = (
        monthly_patient_interrupted_by("neutropenia")
        .anc(1000, day(2, STOPPED_ON))
        .resume(day(2, STOPPED_ON))
    )

    assessment = decide(history, day(2, STOPPED_ON))

    assert assessment.treatment_status == TreatmentStatus.ACTIVE
    assert assessment.decision == "allowed"
    assert assessment.monitoring_frequency == Frequency.THREE_TIMES_WEEKLY


@pytest.mark.parametrize(
    "resumed_on",
    [
        pytest.param(day(-1, STOPPED_ON), id="dated the day before the low result"),
        pytest.param(STOPPED_ON, id="dated the day of the low result"),
    ],
)
def test_a_resume_dated_before_the_low_result_does_not_lift_its_interruption(resumed_on):
    history = (
        monthly_patient()
        .anc(2000, day(-14, STOPPED_ON))
        .anc(800, at(STOPPED_ON, 9))
        .anc(850, at(STOPPED_ON, 15))
        .anc(1200, day(2, STOPPED_ON))
        .resume(resumed_on)
    )

    assessment = decide(history, day(2, STOPPED_ON))

    assert assessment.treatment_status == TreatmentStatus.INTERRUPTED
    assert "treatment_interrupted" in assessment.reason_codes


def test_a_new_moderate_result_after_a_resume_interrupts_again():
    resumed = (
        monthly_patient_interrupted_by("neutropenia")
        .anc(1200, day(2, STOPPED_ON))
        .resume(day(2, STOPPED_ON))
    )
    again = resumed.anc(700, day(4, STOPPED_ON))

    before = decide(resumed, day(2, STOPPED_ON))
    after = decide(again, day(4, STOPPED_ON))

    assert before.treatment_status == TreatmentStatus.ACTIVE
    assert after.treatment_status == TreatmentStatus.INTERRUPTED
    assert after.interrupted_since == day(4, STOPPED_ON)
    assert "treatment_interrupted" in after.reason_codes


def test_a_new_moderate_episode_after_full_recovery_interrupts_again():
    history = (
        monthly_patient_interrupted_by("neutropenia")
        .anc(1200, day(2, STOPPED_ON))
        .resume(day(2, STOPPED_ON))
        .anc(1600, day(5, STOPPED_ON))
        .anc(800, day(12, STOPPED_ON))
    )

    assessment = decide(history, day(12, STOPPED_ON))

    assert assessment.treatment_status == TreatmentStatus.INTERRUPTED
    assert assessment.interrupted_since == day(12, STOPPED_ON)


# --- the clock through interruptions ---------------------------------------------------------


def test_an_interruption_of_29_days_keeps_the_enrollment_and_the_schedule():
    history = (
        monthly_patient_interrupted_by("prescriber")
        .anc(2000, day(28, STOPPED_ON))
        .resume(day(29, STOPPED_ON))
    )

    assessment = decide(history, day(29, STOPPED_ON))

    assert assessment.enrollment_status == EnrollmentStatus.ENROLLED
    assert assessment.treatment_status == TreatmentStatus.ACTIVE
    assert assessment.clock_started_on == START
    assert assessment.monitoring_frequency == Frequency.MONTHLY
    assert assessment.decision == "allowed"


def test_reenrollment_after_a_lapse_restarts_the_clock_as_a_new_patient():
    reenrolled_on = day(36, STOPPED_ON)
    lapsed = monthly_patient_interrupted_by("prescriber").anc(2000, day(35, STOPPED_ON))
    restarted = lapsed.enroll(reenrolled_on).start(reenrolled_on)

    while_lapsed = decide(lapsed, day(35, STOPPED_ON))
    refusal = enrollment_refusal_for(lapsed, reenrolled_on)
    after = decide(restarted, reenrolled_on)

    assert while_lapsed.enrollment_status == EnrollmentStatus.REENROLLMENT_REQUIRED
    assert while_lapsed.clock_started_on is None
    assert refusal is None
    assert after.enrollment_status == EnrollmentStatus.ENROLLED
    assert after.treatment_status == TreatmentStatus.ACTIVE
    assert after.clock_started_on == reenrolled_on
    assert after.monitoring_frequency == Frequency.WEEKLY
    assert after.decision == "allowed"
