"""The engine: replay a patient's history into a Snapshot, project a Snapshot to any instant.

Pure: plain data in, frozen data out, the time always passed in. Protocol specifics (thresholds,
bands, schedules) come from a protocol module (monitoring/engine/protocols/).
"""

from __future__ import annotations

from collections.abc import Mapping
from copy import copy
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from fractions import Fraction
from typing import Literal

from monitoring.engine.protocols import get_protocol
from monitoring.engine.protocols.base import ProtocolRules
from monitoring.engine.types import (
    REASON_MESSAGES,
    REASON_ORDER,
    AncReading,
    Assessment,
    AuthorizationKind,
    Band,
    Decision,
    DecisionContext,
    DispenseRecord,
    EnrollmentRecord,
    EnrollmentStatus,
    Episode,
    Frequency,
    LatestAnc,
    PatientHistory,
    Population,
    Reason,
    ReasonItem,
    Snapshot,
    StepDownRecord,
    TreatmentEventKind,
    TreatmentEventRecord,
    TreatmentStatus,
)


def utc(moment: datetime) -> datetime:
    """Instants are handled in UTC: Python adds and compares datetimes that share a tzinfo by
    wall-clock time, which is off by an hour across a daylight-saving change."""
    return moment if moment.tzinfo is UTC else moment.astimezone(UTC)


def local_date(moment: datetime, zone: tzinfo) -> date:
    return moment.astimezone(zone).date()


def start_of_day(day: date, zone: tzinfo) -> datetime:
    return datetime.combine(day, time.min, tzinfo=zone)


def end_of_day(day: date, zone: tzinfo) -> datetime:
    return datetime.combine(day, time.max, tzinfo=zone)


def empty_snapshot(population: Population, protocol: str) -> Snapshot:
    return Snapshot(
        protocol=protocol,
        population=population,
        high_water=None,
        enrollment_status=EnrollmentStatus.PENDING,
        enrolled_on=None,
        treatment_status=TreatmentStatus.NOT_STARTED,
        clock_started_on=None,
        first_dose_on=None,
        interrupted_by_prescriber_on=None,
        interrupted_by_neutropenia_on=None,
        lapsed_on=None,
        has_dispenses=False,
        supply_until=None,
        latest=None,
        baseline_sum=0,
        baseline_count=0,
        episode=None,
        weekly_until=None,
        needs_rechallenge=False,
        authorizations=(),
    )


# --- helpers shared by replay and projection -----------------------------------------------


def _baseline(state: Snapshot) -> Fraction | None:
    if state.baseline_count == 0:
        return None
    return Fraction(state.baseline_sum, state.baseline_count)


def limits_on(state: Snapshot, day: date) -> dict[str, int]:
    """The per-patient band limits in force on `day` (the latest agreed by then), or {}."""
    agreed = [o for o in state.limit_overrides if o.effective_on <= day]
    if not agreed:
        return {}
    latest = max(agreed, key=lambda o: (o.effective_on, o.override_id))
    return dict(latest.limits)


def _in_force(state: Snapshot, kind: AuthorizationKind, day: date) -> bool:
    return any(a.kind == kind and a.in_force_on(day) for a in state.authorizations)


def _interrupted_since(state: Snapshot) -> date | None:
    dates = [
        d
        for d in (state.interrupted_by_prescriber_on, state.interrupted_by_neutropenia_on)
        if d is not None
    ]
    return min(dates) if dates else None


def lapse_on(state: Snapshot, rules: ProtocolRules, on: date) -> date | None:
    """The date the current interruption (or run without supply) reaches the lapse, if any.

    Days are counted from the recorded interruption or from the first day without supply,
    whichever is earlier; a continuation authorization counts as on treatment, so the count
    starts again the day after it expires (protocol reading 7).
    """
    if state.enrollment_status != EnrollmentStatus.ENROLLED:
        return None
    if state.treatment_status not in (TreatmentStatus.ACTIVE, TreatmentStatus.INTERRUPTED):
        return None
    candidates: list[date] = []
    if state.treatment_status == TreatmentStatus.INTERRUPTED:
        since = _interrupted_since(state)
        if since is not None:
            candidates.append(since)
    if state.has_dispenses and state.supply_until is not None:
        candidates.append(state.supply_until)
    if not candidates:
        return None
    start = min(candidates)
    continuations = sorted(
        (
            a
            for a in state.authorizations
            if a.kind == AuthorizationKind.CONTINUATION and a.starts_on <= on
        ),
        key=lambda a: a.starts_on,
    )
    moved = True
    while moved:
        moved = False
        for auth in continuations:
            overlaps = auth.starts_on < start + timedelta(days=rules.lapse_days)
            if overlaps and auth.expires_on >= start:
                start = auth.expires_on + timedelta(days=1)
                moved = True
    return start + timedelta(days=rules.lapse_days)


