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
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Any

from dateutil.relativedelta import relativedelta

SEED_LEVELS = "seed 000 (SMI Adviser: interpreting clozapine and norclozapine levels)"
SEED_TRS = "seed 001 (TRS and clozapine management: therapeutic monitoring, clozapine resistance)"

# seed 000 "Timing of Clozapine Levels": 12 hours (± 2 h) after the last dose.
TROUGH_EARLIEST = timedelta(hours=10)
TROUGH_LATEST = timedelta(hours=14)
# seed 000: "steady-state concentration at 5-7 days"; seed 001: "after 5-7 days at stable dose".
STEADY_STATE_DAYS = 5
# seed 000 / seed 001: mean response threshold in treatment-resistant schizophrenia.
RESPONSE_THRESHOLD_NG_ML = Decimal(350)
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
    STEADY_STATE_NOT_REACHED = "steady_state_not_reached"
    STEADY_STATE_UNKNOWN = "steady_state_unknown"
    BELOW_RESPONSE_THRESHOLD = "below_response_threshold"
    AT_OR_ABOVE_RESPONSE_THRESHOLD = "at_or_above_response_threshold"
    HIGH_LEVEL = "high_level"
    RATIO_INDUCTION = "ratio_induction"
    RATIO_EXPECTED = "ratio_expected"
    RATIO_INHIBITION = "ratio_inhibition"
    RATIO_STRONG_INHIBITION = "ratio_strong_inhibition"
    RATIO_INFLAMMATION = "ratio_inflammation"
    RATIO_NOT_AVAILABLE = "ratio_not_available"
    RATIO_CHANGED = "ratio_changed"
    LEVEL_CHANGED_SAME_DOSE = "level_changed_same_dose"


