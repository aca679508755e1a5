"""`uk-cpms`: the UK/Ireland traffic-light scheme of the clozapine monitoring services.

Counts are the white cell count (WBC) and the absolute neutrophil count, both reported in
×10⁹/L and kept here in cells/µL (1.5 ×10⁹/L = 1500/µL), compared as exact integers.

Sources:
- [GGC] NHS Greater Glasgow and Clyde, Medicines Companion, "Physical Health Monitoring
  (Clozapine)": the green/amber/red table (WBC ≥ 3.5 and neutrophils ≥ 2.0 green; WBC 3.0-<3.5
  and/or neutrophils 1.5-<2.0 amber, twice weekly until green; WBC < 3.0 and/or neutrophils
  < 1.5 red, stop, daily until two successive greens); the schedule (weekly for a minimum of 18
  weeks, fortnightly to a minimum of 52 weeks, then monthly); "patients may only progress from
  weekly to fortnightly or fortnightly to 4 weekly FBC if authorised by the clozapine
  monitoring service".
- [Borders] NHS Borders, "Clozapine red alert": a red result stops clozapine at once, daily
  full blood counts while red, contact the on-call haematologist.
- [PRODUCT] the product's requirements for this protocol (docs/rules.md, "uk-cpms"): supply
  aligned to the interval (7, 14, 28 days), amber supply 7 days, red non-rechallengeable unless
  a haematologist-approved agreement is recorded, BEN (Duffy-null) patients on per-patient
  limits agreed with a haematologist, the 30-day lapse rule kept as a protocol setting.
- [RULES] docs/rules.md for what every protocol keeps: the lapse, the enrollment labs, the
  authorization maximum.

Readings this module takes (ours, "derived"; where the sources leave room, the safer one):

1. Same draw (docs/rules.md §9.3). Counts are one draw when they share the draw instant, or the
   same laboratory and accession (an accession names the specimen, whatever time stamps its
   results carry). The engine groups them (engine/core.py `draws_of`); a draw holding
   one count without the other is an incomplete set.
2. Incomplete sets can only make things worse. Red and amber are "and/or" rules, so one count
   alone is enough to show red (a WBC < 3.0 or neutrophils < 1.5) or at least amber; such a set
   is read as that band at once. A single count in the green range says nothing: it cannot
   make a patient green, does not count toward the two greens after red, is not current for a
   supply, and may not enroll or start a patient.
3. No 24-hour confirmation step (`confirmation_hours = 0`): the sources do not let a normal
   repeat cancel an amber or red result; a red stays red until two consecutive greens, an amber
   until one green.
4. `band` reports the open episode's worst colour (as us-label-2015 does): a patient whose
   amber turned red stays red until two consecutive greens, even if the next result is amber.
   A red episode's "two consecutive greens" means two green result sets in a row with no amber
   or red between them; an incomplete green-looking set neither counts nor breaks the run.
5. Red interrupts treatment and flags the patient non-rechallengeable; the only way back is a
   `rechallenge` authorization (this protocol's "haematologist-approved agreement"; its
   rationale names the haematologist) followed by the prescriber's `resume`, which restarts the
   clock as a new patient (weekly for 18 weeks). Resume needs the red episode closed (two
   greens). There is no continuation authorization under this protocol: red means stop.
6. Haematology consult is flagged for red [Borders]; amber is watched by the twice-weekly
   tests alone.
7. Schedule: "weekly for the first 18 weeks" = days 0-125 of the clock (126 days); every 2
   weeks from day 126 through day 363 (week 52); every 4 weeks from day 364. Days count from
   the treatment start, as the us-label clock does (restarted by a rechallenge, a lapse or
   re-enrollment).
8. Step-down needs the prescriber [GGC]: when the schedule reaches a longer interval it is
   *offered* (`step_down_offered`) and the patient stays on the shorter one until the
   prescriber confirms it (POST .../step-down/). A confirmation belongs to the treatment clock
   it was given under: a restarted clock is weekly again and needs new confirmations.
9. Due and current windows equal the interval (derived, no grace): weekly 7/7 days, every 2
   weeks 14/14, every 4 weeks 28/28; twice weekly is due 3 days after the last draw (the
   shorter gap of a Mon/Thu pattern) and current for 4 (the longer gap); daily is due the next
   day and current for 2, but daily only happens while red, when treatment is stopped.
   Largest supply: 7 / 14 / 28 days for weekly / every 2 weeks / every 4 weeks, 7 while amber
   [PRODUCT].
10. BEN (Duffy-null) patients are banded by the standard limits until a haematologist's agreed
    limits are recorded for them (per patient, with who agreed and when); agreed limits may
    only be lower than or equal to the standard ones, apply to results drawn on or after the
    agreement date, and never to a patient recorded as general population.
11. Lapse, enrollment labs and authorization length keep the us-label values (30, 30, 30 days)
    [PRODUCT][RULES]; an interruption of 30 days restarts monitoring as a new patient.
12. BEN patients need one baseline result set before the first dose here (the enrollment
    labs); the us-label rule of two baseline ANCs belongs to that label.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from fractions import Fraction
from types import MappingProxyType

from engine.types import Band, BloodCount, Frequency, Population

name = "uk-cpms"
version = "NHS clozapine monitoring traffic lights (GGC/Borders guidance, 2024)"
analytes = ("anc", "wbc")  # a result set: neutrophils and WBC of one draw (reading 1)
normal_band = Band.GREEN
draw_name = "blood count"  # a full blood count: WBC and neutrophils
neutrophil_name = "neutrophils"
consult_name = "haematology"
# reading 5: the `rechallenge` authorization is the haematologist-approved agreement
rechallenge_after = "a red result (record the haematologist-approved agreement)"

confirmation_hours = 0  # reading 3: no 24-hour confirmation step
lapse_days = 30  # [PRODUCT][RULES]: the same 30-day lapse, kept a protocol setting
enrollment_lab_days = 30  # [RULES] §4: an acceptable result within 30 days at (re-)enrollment
authorization_max_days = 30  # [RULES] §6: default protocol maximum
continuation_allowed = False  # reading 5: red means stop
# The safe reading for the UK monitoring services, which gate every supply on a current result:
# no pharmacist's emergency supply (docs/rules.md has it for us-label-2015 only).
emergency_supply_max_days = 0
emergency_anc_grace_days = 0  # no emergency supply at all (above)
emergency_last_dose_hours = 0
confirmation_overdue_hours = 0  # no confirmation step (reading 3)
retitration_after_hours = 48  # [GGC]: more than 48 hours missed, re-titrate
ben_baselines_required = 1  # reading 12
step_down_needs_confirmation = True  # [GGC]: progress only if authorised (reading 8)

# Standard limits in cells/µL [GGC]. Green: WBC >= 3.5 and neutrophils >= 2.0; red: WBC < 3.0
# and/or neutrophils < 1.5; amber between.
WBC_GREEN = 3500
WBC_RED = 3000  # below this: red
NEUTROPHILS_GREEN = 2000
NEUTROPHILS_RED = 1500  # below this: red

# The limits a haematologist may lower for a BEN patient (reading 10).
overridable_limits: Mapping[str, int] = MappingProxyType(
    {
        "wbc_green_per_ul": WBC_GREEN,
        "wbc_red_per_ul": WBC_RED,
        "neutrophils_green_per_ul": NEUTROPHILS_GREEN,
        "neutrophils_red_per_ul": NEUTROPHILS_RED,
    }
)

WEEKLY_WEEKS = 18  # [GGC]: weekly for (at least) the first 18 weeks
FORTNIGHTLY_UNTIL_WEEKS = 52  # [GGC]: fortnightly to week 52, then every 4 weeks

due_after_days = {
    Frequency.DAILY: 1,  # [GGC] red: daily
    Frequency.TWICE_WEEKLY: 3,  # [GGC] amber: twice weekly; reading 9
    Frequency.WEEKLY: 7,
    Frequency.EVERY_2_WEEKS: 14,
    Frequency.EVERY_4_WEEKS: 28,
}
current_window_days = {
    Frequency.DAILY: 2,  # reading 9
    Frequency.TWICE_WEEKLY: 4,
    Frequency.WEEKLY: 7,
    Frequency.EVERY_2_WEEKS: 14,
    Frequency.EVERY_4_WEEKS: 28,
}
max_supply_days = {
    Frequency.DAILY: 7,  # never reached: red stops treatment and has no continuation
    Frequency.TWICE_WEEKLY: 7,  # [PRODUCT]: amber, supply limited to 7 days
    Frequency.WEEKLY: 7,  # [PRODUCT]: supply aligned to the interval
    Frequency.EVERY_2_WEEKS: 14,
    Frequency.EVERY_4_WEEKS: 28,
}
needs_continuation = frozenset({Frequency.DAILY})

_SEVERITY = {Band.GREEN: 0, Band.AMBER: 1, Band.RED: 2}


def limits_for(population: Population, agreed: Mapping[str, int]) -> dict[str, int]:
    """The limits a result is banded by: the standard ones, lowered by a haematologist's
    agreement for a BEN patient only (reading 10)."""
    limits = dict(overridable_limits)
    if population == Population.BEN:
        for key, value in agreed.items():
            if key in limits:
                limits[key] = min(limits[key], value)
    return limits


def band_of(
    reading: BloodCount,
    population: Population,
    baseline: Fraction | None,
    limits: Mapping[str, int],
) -> Band | None:
    # Exact integers, inclusive lower bounds for green and amber; "and/or" for amber and red.
    lim = limits_for(population, limits)
    neutrophils, wbc = reading.value_per_ul, reading.wbc_per_ul
    if (neutrophils is not None and neutrophils < lim["neutrophils_red_per_ul"]) or (
        wbc is not None and wbc < lim["wbc_red_per_ul"]
    ):
        return Band.RED
    if (neutrophils is not None and neutrophils < lim["neutrophils_green_per_ul"]) or (
        wbc is not None and wbc < lim["wbc_green_per_ul"]
    ):
        return Band.AMBER
    if neutrophils is None or wbc is None:
        return None  # reading 2: an incomplete set cannot make a patient green
    return Band.GREEN


def severity(band: Band) -> int:
    return _SEVERITY[band]


def interrupts(band: Band) -> bool:
    return band == Band.RED  # [GGC][Borders]: red, stop clozapine immediately


def consult(band: Band) -> bool:
    return band == Band.RED  # [Borders]: contact the haematologist; reading 6


def requires_rechallenge(band: Band) -> bool:
    return band == Band.RED  # [PRODUCT]: non-rechallengeable unless a haematologist agrees


def recovered(
    worst: Band,
    reading: BloodCount,
    population: Population,
    baseline: Fraction | None,
    limits: Mapping[str, int],
) -> bool:
    # Back in green ends amber [GGC]; red needs it twice in a row (recovery_results_required).
    return band_of(reading, population, baseline, limits) == Band.GREEN


def recovery_results_required(worst: Band) -> int:
    return 2 if worst == Band.RED else 1  # [GGC]: red, until two successive green results


def episode_frequency(
    worst: Band, latest: int, population: Population, baseline: Fraction | None
) -> Frequency:
    if worst == Band.RED:
        return Frequency.DAILY  # [GGC]: daily until two successive greens
    return Frequency.TWICE_WEEKLY  # [GGC]: amber, twice weekly until green


def weekly_after_episode_days(worst: Band) -> int:
    return 0  # the sources name no step after an amber; red restarts as a new patient


def resume_allowed(
    worst: Band | None,
    latest: int,
    population: Population,
    baseline: Fraction | None,
    after_severe: bool,
) -> bool:
    # Reading 5: only once the red episode has closed (two consecutive greens).
    return worst is None


def routine_frequency(clock_started_on: date | None, on: date) -> Frequency:
    # Reading 7: weekly on days 0-125, every 2 weeks on days 126-363, every 4 weeks after.
    if clock_started_on is None or on < clock_started_on + timedelta(weeks=WEEKLY_WEEKS):
        return Frequency.WEEKLY
    if on < clock_started_on + timedelta(weeks=FORTNIGHTLY_UNTIL_WEEKS):
        return Frequency.EVERY_2_WEEKS
    return Frequency.EVERY_4_WEEKS


# --- Per-patient limit floors (docs/rules.md §9.10) -----------------------------------------
# An agreed red limit is never below 1.0 ×10⁹/L neutrophils or 2.0 ×10⁹/L WBC unless a second
# haematologist signs the agreement (who is recorded). Even then (ours, derived, the safer
# reading): never below half of those, 0.5 ×10⁹/L neutrophils (below it is severe
# neutropenia in every scheme, the us-label "severe" row) and 1.0 ×10⁹/L WBC, so no agreement
# can make a count that low "amber" or "green". Green limits have no floor of their own: each
# stays strictly above its red limit.
NEUTROPHILS_RED_FLOOR = 1000
WBC_RED_FLOOR = 2000
limit_floors: Mapping[str, int] = MappingProxyType(
    {"neutrophils_red_per_ul": NEUTROPHILS_RED_FLOOR, "wbc_red_per_ul": WBC_RED_FLOOR}
)
limit_floors_second_signature: Mapping[str, int] = MappingProxyType(
    {"neutrophils_red_per_ul": NEUTROPHILS_RED_FLOOR // 2, "wbc_red_per_ul": WBC_RED_FLOOR // 2}
)
