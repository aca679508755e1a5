"""clinical.plan: the schedule generated for a new patient matches seed 001's table, and each
check's due/overdue status on a given day."""

from datetime import date, timedelta

import pytest

from clinical.plan import (
    PlanItem,
    PlanStatus,
    item_state,
    plan_for,
    plan_item,
    schedule,
)
from clinical.plans import DEFAULT_PLAN

START = date(2026, 1, 5)


def item(code: str) -> PlanItem:
    found = plan_item("us-label-2015", code)
    assert found is not None
    return found


def days(dates):
    return [(d - START).days for d in dates]


def test_a_new_patients_first_year_matches_the_sources():
    table = {
        code: days(dates)
        for code, dates in schedule(
            "us-label-2015", START, START + timedelta(days=400), sex="female"
        ).items()
    }
    assert table == {
        # baseline and the end of titration (so a QTc rise can be seen)
        "ecg": [0, 28],
        # daily through the first two weeks of titration, weekly to week 4, then quarterly
        "vitals": [*range(15), 21, 28, 84, 175, 266, 357],
        # Ronaldson: baseline troponin and CRP, then weekly for 4 weeks
        "troponin_crp": [0, 7, 14, 21, 28],
        "myocarditis_watch": [7, 14, 21, 28],
        "eosinophils": [0, 7, 14, 21, 28],
        # at every contact: weekly to 26 weeks, fortnightly to a year, then every 4 weeks
        "bowel": [*range(0, 183, 7), *range(196, 365, 14), 392],
        # weight: baseline, weeks 4, 8, 12, then quarterly
        "weight": [0, 28, 56, 84, 175, 266, 357],
        # fasting glucose or HbA1c, lipids: baseline, 3 months, then yearly
        "glucose": [0, 91, 365],
        "lipids": [0, 91, 365],
        "liver": [0, 365],
        "symptom_rating": [0],
        "clozapine_level": [28, 365],
        "seizure": [28, *range(56, 401, 28)],
        "pregnancy": [0, 91, 182, 273, 364],
    }


def test_the_plan_has_every_check_the_issue_names_and_none_gates_dispensing():
    codes = [item.code for item in plan_for("us-label-2015")]
    assert codes == [
        "ecg",
        "vitals",
        "troponin_crp",
        "myocarditis_watch",
        "eosinophils",
        "bowel",
        "weight",
        "glucose",
        "lipids",
        "liver",
        "symptom_rating",
        "clozapine_level",
        "seizure",
        "pregnancy",
    ]
    assert not any(item.gates_dispensing for item in DEFAULT_PLAN)
    assert all("seed 001" in item.source or "Ronaldson" in item.source for item in DEFAULT_PLAN)
    assert item("myocarditis_watch").checklist is True


def test_pregnancy_checks_are_for_female_patients_only():
    male = schedule("us-label-2015", START, START + timedelta(days=100), sex="male")
    assert "pregnancy" not in male


def test_each_protocol_owns_its_plan_and_an_unknown_one_gets_the_default():
    from clinical.plans import uk_cpms, us_label_2015

    assert plan_for("uk-cpms") is uk_cpms.PLAN
    assert plan_for("us-label-2015") is us_label_2015.PLAN
    assert plan_for("a-future-protocol") == DEFAULT_PLAN


def test_yearly_checks_repeat_after_the_first_year():
    table = schedule("us-label-2015", START, START + timedelta(days=1100))
    assert days(table["glucose"]) == [0, 91, 365, 730, 1095]
    assert days(table["weight"])[-2:] == [994, 1085]


GLUCOSE = item("glucose")  # window 14 days, grace 14 days
ECG = item("ecg")  # window 30 days, grace 0
WEIGHT = item("weight")  # window 7, grace 7


def on(day_offset):
    return START + timedelta(days=day_offset)


@pytest.mark.parametrize(
    ("today", "done", "status", "due_on", "days_overdue"),
    [
        # baseline done before the start: counts (30-day window)
        (on(0), [on(-30)], PlanStatus.UP_TO_DATE, on(0), 0),
        (on(0), [on(-31)], PlanStatus.DUE, on(0), 0),
        # the 3-month check (day 91) opens 14 days before, is overdue after 14 days of grace
        (on(76), [on(-2)], PlanStatus.UP_TO_DATE, on(0), 0),
        (on(77), [on(-2)], PlanStatus.DUE, on(91), 0),
        (on(105), [on(-2)], PlanStatus.DUE, on(91), 0),
        (on(106), [on(-2)], PlanStatus.OVERDUE, on(91), 15),
        (on(106), [on(-2), on(100)], PlanStatus.UP_TO_DATE, on(91), 0),
        (on(106), [on(-2), on(77)], PlanStatus.UP_TO_DATE, on(91), 0),
        (on(106), [on(-2), on(76)], PlanStatus.OVERDUE, on(91), 15),
    ],
)
def test_a_metabolic_check_is_due_then_overdue(today, done, status, due_on, days_overdue):
    state = item_state(GLUCOSE, START, done, today)
    assert (state.status, state.due_on, state.days_overdue) == (status, due_on, days_overdue)


@pytest.mark.parametrize(
    ("today", "done", "status", "days_overdue"),
    [
        (on(-10), [], PlanStatus.DUE, 0),  # the window opens 30 days before the start
        (on(0), [], PlanStatus.DUE, 0),  # due on the start day
        (on(1), [], PlanStatus.OVERDUE, 1),  # no grace: baseline belongs before the first dose
        # superseded by the week-4 ECG, which is overdue in turn
        (on(200), [], PlanStatus.OVERDUE, 172),
        (on(200), [on(150)], PlanStatus.COMPLETE, 0),
        (on(20), [on(0)], PlanStatus.UP_TO_DATE, 0),
        (on(21), [on(0)], PlanStatus.DUE, 0),  # the week-4 ECG opens a week before
        (on(29), [on(0)], PlanStatus.OVERDUE, 1),
    ],
)
def test_a_baseline_ecg_is_due_at_the_start_and_overdue_the_day_after(
    today, done, status, days_overdue
):
    state = item_state(ECG, START, done, today)
    assert (state.status, state.days_overdue) == (status, days_overdue)


def test_before_the_window_opens_a_check_is_upcoming():
    state = item_state(ECG, START, [], on(-31))
    assert state.status == PlanStatus.UPCOMING
    assert state.next_due_on == START


def test_a_missed_weight_is_superseded_by_the_next_one():
    state = item_state(WEIGHT, START, [on(0)], on(50))  # week 4 missed, week 8 opens on day 49
    assert state.status == PlanStatus.DUE
    assert state.due_on == on(56)
    assert state.next_due_on == on(84)


def test_without_a_treatment_start_only_the_baseline_checks_are_due():
    assert item_state(ECG, None, [], START).status == PlanStatus.DUE
    assert item_state(ECG, None, [START], START).status == PlanStatus.UP_TO_DATE
    watch = item("myocarditis_watch")
    assert item_state(watch, None, [], START).status == PlanStatus.NOT_SCHEDULED


def test_an_undone_myocarditis_watch_is_overdue_until_week_6_then_missed():
    watch = item("myocarditis_watch")
    assert item_state(watch, START, [], on(31)).status == PlanStatus.OVERDUE
    assert item_state(watch, START, [], on(42)).status == PlanStatus.OVERDUE
    assert item_state(watch, START, [], on(43)).status == PlanStatus.MISSED
    assert item_state(watch, START, [on(28)], on(43)).status == PlanStatus.COMPLETE
