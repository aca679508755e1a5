"""docs/rules.md §1 "Confirmation": the first low result of an episode waits 24 hours for a repeat.

The patient is on the monthly routine interval (started more than a year earlier), so "back to
the routine interval" (monthly) and the "weekly for 4 weeks" step are told apart at a glance.
The first low result is drawn on LOW_DAY at 09:00.
"""

from datetime import date, datetime, timedelta

import pytest

from engine.types import Band, Frequency, Population, TreatmentStatus, Verdict
from tests.engine.builders import UTC, at, day, decide, monthly_patient, started_patient

LOW_DAY = day(420)
FIRST_LOW_AT = at(LOW_DAY, 9)


def real_hours_after(moment: datetime, hours: float, minutes: int = 0) -> datetime:
    """`hours` of elapsed (not wall-clock) time after `moment`."""
    return (moment.astimezone(UTC) + timedelta(hours=hours, minutes=minutes)).astimezone(
        moment.tzinfo
    )


def on_monthly_routine(population=Population.GENERAL):
    return monthly_patient(population).anc(2000, day(-14, LOW_DAY))


@pytest.mark.parametrize(
    ("population", "value", "band", "treatment", "frequency"),
    [
        pytest.param(
            Population.GENERAL,
            1200,
            Band.MILD,
            TreatmentStatus.ACTIVE,
            Frequency.THREE_TIMES_WEEKLY,
            id="general mild",
        ),
        pytest.param(
            Population.GENERAL,
            800,
            Band.MODERATE,
            TreatmentStatus.INTERRUPTED,
            Frequency.DAILY,
            id="general moderate",
        ),
        pytest.param(
            Population.GENERAL,
            300,
            Band.SEVERE,
            TreatmentStatus.INTERRUPTED,
            Frequency.DAILY,
            id="general severe",
        ),
        pytest.param(
            Population.BEN,
            800,
            Band.BEN_NEUTROPENIA,
            TreatmentStatus.ACTIVE,
            Frequency.THREE_TIMES_WEEKLY,
            id="ben neutropenia",
        ),
        pytest.param(
            Population.BEN,
            300,
            Band.SEVERE,
            TreatmentStatus.INTERRUPTED,
            Frequency.DAILY,
            id="ben severe",
        ),
    ],
)
def test_the_first_low_result_creates_a_24_hour_confirmation_and_applies_its_band_at_once(
    population, value, band, treatment, frequency
):
    history = on_monthly_routine(population).anc(value, FIRST_LOW_AT)

    assessment = decide(history, at(LOW_DAY, 10))

    assert assessment.confirmation_due == real_hours_after(FIRST_LOW_AT, 24)
    assert assessment.next_draw_due == day(1, LOW_DAY)
    assert assessment.band == band
    assert assessment.treatment_status == treatment
    assert assessment.monitoring_frequency == frequency


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(1200, id="mild"),
        pytest.param(800, id="moderate"),
    ],
)
def test_a_normal_repeat_within_24_hours_closes_the_episode_as_unconfirmed(value):
    history = (
        on_monthly_routine().anc(value, FIRST_LOW_AT).anc(1800, real_hours_after(FIRST_LOW_AT, 23))
    )

    assessment = decide(history, at(day(1, LOW_DAY), 12))

    assert assessment.band == Band.NORMAL
    assert assessment.confirmation_due is None
    assert assessment.hematology_consult is False
    assert assessment.needs_rechallenge is False
    # An automatic interruption is lifted without a `resume` ...
    assert assessment.treatment_status == TreatmentStatus.ACTIVE
    assert assessment.decision == Verdict.ALLOWED
    assert assessment.reason_codes == []
    # ... and the patient is back on its routine interval at once, with no weekly step.
    assert assessment.monitoring_frequency == Frequency.MONTHLY


