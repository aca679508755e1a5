"""Clozapine levels (therapeutic drug monitoring): the pure interpretation of one result in the
light of the patient's earlier ones, and the adequate-trial summary. No ORM, no clock.

Sources, cited next to each value as "seed 000" / "seed 001":

- seed 000: "How do I interpret clozapine or norclozapine blood, serum or plasma levels" (SMI
  Adviser clinical tip, citing Meyer & Stahl 2020 and Schoretsanitis et al. 2019; listed in
  docs/rules.md, Sources).
- seed 001: "Treatment-Resistant Schizophrenia and Clozapine Management", sections
  "Therapeutic Monitoring" and "Clozapine-Resistant Schizophrenia" (docs/rules.md, Sources).

Readings taken where the seeds leave room (each the safer one for the patient):

- Trough window: 12 h ± 2 h is read inclusively, [10:00, 14:00] after the last dose; 9:59 and
  14:01 are not troughs.
- Steady state: "5-7 days" at a stable dose; 5 full days is the minimum we accept (the issue's
  "stable dose ≥ 5 days"). Unknown stability is "not confirmed", never assumed.
- High level: seed 000 says ">1000 ng/ml"; we alert at 1000 ng/mL and above, so that a result
  rounded to 1000 by the laboratory is not missed.
- Response threshold: "≥350 ng/mL" (seed 001), so 350 meets it and 349.99 does not.
- Metabolic ratio (MR, clozapine ÷ norclozapine) bands, seed 000: ≤ 1.00 induction (smoking,
  phenytoin, carbamazepine), CYP1A2 ultrarapid metabolism or partial non-adherence; about 1.32
  expected for non-smoking extensive metabolizers (1.73 in another review), so 1.00 < MR < 2.00
  is "in the expected range"; seed 000 writes "greater than 2.00" for inhibition: we flag from
  2.00 itself; from 3.00, strong CYP1A2 inhibitors (fluvoxamine, ciprofloxacin) or a serious
  infection (MR around 3.0 on average, range 1.4-8.6).
- Change in the patient's own ratio, and change in level at the same daily dose: seed 000 says
  levels vary ±30 % within a patient and the MR is "genetically fixed" unless smoking or
  medication changes. A change of 30 % or more from the patient's previous value is flagged
  (30 % itself included: the alert errs towards asking).
- Adequate trial (seed 001, clozapine resistance): only valid steady-state troughs count towards
  "≥ 350 ng/mL on at least two occasions a week or more apart"; "at least 3 months after
  achieving therapeutic levels" is counted from the start of the current unbroken run of
  therapeutic troughs (a later sub-therapeutic trough restarts it: "maintained"); with no trough
  levels at all, the dose criterion is ≥ 500 mg/day held for at least 3 months (seed 001:
  "maintained for at least 3 months at a minimum dose of 500 mg/day").
- Undetectable: laboratories report clozapine below 20 to 50 ng/mL as undetectable; below
  50 ng/mL (the higher limit, so more results get the adherence question) is read as
  undetectable. It is never a valid trough, it raises an urgent alert, and it never comes with
  a dose suggestion: non-adherence or a sample error is suspected first.
- Adherence in doubt: an undetectable level, or more than 14 hours without clozapine (the end
  of the trough window: at least one dose missed) in the 7 days before the draw, as the
  dispenses and reported last doses show it. A level with adherence in doubt is not at steady
  state, and only a valid steady-state trough with adherence not in doubt may read "consider
  raising the dose" (clinical.messages.SUGGESTS_DOSE_INCREASE).
- A change in smoking status or in an interacting medication fewer than 7 days before the draw
  (the top of "5-7 days") means the level is not at steady state.
- The ratio bands are read on trough samples only (seed 000 writes "trough values"); on any
  other sample the ratio is shown, not interpreted. A ratio of 3 or more, and any recorded
  serious infection, remind the prescriber.
- 600 to 999 ng/mL is named as the band above the usual reference range (AGNP: 350-600 ng/mL)
  where seizure risk rises; it is not called toxic.

Every sentence is in clinical.messages (its table: docs/drug-levels.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Any

from dateutil.relativedelta import relativedelta

from clinical import messages as say
from clinical.messages import SEED_TRS, Message

# seed 000 "Timing of Clozapine Levels": 12 hours (± 2 h) after the last dose.
TROUGH_EARLIEST = timedelta(hours=10)
TROUGH_LATEST = timedelta(hours=14)
# seed 000: "steady-state concentration at 5-7 days"; seed 001: "after 5-7 days at stable dose".
STEADY_STATE_DAYS = 5
# A change in smoking or an interacting drug fewer than this many days before the draw: not at
# steady state. An inhibitor starting or stopping, or smoking starting, settles in about a week
# (the top of seed 000's "5-7 days"); an inducer starting or stopping, or smoking stopping (the
# induction wearing off), takes about two weeks, so a level in the second week still climbs or
# falls (reading chosen, the safer: docs/drug-levels.md).
RECENT_CHANGE_DAYS = 7
INDUCTION_CHANGE_DAYS = 14
# Below this, "undetectable or nearly so" (laboratories' limits are 20-50 ng/mL: the higher).
UNDETECTABLE_BELOW_NG_ML = Decimal(50)
# Hours without clozapine in the week before the draw that put adherence in doubt: past the end
# of the trough window a dose has been missed. Re-titration: the patient's protocol's
# `retitration_after_hours` (LevelInput.retitration_after_hours).
ADHERENCE_GAP_HOURS = Decimal(14)
ADHERENCE_WINDOW = timedelta(days=7)
# seed 000 / seed 001: mean response threshold in treatment-resistant schizophrenia.
RESPONSE_THRESHOLD_NG_ML = Decimal(350)
# AGNP: therapeutic reference range 350-600 ng/mL; from 600 the band where seizure risk rises.
UPPER_REFERENCE_NG_ML = Decimal(600)
# seed 000 "High Clozapine Levels (>1000 ng/ml)"; alert from 1000 itself (module docstring).
HIGH_LEVEL_NG_ML = Decimal(1000)
# seed 000 "Using the Metabolic (MR) Ratio".
MR_EXPECTED_NON_SMOKER = Decimal("1.32")  # Meyer & Stahl 2020 (1.73: Schoretsanitis 2019)
MR_INDUCTION_AT_MOST = Decimal("1.00")  # "values of 1.00 or less": inducer, ultrarapid, adherence
MR_INHIBITION_FROM = Decimal("2.00")  # "greater than 2.00": inhibitors, poor metabolizer
MR_STRONG_INHIBITION_FROM = Decimal("3.00")  # fluvoxamine/ciprofloxacin; serious infection ~3.0
# seed 000: ±30 % within-patient variation; a change of this fraction or more is flagged.
CHANGE_FRACTION = Decimal("0.30")
# seed 001 "Clozapine-Resistant Schizophrenia" / "Therapeutic Monitoring".
ADEQUATE_OCCASIONS = 2
ADEQUATE_OCCASIONS_APART = timedelta(days=7)
ADEQUATE_MONTHS_AT_LEVEL = 3
ADEQUATE_DOSE_MG_PER_DAY = Decimal(500)


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    URGENT = "urgent"


class Smoking(StrEnum):
    SMOKER = "smoker"
    NON_SMOKER = "non_smoker"
    UNKNOWN = "unknown"


class FlagCode(StrEnum):
    TROUGH_VALID = "trough_valid"
    TROUGH_TOO_EARLY = "trough_too_early"
    TROUGH_TOO_LATE = "trough_too_late"
    TROUGH_TIMING_UNKNOWN = "trough_timing_unknown"
    STEADY_STATE = "steady_state"
    STEADY_STATE_REPORTED = "steady_state_reported"
    STEADY_STATE_NOT_REACHED = "steady_state_not_reached"
    STEADY_STATE_DOSE_CHANGED = "steady_state_dose_changed"
    STEADY_STATE_UNKNOWN = "steady_state_unknown"
    STEADY_STATE_RECENT_CHANGE = "steady_state_recent_change"
    LEVEL_UNDETECTABLE = "level_undetectable"
    ADHERENCE_GAP = "adherence_gap"
    ADHERENCE_GAP_RETITRATION = "adherence_gap_retitration"
    BELOW_RESPONSE_THRESHOLD = "below_response_threshold"
    BELOW_RESPONSE_THRESHOLD_UNCONFIRMED = "below_response_threshold_unconfirmed"
    AT_OR_ABOVE_RESPONSE_THRESHOLD = "at_or_above_response_threshold"
    UPPER_REFERENCE_RANGE = "upper_reference_range"
    HIGH_LEVEL = "high_level"
    RATIO_INDUCTION = "ratio_induction"
    RATIO_EXPECTED = "ratio_expected"
    RATIO_INHIBITION = "ratio_inhibition"
    RATIO_STRONG_INHIBITION = "ratio_strong_inhibition"
    RATIO_INFLAMMATION = "ratio_inflammation"
    RATIO_NOT_AVAILABLE = "ratio_not_available"
    RATIO_NOT_TROUGH = "ratio_not_trough"
    RATIO_CHANGED = "ratio_changed"
    LEVEL_CHANGED_SAME_DOSE = "level_changed_same_dose"
    INFECTION_RECORDED = "infection_recorded"


# Flags that ask the prescriber to act on the level (a reminder is sent).
UNEXPECTED = frozenset(
    {
        FlagCode.HIGH_LEVEL,
        FlagCode.RATIO_CHANGED,
        FlagCode.LEVEL_CHANGED_SAME_DOSE,
        FlagCode.LEVEL_UNDETECTABLE,
        FlagCode.ADHERENCE_GAP_RETITRATION,
        FlagCode.RATIO_STRONG_INHIBITION,
        FlagCode.RATIO_INFLAMMATION,
        FlagCode.INFECTION_RECORDED,
    }
)
# Flags that mean the level is not at steady state (it does not count as a valid trough).
NOT_STEADY = frozenset(
    {
        FlagCode.STEADY_STATE_RECENT_CHANGE,
        FlagCode.LEVEL_UNDETECTABLE,
        FlagCode.ADHERENCE_GAP,
        FlagCode.ADHERENCE_GAP_RETITRATION,
    }
)


@dataclass(frozen=True)
class Flag:
    code: FlagCode
    severity: Severity
    message: str
    source: str

    def as_dict(self) -> dict[str, str]:
        return {
            "code": self.code.value,
            "severity": self.severity.value,
            "message": self.message,
            "source": self.source,
        }


def _flag(code: FlagCode, severity: Severity, message: Message, **values: Any) -> Flag:
    return Flag(code, severity, message.say(**values), message.source)


@dataclass(frozen=True)
class RecentChange:
    """A change in smoking status or an interacting medication, `days_before` the draw's day."""

    description: str  # "Smoking stopped", "ciprofloxacin started"
    on: date
    days_before: int
    # How long the level takes to settle after this kind of change (RECENT_CHANGE_DAYS or
    # INDUCTION_CHANGE_DAYS).
    settle_days: int = RECENT_CHANGE_DAYS