def _apply_lapse(state: Snapshot, rules: ProtocolRules, on: date) -> None:
    """Mark a lapse reached by `on` (mutates `state`: only ever the engine's own copy)."""
    lapse = lapse_on(state, rules, on)
    if lapse is None or lapse > on:
        return
    gap_start = lapse - timedelta(days=rules.lapse_days)
    since = _interrupted_since(state)
    state.enrollment_status = EnrollmentStatus.REENROLLMENT_REQUIRED
    state.treatment_status = TreatmentStatus.INTERRUPTED
    # A run without supply is an interruption too; keep the earliest start for display.
    state.interrupted_by_prescriber_on = state.interrupted_by_prescriber_on or (
        min(since, gap_start) if since else gap_start
    )
    state.clock_started_on = None
    state.lapsed_on = lapse


def _limits_of_latest(state: Snapshot) -> Mapping[str, int]:
    return limits_on(state, state.latest.drawn_on) if state.latest is not None else {}


def band_now(state: Snapshot, rules: ProtocolRules) -> Band | None:
    if state.episode is not None:
        return state.episode.worst
    if state.latest is None:
        return None
    latest = state.latest
    reading = AncReading(latest.result_id, latest.value_per_ul, latest.drawn_at, latest.wbc_per_ul)
    return rules.band_of(reading, state.population, _baseline(state), _limits_of_latest(state))


def start_refusals(state: Snapshot, rules: ProtocolRules, on: date) -> list[Reason]:
    """Why treatment may not start (or restart after re-enrollment) on `on`."""
    refusals: list[Reason] = []
    if state.episode is not None or band_now(state, rules) != rules.normal_band:
        refusals.append(Reason.ANC_BELOW_THRESHOLD)
    if state.needs_rechallenge and not _in_force(state, AuthorizationKind.RECHALLENGE, on):
        refusals.append(Reason.RECHALLENGE_NOT_AUTHORIZED)
    return refusals


def resume_refusals(state: Snapshot, rules: ProtocolRules, on: date) -> list[Reason]:
    """Why a `resume` on `on` may not lift the interruption (rules.md §5)."""
    refusals: list[Reason] = []
    if state.interrupted_by_neutropenia_on is None:
        return refusals
    latest = state.latest
    worst = state.episode.worst if state.episode else None
    if latest is None or not rules.resume_allowed(
        worst,
        latest.value_per_ul or 0,
        state.population,
        _baseline(state),
        state.needs_rechallenge,
    ):
        refusals.append(Reason.ANC_BELOW_THRESHOLD)
    if state.needs_rechallenge and not _in_force(state, AuthorizationKind.RECHALLENGE, on):
        refusals.append(Reason.RECHALLENGE_NOT_AUTHORIZED)
    return refusals


# --- replay ----------------------------------------------------------------------------------

_Item = tuple[date, int, datetime, datetime, int, int, object]

# Same date, same recorded instant (a frozen clock, an import): stop before a new enrollment,
# enroll before starting, and a resume last so it sees the day's interruptions.
_PRECEDENCE = {
    TreatmentEventKind.DISCONTINUE: 0,
    None: 1,  # an enrollment
    TreatmentEventKind.START: 2,
    TreatmentEventKind.INTERRUPT: 3,
    TreatmentEventKind.RESUME: 4,
    "step_down": 5,  # a step-down is judged after the day's treatment events
}