def test_after_a_severe_first_result_a_normal_repeat_leaves_it_unconfirmed_but_interrupted():
    # docs/rules.md §9.4: the interruption a severe first result caused stands until the
    # prescriber resumes (no rechallenge is needed: the episode was never confirmed), and the
    # hematology consult stays flagged until acknowledged.
    history = (
        on_monthly_routine().anc(300, FIRST_LOW_AT).anc(1800, real_hours_after(FIRST_LOW_AT, 23))
    )

    assessment = decide(history, at(day(1, LOW_DAY), 12), days_supply=7)

    assert assessment.band == Band.NORMAL
    assert assessment.confirmation_due is None
    assert assessment.needs_rechallenge is False
    assert assessment.treatment_status == TreatmentStatus.INTERRUPTED
    assert assessment.reason_codes == ["treatment_interrupted"]
    assert assessment.hematology_consult is True

    resumed = history.resume(day(1, LOW_DAY))
    after_resume = decide(resumed, at(day(1, LOW_DAY), 12), days_supply=7)
    assert after_resume.treatment_status == TreatmentStatus.ACTIVE
    assert after_resume.decision == Verdict.ALLOWED
    assert after_resume.monitoring_frequency == Frequency.MONTHLY
    assert after_resume.hematology_consult is True  # until acknowledged


def test_an_unconfirmed_moderate_episode_is_followed_by_no_weekly_step():
    history = (
        on_monthly_routine().anc(800, FIRST_LOW_AT).anc(1800, real_hours_after(FIRST_LOW_AT, 5))
    )

    for offset in (1, 7, 20, 28):
        assessment = decide(history, day(offset, LOW_DAY))
        assert assessment.monitoring_frequency == Frequency.MONTHLY, offset


@pytest.mark.parametrize(
    ("minutes_after_24_hours", "treatment", "frequency"),
    [
        pytest.param(
            0,
            TreatmentStatus.ACTIVE,
            Frequency.MONTHLY,
            id="exactly 24 h is within the window: unconfirmed",
        ),
        pytest.param(
            1,
            TreatmentStatus.INTERRUPTED,
            Frequency.WEEKLY,
            id="24 h + 1 min is too late: the episode stands",
        ),
    ],
)
def test_a_normal_repeat_exactly_at_24_hours_still_counts_but_one_minute_later_does_not(
    minutes_after_24_hours, treatment, frequency
):
    repeat_at = real_hours_after(FIRST_LOW_AT, 24, minutes_after_24_hours)
    history = on_monthly_routine().anc(800, FIRST_LOW_AT).anc(1800, repeat_at)

    assessment = decide(history, repeat_at + timedelta(hours=1))

    assert assessment.treatment_status == treatment
    assert assessment.monitoring_frequency == frequency
    assert assessment.confirmation_due is None


def test_a_low_repeat_within_24_hours_confirms_the_episode():
    history = on_monthly_routine().anc(1200, FIRST_LOW_AT).anc(1300, at(LOW_DAY, 20))

    assessment = decide(history, at(LOW_DAY, 21))

    assert assessment.confirmation_due is None
    assert assessment.band == Band.MILD
    assert assessment.monitoring_frequency == Frequency.THREE_TIMES_WEEKLY
    assert assessment.treatment_status == TreatmentStatus.ACTIVE


def test_a_confirmed_mild_episode_ends_at_1500_and_returns_to_the_routine_interval():
    history = (
        on_monthly_routine()
        .anc(1200, FIRST_LOW_AT)
        .anc(1300, at(LOW_DAY, 20))
        .anc(1500, day(3, LOW_DAY))
    )

    assessment = decide(history, day(3, LOW_DAY))

    assert assessment.band == Band.NORMAL
    assert assessment.monitoring_frequency == Frequency.MONTHLY


@pytest.mark.parametrize(
    ("first", "repeat", "band", "frequency"),
    [
        pytest.param(1200, 800, Band.MODERATE, Frequency.DAILY, id="mild then moderate"),
        pytest.param(
            800, 1200, Band.MODERATE, Frequency.THREE_TIMES_WEEKLY, id="moderate then mild"
        ),
        pytest.param(800, 300, Band.SEVERE, Frequency.DAILY, id="moderate then severe"),
        pytest.param(1200, 300, Band.SEVERE, Frequency.DAILY, id="mild then severe"),
    ],
)
def test_the_episodes_band_is_the_worst_band_seen_in_it(first, repeat, band, frequency):
    history = on_monthly_routine().anc(first, FIRST_LOW_AT).anc(repeat, at(LOW_DAY, 21))

    assessment = decide(history, at(LOW_DAY, 22))

    assert assessment.band == band
    assert assessment.treatment_status == TreatmentStatus.INTERRUPTED
    assert assessment.hematology_consult is True
    assert assessment.monitoring_frequency == frequency
    assert "treatment_interrupted" in assessment.reason_codes