@dataclass(frozen=True)
class LevelInput:
    """One result, in ng/mL, with what was known about the dose at the draw."""

    sampled_at: datetime
    clozapine_ng_ml: Decimal
    norclozapine_ng_ml: Decimal | None = None
    last_dose_at: datetime | None = None
    daily_dose_mg: Decimal | None = None
    # Days at the current daily dose before the draw; None when not known.
    dose_stable_days: int | None = None
    # A yes/no answer to "dose unchanged for the past 5 days?" when the days are not known.
    dose_stable: bool | None = None
    smoking: Smoking = Smoking.UNKNOWN
    serious_infection: bool = False
    # Changes in smoking or interacting medication in the RECENT_CHANGE_DAYS before the draw.
    recent_changes: tuple[RecentChange, ...] = ()
    # The longest time without clozapine (supply or reported dose) in the week before the draw,
    # in hours; None when the records cannot say (no dispense recorded), which leaves adherence
    # unknown, so in doubt.
    gap_hours: Decimal | None = None
    # Someone noted doubt about adherence (clinic or counter) and no level was drawn since.
    adherence_doubt_noted: bool = False
    # The records reach back over the whole week before the draw (a supply recorded before it
    # began), so `gap_hours` judges every day of it; otherwise adherence is unknown, in doubt.
    doses_known: bool = False
    # From this many hours without clozapine the dose must be re-titrated: the patient's
    # protocol's `retitration_after_hours` (the caller asks the protocol).
    retitration_after_hours: int = field(kw_only=True)