def _timeline(history: PatientHistory, until: datetime | None) -> list[_Item]:
    zone = history.zone
    until_day = local_date(until, zone) if until is not None else None
    until = utc(until) if until is not None else None
    items: list[_Item] = []
    # Within one local date: results first, then enrollments and treatment events in the order
    # they were recorded, then dispenses. A same-day resume is therefore judged against every
    # result of that day, so a low result entered after the resume still keeps the patient
    # interrupted (rules.md §5); a discontinue and a re-enrollment on one day keep their order.
    for r in history.readings:
        if r.drawn_at.tzinfo is not UTC:
            r = replace(r, drawn_at=utc(r.drawn_at))
        if until is None or r.drawn_at <= until:
            day = local_date(r.drawn_at, zone)
            items.append((day, 0, r.drawn_at, r.drawn_at, 0, r.result_id, r))
    dated: list[EnrollmentRecord | TreatmentEventRecord | StepDownRecord] = [
        *history.enrollments,
        *history.treatment_events,
        *history.step_downs,
    ]
    for e in dated:
        if until_day is None or e.effective_date <= until_day:
            midnight = utc(start_of_day(e.effective_date, zone))
            recorded = utc(e.recorded_at) if e.recorded_at is not None else midnight
            kind: TreatmentEventKind | str | None = (
                e.kind
                if isinstance(e, TreatmentEventRecord)
                else "step_down"
                if isinstance(e, StepDownRecord)
                else None
            )
            items.append((e.effective_date, 1, midnight, recorded, _PRECEDENCE[kind], e.seq, e))
    for d in history.dispenses:
        if d.dispensed_at.tzinfo is not UTC:
            d = replace(d, dispensed_at=utc(d.dispensed_at))
        if until is None or d.dispensed_at <= until:
            day = local_date(d.dispensed_at, zone)
            items.append((day, 3, d.dispensed_at, d.dispensed_at, 0, d.dispense_id, d))
    items.sort(key=lambda item: item[:6])
    return items


def replay(history: PatientHistory, *, until: datetime | None = None) -> Snapshot:
    """The state after every item of `history` effective at `until` (all of it when None)."""
    rules = get_protocol(history.protocol)
    state = empty_snapshot(history.population, history.protocol)
    state.authorizations = tuple(sorted(history.authorizations, key=lambda a: a.authorization_id))
    state.limit_overrides = tuple(sorted(history.limit_overrides, key=lambda o: o.override_id))
    high_water: datetime | None = None
    # The handlers below change `state` in place: it is this replay's own object, and copying
    # a snapshot per event was most of the cost of a replay.
    for day, _rank, effective_at, _order, _precedence, _seq, item in _timeline(history, until):
        _apply_lapse(state, rules, day)
        if isinstance(item, AncReading):
            _on_reading(state, rules, item, day)
        elif isinstance(item, EnrollmentRecord):
            _on_enrollment(state, item)
        elif isinstance(item, TreatmentEventRecord):
            _on_treatment_event(state, rules, item)
        elif isinstance(item, StepDownRecord):
            _on_step_down(state, rules, item)
        elif isinstance(item, DispenseRecord):
            _on_dispense(state, rules, item, day)
        high_water = effective_at if high_water is None else max(high_water, effective_at)
    state.high_water = high_water
    return state


def _note(state: Snapshot, text: str) -> None:
    state.notes = (*state.notes, text)


def _on_reading(state: Snapshot, rules: ProtocolRules, r: AncReading, day: date) -> None:
    baseline = _baseline(state)
    limits = limits_on(state, day)
    band = rules.band_of(r, state.population, baseline, limits)
    if band is None:
        # An incomplete result set the protocol cannot read (e.g. uk-cpms neutrophils without
        # the WBC of the same draw, both in range): it changes nothing, and is not current.
        _note(state, f"{day}: incomplete result set {r.result_id}, not read")
        return
    state.latest = LatestAnc(r.result_id, r.value_per_ul, r.drawn_at, day, r.wbc_per_ul)
    if state.first_dose_on is None and r.value_per_ul is not None:
        # rules.md §1: the BEN baseline is the mean of the results before the first dose.
        state.baseline_sum += r.value_per_ul
        state.baseline_count += 1
    episode = state.episode
    if episode is None:
        if band == rules.normal_band:
            return
        state.episode = Episode(
            worst=band,
            opened_at=r.drawn_at,
            confirmation_deadline=r.drawn_at + timedelta(hours=rules.confirmation_hours),
            confirmation_pending=rules.confirmation_hours > 0,
            caused_interruption=False,
            rechallenge_flag_before=state.needs_rechallenge,
        )
        _apply_band_consequences(state, rules, band, day)
        return

    within_window = r.drawn_at <= episode.confirmation_deadline
    if episode.confirmation_pending and within_window and band == rules.normal_band:
        # rules.md §1: the repeat within 24 h is normal, so the episode was never confirmed:
        # lift the interruption it caused, forget its rechallenge flag, no weekly step.
        if episode.caused_interruption:
            state.interrupted_by_neutropenia_on = None
            if (
                state.interrupted_by_prescriber_on is None
                and state.treatment_status == TreatmentStatus.INTERRUPTED
            ):
                state.treatment_status = TreatmentStatus.ACTIVE
        state.episode = None
        state.needs_rechallenge = episode.rechallenge_flag_before
        return

    # Confirmed now: by a low repeat within 24 h, or because no repeat came in time
    # (protocol reading 2).
    worst = band if rules.severity(band) > rules.severity(episode.worst) else episode.worst
    state.episode = replace(episode, worst=worst, confirmation_pending=False)
    _apply_band_consequences(state, rules, band, day)
    if not rules.recovered(worst, r, state.population, baseline, limits):
        if state.episode.recovering:
            state.episode = replace(state.episode, recovering=0)
        return
    recovering = state.episode.recovering + 1
    if recovering < rules.recovery_results_required(worst):
        # e.g. uk-cpms red: daily until two consecutive greens.
        state.episode = replace(state.episode, recovering=recovering)
        return
    weekly_days = rules.weekly_after_episode_days(worst)
    if weekly_days:
        state.weekly_until = day + timedelta(days=weekly_days)
    state.episode = None


