"""clinical.levels: each interpretation band and edge, from seed 000 and seed 001, as tables."""

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from clinical.levels import (
    FlagCode,
    LevelInput,
    PriorLevel,
    Severity,
    Smoking,
    interpret,
    metabolic_ratio,
)

ZONE = ZoneInfo("America/New_York")
DRAWN = datetime(2026, 5, 20, 8, 0, tzinfo=ZONE)


def level(clozapine="500", norclozapine=None, **kw) -> LevelInput:
    defaults: dict = {
        "sampled_at": DRAWN,
        "clozapine_ng_ml": Decimal(clozapine),
        "norclozapine_ng_ml": Decimal(norclozapine) if norclozapine is not None else None,
        "last_dose_at": DRAWN - timedelta(hours=12),
        "dose_stable_days": 7,
        # The records show every dose taken in the week before (no gap): adherence not in doubt.
        "gap_hours": Decimal(0),
        "doses_known": True,
        "retitration_after_hours": 48,
    }
    defaults.update(kw)
    return LevelInput(**defaults)


def codes(reading):
    return set(reading.codes)


@pytest.mark.parametrize(
    ("after", "code", "valid"),
    [
        (timedelta(hours=9, minutes=59), FlagCode.TROUGH_TOO_EARLY, False),
        (timedelta(hours=10), FlagCode.TROUGH_VALID, True),
        (timedelta(hours=12), FlagCode.TROUGH_VALID, True),
        (timedelta(hours=14), FlagCode.TROUGH_VALID, True),
        (timedelta(hours=14, minutes=1), FlagCode.TROUGH_TOO_LATE, False),
        (timedelta(hours=2), FlagCode.TROUGH_TOO_EARLY, False),
        (timedelta(hours=24), FlagCode.TROUGH_TOO_LATE, False),
    ],
)
def test_a_trough_is_drawn_12_hours_plus_or_minus_2_after_the_last_dose(after, code, valid):
    reading = interpret(level(last_dose_at=DRAWN - after))
    assert code in codes(reading)
    assert reading.valid_trough is valid


def test_without_the_last_dose_time_the_trough_is_not_confirmed():
    reading = interpret(level(last_dose_at=None))
    assert FlagCode.TROUGH_TIMING_UNKNOWN in codes(reading)
    assert reading.valid_trough is False
    assert reading.hours_after_dose is None


@pytest.mark.parametrize(
    ("days", "code", "valid"),
    [
        (None, FlagCode.STEADY_STATE_UNKNOWN, False),
        (0, FlagCode.STEADY_STATE_NOT_REACHED, False),
        (4, FlagCode.STEADY_STATE_NOT_REACHED, False),
        (5, FlagCode.STEADY_STATE, True),
        (7, FlagCode.STEADY_STATE, True),
        (60, FlagCode.STEADY_STATE, True),
    ],
)
def test_steady_state_needs_a_dose_stable_for_5_days(days, code, valid):
    reading = interpret(level(dose_stable_days=days))
    assert code in codes(reading)
    assert reading.valid_trough is valid


@pytest.mark.parametrize(
    ("clozapine", "expected", "absent"),
    [
        # undetectable: never "below threshold, raise the dose" (test_undetectable_levels.py)
        ("0", {FlagCode.LEVEL_UNDETECTABLE}, {FlagCode.BELOW_RESPONSE_THRESHOLD}),
        ("49.99", {FlagCode.LEVEL_UNDETECTABLE}, {FlagCode.BELOW_RESPONSE_THRESHOLD}),
        ("50", {FlagCode.BELOW_RESPONSE_THRESHOLD}, {FlagCode.LEVEL_UNDETECTABLE}),
        ("349.99", {FlagCode.BELOW_RESPONSE_THRESHOLD}, {FlagCode.HIGH_LEVEL}),
        ("350", {FlagCode.AT_OR_ABOVE_RESPONSE_THRESHOLD}, {FlagCode.BELOW_RESPONSE_THRESHOLD}),
        ("999.99", {FlagCode.AT_OR_ABOVE_RESPONSE_THRESHOLD}, {FlagCode.HIGH_LEVEL}),
        ("1000", {FlagCode.AT_OR_ABOVE_RESPONSE_THRESHOLD, FlagCode.HIGH_LEVEL}, set()),
        ("1500", {FlagCode.HIGH_LEVEL}, {FlagCode.BELOW_RESPONSE_THRESHOLD}),
    ],
)
def test_the_level_against_350_response_and_1000_alert(clozapine, expected, absent):
    reading = interpret(level(clozapine))
    assert expected <= codes(reading)
    assert not (absent & codes(reading))


def test_a_high_level_is_urgent_and_unexpected_and_says_where_it_comes_from():
    reading = interpret(level("1000"))
    high = next(f for f in reading.flags if f.code == FlagCode.HIGH_LEVEL)
    assert high.severity == Severity.URGENT
    assert "seed 000" in high.source
    assert "toxicity" in high.message
    assert reading.urgent and reading.unexpected


def test_a_level_of_999_is_neither_urgent_nor_unexpected():
    reading = interpret(level("999"))
    assert not reading.urgent
    assert not reading.unexpected


@pytest.mark.parametrize(
    ("clozapine", "norclozapine", "ratio"),
    [
        ("400", "300", Decimal("1.33")),
        ("350", "350", Decimal("1.00")),
        ("500", "250", Decimal("2.00")),
        ("100", "3", Decimal("33.33")),
    ],
)
def test_the_metabolic_ratio_is_clozapine_over_norclozapine(clozapine, norclozapine, ratio):
    assert metabolic_ratio(Decimal(clozapine), Decimal(norclozapine)) == ratio