@dataclass(frozen=True)
class PriorLevel:
    sampled_at: datetime
    clozapine_ng_ml: Decimal
    ratio: Decimal | None
    daily_dose_mg: Decimal | None
    valid_trough: bool


@dataclass(frozen=True)
class Interpretation:
    flags: tuple[Flag, ...]
    ratio: Decimal | None
    hours_after_dose: Decimal | None
    valid_trough: bool
    previous_ratio: Decimal | None = None
    previous_level_same_dose_ng_ml: Decimal | None = None
    adherence_doubt: bool = False

    @property
    def codes(self) -> list[str]:
        return [f.code.value for f in self.flags]

    @property
    def unexpected(self) -> bool:
        return any(f.code in UNEXPECTED for f in self.flags)

    @property
    def urgent(self) -> bool:
        return any(f.severity == Severity.URGENT for f in self.flags)

    def as_dict(self) -> dict[str, Any]:
        return {
            "metabolic_ratio": _text(self.ratio),
            "previous_metabolic_ratio": _text(self.previous_ratio),
            "hours_after_dose": _text(self.hours_after_dose),
            "valid_trough": self.valid_trough,
            "adherence_doubt": self.adherence_doubt,
            "flags": [f.as_dict() for f in self.flags],
        }


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def metabolic_ratio(clozapine_ng_ml: Decimal, norclozapine_ng_ml: Decimal | None) -> Decimal | None:
    """Clozapine ÷ norclozapine, to two decimals; None without a usable norclozapine."""
    if norclozapine_ng_ml is None or norclozapine_ng_ml <= 0:
        return None
    return (clozapine_ng_ml / norclozapine_ng_ml).quantize(Decimal("0.01"), ROUND_HALF_UP)