def _apply_band_consequences(state: Snapshot, rules: ProtocolRules, band: Band, day: date) -> None:
    if rules.requires_rechallenge(band):
        state.needs_rechallenge = True
    if not rules.interrupts(band):
        return
    if state.treatment_status == TreatmentStatus.ACTIVE:
        # rules.md §5: moderate/severe interrupt automatically, and again after a resume.
        state.treatment_status = TreatmentStatus.INTERRUPTED
        state.interrupted_by_neutropenia_on = day
    elif state.treatment_status == TreatmentStatus.INTERRUPTED:
        if state.interrupted_by_neutropenia_on is not None:
            return
        state.interrupted_by_neutropenia_on = day
    else:
        return
    if state.episode is not None:
        state.episode = replace(state.episode, caused_interruption=True)


def _on_enrollment(state: Snapshot, e: EnrollmentRecord) -> None:
    if state.enrollment_status == EnrollmentStatus.ENROLLED:
        _note(state, f"{e.effective_date}: enrollment while enrolled, ignored")
        return
    was = state.enrollment_status
    state.enrollment_status = EnrollmentStatus.ENROLLED
    state.enrolled_on = e.effective_date
    if was == EnrollmentStatus.PENDING:
        return
    # Re-enrollment after discontinuation or a lapse: a new patient (rules.md §2, §4). The
    # neutropenia history (episode, rechallenge flag) stays.
    state.treatment_status = TreatmentStatus.NOT_STARTED
    state.clock_started_on = None
    state.interrupted_by_prescriber_on = None
    state.interrupted_by_neutropenia_on = None
    state.supply_until = None
    state.has_dispenses = False
    state.lapsed_on = None


def _start_clock(state: Snapshot, rules: ProtocolRules, day: date) -> None:
    rechallenged = state.needs_rechallenge and _in_force(state, AuthorizationKind.RECHALLENGE, day)
    state.treatment_status = TreatmentStatus.ACTIVE
    state.clock_started_on = day
    state.first_dose_on = state.first_dose_on or day
    state.needs_rechallenge = state.needs_rechallenge and not rechallenged