def test_no_ratio_without_a_norclozapine_level():
    assert metabolic_ratio(Decimal(400), None) is None
    assert metabolic_ratio(Decimal(400), Decimal(0)) is None
    assert FlagCode.RATIO_NOT_AVAILABLE in codes(interpret(level("400")))


@pytest.mark.parametrize(
    ("norclozapine", "infection", "code"),
    [
        ("600", False, FlagCode.RATIO_INDUCTION),  # 0.67
        ("400", False, FlagCode.RATIO_INDUCTION),  # 1.00: "1.00 or less"
        ("396", False, FlagCode.RATIO_EXPECTED),  # 1.01
        ("303", False, FlagCode.RATIO_EXPECTED),  # 1.32: the expected mean
        ("201", False, FlagCode.RATIO_EXPECTED),  # 1.99
        ("200", False, FlagCode.RATIO_INHIBITION),  # 2.00
        ("134", False, FlagCode.RATIO_INHIBITION),  # 2.99
        ("133.34", False, FlagCode.RATIO_STRONG_INHIBITION),  # 3.00
        ("80", False, FlagCode.RATIO_STRONG_INHIBITION),  # 5.00
        ("133.34", True, FlagCode.RATIO_INFLAMMATION),  # 3.00 during a serious infection
        ("200", True, FlagCode.RATIO_INHIBITION),  # 2.00: not yet the infection band
    ],
)
def test_each_metabolic_ratio_band_and_edge(norclozapine, infection, code):
    reading = interpret(level("400", norclozapine, serious_infection=infection))
    assert code in codes(reading)


def test_a_low_ratio_in_a_smoker_is_explained_by_smoking_and_only_informative():
    smoker = interpret(level("400", "500", smoking=Smoking.SMOKER))
    flag = next(f for f in smoker.flags if f.code == FlagCode.RATIO_INDUCTION)
    assert flag.severity == Severity.INFO
    assert "smoking" in flag.message
    other = interpret(level("400", "500", smoking=Smoking.NON_SMOKER))
    flag = next(f for f in other.flags if f.code == FlagCode.RATIO_INDUCTION)
    assert flag.severity == Severity.WARNING
    assert "non-adherence" in flag.message


def prior(days_before, clozapine, ratio=None, dose=None):
    return PriorLevel(
        sampled_at=DRAWN - timedelta(days=days_before),
        clozapine_ng_ml=Decimal(clozapine),
        ratio=Decimal(ratio) if ratio is not None else None,
        daily_dose_mg=Decimal(dose) if dose is not None else None,
        valid_trough=True,
    )


@pytest.mark.parametrize(
    ("previous", "flagged"),
    [
        ("1.00", True),  # 1.30 is +30 %
        ("1.01", False),  # +28.7 %
        ("1.86", True),  # -30.1 %
        ("1.85", False),  # -29.7 %
    ],
)
def test_a_change_of_30_percent_from_the_patients_own_ratio_is_flagged(previous, flagged):
    reading = interpret(level("390", "300"), [prior(30, "390", previous)])  # ratio 1.30
    assert (FlagCode.RATIO_CHANGED in codes(reading)) is flagged
    assert reading.previous_ratio == Decimal(previous)
    assert reading.unexpected is flagged


def test_the_ratio_is_compared_with_the_latest_earlier_ratio_and_never_a_later_one():
    earlier = [
        prior(60, "300", "1.30"),
        prior(30, "300", "2.60"),
        PriorLevel(DRAWN + timedelta(days=1), Decimal(300), Decimal("9.00"), None, True),
    ]
    reading = interpret(level("390", "300"), earlier)  # 1.30
    assert reading.previous_ratio == Decimal("2.60")
    assert FlagCode.RATIO_CHANGED in codes(reading)


@pytest.mark.parametrize(
    ("previous", "dose_then", "flagged"),
    [
        ("400", "300", True),  # 520 is +30 %
        ("401", "300", False),  # +29.7 %
        ("400", "400", False),  # another dose: not compared
        ("800", "300", True),  # -35 %
    ],
)
def test_a_large_change_in_level_at_the_same_dose(previous, dose_then, flagged):
    reading = interpret(
        level("520", daily_dose_mg=Decimal(300)), [prior(14, previous, dose=dose_then)]
    )
    assert (FlagCode.LEVEL_CHANGED_SAME_DOSE in codes(reading)) is flagged


def test_no_same_dose_comparison_when_the_dose_is_not_known():
    reading = interpret(level("900"), [prior(14, "300", dose="300")])
    assert FlagCode.LEVEL_CHANGED_SAME_DOSE not in codes(reading)


def test_every_flag_has_a_plain_message_and_a_source():
    reading = interpret(
        level("1200", "300", daily_dose_mg=Decimal(300), dose_stable_days=2),
        [prior(14, "400", "1.2", "300")],
    )
    assert len(reading.flags) >= 6
    for flag in reading.flags:
        assert flag.message and flag.source.startswith(("seed 00", "AGNP", "Maudsley"))
    body = reading.as_dict()
    assert body["metabolic_ratio"] == "4.00"
    assert {f["code"] for f in body["flags"]} >= {"high_level", "ratio_strong_inhibition"}