def trough_timing(sampled_at: datetime, last_dose_at: datetime | None) -> tuple[FlagCode, Flag]:
    if last_dose_at is None:
        code = FlagCode.TROUGH_TIMING_UNKNOWN
        return code, _flag(code, Severity.WARNING, say.TROUGH_TIMING_UNKNOWN)
    after = sampled_at - last_dose_at
    hours = _hours(after)
    if after < TROUGH_EARLIEST:
        code = FlagCode.TROUGH_TOO_EARLY
        return code, _flag(code, Severity.WARNING, say.TROUGH_TOO_EARLY, hours=hours)
    if after > TROUGH_LATEST:
        code = FlagCode.TROUGH_TOO_LATE
        return code, _flag(code, Severity.WARNING, say.TROUGH_TOO_LATE, hours=hours)
    code = FlagCode.TROUGH_VALID
    return code, _flag(code, Severity.INFO, say.TROUGH_VALID, hours=hours)


def steady_state(dose_stable_days: int | None, dose_stable: bool | None = None) -> Flag:
    if dose_stable_days is None:
        if dose_stable is True:
            return _flag(FlagCode.STEADY_STATE_REPORTED, Severity.INFO, say.STEADY_STATE_REPORTED)
        if dose_stable is False:
            return _flag(
                FlagCode.STEADY_STATE_DOSE_CHANGED, Severity.WARNING, say.STEADY_STATE_DOSE_CHANGED
            )
        return _flag(FlagCode.STEADY_STATE_UNKNOWN, Severity.WARNING, say.STEADY_STATE_UNKNOWN)
    if dose_stable_days < STEADY_STATE_DAYS:
        return _flag(
            FlagCode.STEADY_STATE_NOT_REACHED,
            Severity.WARNING,
            say.STEADY_STATE_NOT_REACHED,
            days=dose_stable_days,
        )
    return _flag(FlagCode.STEADY_STATE, Severity.INFO, say.STEADY_STATE, days=dose_stable_days)


