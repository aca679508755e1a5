"""What the engine asks of a protocol. A protocol is data plus small functions; the engine's
replay and projection (engine/core.py) are shared by every protocol."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from fractions import Fraction
from typing import Protocol

from engine.types import Band, BloodCount, Frequency, Population


class ProtocolRules(Protocol):
    name: str
    version: str
    # What a monitoring draw is called in reminders and pages ("ANC", "blood count").
    draw_name: str
    # What the neutrophil count of a draw is called on pages ("ANC", "neutrophils").
    neutrophil_name: str
    # The specialty a consult is asked of, in the protocol's spelling ("hematology",
    # "haematology").
    consult_name: str
    # What makes a rechallenge authorization necessary, in the protocol's words.
    rechallenge_after: str
    # The analytes a result set holds for this protocol ("anc", "wbc"); results of other
    # analytes are not given to the engine.
    analytes: tuple[str, ...]
    # The band in which treatment may start and a patient is not in an episode.
    normal_band: Band
    # How long the first low result waits for its repeat; 0: no confirmation step.
    confirmation_hours: int
    # An interruption (or no supply on hand) this many days old needs re-enrollment.
    lapse_days: int
    # Enrollment needs an acceptable result drawn this many days before the enrollment date.
    enrollment_lab_days: int
    # The longest a continuation or rechallenge authorization may run.
    authorization_max_days: int
    # Whether a continuation authorization may keep a patient on treatment in a band that
    # interrupts it.
    continuation_allowed: bool
    # How many baseline results a BEN patient needs before the first dose.
    ben_baselines_required: int
    # Per frequency: days from the last draw to the next due draw, days a result stays
    # current, and the largest supply.
    due_after_days: dict[Frequency, int]
    current_window_days: dict[Frequency, int]
    max_supply_days: dict[Frequency, int]
    # The longest emergency supply a pharmacist may make while the ANC is not current (0: none),
    # how many days past its window the latest result may be, and how long the patient may have
    # been without clozapine (docs/rules.md §10).
    emergency_supply_max_days: int
    emergency_anc_grace_days: int
    emergency_last_dose_hours: int
    # A first low result whose repeat is this many hours overdue adds a warning (§9.4).
    confirmation_overdue_hours: int
    # Without clozapine this long, the dose must be re-titrated (a warning; §10).
    retitration_after_hours: int
    # Frequencies that may be dispensed to only under a continuation authorization.
    needs_continuation: frozenset[Frequency]
    # True: a longer routine interval is offered by the schedule and applies only once the
    # prescriber confirms it; False: the schedule applies by itself.
    step_down_needs_confirmation: bool
    # The per-patient band limits a haematologist may agree (name -> the protocol's value /µL);
    # empty when the protocol has none.
    overridable_limits: Mapping[str, int]
    # The lowest value an agreed limit may take (name -> /µL), and the lowest even when a
    # second haematologist signs; limits not named have no floor but their green/red order
    # (docs/rules.md §9.10; checked by `limit_agreement_problem` below).
    limit_floors: Mapping[str, int]
    limit_floors_second_signature: Mapping[str, int]

    def band_of(
        self,
        reading: BloodCount,
        population: Population,
        baseline: Fraction | None,
        limits: Mapping[str, int],
    ) -> Band | None: ...

    def severity(self, band: Band) -> int: ...

    def interrupts(self, band: Band) -> bool: ...

    def consult(self, band: Band) -> bool: ...

    def requires_rechallenge(self, band: Band) -> bool: ...

    def recovered(
        self,
        worst: Band,
        reading: BloodCount,
        population: Population,
        baseline: Fraction | None,
        limits: Mapping[str, int],
    ) -> bool: ...

    def recovery_results_required(self, worst: Band) -> int: ...

    def episode_frequency(
        self, worst: Band, latest: int, population: Population, baseline: Fraction | None
    ) -> Frequency: ...

    def weekly_after_episode_days(self, worst: Band) -> int: ...

    def resume_allowed(
        self,
        worst: Band | None,
        latest: int,
        population: Population,
        baseline: Fraction | None,
        after_severe: bool,
    ) -> bool: ...

    def routine_frequency(self, clock_started_on: date | None, on: date) -> Frequency: ...


# --- Entry guards and per-patient limit checks (docs/rules.md §8, §9.10) -------------------
# Product rules every protocol shares, kept apart from the interface above. The numbers a
# protocol owns (its limit floors) are attributes of the protocol module; see `limit_floors`.

# docs/rules.md §8, manual entry guards: a count typed by hand below this many cells/µL, or
# more than this fraction below the patient's previous result of the same analyte, is stored
# only when the user confirms it. A typing slip (2.1 meant as 10*3/uL, a dropped digit) would
# otherwise make a patient severe and interrupt treatment in one click. A lab feed's value is
# the lab's word and is never held for this.
MANUAL_ENTRY_MIN_PER_UL = 100
MANUAL_ENTRY_MAX_FALL = Fraction(3, 4)  # a fall of more than 75%


def manual_entry_concern(value_per_ul: int, previous_per_ul: int | None) -> str | None:
    """Why a hand-entered count needs the user's explicit confirmation, in words, or None.
    `previous_per_ul` is the patient's previous usable result of the same analyte."""
    if value_per_ul < MANUAL_ENTRY_MIN_PER_UL:
        return f"{value_per_ul}/µL is below {MANUAL_ENTRY_MIN_PER_UL}/µL"
    if previous_per_ul:
        fall = Fraction(previous_per_ul - value_per_ul, previous_per_ul)
        if fall > MANUAL_ENTRY_MAX_FALL:
            return (
                f"{value_per_ul}/µL is {int(fall * 100)}% below the previous result "
                f"({previous_per_ul}/µL)"
            )
    return None


def limit_agreement_problem(
    *,
    standard: Mapping[str, int],
    floors: Mapping[str, int],
    floors_second_signature: Mapping[str, int],
    limits: Mapping[str, int],
    second_signature: bool,
) -> str | None:
    """What is wrong with per-patient limits a haematologist agreed (docs/rules.md §9.10), or
    None. Each limit may only lower the protocol's standard one; a limit that has a floor goes
    below it only when a second haematologist signs, and never below the floor that applies
    even then; each green limit stays strictly above its red one (`*_green_per_ul` and
    `*_red_per_ul` pair by name)."""
    for name, value in limits.items():
        if value > standard[name]:
            return f"{name} may only lower the protocol's limit ({standard[name]}/µL)."
        hard = floors_second_signature.get(name)
        if hard is not None and value < hard:
            return f"{name} may not be below {hard}/µL, even with a second haematologist."
        floor = floors.get(name)
        if floor is not None and value < floor and not second_signature:
            return (
                f"{name} below {floor}/µL needs a second haematologist's signature "
                '("second_haematologist").'
            )
    merged = {**standard, **limits}
    for name, value in merged.items():
        if name.endswith("_green_per_ul"):
            red = name.removesuffix("_green_per_ul") + "_red_per_ul"
            if red in merged and value <= merged[red]:
                return f"{name} ({value}/µL) must be above {red} ({merged[red]}/µL)."
    return None