def _on_treatment_event(state: Snapshot, rules: ProtocolRules, t: TreatmentEventRecord) -> None:
    day = t.effective_date
    status = state.treatment_status
    if t.kind == TreatmentEventKind.DISCONTINUE:
        if status == TreatmentStatus.DISCONTINUED:
            _note(state, f"{day}: discontinue while discontinued, ignored")
            return
        state.treatment_status = TreatmentStatus.DISCONTINUED
        state.enrollment_status = EnrollmentStatus.DISCONTINUED
        state.clock_started_on = None
        state.interrupted_by_prescriber_on = None
        state.interrupted_by_neutropenia_on = None
        state.supply_until = None
        state.has_dispenses = False
        return
    if state.enrollment_status != EnrollmentStatus.ENROLLED:
        _note(state, f"{day}: {t.kind} while not enrolled, ignored")
        return
    if t.kind == TreatmentEventKind.START:
        if status == TreatmentStatus.NOT_STARTED and not start_refusals(state, rules, day):
            _start_clock(state, rules, day)
        elif status == TreatmentStatus.ACTIVE and state.clock_started_on is not None:
            # The first supply started the clock already; a later-recorded start dated
            # earlier moves the clock back to it.
            state.clock_started_on = min(state.clock_started_on, day)
        else:
            _note(state, f"{day}: start refused in state {status}, ignored")
        return
    if t.kind == TreatmentEventKind.INTERRUPT:
        if status != TreatmentStatus.ACTIVE:
            _note(state, f"{day}: interrupt while {status}, ignored")
            return
        state.treatment_status = TreatmentStatus.INTERRUPTED
        state.interrupted_by_prescriber_on = day
        return
    # resume
    if status != TreatmentStatus.INTERRUPTED or resume_refusals(state, rules, day):
        _note(state, f"{day}: resume refused in state {status}, ignored")
        return
    rechallenge = state.interrupted_by_neutropenia_on is not None and state.needs_rechallenge
    state.treatment_status = TreatmentStatus.ACTIVE
    state.interrupted_by_prescriber_on = None
    state.interrupted_by_neutropenia_on = None
    if rechallenge:
        # rules.md §2, §6: a rechallenge restarts the clock as a new patient.
        state.clock_started_on = day
        state.needs_rechallenge = False


def _on_dispense(state: Snapshot, rules: ProtocolRules, d: DispenseRecord, day: date) -> None:
    supply_end = day + timedelta(days=d.days_supply)
    state.has_dispenses = True
    state.supply_until = max(state.supply_until, supply_end) if state.supply_until else supply_end
    if (
        state.enrollment_status == EnrollmentStatus.ENROLLED
        and state.treatment_status == TreatmentStatus.NOT_STARTED
    ):
        # rules.md §2: a first supply before any `start` starts the clock.
        _start_clock(state, rules, day)


def _confirmed_routine(state: Snapshot) -> Frequency | None:
    """The confirmed interval, if it belongs to the running treatment clock."""
    if state.clock_started_on is None or state.confirmed_for_clock != state.clock_started_on:
        return None
    return state.confirmed_routine


def routine_on(state: Snapshot, rules: ProtocolRules, day: date) -> Frequency:
    """The routine interval in force: the schedule's, held at the last confirmed one (or the
    schedule's first) when the protocol's step-downs need the prescriber's confirmation."""
    scheduled = rules.routine_frequency(state.clock_started_on, day)
    if not rules.step_down_needs_confirmation:
        return scheduled
    start = state.clock_started_on or day
    held = _confirmed_routine(state) or rules.routine_frequency(start, start)
    if rules.due_after_days[scheduled] <= rules.due_after_days[held]:
        return scheduled
    return held


def step_down_offered(state: Snapshot, rules: ProtocolRules, day: date) -> Frequency | None:
    """The longer interval the schedule offers on `day` and the prescriber has not confirmed;
    only for an active patient outside an episode."""
    if not rules.step_down_needs_confirmation or state.clock_started_on is None:
        return None
    if state.treatment_status != TreatmentStatus.ACTIVE or state.episode is not None:
        return None
    if state.enrollment_status != EnrollmentStatus.ENROLLED or state.needs_rechallenge:
        return None
    scheduled = rules.routine_frequency(state.clock_started_on, day)
    routine = routine_on(state, rules, day)
    return scheduled if rules.due_after_days[scheduled] > rules.due_after_days[routine] else None


def _on_step_down(state: Snapshot, rules: ProtocolRules, s: StepDownRecord) -> None:
    day = s.effective_date
    offered = step_down_offered(state, rules, day)
    if offered is None or not (
        rules.due_after_days[routine_on(state, rules, day)]
        < rules.due_after_days[s.frequency]
        <= rules.due_after_days[offered]
    ):
        _note(state, f"{day}: step-down to {s.frequency} not offered, ignored")
        return
    state.confirmed_routine = s.frequency
    state.confirmed_for_clock = state.clock_started_on


# --- projection -------------------------------------------------------------------------------


def project(state: Snapshot, as_of: datetime, zone: tzinfo) -> Snapshot:
    """A copy of the snapshot with what time alone changes by `as_of` (the lapse) applied."""
    projected = copy(state)
    _apply_lapse(projected, get_protocol(state.protocol), local_date(as_of, zone))
    return projected