STEADY_CODES = frozenset({FlagCode.STEADY_STATE, FlagCode.STEADY_STATE_REPORTED})


def adherence_flags(level: LevelInput) -> list[Flag]:
    """Doubt about adherence: an undetectable level, or a gap in doses before the draw."""
    flags = []
    if level.clozapine_ng_ml < UNDETECTABLE_BELOW_NG_ML:
        dose = f" on {level.daily_dose_mg} mg/day" if level.daily_dose_mg else ""
        flags.append(
            _flag(
                FlagCode.LEVEL_UNDETECTABLE,
                Severity.URGENT,
                say.LEVEL_UNDETECTABLE,
                value=level.clozapine_ng_ml,
                dose=dose,
            )
        )
    gap = level.gap_hours
    if gap is not None and gap >= Decimal(level.retitration_after_hours):
        flags.append(
            _flag(
                FlagCode.ADHERENCE_GAP_RETITRATION,
                Severity.URGENT,
                say.ADHERENCE_GAP_RETITRATION,
                hours=gap,
            )
        )
    elif gap is not None and gap > ADHERENCE_GAP_HOURS:
        flags.append(_flag(FlagCode.ADHERENCE_GAP, Severity.WARNING, say.ADHERENCE_GAP, hours=gap))
    return flags


def level_flags(clozapine_ng_ml: Decimal, *, may_guide_dose: bool = False) -> list[Flag]:
    """The level's own band. `may_guide_dose`: a valid steady-state trough with adherence not
    in doubt (only then may a low level suggest a higher dose)."""
    flags: list[Flag] = []
    if clozapine_ng_ml < UNDETECTABLE_BELOW_NG_ML:
        return flags  # the undetectable flag says it all (adherence_flags)
    if clozapine_ng_ml < RESPONSE_THRESHOLD_NG_ML:
        if may_guide_dose:
            flags.append(
                _flag(
                    FlagCode.BELOW_RESPONSE_THRESHOLD,
                    Severity.INFO,
                    say.BELOW_RESPONSE_THRESHOLD,
                    value=clozapine_ng_ml,
                )
            )
        else:
            flags.append(
                _flag(
                    FlagCode.BELOW_RESPONSE_THRESHOLD_UNCONFIRMED,
                    Severity.WARNING,
                    say.BELOW_RESPONSE_THRESHOLD_UNCONFIRMED,
                    value=clozapine_ng_ml,
                )
            )
    else:
        flags.append(
            _flag(
                FlagCode.AT_OR_ABOVE_RESPONSE_THRESHOLD,
                Severity.INFO,
                say.AT_OR_ABOVE_RESPONSE_THRESHOLD,
                value=clozapine_ng_ml,
            )
        )
    if UPPER_REFERENCE_NG_ML <= clozapine_ng_ml < HIGH_LEVEL_NG_ML:
        flags.append(
            _flag(
                FlagCode.UPPER_REFERENCE_RANGE,
                Severity.WARNING,
                say.UPPER_REFERENCE_RANGE,
                value=clozapine_ng_ml,
            )
        )
    if clozapine_ng_ml >= HIGH_LEVEL_NG_ML:
        flags.append(
            _flag(FlagCode.HIGH_LEVEL, Severity.URGENT, say.HIGH_LEVEL, value=clozapine_ng_ml)
        )
    return flags


