"""`us-label-2015`: the US prescribing information's ANC tables, as the Clozapine REMS used them.

The rules are written in docs/rules.md (§1-§10, with the readings R1-R14 that apply to every
protocol). Sources: [L15] Clozaril PI §5.1 Tables 2-3; [L25] PI rev. 6/2025; [T6]/[T7] CNS Drugs
2022;36:659 Tables 6-7; [PN19]/[APA19] REMS 2019 windows; [VistA] PSOCLO1 7/14/28-day caps.

Readings this module takes, each the safer one for the patient where the text leaves room:

1. `band` reports the open episode's worst band (docs/rules.md §1: an episode's band is the
   worst seen in it), so a general patient recovering from moderate at 1200/µL shows `moderate`
   with a three-times-weekly frequency, exactly as the moderate row of the table reads. With no
   episode open it is the latest result's band.
2. A first low result whose repeat is not drawn within 24 hours is not refuted: the episode
   stands as if confirmed (interruption, consult, and the "weekly for 4 weeks" step all apply).
   A normal repeat within 24 hours after a *severe* first result leaves the episode unconfirmed
   but keeps its interruption until a resume, and its consult until acknowledged (§9.4).
3. BEN recovery. A threshold that refers to the baseline is never below 1000/µL (§9.8): the
   BEN-neutropenia row ends at >= 1000; the severe row ends at the higher of 1000 and the
   baseline. The result that opened an episode cannot close it. Without a baseline, 1000 is
   used.
4. Resuming after severe needs the latest ANC in the normal range: >= 1500 (general), >= 1000
   (BEN). After moderate it needs >= 1000 (§5).
5. Treatment may start (a `start` event or the first supply) only with the latest ANC in the
   normal range and no episode open (label: normal band = "start or continue"; the other bands
   only "continue"); otherwise `anc_below_threshold`. A recorded start stands whatever is filed
   later (§9.1).
6. Supply on hand counts against the largest supply, the day of dispensing included (§9.13): a
   7-day supply dispensed today leaves no room today and 1 day tomorrow.
7. Interruption days: day N of an interruption that began on date S is S + N; the lapse
   (re-enrollment required) happens on S + 30. With dispenses on record, S is at the latest the
   first day without supply. A continuation authorization counts as on treatment only while it
   answers the patient's state (§9.5).
8. A continuation authorization lifts a neutropenia interruption only, not one the prescriber
   recorded; a rechallenge authorization alone does not lift an interruption (the prescriber
   records `resume`, which restarts the clock and uses the authorization up).
9. Enrollment needs the latest ANC on or before the enrollment date to be within 30 days and in
   the normal range (a normal result followed by a low one does not qualify).
10. "Weekly for 4 weeks" covers the 28 days after the draw that closed the episode, inclusive;
    routine resumes on day 29.
11. `confirmation_due` keeps showing the deadline of a pending repeat after it has passed, until
    a repeat arrives: an overdue confirmation stays visible rather than silently disappearing;
    48 hours past it, every decision warns (`confirmation_overdue`).
12. The order of one day is written in docs/rules.md ("How the engine reads a history"): a
    course ends and begins before the day's results, starts, interrupts and resumes are judged
    against every result of their day.
13. The 24-hour window is 24 elapsed hours (instants are compared in UTC), so it is not 23 or
    25 hours across a daylight-saving change; calendar rules use the clinic's local dates.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from fractions import Fraction
from functools import lru_cache
from types import MappingProxyType

from dateutil.relativedelta import relativedelta

from engine.types import Band, BloodCount, Frequency, Population

name = "us-label-2015"
version = "2015 tables, 2020/2025 label revisions"
analytes = ("anc",)  # the label's tables read the ANC alone
draw_name = "ANC"
neutrophil_name = "ANC"
consult_name = "hematology"
rechallenge_after = "severe neutropenia"
normal_band = Band.NORMAL

confirmation_hours = 24  # [T6][T7]: confirm the first low result with a repeat within 24 hours
lapse_days = 30  # [L15][T6]: an interruption of 30 days or more restarts as a new patient
enrollment_lab_days = 30  # [seed 002]: labs within the past 30 days at (re-)enrollment
authorization_max_days = 30  # docs/rules.md §6: default protocol maximum
ben_baselines_required = 2  # [L25][T7]: two baseline ANCs before the first dose
# Derived: a pharmacist's emergency supply when the only block is an ANC that is not current
# (the lab is late, the weather, inpatient leave). Four days bridge a long weekend (Friday to
# Tuesday) to the next lab day without approaching the 7-day weekly supply, so the patient is
# not left without clozapine (abrupt stops risk cholinergic rebound and, after 48 hours, a
# re-titration) while the next ANC is still drawn within days. Never for a low band, an open
# episode, an uncertified prescriber or pharmacy, or a patient not enrolled or not on active
# treatment; at most one per ANC (engine/emergency.py).
emergency_supply_max_days = 4
# docs/rules.md §10: the latest ANC no older than its window + 7 days, and the patient's supply
# ran out no more than 48 hours ago (after 48 hours off clozapine the dose is re-titrated).
emergency_anc_grace_days = 7
emergency_last_dose_hours = 48
confirmation_overdue_hours = 48  # docs/rules.md §9.4: repeat more than 48 hours overdue
retitration_after_hours = 48  # [L25]: more than 2 days off clozapine, re-titrate from 12.5 mg
continuation_allowed = True  # docs/rules.md §6: the prescriber's treatment rationale
step_down_needs_confirmation = False  # [T6][T7]: the schedule steps down by itself
overridable_limits: Mapping[str, int] = MappingProxyType({})  # no per-patient limits

# Thresholds in cells/µL. [L15] Table 2 (general) and Table 3 (BEN).
GENERAL_NORMAL = 1500  # normal >= 1500
GENERAL_MILD = 1000  # mild 1000-1499: continue, three times weekly
GENERAL_MODERATE = 500  # moderate 500-999: interrupt, daily until >= 1000; severe < 500
BEN_NORMAL = 1000  # BEN normal >= 1000
BEN_NEUTROPENIA = 500  # BEN neutropenia 500-999: continue, three times weekly; severe < 500

due_after_days = {
    Frequency.DAILY: 1,
    Frequency.THREE_TIMES_WEEKLY: 3,  # derived: the longest gap of Mon/Wed/Fri
    Frequency.WEEKLY: 7,
    Frequency.EVERY_2_WEEKS: 14,
    Frequency.MONTHLY: 28,  # derived: matches the 28-day supply
}
current_window_days = {
    Frequency.DAILY: 2,  # derived
    Frequency.THREE_TIMES_WEEKLY: 4,  # derived
    Frequency.WEEKLY: 7,  # [PN19][APA19]
    Frequency.EVERY_2_WEEKS: 15,  # [PN19][APA19]
    Frequency.MONTHLY: 31,  # [PN19][APA19]
}
max_supply_days = {
    Frequency.DAILY: 7,
    Frequency.THREE_TIMES_WEEKLY: 7,
    Frequency.WEEKLY: 7,
    Frequency.EVERY_2_WEEKS: 14,
    Frequency.MONTHLY: 28,  # [VistA PSOCLO1]
}
needs_continuation = frozenset({Frequency.DAILY})

_SEVERITY = {
    Band.NORMAL: 0,
    Band.MILD: 1,
    Band.BEN_NEUTROPENIA: 1,
    Band.MODERATE: 2,
    Band.SEVERE: 3,
}


def _anc(reading: BloodCount) -> int:
    # `analytes` is ("anc",): the engine is given sets with an ANC only.
    if reading.value_per_ul is None:
        raise ValueError("us-label-2015 reads result sets with an ANC only")
    return reading.value_per_ul


def band_of(
    reading: BloodCount,
    population: Population,
    baseline: Fraction | None,
    limits: Mapping[str, int],
) -> Band:
    # Exact integers, inclusive lower bounds; never round up into a better band (docs/rules.md §1).
    value = _anc(reading)
    if population == Population.BEN:
        if value >= BEN_NORMAL:
            return Band.NORMAL
        if value >= BEN_NEUTROPENIA:
            return Band.BEN_NEUTROPENIA
        return Band.SEVERE
    if value >= GENERAL_NORMAL:
        return Band.NORMAL
    if value >= GENERAL_MILD:
        return Band.MILD
    if value >= GENERAL_MODERATE:
        return Band.MODERATE
    return Band.SEVERE


def severity(band: Band) -> int:
    return _SEVERITY[band]


def interrupts(band: Band) -> bool:
    # general moderate and severe; BEN severe (BEN neutropenia continues)
    return band in (Band.MODERATE, Band.SEVERE)


def consult(band: Band) -> bool:
    # hematology consult: general moderate and severe; BEN neutropenia and severe
    return band in (Band.MODERATE, Band.SEVERE, Band.BEN_NEUTROPENIA)


def requires_rechallenge(band: Band) -> bool:
    return band == Band.SEVERE


def _ben_floor(baseline: Fraction | None, *, higher: bool) -> Fraction:
    # docs/rules.md §9.8: a threshold that refers to the baseline is never below the BEN normal
    # threshold, so a value inside the BEN-neutropenia range never ends that episode.
    if baseline is None or not higher:
        return Fraction(BEN_NORMAL)
    return max(Fraction(BEN_NORMAL), baseline)


def recovered(
    worst: Band,
    reading: BloodCount,
    population: Population,
    baseline: Fraction | None,
    limits: Mapping[str, int],
) -> bool:
    value = _anc(reading)
    if population == Population.BEN:
        # reading 3 of the module docstring
        return value >= _ben_floor(baseline, higher=worst == Band.SEVERE)
    return value >= GENERAL_NORMAL


def recovery_results_required(worst: Band) -> int:
    # One result in the recovery range ends an episode (docs/rules.md §1).
    return 1


def episode_frequency(
    worst: Band, latest: int, population: Population, baseline: Fraction | None
) -> Frequency:
    if population == Population.BEN:
        if worst == Band.SEVERE and latest < BEN_NEUTROPENIA:
            return Frequency.DAILY  # BEN severe: daily until >= 500
        return Frequency.THREE_TIMES_WEEKLY
    if worst in (Band.MODERATE, Band.SEVERE) and latest < GENERAL_MILD:
        return Frequency.DAILY  # moderate/severe: daily until >= 1000
    return Frequency.THREE_TIMES_WEEKLY  # then three times weekly until >= 1500


def weekly_after_episode_days(worst: Band) -> int:
    # moderate (general) and BEN neutropenia: weekly for 4 weeks after the episode ends;
    # severe goes through rechallenge and restarts as a new patient instead.
    return 28 if worst in (Band.MODERATE, Band.BEN_NEUTROPENIA) else 0


def resume_allowed(
    worst: Band | None,
    latest: int,
    population: Population,
    baseline: Fraction | None,
    after_severe: bool,
) -> bool:
    if population == Population.BEN:
        return latest >= _ben_floor(baseline, higher=False)
    if after_severe:
        return latest >= GENERAL_NORMAL
    return latest >= GENERAL_MILD


def routine_frequency(clock_started_on: date | None, on: date) -> Frequency:
    # [T6][T7]: weekly for 6 months, every 2 weeks to 12 months, monthly after;
    # calendar months from the treatment start (derived).
    if clock_started_on is None:
        return Frequency.WEEKLY
    six, twelve = _step_down_dates(clock_started_on)
    if on < six:
        return Frequency.WEEKLY
    if on < twelve:
        return Frequency.EVERY_2_WEEKS
    return Frequency.MONTHLY


@lru_cache(maxsize=4096)
def _step_down_dates(clock_started_on: date) -> tuple[date, date]:
    """The dates 6 and 12 calendar months after the clock started (computed once per start:
    calendar arithmetic is slow, and a rebuild asks for every patient)."""
    return (
        clock_started_on + relativedelta(months=6),
        clock_started_on + relativedelta(months=12),
    )


# --- Per-patient limit floors (docs/rules.md §9.10) -----------------------------------------
# This protocol has no per-patient limits (`overridable_limits` is empty), so no floors.
limit_floors: Mapping[str, int] = MappingProxyType({})
limit_floors_second_signature: Mapping[str, int] = MappingProxyType({})
