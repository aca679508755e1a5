"""clinical.levels.adequate_trial on constructed histories (seed 001, clozapine resistance):
≥ 350 ng/mL on two occasions a week or more apart, 3 months since therapeutic levels were
reached, ≥ 500 mg/day (for 3 months) when there are no levels."""

from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from clinical.levels import DoseSpan, PriorLevel, TrialStatus, adequate_trial

ZONE = ZoneInfo("America/New_York")
TODAY = date(2026, 5, 20)


def trough(day: date, value, valid=True) -> PriorLevel:
    return PriorLevel(
        sampled_at=datetime.combine(day, time(8), tzinfo=ZONE),
        clozapine_ng_ml=Decimal(value),
        ratio=None,
        daily_dose_mg=Decimal(400),
        valid_trough=valid,
    )


def judge(levels=(), doses=(), today=TODAY):
    return adequate_trial(list(levels), list(doses), today, ZONE)


def met(result):
    return {c.code: c.met for c in result.criteria}


def test_two_therapeutic_troughs_a_week_apart_three_months_ago_make_an_adequate_trial():
    start = date(2026, 2, 20)
    result = judge([trough(start, 360), trough(start + timedelta(days=7), 420)])
    assert result.status == TrialStatus.ADEQUATE
    assert result.basis == "levels"
    assert result.therapeutic_since == start
    assert met(result) == {
        "two_therapeutic_troughs_a_week_apart": True,
        "three_months_at_therapeutic_level": True,
    }


def test_three_months_is_counted_to_the_day():
    start = date(2026, 2, 21)  # + 3 months = 2026-05-21, tomorrow
    levels = [trough(start, 360), trough(start + timedelta(days=7), 420)]
    assert judge(levels).status == TrialStatus.NOT_YET
    assert judge(levels, today=date(2026, 5, 21)).status == TrialStatus.ADEQUATE


def test_two_troughs_six_days_apart_are_not_enough():
    start = date(2026, 1, 1)
    result = judge([trough(start, 400), trough(start + timedelta(days=6), 400)])
    assert result.status == TrialStatus.NOT_YET
    assert met(result)["two_therapeutic_troughs_a_week_apart"] is False
    assert met(result)["three_months_at_therapeutic_level"] is True


def test_one_therapeutic_trough_is_not_enough():
    result = judge([trough(date(2026, 1, 1), 500)])
    assert result.status == TrialStatus.NOT_YET
    assert result.qualifying_levels == 1


def test_350_counts_and_349_does_not():
    start = date(2026, 1, 1)
    assert judge([trough(start, 350), trough(start + timedelta(days=7), 350)]).status == (
        TrialStatus.ADEQUATE
    )
    result = judge([trough(start, 350), trough(start + timedelta(days=7), "349.99")])
    assert result.status == TrialStatus.NOT_YET
    assert result.qualifying_levels == 0


def test_a_later_subtherapeutic_trough_restarts_the_three_months():
    levels = [
        trough(date(2025, 10, 1), 400),
        trough(date(2025, 10, 15), 420),
        trough(date(2026, 3, 1), 300),  # not maintained
        trough(date(2026, 3, 10), 380),
        trough(date(2026, 3, 20), 390),
    ]
    result = judge(levels)
    assert result.status == TrialStatus.NOT_YET
    assert result.therapeutic_since == date(2026, 3, 10)
    assert met(result) == {
        "two_therapeutic_troughs_a_week_apart": True,
        "three_months_at_therapeutic_level": False,
    }


def test_levels_that_are_not_valid_troughs_do_not_count_and_are_reported():
    start = date(2026, 1, 1)
    result = judge(
        [trough(start, 600, valid=False), trough(start + timedelta(days=14), 600, valid=False)]
    )
    assert result.status == TrialStatus.NO_DATA
    assert result.uncounted_levels == 2
    assert any("not counted" in note for note in result.notes)


def test_without_levels_the_dose_must_be_500_mg_a_day_for_three_months():
    doses = [DoseSpan(date(2025, 12, 1), Decimal(300)), DoseSpan(date(2026, 2, 20), Decimal(500))]
    result = judge(doses=doses)
    assert result.basis == "dose"
    assert result.status == TrialStatus.ADEQUATE
    assert result.therapeutic_since == date(2026, 2, 20)


def test_without_levels_499_mg_a_day_is_not_an_adequate_dose():
    result = judge(doses=[DoseSpan(date(2025, 1, 1), Decimal(499))])
    assert result.status == TrialStatus.NOT_YET
    assert met(result) == {"dose_at_least_500_mg_for_three_months": False}


def test_without_levels_a_dose_lowered_below_500_restarts_the_count():
    doses = [
        DoseSpan(date(2025, 1, 1), Decimal(600)),
        DoseSpan(date(2026, 3, 1), Decimal(450)),
        DoseSpan(date(2026, 4, 1), Decimal(550)),
    ]
    result = judge(doses=doses)
    assert result.status == TrialStatus.NOT_YET
    assert result.therapeutic_since == date(2026, 4, 1)


def test_a_future_dose_change_is_ignored():
    doses = [DoseSpan(date(2025, 1, 1), Decimal(600)), DoseSpan(date(2026, 6, 1), Decimal(100))]
    assert judge(doses=doses).status == TrialStatus.ADEQUATE


def test_levels_take_precedence_over_the_dose():
    doses = [DoseSpan(date(2025, 1, 1), Decimal(800))]
    result = judge([trough(date(2026, 5, 1), 200)], doses)
    assert result.basis == "levels"
    assert result.status == TrialStatus.NOT_YET


def test_no_levels_and_no_dose_is_no_data():
    result = judge()
    assert result.status == TrialStatus.NO_DATA
    assert result.as_dict()["status"] == "no_data"
    assert "seed 001" in result.as_dict()["source"]
