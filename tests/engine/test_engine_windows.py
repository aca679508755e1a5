"""docs/rules.md §3: due dates, how long a result stays current, and the largest supply.

Each frequency has a scenario whose last draw is on DRAWN_ON (09:00 local) and whose frequency
does not change in the days the tests look at. Decisions are made at noon local time.
"""

import pytest

from engine.types import Frequency, Verdict
from tests.engine.builders import at, day, decide, monthly_patient, started_patient

DRAWN_ON = {
    Frequency.WEEKLY: day(20),  # clock under 6 months
    Frequency.EVERY_2_WEEKS: day(250),  # clock between 6 and 12 months
    Frequency.MONTHLY: day(420),  # clock past 12 months
    Frequency.THREE_TIMES_WEEKLY: day(420),  # a confirmed mild episode
    Frequency.DAILY: day(420),  # a confirmed moderate episode, under a continuation
}


def scenario(frequency):
    drawn_on = DRAWN_ON[frequency]
    if frequency in (Frequency.WEEKLY, Frequency.EVERY_2_WEEKS, Frequency.MONTHLY):
        return started_patient().anc(2000, at(drawn_on, 9))
    if frequency == Frequency.THREE_TIMES_WEEKLY:
        return (
            monthly_patient()
            .anc(2000, day(-14, drawn_on))
            .anc(1200, at(drawn_on, 7))
            .anc(1300, at(drawn_on, 9))
        )
    return (
        monthly_patient()
        .anc(2000, day(-14, drawn_on))
        .anc(800, at(drawn_on, 7))
        .anc(850, at(drawn_on, 9))
        .continuation(drawn_on, day(20, drawn_on))
    )


# frequency, next draw due after (days), current for (days), largest supply (days)
SECTION_3 = [
    pytest.param(Frequency.DAILY, 1, 2, 7, id="daily"),
    pytest.param(Frequency.THREE_TIMES_WEEKLY, 3, 4, 7, id="three_times_weekly"),
    pytest.param(Frequency.WEEKLY, 7, 7, 7, id="weekly"),
    pytest.param(Frequency.EVERY_2_WEEKS, 14, 15, 14, id="every_2_weeks"),
    pytest.param(Frequency.MONTHLY, 28, 31, 28, id="monthly"),
]


@pytest.mark.parametrize(("frequency", "due_after", "window", "largest"), SECTION_3)
def test_the_next_draw_is_due_and_the_result_current_until_the_tables_offsets(
    frequency, due_after, window, largest
):
    drawn_on = DRAWN_ON[frequency]

    assessment = decide(scenario(frequency), drawn_on)

    assert assessment.monitoring_frequency == frequency
    assert assessment.next_draw_due == day(due_after, drawn_on)
    assert assessment.current_until == day(window, drawn_on)


@pytest.mark.parametrize(("frequency", "due_after", "window", "largest"), SECTION_3)
def test_a_result_is_still_current_on_the_last_day_of_its_window(
    frequency, due_after, window, largest
):
    assessment = decide(scenario(frequency), day(window, DRAWN_ON[frequency]))

    assert assessment.monitoring_frequency == frequency
    assert "anc_not_current" not in assessment.reason_codes
    assert assessment.decision == Verdict.ALLOWED


@pytest.mark.parametrize(("frequency", "due_after", "window", "largest"), SECTION_3)
def test_a_result_is_no_longer_current_the_day_after_its_window(
    frequency, due_after, window, largest
):
    assessment = decide(scenario(frequency), day(window + 1, DRAWN_ON[frequency]))

    assert assessment.monitoring_frequency == frequency
    assert assessment.reason_codes == ["anc_not_current"]
    assert assessment.decision == Verdict.BLOCKED
    assert assessment.max_days_supply == 0


def test_a_weekly_result_drawn_on_the_1st_is_current_through_the_8th():
    history = started_patient().anc(2000, at(day(24), 23, 30))  # 2024-02-01, late evening

    on_the_8th = decide(history, at(day(31), 23, 59))
    on_the_9th = decide(history, at(day(32), 0, 1))

    assert "anc_not_current" not in on_the_8th.reason_codes
    assert "anc_not_current" in on_the_9th.reason_codes