def test_without_a_repeat_within_24_hours_the_low_episode_stands():
    history = on_monthly_routine().anc(800, FIRST_LOW_AT)

    assessment = decide(history, day(2, LOW_DAY))

    assert assessment.band == Band.MODERATE
    assert assessment.treatment_status == TreatmentStatus.INTERRUPTED
    assert assessment.hematology_consult is True
    assert assessment.monitoring_frequency == Frequency.DAILY


def test_a_late_normal_result_ends_an_unrefuted_moderate_episode_with_the_weekly_step():
    # Protocol reading 2: no repeat in 24 h, so the episode stands as if confirmed; the
    # interruption stays until a `resume` and "weekly for 4 weeks" follows the recovery.
    history = on_monthly_routine().anc(800, FIRST_LOW_AT).anc(1800, at(day(2, LOW_DAY), 9))

    assessment = decide(history, day(2, LOW_DAY))

    assert assessment.band == Band.NORMAL
    assert assessment.treatment_status == TreatmentStatus.INTERRUPTED
    assert assessment.monitoring_frequency == Frequency.WEEKLY


def test_a_late_normal_result_after_an_unrefuted_mild_result_returns_to_the_routine_interval():
    history = on_monthly_routine().anc(1200, FIRST_LOW_AT).anc(1800, at(day(2, LOW_DAY), 9))

    assessment = decide(history, day(2, LOW_DAY))

    assert assessment.band == Band.NORMAL
    assert assessment.treatment_status == TreatmentStatus.ACTIVE
    assert assessment.monitoring_frequency == Frequency.MONTHLY


# --- the 24 hours are elapsed hours, also across a daylight-saving change -------------------

SPRING_FORWARD_EVE = date(2024, 3, 9)  # clocks go from 02:00 EST to 03:00 EDT on 2024-03-10
FALL_BACK_EVE = date(2024, 11, 2)  # clocks go from 02:00 EDT to 01:00 EST on 2024-11-03


def test_the_confirmation_deadline_is_24_elapsed_hours_across_the_spring_forward_night():
    first_low = at(SPRING_FORWARD_EVE, 9)
    history = started_patient().anc(2000, day(-3, SPRING_FORWARD_EVE)).anc(800, first_low)

    assessment = decide(history, at(SPRING_FORWARD_EVE, 10))

    assert assessment.confirmation_due == real_hours_after(first_low, 24)


def test_a_normal_repeat_23_and_a_half_elapsed_hours_later_across_spring_forward_is_in_time():
    first_low = at(SPRING_FORWARD_EVE, 9)
    repeat = real_hours_after(first_low, 23, 30)  # 09:30 EDT on the next local day
    history = (
        started_patient()
        .anc(2000, day(-3, SPRING_FORWARD_EVE))
        .anc(800, first_low)
        .anc(1800, repeat)
    )

    assessment = decide(history, repeat + timedelta(hours=1))

    assert assessment.treatment_status == TreatmentStatus.ACTIVE
    assert assessment.band == Band.NORMAL


def test_a_normal_repeat_24_and_a_half_elapsed_hours_later_across_fall_back_is_too_late():
    first_low = at(FALL_BACK_EVE, 9)
    repeat = real_hours_after(first_low, 24, 30)  # 08:30 EST on the next local day
    history = (
        started_patient().anc(2000, day(-3, FALL_BACK_EVE)).anc(800, first_low).anc(1800, repeat)
    )

    assessment = decide(history, repeat + timedelta(hours=1))

    assert assessment.treatment_status == TreatmentStatus.INTERRUPTED