def frequency_on(state: Snapshot, rules: ProtocolRules, day: date) -> Frequency | None:
    if state.enrollment_status != EnrollmentStatus.ENROLLED:
        return None
    continuation = _in_force(state, AuthorizationKind.CONTINUATION, day)
    rechallenge = _in_force(state, AuthorizationKind.RECHALLENGE, day)
    if state.episode is not None:
        latest = (state.latest.value_per_ul or 0) if state.latest else 0
        return rules.episode_frequency(
            state.episode.worst, latest, state.population, _baseline(state)
        )
    if state.needs_rechallenge:
        # Recovered from severe neutropenia and not rechallenged: nothing is due (rules.md §3)
        # unless an authorization keeps the patient on treatment, then weekly as a new patient.
        return Frequency.WEEKLY if (continuation or rechallenge) else None
    routine = routine_on(state, rules, day)
    if state.weekly_until is not None and day <= state.weekly_until:
        longer = rules.due_after_days[routine] > rules.due_after_days[Frequency.WEEKLY]
        return Frequency.WEEKLY if longer else routine
    return routine


def assess(
    state: Snapshot,
    as_of: datetime,
    zone: tzinfo,
    context: DecisionContext | None = None,
) -> Assessment:
    """Project `state` to `as_of` and, with a context, decide a supply (rules.md §7).

    `state` must hold no item effective after `as_of` (see `snapshot_for`).
    """
    rules = get_protocol(state.protocol)
    day = local_date(as_of, zone)
    state = project(state, utc(as_of), zone)
    frequency = frequency_on(state, rules, day)
    latest = state.latest
    in_force = tuple(a for a in state.authorizations if a.in_force_on(day))
    continuation = any(a.kind == AuthorizationKind.CONTINUATION for a in in_force)
    rechallenge = any(a.kind == AuthorizationKind.RECHALLENGE for a in in_force)
    episode = state.episode

    next_due: date | None = None
    current_until: date | None = None
    if frequency is not None and latest is not None:
        next_due = latest.drawn_on + timedelta(days=rules.due_after_days[frequency])
        current_until = latest.drawn_on + timedelta(days=rules.current_window_days[frequency])
        if episode is not None and episode.confirmation_pending:
            next_due = min(next_due, local_date(episode.confirmation_deadline, zone))

    reasons: set[Reason] = set()
    enrollment = state.enrollment_status
    if enrollment in (EnrollmentStatus.PENDING, EnrollmentStatus.REENROLLMENT_REQUIRED):
        reasons.add(Reason.PATIENT_NOT_ENROLLED)
    if latest is None:
        reasons.add(Reason.NO_ANC_ON_FILE)
    elif current_until is not None and day > current_until:
        reasons.add(Reason.ANC_NOT_CURRENT)
    if state.population == Population.BEN and state.baseline_count < rules.ben_baselines_required:
        reasons.add(Reason.BASELINE_INCOMPLETE)
    treatment = state.treatment_status
    if treatment == TreatmentStatus.DISCONTINUED or enrollment == EnrollmentStatus.DISCONTINUED:
        reasons.add(Reason.TREATMENT_DISCONTINUED)
    elif treatment == TreatmentStatus.INTERRUPTED:
        only_neutropenia = (
            state.interrupted_by_prescriber_on is None
            and state.interrupted_by_neutropenia_on is not None
        )
        if not (continuation and only_neutropenia):
            reasons.add(Reason.TREATMENT_INTERRUPTED)
    elif treatment == TreatmentStatus.NOT_STARTED and enrollment == EnrollmentStatus.ENROLLED:
        if Reason.ANC_BELOW_THRESHOLD in start_refusals(state, rules, day):
            reasons.add(Reason.ANC_BELOW_THRESHOLD)
    if state.needs_rechallenge and not rechallenge and not continuation:
        reasons.add(Reason.RECHALLENGE_NOT_AUTHORIZED)
    if frequency in rules.needs_continuation and not continuation:
        reasons.add(Reason.TREATMENT_INTERRUPTED)

    limit = rules.max_supply_days[frequency] if frequency is not None else 0
    on_hand_after_today = 0
    if state.supply_until is not None:
        on_hand_after_today = max(0, (state.supply_until - day).days - 1)
    allowance = max(0, limit - on_hand_after_today)

    if context is not None:
        if not context.prescriber_certified:
            reasons.add(Reason.PRESCRIBER_NOT_CERTIFIED)
        if context.pharmacy_certified is False:
            reasons.add(Reason.PHARMACY_NOT_CERTIFIED)
        requested = context.days_supply
        if frequency is not None and (
            (requested is not None and requested > allowance) or allowance == 0
        ):
            reasons.add(Reason.DAYS_SUPPLY_EXCEEDS_LIMIT)

    ordered = tuple(
        ReasonItem(code, REASON_MESSAGES[code])
        for code in sorted(reasons, key=REASON_ORDER.__getitem__)
    )
    if not ordered:
        decision, max_days = Decision.ALLOWED, allowance
    elif {item.code for item in ordered} == {Reason.DAYS_SUPPLY_EXCEEDS_LIMIT}:
        decision, max_days = Decision.BLOCKED, allowance
    else:
        decision, max_days = Decision.BLOCKED, 0

    return Assessment(
        as_of=as_of,
        protocol=state.protocol,
        population=state.population,
        enrollment_status=enrollment,
        treatment_status=treatment,
        band=band_now(state, rules),
        monitoring_frequency=frequency,
        latest_anc=latest,
        next_draw_due=next_due,
        current_until=current_until,
        confirmation_due=episode.confirmation_deadline
        if episode and episode.confirmation_pending
        else None,
        hematology_consult=bool(episode and rules.consult(episode.worst)),
        authorizations=in_force,
        clock_started_on=state.clock_started_on,
        interrupted_since=_interrupted_since(state)
        if treatment == TreatmentStatus.INTERRUPTED
        else None,
        lapse_on=lapse_on(state, rules, day),
        lapsed_on=state.lapsed_on,
        needs_rechallenge=state.needs_rechallenge,
        baseline_per_ul=state.baseline_per_ul(),
        baseline_count=state.baseline_count,
        supply_until=state.supply_until,
        decision=decision,
        max_days_supply=max_days,
        reasons=ordered,
        protocol_version=rules.version,
        step_down_offered=step_down_offered(state, rules, day)
        if frequency is not None and episode is None
        else None,
        limits=_limits_shown(state, rules, day),
    )