@pytest.mark.parametrize(("frequency", "due_after", "window", "largest"), SECTION_3)
def test_the_largest_supply_is_allowed_for_the_frequency(frequency, due_after, window, largest):
    assessment = decide(scenario(frequency), DRAWN_ON[frequency], days_supply=largest)

    assert assessment.decision == Verdict.ALLOWED
    assert assessment.max_days_supply == largest


@pytest.mark.parametrize(("frequency", "due_after", "window", "largest"), SECTION_3)
def test_one_day_more_than_the_largest_supply_is_blocked_but_still_says_the_limit(
    frequency, due_after, window, largest
):
    assessment = decide(scenario(frequency), DRAWN_ON[frequency], days_supply=largest + 1)

    assert assessment.decision == Verdict.BLOCKED
    assert assessment.reason_codes == ["days_supply_exceeds_limit"]
    assert assessment.max_days_supply == largest


def test_daily_monitoring_allows_a_supply_only_under_a_continuation_authorization():
    drawn_on = DRAWN_ON[Frequency.DAILY]
    without = (
        monthly_patient()
        .anc(2000, day(-14, drawn_on))
        .anc(800, at(drawn_on, 7))
        .anc(850, at(drawn_on, 9))
    )

    assessment = decide(without, drawn_on)

    assert assessment.monitoring_frequency == Frequency.DAILY
    assert assessment.decision == Verdict.BLOCKED
    assert "treatment_interrupted" in assessment.reason_codes
    assert assessment.max_days_supply == 0


# --- supply on hand counts against the largest supply, the day of dispensing included -------
# (docs/rules.md §9.13: a 7-day supply dispensed today covers today and the next six days)


@pytest.mark.parametrize(
    ("frequency", "supplied", "days_later", "max_days_supply"),
    [
        pytest.param(Frequency.WEEKLY, 7, 1, 1, id="weekly: 7 days yesterday leave room for 1"),
        pytest.param(Frequency.WEEKLY, 7, 3, 3, id="weekly: 7 days 3 days ago leave room for 3"),
        pytest.param(Frequency.WEEKLY, 7, 6, 6, id="weekly: 7 days 6 days ago, one day left"),
        pytest.param(Frequency.WEEKLY, 7, 7, 7, id="weekly: 7 days 7 days ago, all used up"),
        pytest.param(Frequency.WEEKLY, 3, 0, 4, id="weekly: 3 days today leave room for 4"),
        pytest.param(
            Frequency.EVERY_2_WEEKS, 14, 7, 7, id="every 2 weeks: 14 days 7 days ago, room for 7"
        ),
        pytest.param(Frequency.MONTHLY, 28, 21, 21, id="monthly: 28 days 21 days ago, room for 21"),
    ],
)
def test_supply_on_hand_counts_against_the_largest_supply(
    frequency, supplied, days_later, max_days_supply
):
    drawn_on = DRAWN_ON[frequency]
    history = scenario(frequency).dispense(at(drawn_on, 10), supplied)

    assessment = decide(history, day(days_later, drawn_on))

    assert assessment.decision == Verdict.ALLOWED
    assert assessment.max_days_supply == max_days_supply


@pytest.mark.parametrize("requested", [7, 1])
def test_no_further_supply_is_allowed_on_the_day_a_full_weekly_supply_went_out(requested):
    drawn_on = DRAWN_ON[Frequency.WEEKLY]
    history = scenario(Frequency.WEEKLY).dispense(at(drawn_on, 10), 7)

    assessment = decide(history, drawn_on, days_supply=requested)

    assert assessment.decision == Verdict.BLOCKED
    assert assessment.reason_codes == ["days_supply_exceeds_limit"]
    assert assessment.max_days_supply == 0


def test_the_day_after_a_full_weekly_supply_at_most_one_day_more_is_allowed():
    drawn_on = DRAWN_ON[Frequency.WEEKLY]
    history = scenario(Frequency.WEEKLY).dispense(at(drawn_on, 10), 7)

    assert decide(history, day(1, drawn_on), days_supply=1).decision == Verdict.ALLOWED
    blocked = decide(history, day(1, drawn_on), days_supply=2)
    assert blocked.reason_codes == ["days_supply_exceeds_limit"]
    assert blocked.max_days_supply == 1
