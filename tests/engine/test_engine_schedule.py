"""docs/rules.md §1-§2: the routine schedule, its clock, and the frequencies of an episode."""

from datetime import date

import pytest

from engine.types import Band, Frequency, Population
from tests.engine.builders import (
    START,
    at,
    day,
    decide,
    general,
    monthly_patient,
    months,
    started_patient,
)

WEEKLY = Frequency.WEEKLY
EVERY_2_WEEKS = Frequency.EVERY_2_WEEKS
MONTHLY = Frequency.MONTHLY
TIW = Frequency.THREE_TIMES_WEEKLY
DAILY = Frequency.DAILY

LOW_DAY = day(420)  # the monthly patient's first low result is drawn here at 09:00


# --- the routine schedule ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("started_on", "on", "frequency"),
    [
        pytest.param(START, START, WEEKLY, id="weekly on the start date"),
        pytest.param(START, day(-1, months(6)), WEEKLY, id="weekly the day before 6 months"),
        pytest.param(START, months(6), EVERY_2_WEEKS, id="every 2 weeks from 6 months"),
        pytest.param(
            START, day(-1, months(12)), EVERY_2_WEEKS, id="every 2 weeks the day before 12 months"
        ),
        pytest.param(START, months(12), MONTHLY, id="monthly from 12 months"),
        pytest.param(START, months(30), MONTHLY, id="monthly long after"),
        # Calendar months: 31 August + 6 months is 29 February in a leap year.
        pytest.param(
            date(2023, 8, 31), date(2024, 2, 28), WEEKLY, id="31 Aug start: weekly on 28 Feb"
        ),
        pytest.param(
            date(2023, 8, 31),
            date(2024, 2, 29),
            EVERY_2_WEEKS,
            id="31 Aug start: every 2 weeks on 29 Feb",
        ),
    ],
)
def test_the_routine_interval_follows_calendar_months_since_the_start(started_on, on, frequency):
    history = started_patient(on=started_on)

    assessment = decide(history, on)

    assert assessment.monitoring_frequency == frequency


def test_the_clock_starts_on_the_first_start_event():
    history = general().anc(2000, START).enroll(START).start(day(3))

    assessment = decide(history, day(5))

    assert assessment.clock_started_on == day(3)


@pytest.mark.parametrize(
    ("start_on", "dispensed_on", "clock_started_on"),
    [
        pytest.param(day(5), day(2), day(2), id="a first dispense before the start starts it"),
        pytest.param(day(1), day(3), day(1), id="a start before the first dispense starts it"),
        pytest.param(None, day(2), day(2), id="a first dispense with no start event starts it"),
    ],
)
def test_the_clock_starts_on_the_first_start_or_the_earlier_first_dispense(
    start_on, dispensed_on, clock_started_on
):
    history = general().anc(2000, START).enroll(START).dispense(dispensed_on, 7)
    if start_on is not None:
        history = history.start(start_on)

    assessment = decide(history, day(6))

    assert assessment.clock_started_on == clock_started_on


def test_six_months_are_counted_from_a_first_dispense_that_started_the_clock():
    first_supply = day(2)
    history = general().anc(2000, START).enroll(START).start(day(5))
    for week in range(30):  # a weekly supply all the way, so no run without supply lapses
        history = history.dispense(day(7 * week, first_supply), 7)

    before = decide(history, day(-1, months(6, first_supply)))
    at_six_months = decide(history, months(6, first_supply))

    assert before.monitoring_frequency == WEEKLY
    assert at_six_months.monitoring_frequency == EVERY_2_WEEKS


# --- "weekly for 4 weeks" ----------------------------------------------------------------


def recovered_from_moderate():
    """Monthly patient: moderate on LOW_DAY (confirmed), 1200 and resume on +2, 1600 on +4."""
    return (
        monthly_patient()
        .anc(2000, day(-14, LOW_DAY))
        .anc(800, at(LOW_DAY, 9))
        .anc(850, at(LOW_DAY, 15))
        .anc(1200, day(2, LOW_DAY))
        .resume(day(2, LOW_DAY))
        .anc(1600, day(4, LOW_DAY))
    )


EPISODE_CLOSED_ON = day(4, LOW_DAY)


def test_the_monthly_patient_is_on_the_monthly_interval_before_its_episode():
    assessment = decide(monthly_patient().anc(2000, day(-14, LOW_DAY)), day(-1, LOW_DAY))

    assert assessment.monitoring_frequency == MONTHLY


@pytest.mark.parametrize(
    ("days_after_the_closing_draw", "frequency"),
    [
        pytest.param(0, WEEKLY, id="weekly on the closing draw's day"),
        pytest.param(1, WEEKLY, id="weekly on day +1"),
        pytest.param(28, WEEKLY, id="weekly on day +28"),
        pytest.param(29, MONTHLY, id="routine (monthly) on day +29"),
    ],
)
def test_a_moderate_episode_is_followed_by_weekly_for_4_weeks_then_the_routine_interval(
    days_after_the_closing_draw, frequency
):
    assessment = decide(
        recovered_from_moderate(), day(days_after_the_closing_draw, EPISODE_CLOSED_ON)
    )

    assert assessment.monitoring_frequency == frequency