def ratio_flag(
    ratio: Decimal | None, smoking: Smoking, serious_infection: bool, *, trough: bool = True
) -> Flag:
    if ratio is None:
        return _flag(FlagCode.RATIO_NOT_AVAILABLE, Severity.INFO, say.RATIO_NOT_AVAILABLE)
    if not trough:
        return _flag(FlagCode.RATIO_NOT_TROUGH, Severity.INFO, say.RATIO_NOT_TROUGH, ratio=ratio)
    if ratio <= MR_INDUCTION_AT_MOST:
        if smoking == Smoking.SMOKER:
            return _flag(
                FlagCode.RATIO_INDUCTION, Severity.INFO, say.RATIO_INDUCTION_SMOKER, ratio=ratio
            )
        return _flag(FlagCode.RATIO_INDUCTION, Severity.WARNING, say.RATIO_INDUCTION, ratio=ratio)
    if ratio < MR_INHIBITION_FROM:
        return _flag(FlagCode.RATIO_EXPECTED, Severity.INFO, say.RATIO_EXPECTED, ratio=ratio)
    if ratio < MR_STRONG_INHIBITION_FROM:
        return _flag(FlagCode.RATIO_INHIBITION, Severity.WARNING, say.RATIO_INHIBITION, ratio=ratio)
    if serious_infection:
        return _flag(
            FlagCode.RATIO_INFLAMMATION, Severity.WARNING, say.RATIO_INFLAMMATION, ratio=ratio
        )
    return _flag(
        FlagCode.RATIO_STRONG_INHIBITION, Severity.WARNING, say.RATIO_STRONG_INHIBITION, ratio=ratio
    )


def _change(now: Decimal, before: Decimal) -> Decimal:
    return (now - before) / before


def _percent(fraction: Decimal) -> str:
    return f"{(fraction * 100).quantize(Decimal('1'), ROUND_HALF_UP):+}%"