def _limits_shown(
    state: Snapshot, rules: ProtocolRules, day: date
) -> tuple[tuple[str, int], ...] | None:
    """The band limits in force when a per-patient agreement changes any of them: agreed
    limits apply to BEN patients only, and only ever lower the protocol's own."""
    agreed = limits_on(state, day)
    if not agreed or not rules.overridable_limits or state.population != Population.BEN:
        return None
    standard = rules.overridable_limits
    return tuple(sorted((k, min(v, agreed.get(k, v))) for k, v in standard.items()))


def snapshot_for(
    history: PatientHistory, as_of: datetime, stored: Snapshot | None = None
) -> Snapshot:
    """The snapshot to project to `as_of`: the stored one when nothing in it is later."""
    if stored is not None and (stored.high_water is None or stored.high_water <= utc(as_of)):
        return stored
    return replay(history, until=as_of)


def evaluate(
    history: PatientHistory, as_of: datetime, context: DecisionContext | None = None
) -> Assessment:
    """Replay the history effective at `as_of` and assess it: the reference path."""
    return assess(replay(history, until=as_of), as_of, history.zone, context)


# --- checks for services ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a state change may not be made: a conflict (409) or rule refusals (422)."""

    kind: Literal["conflict", "rules"]
    message: str
    reasons: tuple[Reason, ...] = ()


def enrollment_refusal(
    history: PatientHistory, effective_date: date, *, prescriber_certified: bool
) -> Refusal | None:
    """rules.md §4: may the patient be (re-)enrolled on `effective_date`?"""
    rules = get_protocol(history.protocol)
    until = end_of_day(effective_date, history.zone)
    state = project(replay(history, until=until), until, history.zone)
    if state.enrollment_status == EnrollmentStatus.ENROLLED:
        return Refusal("conflict", "The patient is already enrolled on that date.")
    reasons: list[Reason] = []
    if not prescriber_certified:
        reasons.append(Reason.PRESCRIBER_NOT_CERTIFIED)
    latest = state.latest
    if latest is None or (effective_date - latest.drawn_on).days > rules.enrollment_lab_days:
        reasons.append(Reason.ANC_NOT_RECENT)
    elif band_now(state, rules) != rules.normal_band:
        reasons.append(Reason.ANC_BELOW_THRESHOLD)
    if history.population == Population.BEN and state.baseline_count < rules.ben_baselines_required:
        reasons.append(Reason.BASELINE_INCOMPLETE)
    if reasons:
        return Refusal("rules", "The patient cannot be enrolled on that date.", tuple(reasons))
    return None