@pytest.mark.parametrize(
    ("days_after_the_closing_draw", "frequency"),
    [
        pytest.param(0, WEEKLY, id="weekly on the closing draw's day"),
        pytest.param(28, WEEKLY, id="weekly on day +28"),
        pytest.param(29, MONTHLY, id="routine (monthly) on day +29"),
    ],
)
def test_a_ben_neutropenia_episode_is_also_followed_by_weekly_for_4_weeks(
    days_after_the_closing_draw, frequency
):
    closed_on = day(3, LOW_DAY)
    history = (
        monthly_patient(Population.BEN)
        .anc(2000, day(-14, LOW_DAY))
        .anc(800, at(LOW_DAY, 9))
        .anc(850, at(LOW_DAY, 15))
        .anc(1100, closed_on)
    )

    during = decide(history, at(LOW_DAY, 16))
    assessment = decide(history, day(days_after_the_closing_draw, closed_on))

    assert during.monitoring_frequency == TIW
    assert assessment.monitoring_frequency == frequency


def test_after_the_weekly_step_the_patient_takes_the_clocks_current_interval():
    # Moderate 20 days before 12 months (every 2 weeks then); the weekly step ends after the
    # 12-month mark, so the routine interval it returns to is monthly.
    low_on = day(-20, months(12))
    history = (
        started_patient()
        .anc(2000, day(-10, low_on))
        .anc(800, at(low_on, 9))
        .anc(850, at(low_on, 15))
        .anc(1200, day(2, low_on))
        .resume(day(2, low_on))
        .anc(1600, day(4, low_on))
    )

    before = decide(history, day(-1, low_on))
    after = decide(history, day(29, day(4, low_on)))

    assert before.monitoring_frequency == EVERY_2_WEEKS
    assert after.monitoring_frequency == MONTHLY


# --- a mild episode returns to the last routine interval -----------------------------------


def test_a_mild_episode_returns_straight_to_the_monthly_interval():
    history = (
        monthly_patient()
        .anc(2000, day(-14, LOW_DAY))
        .anc(1200, at(LOW_DAY, 9))
        .anc(1300, at(LOW_DAY, 15))
        .anc(1600, day(3, LOW_DAY))
    )

    during = decide(history, at(LOW_DAY, 16))
    after = decide(history, day(3, LOW_DAY))
    later = decide(history, day(20, LOW_DAY))

    assert during.monitoring_frequency == TIW
    assert after.monitoring_frequency == MONTHLY
    assert later.monitoring_frequency == MONTHLY


def test_a_mild_episode_across_the_6_month_mark_returns_to_every_2_weeks():
    low_on = day(-3, months(6))
    history = (
        started_patient()
        .anc(2000, day(-7, low_on))
        .anc(1200, at(low_on, 9))
        .anc(1300, at(low_on, 15))
        .anc(1600, day(5, low_on))
    )

    before = decide(history, day(-1, low_on))
    after = decide(history, day(5, low_on))

    assert before.monitoring_frequency == WEEKLY
    assert after.monitoring_frequency == EVERY_2_WEEKS


# --- moderate and severe: daily, then three times weekly ------------------------------------


@pytest.mark.parametrize(
    ("first", "later", "band", "frequency"),
    [
        pytest.param(800, 800, Band.MODERATE, DAILY, id="moderate at 800: daily"),
        pytest.param(800, 999, Band.MODERATE, DAILY, id="moderate at 999: daily"),
        pytest.param(800, 1000, Band.MODERATE, TIW, id="moderate at 1000: three times weekly"),
        pytest.param(800, 1499, Band.MODERATE, TIW, id="moderate at 1499: three times weekly"),
        pytest.param(800, 1500, Band.NORMAL, WEEKLY, id="moderate at 1500: the weekly step"),
        pytest.param(300, 300, Band.SEVERE, DAILY, id="severe at 300: daily"),
        pytest.param(300, 999, Band.SEVERE, DAILY, id="severe at 999: daily"),
        pytest.param(300, 1000, Band.SEVERE, TIW, id="severe at 1000: three times weekly"),
        pytest.param(300, 1499, Band.SEVERE, TIW, id="severe at 1499: three times weekly"),
    ],
)
def test_moderate_and_severe_are_daily_until_1000_then_three_times_weekly_until_1500(
    first, later, band, frequency
):
    history = (
        monthly_patient()
        .anc(2000, day(-14, LOW_DAY))
        .anc(first, at(LOW_DAY, 9))
        .anc(first, at(LOW_DAY, 15))
        .anc(later, day(2, LOW_DAY))
    )

    assessment = decide(history, day(2, LOW_DAY))

    assert assessment.band == band
    assert assessment.monitoring_frequency == frequency


@pytest.mark.parametrize(
    ("later", "band", "frequency"),
    [
        pytest.param(499, Band.SEVERE, DAILY, id="ben severe at 499: daily"),
        pytest.param(500, Band.SEVERE, TIW, id="ben severe at 500: three times weekly"),
        pytest.param(1199, Band.SEVERE, TIW, id="ben severe at 1199: below the 1200 baseline"),
    ],
)
def test_ben_severe_is_daily_until_500_then_three_times_weekly_until_the_baseline(
    later, band, frequency
):
    history = (
        started_patient(Population.BEN, anc=1200)  # baseline 1200 (two results of 1200)
        .anc(1300, day(-14, LOW_DAY))
        .anc(300, at(LOW_DAY, 9))
        .anc(300, at(LOW_DAY, 15))
        .anc(later, day(2, LOW_DAY))
    )

    assessment = decide(history, day(2, LOW_DAY))

    assert assessment.band == band
    assert assessment.monitoring_frequency == frequency


def test_ben_severe_ends_at_the_patients_baseline():
    history = (
        started_patient(Population.BEN, anc=1200)
        .anc(1300, day(-14, LOW_DAY))
        .anc(300, at(LOW_DAY, 9))
        .anc(300, at(LOW_DAY, 15))
        .anc(1200, day(4, LOW_DAY))
    )

    assessment = decide(history, day(4, LOW_DAY))

    assert assessment.band == Band.NORMAL
    assert assessment.needs_rechallenge is True
