"""docs/rules.md §4: enrollment, re-enrollment and the 30-day lab rule; §7 for pending patients."""

import pytest

from engine.types import (
    EnrollmentStatus,
    Population,
    Reason,
    TreatmentStatus,
    Verdict,
)
from tests.engine.builders import (
    START,
    UTC,
    at,
    ben,
    day,
    decide,
    enrollment_refusal_for,
    general,
    started_patient,
)

ENROLL_ON = START


def refusal_reasons(history, on=ENROLL_ON, **kwargs):
    refusal = enrollment_refusal_for(history, on, **kwargs)
    if refusal is None:
        return None
    assert refusal.kind == "rules"
    return refusal.reasons


# --- the 30-day lab rule ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("drawn_days_before", "reasons"),
    [
        pytest.param(0, None, id="drawn on the enrollment date"),
        pytest.param(29, None, id="drawn 29 days before"),
        pytest.param(30, None, id="drawn 30 days before"),
        pytest.param(31, (Reason.ANC_NOT_RECENT,), id="drawn 31 days before"),
        pytest.param(90, (Reason.ANC_NOT_RECENT,), id="drawn 90 days before"),
    ],
)
def test_enrollment_needs_an_anc_drawn_in_the_30_days_before_the_enrollment_date(
    drawn_days_before, reasons
):
    history = general().anc(2000, day(-drawn_days_before, ENROLL_ON))

    assert refusal_reasons(history) == reasons


def test_the_30_days_are_counted_in_local_calendar_dates():
    # 23:30 local on day -31 is already day -30 in UTC; the local date decides.
    drawn_at = at(day(-31, ENROLL_ON), 23, 30).astimezone(UTC)
    history = general().anc(2000, drawn_at)

    assert refusal_reasons(history) == (Reason.ANC_NOT_RECENT,)


def test_enrollment_with_no_anc_at_all_is_refused_as_not_recent():
    assert refusal_reasons(general()) == (Reason.ANC_NOT_RECENT,)


@pytest.mark.parametrize(
    ("population", "value", "reasons"),
    [
        pytest.param(Population.GENERAL, 1500, None, id="general 1500 qualifies"),
        pytest.param(
            Population.GENERAL, 1499, (Reason.ANC_BELOW_THRESHOLD,), id="general 1499 is below"
        ),
        pytest.param(
            Population.GENERAL, 800, (Reason.ANC_BELOW_THRESHOLD,), id="general 800 is below"
        ),
        pytest.param(Population.BEN, 1000, None, id="ben 1000 qualifies"),
        pytest.param(Population.BEN, 999, (Reason.ANC_BELOW_THRESHOLD,), id="ben 999 is below"),
    ],
)
def test_the_enrollment_anc_must_be_in_the_normal_band_of_the_population(
    population, value, reasons
):
    history = general() if population == Population.GENERAL else ben().anc(1200, day(-20))
    history = history.anc(value, day(-2, ENROLL_ON))

    assert refusal_reasons(history) == reasons


def test_a_normal_result_followed_by_a_low_one_does_not_qualify():
    history = general().anc(2000, day(-10, ENROLL_ON)).anc(1400, day(-2, ENROLL_ON))

    assert refusal_reasons(history) == (Reason.ANC_BELOW_THRESHOLD,)


def test_the_lab_rule_is_checked_against_the_enrollments_effective_date():
    # A patient brought in with its history: a later low result does not undo the enrollment's
    # qualifying result, and an old date is judged by the results before it.
    history = general().anc(2000, day(-5, ENROLL_ON)).anc(800, day(10, ENROLL_ON))

    assert refusal_reasons(history, on=ENROLL_ON) is None
    assert refusal_reasons(history, on=day(-40, ENROLL_ON)) == (Reason.ANC_NOT_RECENT,)