# Flags that ask the prescriber to act on the level (a reminder is sent).
UNEXPECTED = frozenset(
    {FlagCode.HIGH_LEVEL, FlagCode.RATIO_CHANGED, FlagCode.LEVEL_CHANGED_SAME_DOSE}
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
    smoking: Smoking = Smoking.UNKNOWN
    serious_infection: bool = False


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
        return FlagCode.TROUGH_TIMING_UNKNOWN, Flag(
            FlagCode.TROUGH_TIMING_UNKNOWN,
            Severity.WARNING,
            "The time of the last dose is not recorded, so this cannot be confirmed as a trough "
            "level (drawn 12 hours ± 2 hours after the last dose).",
            SEED_LEVELS + ", Timing of Clozapine Levels",
        )
    after = sampled_at - last_dose_at
    hours = _hours(after)
    if after < TROUGH_EARLIEST:
        return FlagCode.TROUGH_TOO_EARLY, Flag(
            FlagCode.TROUGH_TOO_EARLY,
            Severity.WARNING,
            f"Drawn {hours} hours after the last dose: earlier than a trough (10 to 14 hours), "
            "so the level reads higher than the trough would.",
            SEED_LEVELS + ", Timing of Clozapine Levels",
        )
    if after > TROUGH_LATEST:
        return FlagCode.TROUGH_TOO_LATE, Flag(
            FlagCode.TROUGH_TOO_LATE,
            Severity.WARNING,
            f"Drawn {hours} hours after the last dose: later than a trough (10 to 14 hours), "
            "so the level reads lower than the trough would.",
            SEED_LEVELS + ", Timing of Clozapine Levels",
        )
    return FlagCode.TROUGH_VALID, Flag(
        FlagCode.TROUGH_VALID,
        Severity.INFO,
        f"Drawn {hours} hours after the last dose: within the trough window (12 ± 2 hours).",
        SEED_LEVELS + ", Timing of Clozapine Levels",
    )


def steady_state(dose_stable_days: int | None) -> Flag:
    source = SEED_LEVELS + ", Timing of Clozapine Levels; " + SEED_TRS
    if dose_stable_days is None:
        return Flag(
            FlagCode.STEADY_STATE_UNKNOWN,
            Severity.WARNING,
            "Whether the dose was stable for the past 5 to 7 days is not recorded, so steady "
            "state is not confirmed.",
            source,
        )
    if dose_stable_days < STEADY_STATE_DAYS:
        return Flag(
            FlagCode.STEADY_STATE_NOT_REACHED,
            Severity.WARNING,
            f"The dose had been stable for {dose_stable_days} days; clozapine reaches steady "
            "state after 5 to 7 days, so this level may still rise or fall.",
            source,
        )
    return Flag(
        FlagCode.STEADY_STATE,
        Severity.INFO,
        f"The dose had been stable for {dose_stable_days} days (steady state after 5 to 7).",
        source,
    )


def level_flags(clozapine_ng_ml: Decimal) -> list[Flag]:
    source = SEED_LEVELS + ", Relationship between Clozapine Levels and Efficacy"
    flags = []
    if clozapine_ng_ml < RESPONSE_THRESHOLD_NG_ML:
        flags.append(
            Flag(
                FlagCode.BELOW_RESPONSE_THRESHOLD,
                Severity.INFO,
                f"Clozapine {clozapine_ng_ml} ng/mL is below the 350 ng/mL mean response "
                "threshold. If positive symptoms persist, consider raising the dose towards a "
                "level above 350 ng/mL (levels guide the dose; they do not set it).",
                source,
            )
        )
    else:
        flags.append(
            Flag(
                FlagCode.AT_OR_ABOVE_RESPONSE_THRESHOLD,
                Severity.INFO,
                f"Clozapine {clozapine_ng_ml} ng/mL is at or above the 350 ng/mL response "
                "threshold.",
                source,
            )
        )
    if clozapine_ng_ml >= HIGH_LEVEL_NG_ML:
        flags.append(
            Flag(
                FlagCode.HIGH_LEVEL,
                Severity.URGENT,
                f"Clozapine {clozapine_ng_ml} ng/mL is at or above 1000 ng/mL. Evaluate the "
                "patient now for dose-related side effects; if there is toxicity, urgent care "
                "(arrhythmia, seizure, infection). Without toxicity consider a lab error, a "
                "non-trough draw, a change in medication or smoking; consider a recheck.",
                SEED_LEVELS + ", High Clozapine Levels (>1000 ng/ml)",
            )
        )
    return flags


def ratio_flag(ratio: Decimal | None, smoking: Smoking, serious_infection: bool) -> Flag:
    source = SEED_LEVELS + ", Using the Metabolic (MR) Ratio"
    if ratio is None:
        return Flag(
            FlagCode.RATIO_NOT_AVAILABLE,
            Severity.INFO,
            "No norclozapine level, so no metabolic ratio.",
            source,
        )
    if ratio <= MR_INDUCTION_AT_MOST:
        why = (
            "consistent with the recorded smoking (smoking induces CYP1A2)"
            if smoking == Smoking.SMOKER
            else "suggests an inducer (smoking, phenytoin, carbamazepine), CYP1A2 ultrarapid "
            "metabolism, or partial non-adherence"
        )
        return Flag(
            FlagCode.RATIO_INDUCTION,
            Severity.INFO if smoking == Smoking.SMOKER else Severity.WARNING,
            f"Metabolic ratio {ratio} (1.00 or less): {why}.",
            source,
        )
    if ratio < MR_INHIBITION_FROM:
        return Flag(
            FlagCode.RATIO_EXPECTED,
            Severity.INFO,
            f"Metabolic ratio {ratio}: in the expected range (about 1.32 for non-smokers who are "
            "CYP1A2 extensive metabolizers; 1.73 in another review).",
            source,
        )
    if ratio < MR_STRONG_INHIBITION_FROM:
        return Flag(
            FlagCode.RATIO_INHIBITION,
            Severity.WARNING,
            f"Metabolic ratio {ratio} (2.00 or more): suggests an inhibitor of CYP1A2, 2C19, 2D6 "
            "or 3A4, or poor-metabolizer status.",
            source,
        )
    if serious_infection:
        return Flag(
            FlagCode.RATIO_INFLAMMATION,
            Severity.WARNING,
            f"Metabolic ratio {ratio} (3.00 or more) during a serious infection: inflammation "
            "inhibits CYP1A2 (ratios around 3.0, range 1.4-8.6); the level may rise sharply.",
            source,
        )
    return Flag(
        FlagCode.RATIO_STRONG_INHIBITION,
        Severity.WARNING,
        f"Metabolic ratio {ratio} (3.00 or more): suggests a strong CYP1A2 inhibitor "
        "(fluvoxamine, ciprofloxacin: levels up to 10-fold) or a serious infection.",
        source,
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
    stable = steady_state(level.dose_stable_days)
    valid = timing_code == FlagCode.TROUGH_VALID and stable.code == FlagCode.STEADY_STATE
    flags: list[Flag] = [timing, stable, *level_flags(level.clozapine_ng_ml)]
    ratio = metabolic_ratio(level.clozapine_ng_ml, level.norclozapine_ng_ml)
    flags.append(ratio_flag(ratio, level.smoking, level.serious_infection))

    previous_ratio = next((p.ratio for p in reversed(before) if p.ratio is not None), None)
    if ratio is not None and previous_ratio is not None and previous_ratio > 0:
        change = _change(ratio, previous_ratio)
        if abs(change) >= CHANGE_FRACTION:
            flags.append(
                Flag(
                    FlagCode.RATIO_CHANGED,
                    Severity.WARNING,
                    f"Metabolic ratio {ratio} changed {_percent(change)} from this patient's "
                    f"previous {previous_ratio}. A patient's ratio is fairly fixed; look for a "
                    "change in smoking, medication or an infection.",
                    SEED_LEVELS + ", Using the Metabolic (MR) Ratio",
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
                Flag(
                    FlagCode.LEVEL_CHANGED_SAME_DOSE,
                    Severity.WARNING,
                    f"Clozapine level changed {_percent(change)} from {previous_same_dose} ng/mL "
                    f"at the same daily dose ({level.daily_dose_mg} mg): beyond the usual ±30 % "
                    "within-patient variation. Consider adherence, smoking, interacting "
                    "medication, infection, or the timing of the draw.",
                    SEED_LEVELS + ", Relationship between Clozapine Levels and Efficacy",
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