def treatment_event_refusal(
    history: PatientHistory, kind: TreatmentEventKind, effective_date: date
) -> Refusal | None:
    """rules.md §5: may `kind` be recorded with `effective_date`?"""
    rules = get_protocol(history.protocol)
    until = end_of_day(effective_date, history.zone)
    state = project(replay(history, until=until), until, history.zone)
    status = state.treatment_status
    if kind == TreatmentEventKind.DISCONTINUE:
        if status == TreatmentStatus.DISCONTINUED:
            return Refusal("conflict", "Treatment is already discontinued.")
        return None
    if state.enrollment_status != EnrollmentStatus.ENROLLED:
        return Refusal(
            "conflict",
            f"The patient is {state.enrollment_status.value.replace('_', ' ')} on that date; "
            "enroll the patient first.",
        )
    if kind == TreatmentEventKind.START:
        if status == TreatmentStatus.NOT_STARTED:
            refusals = start_refusals(state, rules, effective_date)
            if refusals:
                return Refusal("rules", "Treatment cannot start.", tuple(refusals))
            return None
        if status == TreatmentStatus.ACTIVE and state.first_dose_on is not None:
            return (
                None
                if effective_date <= state.first_dose_on
                else Refusal("conflict", "Treatment is already active.")
            )
        return Refusal("conflict", f"Treatment is {status.value}; a start is not possible.")
    if kind == TreatmentEventKind.INTERRUPT:
        if status != TreatmentStatus.ACTIVE:
            return Refusal("conflict", f"Treatment is {status.value}; only active can interrupt.")
        return None
    if status != TreatmentStatus.INTERRUPTED:
        return Refusal("conflict", f"Treatment is {status.value}; only interrupted can resume.")
    refusals = resume_refusals(state, rules, effective_date)
    if refusals:
        return Refusal("rules", "Treatment cannot resume.", tuple(refusals))
    return None


def authorization_refusal(
    history: PatientHistory, kind: AuthorizationKind, starts_on: date, as_of: datetime
) -> Refusal | None:
    """rules.md §6: a continuation only where the band interrupts treatment; a rechallenge
    only after severe neutropenia."""
    rules = get_protocol(history.protocol)
    state = project(replay(history, until=as_of), as_of, history.zone)
    band = band_now(state, rules)
    if kind == AuthorizationKind.CONTINUATION:
        if not rules.continuation_allowed:
            return Refusal(
                "rules",
                f"{rules.name} has no continuation authorization: a band that stops treatment "
                "stops it until the patient is back in range.",
                (Reason.ANC_BELOW_THRESHOLD,),
            )
        interrupting = band is not None and rules.interrupts(band)
        if not interrupting and state.interrupted_by_neutropenia_on is None:
            return Refusal(
                "rules",
                "A continuation authorization applies only while the ANC band interrupts "
                "treatment (moderate or severe).",
                (Reason.ANC_BELOW_THRESHOLD,),
            )
        return None
    if not state.needs_rechallenge:
        return Refusal(
            "rules", f"A rechallenge authorization applies only after {rules.rechallenge_after}."
        )
    return None


def step_down_refusal(
    history: PatientHistory, frequency: Frequency, effective_date: date
) -> Refusal | None:
    """May the prescriber confirm `frequency` as the routine interval from `effective_date`?
    Only the longer interval the schedule offers then (or one between), for an active patient
    outside an episode."""
    rules = get_protocol(history.protocol)
    if not rules.step_down_needs_confirmation:
        return Refusal(
            "conflict", f"{rules.name} steps down by its schedule; there is nothing to confirm."
        )
    until = end_of_day(effective_date, history.zone)
    state = project(replay(history, until=until), until, history.zone)
    offered = step_down_offered(state, rules, effective_date)
    if offered is None:
        return Refusal("conflict", "No longer monitoring interval is offered on that date.")
    current = rules.due_after_days[routine_on(state, rules, effective_date)]
    if not current < rules.due_after_days.get(frequency, 0) <= rules.due_after_days[offered]:
        return Refusal(
            "conflict", f"The interval offered on that date is {offered.value.replace('_', ' ')}."
        )
    return None