# --- BEN baselines -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("baseline_days_before", "reasons"),
    [
        pytest.param((2,), (Reason.BASELINE_INCOMPLETE,), id="one baseline is incomplete"),
        pytest.param((20, 2), None, id="two baselines within 30 days"),
        pytest.param((60, 2), None, id="two baselines, the later within 30 days"),
        pytest.param((90, 60), (Reason.ANC_NOT_RECENT,), id="two baselines, both too old"),
    ],
)
def test_a_ben_patient_needs_two_baseline_ancs_the_later_within_30_days(
    baseline_days_before, reasons
):
    history = ben()
    for days_before in baseline_days_before:
        history = history.anc(1200, day(-days_before, ENROLL_ON))

    assert refusal_reasons(history) == reasons


# --- who enrolls, and enrolling twice ----------------------------------------------------------


def test_an_uncertified_prescriber_cannot_enroll():
    history = general().anc(2000, day(-2, ENROLL_ON))

    reasons = refusal_reasons(history, prescriber_certified=False)

    assert reasons == (Reason.PRESCRIBER_NOT_CERTIFIED,)


def test_every_enrollment_refusal_is_reported_at_once():
    history = ben().anc(1200, day(-40, ENROLL_ON))

    reasons = refusal_reasons(history, prescriber_certified=False)

    assert reasons == (
        Reason.PRESCRIBER_NOT_CERTIFIED,
        Reason.ANC_NOT_RECENT,
        Reason.BASELINE_INCOMPLETE,
    )


def test_enrolling_an_enrolled_patient_is_a_conflict():
    history = general().anc(2000, day(-2, ENROLL_ON)).enroll(ENROLL_ON)

    refusal = enrollment_refusal_for(history, day(5, ENROLL_ON))

    assert refusal is not None
    assert refusal.kind == "conflict"


# --- decisions for a patient who is not enrolled -----------------------------------------------


def test_a_pending_patient_gets_no_monitoring_frequency_and_is_blocked_as_not_enrolled():
    history = general().anc(2000, ENROLL_ON)

    assessment = decide(history, ENROLL_ON, days_supply=7)

    assert assessment.enrollment_status == EnrollmentStatus.PENDING
    assert assessment.treatment_status == TreatmentStatus.NOT_STARTED
    assert assessment.monitoring_frequency is None
    assert assessment.next_draw_due is None
    assert assessment.decision == Verdict.BLOCKED
    assert assessment.reason_codes == ["patient_not_enrolled"]
    assert assessment.max_days_supply == 0


def test_an_enrolled_patient_with_a_normal_anc_may_receive_a_first_supply():
    history = general().anc(2000, ENROLL_ON).enroll(ENROLL_ON)

    assessment = decide(history, ENROLL_ON, days_supply=7)

    assert assessment.enrollment_status == EnrollmentStatus.ENROLLED
    assert assessment.decision == Verdict.ALLOWED
    assert assessment.max_days_supply == 7


# --- re-enrollment after discontinuation ------------------------------------------------------


def discontinued_patient():
    return started_patient().anc(2000, day(40)).discontinue(day(50))


def test_a_discontinued_patient_is_blocked_and_has_no_monitoring_frequency():
    assessment = decide(discontinued_patient(), day(51))

    assert assessment.enrollment_status == EnrollmentStatus.DISCONTINUED
    assert assessment.treatment_status == TreatmentStatus.DISCONTINUED
    assert assessment.monitoring_frequency is None
    assert assessment.reason_codes == ["treatment_discontinued"]


@pytest.mark.parametrize(
    ("latest_drawn_on", "reasons"),
    [
        pytest.param(day(40), (Reason.ANC_NOT_RECENT,), id="only the old result: refused"),
        pytest.param(day(95), None, id="a result 5 days before: may re-enroll"),
    ],
)
def test_reenrollment_follows_the_same_30_day_lab_rule(latest_drawn_on, reasons):
    history = discontinued_patient()
    if latest_drawn_on != day(40):
        history = history.anc(2000, latest_drawn_on)

    assert refusal_reasons(history, on=day(100)) == reasons


def test_a_reenrolled_discontinued_patient_starts_again_as_a_new_patient():
    history = discontinued_patient().anc(2000, day(95)).enroll(day(100)).start(day(101))

    assessment = decide(history, day(101))

    assert assessment.enrollment_status == EnrollmentStatus.ENROLLED
    assert assessment.treatment_status == TreatmentStatus.ACTIVE
    assert assessment.clock_started_on == day(101)