def interpret(level: LevelInput, earlier: Sequence[PriorLevel] = ()) -> Interpretation:
    """The flags for one result, given the patient's earlier results (any order; only those
    drawn before this one are read)."""
    before = sorted(
        (p for p in earlier if p.sampled_at < level.sampled_at), key=lambda p: p.sampled_at
    )
    timing_code, timing = trough_timing(level.sampled_at, level.last_dose_at)
    stable = steady_state(level.dose_stable_days, level.dose_stable)
    flags: list[Flag] = [timing, stable]
    for recent in level.recent_changes:
        if recent.days_before < recent.settle_days:
            flags.append(
                _flag(
                    FlagCode.STEADY_STATE_RECENT_CHANGE,
                    Severity.WARNING,
                    say.STEADY_STATE_RECENT_CHANGE,
                    change=recent.description,
                    on=recent.on.isoformat(),
                    days=recent.days_before,
                )
            )
    flags.extend(adherence_flags(level))
    ratio = metabolic_ratio(level.clozapine_ng_ml, level.norclozapine_ng_ml)
    # Adherence is in doubt unless the records show it: an undetectable level, a gap in doses,
    # records that cannot say (no supply recorded), a doubt someone noted, or a low ratio in a
    # non-smoker (seed 000 names partial non-adherence among its causes). Only then may a level
    # suggest a dose (docs/drug-levels.md).
    adherence_doubt = (
        any(
            f.code
            in (
                FlagCode.LEVEL_UNDETECTABLE,
                FlagCode.ADHERENCE_GAP,
                FlagCode.ADHERENCE_GAP_RETITRATION,
            )
            for f in flags
        )
        or level.gap_hours is None
        or not level.doses_known
        or level.adherence_doubt_noted
        or (
            ratio is not None
            and ratio <= MR_INDUCTION_AT_MOST
            and level.smoking == Smoking.NON_SMOKER
        )
    )
    valid = (
        timing_code == FlagCode.TROUGH_VALID
        and stable.code in STEADY_CODES
        and not any(f.code in NOT_STEADY for f in flags)
    )
    flags.extend(level_flags(level.clozapine_ng_ml, may_guide_dose=valid and not adherence_doubt))
    is_trough = timing_code == FlagCode.TROUGH_VALID
    flags.append(ratio_flag(ratio, level.smoking, level.serious_infection, trough=is_trough))
    if level.serious_infection:
        flags.append(_flag(FlagCode.INFECTION_RECORDED, Severity.WARNING, say.INFECTION_RECORDED))

    previous_ratio = next(
        (p.ratio for p in reversed(before) if p.ratio is not None and p.valid_trough), None
    )
    if is_trough and ratio is not None and previous_ratio is not None and previous_ratio > 0:
        change = _change(ratio, previous_ratio)
        if abs(change) >= CHANGE_FRACTION:
            flags.append(
                _flag(
                    FlagCode.RATIO_CHANGED,
                    Severity.WARNING,
                    say.RATIO_CHANGED,
                    ratio=ratio,
                    change=_percent(change),
                    previous=previous_ratio,
                )
            )
    same_dose = None
    if level.daily_dose_mg is not None:
        same_dose = next(
            (p for p in reversed(before) if p.daily_dose_mg == level.daily_dose_mg), None
        )
    previous_same_dose = same_dose.clozapine_ng_ml if same_dose else None
    if previous_same_dose is not None and previous_same_dose > 0:
        change = _change(level.clozapine_ng_ml, previous_same_dose)
        if abs(change) >= CHANGE_FRACTION:
            flags.append(
                _flag(
                    FlagCode.LEVEL_CHANGED_SAME_DOSE,
                    Severity.WARNING,
                    say.LEVEL_CHANGED_SAME_DOSE,
                    change=_percent(change),
                    previous=previous_same_dose,
                    dose=level.daily_dose_mg,
                )
            )
    hours = _hours(level.sampled_at - level.last_dose_at) if level.last_dose_at else None
    return Interpretation(
        flags=tuple(flags),
        ratio=ratio,
        hours_after_dose=hours,
        valid_trough=valid,
        previous_ratio=previous_ratio,
        previous_level_same_dose_ng_ml=previous_same_dose,
        adherence_doubt=adherence_doubt,
    )


def _hours(delta: timedelta) -> Decimal:
    return (Decimal(delta.total_seconds()) / Decimal(3600)).quantize(Decimal("0.01"), ROUND_HALF_UP)


# --- the adequate trial (seed 001, clozapine resistance) -----------------------------------


class TrialStatus(StrEnum):
    ADEQUATE = "adequate"
    NOT_YET = "not_yet"
    NO_DATA = "no_data"


@dataclass(frozen=True)
class DoseSpan:
    """A daily dose in force from `since` (until the next span)."""

    since: date
    daily_dose_mg: Decimal


@dataclass(frozen=True)
class Criterion:
    code: str
    met: bool
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "met": self.met, "detail": self.detail}


@dataclass(frozen=True)
class AdequateTrial:
    status: TrialStatus
    basis: str  # "levels", "dose" or "none"
    criteria: tuple[Criterion, ...]
    therapeutic_since: date | None = None
    qualifying_levels: int = 0
    uncounted_levels: int = 0
    source: str = SEED_TRS + ", Clozapine-Resistant Schizophrenia: Verify Adequate Trial"
    notes: tuple[str, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "basis": self.basis,
            "criteria": [c.as_dict() for c in self.criteria],
            "therapeutic_since": self.therapeutic_since.isoformat()
            if self.therapeutic_since
            else None,
            "qualifying_levels": self.qualifying_levels,
            "uncounted_levels": self.uncounted_levels,
            "source": self.source,
            "notes": list(self.notes),
        }


