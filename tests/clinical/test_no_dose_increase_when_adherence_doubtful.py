"""No message ever suggests a dose increase when adherence is in doubt (an undetectable level,
a recent gap in doses, records that cannot say, a doubt someone noted, a low ratio in a
non-smoker) or the level is not a valid steady-state trough: a property over generated level
histories, each level read in the light of the ones before it."""

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from clinical.levels import (
    ADHERENCE_GAP_HOURS,
    INDUCTION_CHANGE_DAYS,
    MR_INDUCTION_AT_MOST,
    RECENT_CHANGE_DAYS,
    UNDETECTABLE_BELOW_NG_ML,
    LevelInput,
    PriorLevel,
    RecentChange,
    Smoking,
    interpret,
    metabolic_ratio,
)
from clinical.messages import SUGGESTS_DOSE_INCREASE

START = datetime(2026, 1, 1, 8, 0, tzinfo=UTC)
INCREASE = re.compile(r"\b(rais(e|ing)|increas(e|ing)|higher dose|up-titrat)", re.IGNORECASE)
NEGATED = re.compile(r"\b(do not|not|never|cannot|before any) [^.]*\b(increase|dose change)", re.I)

levels: st.SearchStrategy[dict] = st.builds(
    dict,
    days_after_previous=st.integers(1, 60),
    clozapine=st.one_of(
        st.just(Decimal(0)),
        st.decimals(0, 60, places=2),
        st.decimals(0, 2000, places=2),
    ),
    norclozapine=st.one_of(st.none(), st.decimals(1, 1500, places=2)),
    hours_after_dose=st.one_of(st.none(), st.integers(1, 96)),
    stable_days=st.one_of(st.none(), st.integers(0, 60)),
    stable=st.one_of(st.none(), st.booleans()),
    gap_hours=st.one_of(st.none(), st.decimals(0, 200, places=1)),
    change_days_before=st.one_of(st.none(), st.integers(0, 20)),
    settle_days=st.sampled_from([RECENT_CHANGE_DAYS, INDUCTION_CHANGE_DAYS]),
    doubt_noted=st.booleans(),
    doses_known=st.booleans(),
    daily_dose=st.one_of(st.none(), st.sampled_from([Decimal(x) for x in (100, 300, 600, 900)])),
    smoking=st.sampled_from(list(Smoking)),
    infection=st.booleans(),
)


def _suggests_increase(message: str) -> bool:
    without_negations = NEGATED.sub("", message)
    return bool(INCREASE.search(without_negations))


@settings(max_examples=300, deadline=None)
@given(st.lists(levels, min_size=1, max_size=8))
def test_no_dose_increase_is_suggested_when_adherence_is_in_doubt(history):
    earlier: list[PriorLevel] = []
    at = START
    for item in history:
        at = at + timedelta(days=item["days_after_previous"])
        hours = item["hours_after_dose"]
        change = item["change_days_before"]
        level = LevelInput(
            retitration_after_hours=48,
            sampled_at=at,
            clozapine_ng_ml=item["clozapine"],
            norclozapine_ng_ml=item["norclozapine"],
            last_dose_at=None if hours is None else at - timedelta(hours=hours),
            daily_dose_mg=item["daily_dose"],
            dose_stable_days=item["stable_days"],
            dose_stable=item["stable"],
            smoking=item["smoking"],
            serious_infection=item["infection"],
            recent_changes=()
            if change is None
            else (
                RecentChange(
                    "Smoking stopped",
                    at.date() - timedelta(days=change),
                    change,
                    item["settle_days"],
                ),
            ),
            gap_hours=item["gap_hours"],
            adherence_doubt_noted=item["doubt_noted"],
            doses_known=item["doses_known"],
        )
        reading = interpret(level, earlier)
        ratio = metabolic_ratio(item["clozapine"], item["norclozapine"])
        doubt = (
            item["clozapine"] < UNDETECTABLE_BELOW_NG_ML
            or item["gap_hours"] is None
            or item["gap_hours"] > ADHERENCE_GAP_HOURS
            or item["doubt_noted"]
            or not item["doses_known"]
            or (
                ratio is not None
                and ratio <= MR_INDUCTION_AT_MOST
                and item["smoking"] == Smoking.NON_SMOKER
            )
        )
        assert reading.adherence_doubt is doubt
        suggesting = [
            f
            for f in reading.flags
            if f.code.value in SUGGESTS_DOSE_INCREASE or _suggests_increase(f.message)
        ]
        if doubt or not reading.valid_trough:
            assert not suggesting, [f.message for f in suggesting]
        # and whatever suggests one is the one reviewed sentence
        assert all(f.code.value in SUGGESTS_DOSE_INCREASE for f in suggesting)
        earlier.append(
            PriorLevel(
                at, level.clozapine_ng_ml, reading.ratio, level.daily_dose_mg, reading.valid_trough
            )
        )


def test_the_property_can_fail_the_one_sentence_that_suggests_an_increase_is_caught():
    # The detector sees the reviewed "consider raising the dose" sentence...
    reading = interpret(
        LevelInput(
            retitration_after_hours=48,
            sampled_at=START,
            clozapine_ng_ml=Decimal(200),
            last_dose_at=START - timedelta(hours=12),
            dose_stable_days=7,
            gap_hours=Decimal(0),  # the records show every dose taken
            doses_known=True,
        )
    )
    assert any(_suggests_increase(f.message) for f in reading.flags)
    # ...but not when the records cannot say whether the doses were taken...
    unknown = interpret(
        LevelInput(
            retitration_after_hours=48,
            sampled_at=START,
            clozapine_ng_ml=Decimal(200),
            last_dose_at=START - timedelta(hours=12),
            dose_stable_days=7,
        )
    )
    assert unknown.adherence_doubt
    assert not any(_suggests_increase(f.message) for f in unknown.flags)
    # ...and not the sentences that forbid one.
    assert not _suggests_increase("Do not increase the dose on this result.")
    assert not _suggests_increase("Confirm adherence before any dose change.")