def adequate_trial(
    levels: Sequence[PriorLevel], doses: Sequence[DoseSpan], today: date, zone: Any
) -> AdequateTrial:
    """Whether the clozapine trial so far is adequate (seed 001). `levels` are the patient's
    results (any order), `doses` its daily-dose history, `zone` the clinic's time zone (a
    level's date is its local date)."""
    ordered = sorted(levels, key=lambda p: p.sampled_at)
    troughs = [p for p in ordered if p.valid_trough]
    uncounted = sum(
        1 for p in ordered if not p.valid_trough and p.clozapine_ng_ml >= RESPONSE_THRESHOLD_NG_ML
    )
    notes: list[str] = []
    if uncounted:
        notes.append(
            f"{uncounted} level(s) at or above 350 ng/mL not counted: not confirmed steady-state "
            "troughs (12 ± 2 hours after the dose, stable dose for 5 days)."
        )
    if troughs:
        # The current unbroken run of therapeutic troughs ("maintained").
        run: list[PriorLevel] = []
        for p in troughs:
            if p.clozapine_ng_ml >= RESPONSE_THRESHOLD_NG_ML:
                run.append(p)
            else:
                run = []
        apart = bool(run) and (run[-1].sampled_at - run[0].sampled_at) >= ADEQUATE_OCCASIONS_APART
        two = len(run) >= ADEQUATE_OCCASIONS and apart
        since = run[0].sampled_at.astimezone(zone).date() if run else None
        long_enough = since is not None and today >= since + relativedelta(
            months=ADEQUATE_MONTHS_AT_LEVEL
        )
        criteria = (
            Criterion(
                "two_therapeutic_troughs_a_week_apart",
                two,
                f"{len(run)} consecutive trough level(s) ≥ 350 ng/mL"
                + (", the first and last a week or more apart" if apart else "")
                + " (needed: 2, a week or more apart).",
            ),
            Criterion(
                "three_months_at_therapeutic_level",
                long_enough,
                f"Therapeutic since {since.isoformat()}; 3 months reached on "
                f"{(since + relativedelta(months=ADEQUATE_MONTHS_AT_LEVEL)).isoformat()}."
                if since
                else "No therapeutic trough level yet.",
            ),
        )
        if not run and troughs:
            notes.append("The latest trough level is below 350 ng/mL: not yet therapeutic.")
        return AdequateTrial(
            status=TrialStatus.ADEQUATE if two and long_enough else TrialStatus.NOT_YET,
            basis="levels",
            criteria=criteria,
            therapeutic_since=since,
            qualifying_levels=len(run),
            uncounted_levels=uncounted,
            notes=tuple(notes),
        )
    if doses:
        spans = sorted(doses, key=lambda d: d.since)
        high_since = None
        for span in spans:
            if span.since > today:
                break
            if span.daily_dose_mg >= ADEQUATE_DOSE_MG_PER_DAY:
                high_since = high_since or span.since
            else:
                high_since = None
        long_enough = high_since is not None and today >= high_since + relativedelta(
            months=ADEQUATE_MONTHS_AT_LEVEL
        )
        notes.append("No trough levels: judged on the dose (≥ 500 mg/day for 3 months).")
        return AdequateTrial(
            status=TrialStatus.ADEQUATE if long_enough else TrialStatus.NOT_YET,
            basis="dose",
            criteria=(
                Criterion(
                    "dose_at_least_500_mg_for_three_months",
                    long_enough,
                    f"At 500 mg/day or more since {high_since.isoformat()}."
                    if high_since
                    else "The current daily dose is below 500 mg/day.",
                ),
            ),
            therapeutic_since=high_since,
            uncounted_levels=uncounted,
            notes=tuple(notes),
        )
    notes.append("No trough levels and no recorded daily dose.")
    return AdequateTrial(
        status=TrialStatus.NO_DATA,
        basis="none",
        criteria=(),
        uncounted_levels=uncounted,
        notes=tuple(notes),
    )
