"""The engine: replay a patient's history into a Snapshot, project a Snapshot to any instant.

Pure: plain data in, frozen data out, the time always passed in. Protocol specifics (thresholds,
bands, schedules) come from a protocol module (engine/protocols/). The rules are
written in docs/rules.md; section numbers in the comments below are that page's.

How a replay reads a real history (§9):
- Results are grouped into draws first (same instant, or same laboratory and accession), and a
  draw's band is its worst count's (§9.3), so the order in which results were filed never
  matters.
- A recorded clinician act (enrollment, start, interrupt, resume, discontinue) is a fact: it is
  never dropped or re-judged by results filed later (§9.1). Where later data would have made it
  refusable, the act stands, the data still take effect, and a `Conflict` asks the prescriber
  to review it. A resume never lifts an interruption caused by a band it did not allow.
- Before the first dose a low count only gates the start (§9.7); each authorization answers the
  episode it was written for (§9.5).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from copy import copy
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from fractions import Fraction
from functools import lru_cache
from typing import Literal

from engine.protocols import get_protocol
from engine.protocols.base import ProtocolRules
from engine.types import (
    REASON_ORDER,
    Assessment,
    AuthorizationKind,
    AuthorizationRecord,
    AuthorizationScope,
    Band,
    BloodCount,
    Conflict,
    ConsultAcknowledgementRecord,
    DecisionContext,
    DispenseRecord,
    EnrollmentRecord,
    EnrollmentStatus,
    Episode,
    Frequency,
    Notice,
    PatientHistory,
    Population,
    Reason,
    ReasonItem,
    ReviewAcknowledgementRecord,
    Snapshot,
    StepDownRecord,
    SuppliedElsewhereRecord,
    TreatmentEventKind,
    TreatmentEventRecord,
    TreatmentStatus,
    Verdict,
    WarningCode,
    latest_of,
    reading_of,
)
from engine.wording import reason_messages


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
        episode=None,
        weekly_until=None,
        needs_rechallenge=False,
        authorizations=(),
    )


# --- draws -------------------------------------------------------------------------------------


@dataclass(slots=True)
class Draw:
    """One specimen: every stored result of one draw instant or one accession (§9.3).

    Not frozen, although nothing changes a draw once `draws_of` has made it: a replay makes one
    for every result, and a frozen dataclass's constructor costs several times as much."""

    result_id: int  # the result that gives the draw its ANC (else its WBC)
    drawn_at: datetime  # UTC; the earliest draw time of its results
    anc: int | None  # the lowest ANC among its results
    wbc: int | None  # the lowest WBC among its results
    known_at: datetime  # UTC; when the last of its results was on record
    effective_at: datetime  # UTC; from when it counts for decisions (§9.6)
    accession: str = ""
    members: tuple[int, ...] = ()  # the ids of its results


def _effective_at(r: BloodCount) -> datetime:
    """§9.6: a result counts from its draw time, or from when it was recorded if that is
    earlier (a draw time a few minutes ahead of the server's clock)."""
    drawn = utc(r.drawn_at)
    if r.recorded_at is None:
        return drawn
    return min(drawn, utc(r.recorded_at))


def draws_of(readings: Iterable[BloodCount], until: datetime | None = None) -> list[Draw]:
    """The draws the results effective at `until` (all when None) make, oldest first.

    Results with the same draw instant, or the same laboratory and accession, are one draw
    (an accession identifies the specimen, whatever time stamps its results carry); the lowest
    value of each count is the draw's, so a normal value never refutes a low one of the same
    draw, and the answer never depends on which was filed first."""
    kept = [r for r in readings if until is None or _effective_at(r) <= until]
    # Most results are a draw of their own: the grouping below is needed only when two of them
    # share a draw instant or an accession.
    first_at: dict[object, int] = {}
    shared = False
    for index, r in enumerate(kept):
        at = r.drawn_at
        if first_at.setdefault(at if at.tzinfo is UTC else at.astimezone(UTC), index) != index:
            shared = True
            break
        if r.accession and first_at.setdefault(("accession", r.lab, r.accession), index) != index:
            shared = True
            break
    if shared:
        draws = [_draw(group) for group in _grouped(kept)]
    else:
        draws = [_single(r) for r in kept]
    draws.sort(key=_draw_order)
    return draws


def _draw_order(d: Draw) -> tuple[datetime, int]:
    return d.drawn_at, d.result_id


def _grouped(kept: list[BloodCount]) -> Iterable[list[BloodCount]]:
    """The results of each draw, each group in the order given."""
    parent = list(range(len(kept)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first_at: dict[object, int] = {}
    for index, r in enumerate(kept):
        keys: list[object] = [utc(r.drawn_at)]
        if r.accession:
            keys.append(("accession", r.lab, r.accession))
        for key in keys:
            other = first_at.setdefault(key, index)
            if other != index:
                parent[root(index)] = root(other)
    groups: dict[int, list[BloodCount]] = defaultdict(list)
    for index, r in enumerate(kept):
        groups[root(index)].append(r)
    return groups.values()


def _single(r: BloodCount) -> Draw:
    """The draw of one result alone: what `_draw([r])` gives, without its sorting."""
    if r.value_per_ul is None and r.wbc_per_ul is None:
        return _draw([r])
    drawn = r.drawn_at
    if drawn.tzinfo is not UTC:  # utc(), inline: this runs for every result of a replay
        drawn = drawn.astimezone(UTC)
    known = r.recorded_at
    if known is None:
        known = effective = drawn
    else:
        if known.tzinfo is not UTC:
            known = known.astimezone(UTC)
        effective = known if known < drawn else drawn
    return Draw(
        r.result_id,
        drawn,
        r.value_per_ul,
        r.wbc_per_ul,
        known,
        effective,
        r.accession or "",
        (r.result_id,),
    )


def _draw(group: list[BloodCount]) -> Draw:
    ancs = sorted((r.value_per_ul, r.result_id) for r in group if r.value_per_ul is not None)
    wbcs = sorted((r.wbc_per_ul, r.result_id) for r in group if r.wbc_per_ul is not None)
    result_id = ancs[0][1] if ancs else wbcs[0][1]
    known = [utc(r.recorded_at) if r.recorded_at is not None else utc(r.drawn_at) for r in group]
    accession = next((r.accession for r in group if r.accession), "")
    return Draw(
        result_id=result_id,
        drawn_at=min(utc(r.drawn_at) for r in group),
        anc=ancs[0][0] if ancs else None,
        wbc=wbcs[0][0] if wbcs else None,
        known_at=max(known),
        effective_at=max(_effective_at(r) for r in group),
        accession=accession,
        members=tuple(sorted(r.result_id for r in group)),
    )


def _reads(rules: ProtocolRules, draw: Draw) -> tuple[int | None, int | None]:
    """The counts of `draw` the protocol reads."""
    return (
        draw.anc if "anc" in rules.analytes else None,
        draw.wbc if "wbc" in rules.analytes else None,
    )


def _complete(rules: ProtocolRules, anc: int | None, wbc: int | None) -> bool:
    """Whether a draw holds every count the protocol reads (§9.9)."""
    return ("anc" not in rules.analytes or anc is not None) and (
        "wbc" not in rules.analytes or wbc is not None
    )


# --- helpers shared by replay and projection -----------------------------------------------


def _baseline(state: Snapshot) -> Fraction | None:
    if not state.baseline:
        return None
    return _mean(state.baseline)


@lru_cache(maxsize=4096)
def _mean(values: tuple[int, ...]) -> Fraction:
    """The exact mean (a Fraction is immutable, so one may be shared): computed once per set of
    baseline values rather than at every draw of a replay."""
    return Fraction(sum(values), len(values))


def limits_on(state: Snapshot, day: date) -> dict[str, int]:
    """The per-patient band limits in force on `day` (the latest agreed by then), or {}."""
    if not state.limit_overrides:
        return {}
    agreed = [o for o in state.limit_overrides if o.effective_on <= day]
    if not agreed:
        return {}
    latest = max(agreed, key=lambda o: (o.effective_on, o.override_id))
    return dict(latest.limits)


def authorization_known_at(a: AuthorizationRecord, zone: tzinfo) -> datetime:
    """When an authorization was on record: its recording time (or, unknown, the end of its
    first day)."""
    if a.recorded_at is not None:
        return utc(a.recorded_at)
    return utc(end_of_day(a.starts_on, zone))


def _binding_at(a: AuthorizationRecord, zone: tzinfo) -> datetime:
    """The instant an authorization takes hold: when it was recorded, kept within its first day
    (an authorization back-dated to an earlier day answers the episode open at that day's
    end)."""
    first = utc(start_of_day(a.starts_on, zone))
    last = utc(end_of_day(a.starts_on, zone))
    if a.recorded_at is None:
        return last
    return max(first, min(last, utc(a.recorded_at)))


def _neutropenia_target(state: Snapshot) -> datetime | None:
    """The episode a continuation must answer now: the open one. Once it has closed, the way
    back is the prescriber's resume (after severe, with a rechallenge), not the continuation;
    and a continuation never lifts the prescriber's own interruption (§6, §9.5)."""
    if state.episode is None or state.interrupted_by_prescriber_on is not None:
        return None
    return state.episode.opened_at


def continuation_in_force(
    state: Snapshot, rules: ProtocolRules, day: date
) -> AuthorizationRecord | None:
    """The continuation authorization that answers the patient's state on `day` (§9.5): in
    force, written for the episode that is open, and covering its band now."""
    target = _neutropenia_target(state)
    if target is None or not state.scopes:
        return None
    band = band_now(state, rules)
    severity = rules.severity(band) if band is not None else 0
    by_id = {a.authorization_id: a for a in state.authorizations}
    for scope in state.scopes:
        auth = by_id.get(scope.authorization_id)
        if (
            auth is not None
            and scope.episode_opened_at == target
            and severity <= scope.cap
            and auth.in_force_on(day)
        ):
            return auth
    return None


def rechallenge_in_force(state: Snapshot, day: date, zone: tzinfo) -> AuthorizationRecord | None:
    """A rechallenge authorization that may lift the current need for one (§9.5): in force,
    not used by an earlier resume, and written once the severe result it answers was on
    record."""
    for a in state.authorizations:
        if (
            a.kind == AuthorizationKind.RECHALLENGE
            and a.in_force_on(day)
            and a.authorization_id not in state.used_authorizations
            and (
                state.rechallenge_since is None
                or authorization_known_at(a, zone) >= state.rechallenge_since
            )
        ):
            return a
    return None


def _interrupted_since(state: Snapshot) -> date | None:
    dates = [
        d
        for d in (state.interrupted_by_prescriber_on, state.interrupted_by_neutropenia_on)
        if d is not None
    ]
    return min(dates) if dates else None


def _covered_until(state: Snapshot) -> date | None:
    """The first day without supply, counting periods supplied elsewhere (§9.14)."""
    supply, elsewhere = state.supply_until, state.elsewhere_until
    if supply is None or elsewhere is None:
        return elsewhere if supply is None else supply
    return max(supply, elsewhere)


def lapse_on(state: Snapshot, rules: ProtocolRules, on: date) -> date | None:
    """The date the current interruption (or run without supply) reaches the lapse, if any.

    Days are counted from the recorded interruption or from the first day without supply,
    whichever is earlier. A continuation authorization counts as on treatment only while it
    actually allows a supply (§9.5): not while the prescriber's own interruption stands, not for
    an episode it was not written for, not while the latest result is no longer current, and
    not after it expires.
    """
    start = _lapse_count_from(state)
    if start is None:
        return None
    moved = True
    while moved:
        moved = False
        for first, last in _continuation_supply_days(state, rules, on):
            if first < start + timedelta(days=rules.lapse_days) and last >= start:
                start = last + timedelta(days=1)
                moved = True
    return start + timedelta(days=rules.lapse_days)


def _lapse_count_from(state: Snapshot) -> date | None:
    """The day `lapse_on` starts counting from, before any continuation moves it later: the
    recorded interruption or the first day without supply, whichever is earlier."""
    if state.enrollment_status != EnrollmentStatus.ENROLLED:
        return None
    status = state.treatment_status
    start: date | None = None
    if status == TreatmentStatus.INTERRUPTED:
        start = _interrupted_since(state)
    elif status != TreatmentStatus.ACTIVE:
        return None
    if state.has_dispenses:
        covered = _covered_until(state)
        if covered is not None and (start is None or covered < start):
            start = covered
    return start


def _continuation_supply_days(
    state: Snapshot, rules: ProtocolRules, on: date
) -> list[tuple[date, date]]:
    """The days, started by `on`, on which a continuation that answers the patient's state
    could actually allow a supply (§9.5): from its first day to the earlier of its expiry and
    the last day the latest result is current at the episode's frequency. A continuation
    written once that result was no longer current allows nothing."""
    target = _neutropenia_target(state)
    latest = state.latest
    if target is None or latest is None or state.episode is None:
        return []
    band = band_now(state, rules)
    severity = rules.severity(band) if band is not None else 0
    ids = {
        s.authorization_id
        for s in state.scopes
        if s.episode_opened_at == target and severity <= s.cap
    }
    frequency = rules.episode_frequency(
        state.episode.worst, latest.value_per_ul or 0, state.population, _baseline(state)
    )
    current_until = latest.drawn_on + timedelta(days=rules.current_window_days[frequency])
    spans = [
        (a.starts_on, min(a.expires_on, current_until))
        for a in state.authorizations
        if a.authorization_id in ids and a.starts_on <= on
    ]
    return sorted(span for span in spans if span[0] <= span[1])


def _end_course(state: Snapshot) -> None:
    """A course of treatment ended (discontinuation or lapse): the next course counts its own
    baseline results (§9.8)."""
    state.course_dosed = False
    state.baseline_fresh = 0


def _apply_lapse(state: Snapshot, rules: ProtocolRules, on: date) -> None:
    """Mark a lapse reached by `on` (mutates `state`: only ever the engine's own copy)."""
    start = _lapse_count_from(state)
    if start is None or start + timedelta(days=rules.lapse_days) > on:
        return  # a continuation only ever moves the lapse later
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
    _end_course(state)


def _limits_of_latest(state: Snapshot) -> Mapping[str, int]:
    return limits_on(state, state.latest.drawn_on) if state.latest is not None else {}


def band_now(state: Snapshot, rules: ProtocolRules) -> Band | None:
    """The open episode's worst band; else the latest complete draw's, or a newer incomplete
    set's when that is worse (§9.9)."""
    if state.episode is not None:
        return state.episode.worst
    band: Band | None = None
    latest = state.latest
    if latest is not None:
        reading = BloodCount(
            latest.result_id, latest.value_per_ul, latest.drawn_at, latest.wbc_per_ul
        )
        band = rules.band_of(reading, state.population, _baseline(state), _limits_of_latest(state))
    worse = state.incomplete_band
    if worse is not None and (band is None or rules.severity(worse) > rules.severity(band)):
        return worse
    return band


def start_refusals(state: Snapshot, rules: ProtocolRules, on: date, zone: tzinfo) -> list[Reason]:
    """Why treatment may not start (or restart after re-enrollment) on `on`."""
    refusals: list[Reason] = []
    if state.episode is not None or band_now(state, rules) != rules.normal_band:
        refusals.append(Reason.ANC_BELOW_THRESHOLD)
    if state.needs_rechallenge and rechallenge_in_force(state, on, zone) is None:
        refusals.append(Reason.RECHALLENGE_NOT_AUTHORIZED)
    return refusals


def resume_refusals(state: Snapshot, rules: ProtocolRules, on: date, zone: tzinfo) -> list[Reason]:
    """Why a `resume` on `on` may not lift a neutropenia interruption (§5)."""
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
    if state.needs_rechallenge and rechallenge_in_force(state, on, zone) is None:
        refusals.append(Reason.RECHALLENGE_NOT_AUTHORIZED)
    return refusals


# --- replay ----------------------------------------------------------------------------------

# Within one local date (docs/rules.md, "The order of one day"):
#   rank 0: discontinue, then (re-)enrollment - a course ends, and a new one is enrolled, before
#           the day's results and supplies;
#   rank 1: draws, dispenses, authorizations, periods supplied elsewhere and acknowledgements,
#           in the order of their instants (a first supply is judged on the results before it);
#   rank 2: start, interrupt, resume, step-down, in the order they were recorded - judged
#           against every result of their day (events carry a date, not a time), so a low
#           result entered after a same-day resume still keeps the patient interrupted, and the
#           start day's morning draw is a baseline.
_RANK0: dict[TreatmentEventKind | None, int] = {
    TreatmentEventKind.DISCONTINUE: 0,
    None: 1,  # an enrollment
}
_RANK2: dict[TreatmentEventKind | None, int] = {
    TreatmentEventKind.START: 0,
    TreatmentEventKind.INTERRUPT: 1,
    TreatmentEventKind.RESUME: 2,
    None: 3,  # a step-down
}

# (local date, rank, instant, precedence, id), the instant from which it counts, the item.
_Item = tuple[tuple[date, int, datetime, int, int], datetime, object]


# One more item of a patient's history, as a service adds it (see `advance`).
HistoryItem = (
    BloodCount
    | EnrollmentRecord
    | TreatmentEventRecord
    | StepDownRecord
    | DispenseRecord
    | AuthorizationRecord
    | SuppliedElsewhereRecord
    | ConsultAcknowledgementRecord
    | ReviewAcknowledgementRecord
)


def _entry(item: object, zone: tzinfo) -> _Item:
    """An item's place in the replay: its sort key, and the instant from which it counts."""
    if isinstance(item, Draw):
        return (
            (local_date(item.drawn_at, zone), 1, item.drawn_at, 0, item.result_id),
            (item.effective_at),
            item,
        )
    if isinstance(item, EnrollmentRecord | TreatmentEventRecord | StepDownRecord):
        midnight = utc(start_of_day(item.effective_date, zone))
        recorded = utc(item.recorded_at) if item.recorded_at is not None else midnight
        if isinstance(item, StepDownRecord):
            key = (item.effective_date, 2, recorded, _RANK2[None], item.seq)
        elif isinstance(item, EnrollmentRecord):
            key = (item.effective_date, 0, recorded, _RANK0[None], item.seq)
        elif item.kind in _RANK0:
            key = (item.effective_date, 0, recorded, _RANK0[item.kind], item.seq)
        else:
            key = (item.effective_date, 2, recorded, _RANK2[item.kind], item.seq)
        return key, midnight, item
    if isinstance(item, DispenseRecord):
        at = utc(item.dispensed_at)
        item = item if item.dispensed_at.tzinfo is UTC else replace(item, dispensed_at=at)
        return (local_date(at, zone), 1, at, 1, item.dispense_id), at, item
    if isinstance(item, AuthorizationRecord):
        at = _binding_at(item, zone)
        return (item.starts_on, 1, at, 2, item.authorization_id), at, item
    if isinstance(item, SuppliedElsewhereRecord):
        at = utc(start_of_day(item.starts_on, zone))
        return (item.starts_on, 1, at, 3, item.record_id), at, item
    if isinstance(item, ConsultAcknowledgementRecord):
        at = utc(item.acknowledged_at)
        return (local_date(at, zone), 1, at, 4, 0), at, item
    if isinstance(item, ReviewAcknowledgementRecord):
        at = utc(item.acknowledged_at)
        return (local_date(at, zone), 1, at, 5, 0), at, item
    raise TypeError(f"not an item of a history: {item!r}")


def _timeline(history: PatientHistory, until: datetime | None) -> list[_Item]:
    zone = history.zone
    until_day = local_date(until, zone) if until is not None else None
    until = utc(until) if until is not None else None
    others: list[object] = [
        *history.enrollments,
        *history.treatment_events,
        *history.step_downs,
        *history.dispenses,
        *history.authorizations,
        *history.supplied_elsewhere,
        *history.consult_acknowledgements,
        *history.review_acknowledgements,
    ]
    # A draw's place, as `_entry` gives it.
    items: list[_Item] = [
        ((d.drawn_at.astimezone(zone).date(), 1, d.drawn_at, 0, d.result_id), d.effective_at, d)
        for d in draws_of(history.readings, until)
    ]
    for item in others:
        entry = _entry(item, zone)
        if until is not None:
            dated = isinstance(
                item, EnrollmentRecord | TreatmentEventRecord | StepDownRecord
            ) or isinstance(item, SuppliedElsewhereRecord)
            if (dated and entry[0][0] > until_day) or (not dated and entry[1] > until):  # type: ignore[operator]
                continue
        items.append(entry)
    items.sort(key=lambda item: item[0])
    return items


def initial_protocol(history: PatientHistory) -> str:
    """The protocol the history is read under until its first enrollment says otherwise."""
    for e in sorted(history.enrollments, key=lambda e: (e.effective_date, e.seq)):
        return e.protocol or history.protocol
    return history.protocol


def replay(history: PatientHistory, *, until: datetime | None = None) -> Snapshot:
    """The state after every item of `history` effective at `until` (all of it when None)."""
    protocol = initial_protocol(history)
    rules = get_protocol(protocol)
    zone = history.zone
    state = empty_snapshot(history.population, protocol)
    state.limit_overrides = tuple(sorted(history.limit_overrides, key=lambda o: o.override_id))
    for entry in _timeline(history, until):
        rules = _step(state, rules, entry, zone, history.protocol)
    return state


def _step(
    state: Snapshot, rules: ProtocolRules, entry: _Item, zone: tzinfo, patient_protocol: str
) -> ProtocolRules:
    """Apply one item to `state` (in place); returns the rules in force after it. The handlers
    change `state` in place: it is the caller's own object (copying a snapshot per event was
    most of the cost of a replay)."""
    key, effective_at, item = entry
    day = key[0]
    if state.enrollment_check is not None and day > state.enrollment_check[0]:
        _judge_enrollment(state, rules)
    _apply_lapse(state, rules, day)
    if isinstance(item, Draw):
        _on_draw(state, rules, item, day)
    elif isinstance(item, EnrollmentRecord):
        rules = _on_enrollment(state, rules, item, patient_protocol, zone)
    elif isinstance(item, TreatmentEventRecord):
        _on_treatment_event(state, rules, item, zone)
    elif isinstance(item, StepDownRecord):
        _on_step_down(state, rules, item)
    elif isinstance(item, DispenseRecord):
        _on_dispense(state, rules, item, day, zone)
    elif isinstance(item, AuthorizationRecord):
        _on_authorization(state, item, zone)
    elif isinstance(item, SuppliedElsewhereRecord):
        _on_supplied_elsewhere(state, item)
    elif isinstance(item, ConsultAcknowledgementRecord):
        _on_consult_acknowledgement(state, item)
    elif isinstance(item, ReviewAcknowledgementRecord):
        state.reviewed = tuple(sorted({*state.reviewed, *item.keys}))
    high_water = state.high_water
    state.high_water = effective_at if high_water is None else max(high_water, effective_at)
    state.last_key = key
    return rules


def advance(
    state: Snapshot, item: HistoryItem, *, zone: tzinfo, patient_protocol: str
) -> Snapshot | None:
    """`state` with one more item of history applied - what a replay of the longer history
    gives - when the item comes after everything `state` holds; None when it does not (the
    caller replays the history instead).

    A result must be a draw of its own: the caller checks that no stored result shares its
    draw instant or its accession (it would regroup that draw, §9.3)."""
    if state.last_key is None and state.high_water is not None:
        return None  # a snapshot stored before the key was kept
    subject: object = _draw([item]) if isinstance(item, BloodCount) else item
    entry = _entry(subject, zone)
    if state.last_key is not None and entry[0] <= state.last_key:
        return None
    if isinstance(item, BloodCount) and state.high_water is not None:
        if entry[1] < state.high_water:
            return None  # it counts from before something already applied
    moved = copy(state)
    _step(moved, get_protocol(moved.protocol), entry, zone, patient_protocol)
    return moved


def _judge_enrollment(state: Snapshot, rules: ProtocolRules) -> None:
    """§9.1: an enrollment stands; if the results now on file for its day would have refused it
    (none recent enough, or not in the normal range), the prescriber is asked to review it."""
    check = state.enrollment_check
    state.enrollment_check = None
    if check is None:
        return
    on, seq = check
    latest = state.latest
    band = band_now(state, rules)
    recent = latest is not None and (on - latest.drawn_on).days <= rules.enrollment_lab_days
    if recent and band == rules.normal_band:
        return
    if (
        latest is not None
        and latest.drawn_on >= on
        and band is not None
        and not rules.interrupts(band)
    ):
        return  # a mild result of the day itself (drawn after it, maybe) means "continue" (§9.2)
    what = (
        f"the latest {rules.draw_name} ({latest.value_per_ul}/µL drawn {latest.drawn_on})"
        if latest is not None
        else f"no {rules.draw_name} on file"
    )
    _conflict(
        state,
        "enrollment_conflicts_with_results",
        f"The enrollment on {on} stands, but {what} would not have allowed it.",
        f"enroll:{seq}:{latest.result_id if latest else 0}",
        on,
    )


def _note(state: Snapshot, text: str) -> None:
    state.notes = (*state.notes, text)


def _conflict(state: Snapshot, code: str, message: str, key: str, on: date) -> None:
    """§9.1: record that a standing act conflicts with the data now on file."""
    if any(c.key == key for c in state.conflicts):
        return
    state.conflicts = (*state.conflicts, Conflict(code, message, key, on))


def _add_baseline(state: Snapshot, value: int) -> None:
    """§9.8: the baseline is the mean of the last two ANCs before the course's first dose."""
    if state.baseline_fresh == 0:
        state.baseline = (value,)
    else:
        state.baseline = (*state.baseline[-1:], value)
    state.baseline_fresh = min(2, state.baseline_fresh + 1)


def _on_draw(state: Snapshot, rules: ProtocolRules, draw: Draw, day: date) -> None:
    anc, wbc = _reads(rules, draw)
    if anc is None and wbc is None:
        return  # nothing this protocol reads (a WBC alone under an ANC-only protocol)
    reading = reading_of(draw.result_id, anc, draw.drawn_at, wbc, "", "", None)
    # limits_on() and _baseline(), inline: this runs for every draw of a replay.
    limits = limits_on(state, day) if state.limit_overrides else {}
    baseline = _mean(state.baseline) if state.baseline else None
    band = rules.band_of(reading, state.population, baseline, limits)
    complete = _complete(rules, anc, wbc)
    if band is None:
        # §9.9: an incomplete set in the normal range says nothing: not current, not green,
        # not a step of a recovery run.
        state.incomplete_at = draw.drawn_at
        _note(state, f"{day}: incomplete result set {draw.result_id}, not read")
        return
    if complete:
        # Both counts of the draw are kept, so a later protocol switch can judge it (§9.11).
        known = draw.known_at if draw.known_at != draw.drawn_at else None
        state.latest = latest_of(draw.result_id, draw.anc, draw.drawn_at, day, draw.wbc, known)
        state.incomplete_at = None
        state.incomplete_band = None
        if not state.course_dosed and anc is not None:
            _add_baseline(state, anc)
    else:
        # §9.9: one count alone never makes a result current, but it may worsen the band
        # (before the first dose too: it gates the start).
        state.incomplete_at = draw.drawn_at
        if state.incomplete_band is None or rules.severity(band) > rules.severity(
            state.incomplete_band
        ):
            state.incomplete_band = band
    if state.first_dose_on is None:
        # §9.7: before any clozapine a low count only gates the start.
        return
    _episode_step(state, rules, band, draw, day)


def _episode_step(state: Snapshot, rules: ProtocolRules, band: Band, draw: Draw, day: date) -> None:
    """Open, worsen, confirm or close the episode with one draw on treatment (§1, §9.4)."""
    if state.episode is None and state.refuted is None and band == rules.normal_band:
        return  # the usual draw: normal, nothing open (what the steps below do with it)
    severity = rules.severity(band)
    episode = state.episode
    refuted = state.refuted
    if refuted is not None and draw.drawn_at > refuted.confirmation_deadline:
        state.refuted = refuted = None
    if episode is None and refuted is not None and band != rules.normal_band:
        # §1: "a later low result within the same 24 h confirms the episode", even after a
        # normal repeat had left it unconfirmed: the episode stands again, confirmed, with the
        # worst band seen in it, and its consequences take effect.
        worse = severity > rules.severity(refuted.worst)
        state.episode = replace(
            refuted,
            worst=band if worse else refuted.worst,
            confirmation_pending=False,
            known=(*refuted.known, (draw.known_at, severity)),
            recovering=0,
        )
        state.refuted = None
        if state.consult_pending == refuted.opened_at:
            state.consult_pending = None
        _raise_caps(state, refuted.opened_at, draw.known_at, severity)
        _apply_band_consequences(
            state, rules, state.episode.worst, day, draw.known_at, worsened=True
        )
        return
    if episode is None:
        if band == rules.normal_band:
            return
        state.refuted = None
        state.episode = Episode(
            worst=band,
            opened_at=draw.drawn_at,
            confirmation_deadline=draw.drawn_at + timedelta(hours=rules.confirmation_hours),
            confirmation_pending=rules.confirmation_hours > 0,
            caused_interruption=False,
            rechallenge_flag_before=state.needs_rechallenge,
            first_band=band,
            known=((draw.known_at, severity),),
            rechallenge_since_before=state.rechallenge_since,
        )
        _apply_band_consequences(state, rules, band, day, draw.known_at, worsened=True)
        return

    state.episode = episode = replace(episode, known=(*episode.known, (draw.known_at, severity)))
    _raise_caps(state, episode.opened_at, draw.known_at, severity)
    within_window = draw.drawn_at <= episode.confirmation_deadline
    if episode.confirmation_pending and within_window and band == rules.normal_band:
        # §1, §9.4: the repeat within 24 h is normal, so the episode was never confirmed: no
        # weekly step, and the rechallenge flag it raised is forgotten. The interruption it
        # caused is lifted - unless the first result was severe: that interruption stands until
        # the prescriber resumes, and its consult stays flagged until acknowledged.
        severe_first = episode.first_band is not None and rules.requires_rechallenge(
            episode.first_band
        )
        if episode.caused_interruption and not severe_first:
            state.interrupted_by_neutropenia_on = None
            if (
                state.interrupted_by_prescriber_on is None
                and state.treatment_status == TreatmentStatus.INTERRUPTED
            ):
                state.treatment_status = TreatmentStatus.ACTIVE
        if (
            severe_first
            and rules.consult(episode.first_band)  # type: ignore[arg-type]
            and episode.opened_at not in state.consults_acknowledged
        ):
            state.consult_pending = episode.opened_at
        # Kept until its 24 hours are over: a later low result within them confirms it after all.
        state.refuted = replace(episode, confirmation_pending=False)
        state.episode = None
        state.needs_rechallenge = episode.rechallenge_flag_before
        state.rechallenge_since = episode.rechallenge_since_before
        return

    # Confirmed now: by a low repeat within 24 h, or because no repeat came in time
    # (protocol reading 2).
    worse = severity > rules.severity(episode.worst)
    worst = band if worse else episode.worst
    state.episode = replace(episode, worst=worst, confirmation_pending=False)
    _apply_band_consequences(state, rules, band, day, draw.known_at, worsened=worse)
    anc, wbc = _reads(rules, draw)
    reading = BloodCount(draw.result_id, anc, draw.drawn_at, wbc)
    limits = limits_on(state, day)
    if not rules.recovered(worst, reading, state.population, _baseline(state), limits):
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


def _raise_caps(state: Snapshot, opened_at: datetime, known_at: datetime, severity: int) -> None:
    """A draw of an episode that was on record when an authorization for it was written raises
    what that authorization answers (§9.5)."""
    if not any(s.episode_opened_at == opened_at for s in state.scopes):
        return
    state.scopes = tuple(
        replace(s, cap=max(s.cap, severity))
        if s.episode_opened_at == opened_at and known_at <= s.known_at
        else s
        for s in state.scopes
    )


def _apply_band_consequences(
    state: Snapshot,
    rules: ProtocolRules,
    band: Band,
    day: date,
    known_at: datetime,
    *,
    worsened: bool,
) -> None:
    if rules.requires_rechallenge(band) and state.first_dose_on is not None:
        if worsened or not state.needs_rechallenge:
            # §9.5: a rechallenge written before this result was on record does not answer it.
            state.rechallenge_since = known_at
        state.needs_rechallenge = True
    if not rules.interrupts(band):
        return
    if state.treatment_status == TreatmentStatus.ACTIVE:
        # §5: moderate/severe interrupt automatically, and again after a resume.
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


def _on_enrollment(
    state: Snapshot,
    rules: ProtocolRules,
    e: EnrollmentRecord,
    patient_protocol: str,
    zone: tzinfo,
) -> ProtocolRules:
    """(Re-)enrollment; returns the rules in force from now on (the enrollment's protocol)."""
    protocol = e.protocol or patient_protocol
    first = state.enrolled_on is None
    if state.enrollment_status == EnrollmentStatus.ENROLLED:
        # Recorded as a re-enrollment; data filed since (a supply, an import) mean the patient
        # no longer looks lapsed. The act stands: a new course, as the prescriber recorded.
        _conflict(
            state,
            "reenrollment_while_enrolled",
            f"A re-enrollment on {e.effective_date} was recorded while the patient was not "
            "lapsed by the data now on file.",
            f"enroll:{e.seq}",
            e.effective_date,
        )
    was_pending = state.enrollment_status == EnrollmentStatus.PENDING and first
    state.enrollment_status = EnrollmentStatus.ENROLLED
    state.enrolled_on = e.effective_date
    # Its labs are judged once every result of its day is in (the next day's first item, or a
    # decision): a result filed later that would have refused it asks for a review (§9.1).
    state.enrollment_check = (e.effective_date, e.seq)
    if protocol != state.protocol:
        at = utc(e.recorded_at) if e.recorded_at else utc(start_of_day(e.effective_date, zone))
        rules = _switch_protocol(state, protocol, at)
    if was_pending:
        return rules
    # Re-enrollment after discontinuation or a lapse: a new patient (§2, §4). The neutropenia
    # history (the rechallenge flag) stays with the patient.
    state.treatment_status = TreatmentStatus.NOT_STARTED
    state.clock_started_on = None
    state.interrupted_by_prescriber_on = None
    state.interrupted_by_neutropenia_on = None
    state.supply_until = None
    state.elsewhere_until = None
    state.has_dispenses = False
    state.lapsed_on = None
    if state.course_dosed:
        _end_course(state)
    return rules


def _switch_protocol(state: Snapshot, protocol: str, at: datetime) -> ProtocolRules:
    """§9.11: from this enrollment on, the history is read under `protocol`. Results drawn
    before it keep the bands they had; an episode still open is closed with its band (the new
    protocol's enrollment already needed a complete normal result of its own), and the
    rechallenge flag, BEN status and baseline stay with the patient (a rechallenge authorization
    must then be written under the new protocol)."""
    rules = get_protocol(protocol)
    if state.needs_rechallenge:
        # Non-rechallengeable until a rechallenge authorization under the new protocol: one
        # written before the switch does not count.
        state.rechallenge_since = max(state.rechallenge_since or at, at)
    if state.episode is not None:
        _note(state, f"episode of {state.episode.opened_at} closed by the switch to {protocol}")
        state.episode = None
    state.refuted = None
    latest = state.latest
    if latest is not None:
        anc = latest.value_per_ul if "anc" in rules.analytes else None
        wbc = latest.wbc_per_ul if "wbc" in rules.analytes else None
        if (anc is None and wbc is None) or not _complete(rules, anc, wbc):
            state.latest = None
    state.incomplete_band = None
    state.weekly_until = None
    state.confirmed_routine = None
    state.confirmed_for_clock = None
    state.protocol = protocol
    return rules


def _start_clock(state: Snapshot, day: date, zone: tzinfo) -> None:
    rechallenge = rechallenge_in_force(state, day, zone) if state.needs_rechallenge else None
    state.treatment_status = TreatmentStatus.ACTIVE
    state.clock_started_on = day
    state.first_dose_on = state.first_dose_on or day
    state.course_dosed = True
    if rechallenge is not None:
        state.needs_rechallenge = False
        state.used_authorizations = (*state.used_authorizations, rechallenge.authorization_id)


def _begin_treatment(
    state: Snapshot,
    rules: ProtocolRules,
    day: date,
    zone: tzinfo,
    *,
    act: str,
    key: str,
    exact: bool,
) -> None:
    """A recorded start (or a first supply) begins a course, whatever was filed later (§9.1).

    It was judged on the latest result before it. Where the data now on file would have
    refused it, the act stands, the low band takes effect (an episode opens from that result,
    interrupting when its band interrupts), and the prescriber is asked to review it - except
    for a mild result of the start day itself, which only means "continue" (§9.2). `exact`:
    the results before the act are known to precede the first dose (a supply has an instant);
    a start has only a date, so a low result of its day is read as drawn on treatment (the
    safer reading for the rechallenge rule, §9.7)."""
    exposed_before = state.first_dose_on is not None
    refusals = start_refusals(state, rules, day, zone)
    _start_clock(state, day, zone)
    latest = state.latest
    episode = state.episode
    band = band_now(state, rules)
    same_day = latest is not None and latest.drawn_on >= day
    continuing = same_day and episode is None and band is not None and not rules.interrupts(band)
    if refusals and not (continuing and refusals == [Reason.ANC_BELOW_THRESHOLD]):
        what = (
            f"the latest {rules.draw_name} ({latest.value_per_ul}/µL drawn {latest.drawn_on})"
            if latest is not None
            else f"no {rules.draw_name} on file"
        )
        reasons = ", ".join(r.value for r in refusals)
        _conflict(
            state,
            f"{act}_conflicts_with_results",
            f"The {act.replace('_', ' ')} on {day} stands, but {what} would not have allowed "
            f"it ({reasons}).",
            f"{key}:{latest.result_id if latest else 0}",
            day,
        )
    if episode is not None:
        # An episode still open when a course begins: its band takes effect on treatment.
        if rules.interrupts(episode.worst):
            _apply_band_consequences(
                state, rules, episode.worst, day, episode.opened_at, worsened=False
            )
        return
    if latest is None or band is None or band == rules.normal_band:
        return
    # The low result the course began on is read as its first low result on treatment.
    latest_known = utc(latest.known_at or latest.drawn_at)
    state.episode = Episode(
        worst=band,
        opened_at=latest.drawn_at,
        confirmation_deadline=latest.drawn_at + timedelta(hours=rules.confirmation_hours),
        confirmation_pending=rules.confirmation_hours > 0,
        caused_interruption=False,
        rechallenge_flag_before=state.needs_rechallenge,
        first_band=band,
        known=((latest_known, rules.severity(band)),),
        rechallenge_since_before=state.rechallenge_since,
    )
    needs, since = state.needs_rechallenge, state.rechallenge_since
    _apply_band_consequences(state, rules, band, day, latest_known, worsened=True)
    if not exposed_before and (exact or not same_day):
        # §9.7: a severe count from before any clozapine is no reason for a rechallenge.
        state.needs_rechallenge, state.rechallenge_since = needs, since


def _on_treatment_event(
    state: Snapshot, rules: ProtocolRules, t: TreatmentEventRecord, zone: tzinfo
) -> None:
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
        state.elsewhere_until = None
        state.has_dispenses = False
        _end_course(state)
        return
    if state.enrollment_status != EnrollmentStatus.ENROLLED:
        _note(state, f"{day}: {t.kind} while not enrolled, ignored")
        return
    if t.kind == TreatmentEventKind.START:
        if status == TreatmentStatus.NOT_STARTED:
            _begin_treatment(
                state, rules, day, zone, act="start", key=f"start:{t.seq}", exact=False
            )
        elif status == TreatmentStatus.ACTIVE and state.clock_started_on is not None:
            # The first supply started the clock already; a later-recorded start dated
            # earlier moves the clock back to it.
            state.clock_started_on = min(state.clock_started_on, day)
        else:
            _note(state, f"{day}: start while {status}, ignored")
        return
    if t.kind == TreatmentEventKind.INTERRUPT:
        if status not in (TreatmentStatus.ACTIVE, TreatmentStatus.INTERRUPTED):
            _note(state, f"{day}: interrupt while {status}, ignored")
            return
        # §9.1: the prescriber's interruption stands whatever the results say, and only a
        # resume or a discontinue lifts it.
        state.treatment_status = TreatmentStatus.INTERRUPTED
        state.interrupted_by_prescriber_on = state.interrupted_by_prescriber_on or day
        return
    # resume
    if status != TreatmentStatus.INTERRUPTED:
        _note(state, f"{day}: resume while {status}, ignored")
        return
    state.interrupted_by_prescriber_on = None
    if state.interrupted_by_neutropenia_on is not None:
        refusals = resume_refusals(state, rules, day, zone)
        if refusals:
            # §5, §9.1: the resume stands, but it never lifts an interruption caused by a band it
            # did not allow; the prescriber reviews it.
            latest = state.latest
            what = (
                f"the latest {rules.draw_name} ({latest.value_per_ul}/µL drawn {latest.drawn_on})"
                if latest is not None
                else f"no {rules.draw_name} on file"
            )
            reasons = ", ".join(r.value for r in refusals)
            _conflict(
                state,
                "resume_conflicts_with_results",
                f"The resume on {day} was recorded, but {what} does not allow it ({reasons}); "
                "treatment stays interrupted.",
                f"resume:{t.seq}:{latest.result_id if latest else 0}",
                day,
            )
        else:
            rechallenge = state.needs_rechallenge
            authorization = rechallenge_in_force(state, day, zone) if rechallenge else None
            state.interrupted_by_neutropenia_on = None
            if authorization is not None:
                # §2, §6, §9.5: a rechallenge restarts the clock as a new patient, and uses the
                # authorization up.
                state.clock_started_on = day
                state.needs_rechallenge = False
                state.used_authorizations = (
                    *state.used_authorizations,
                    authorization.authorization_id,
                )
    if state.interrupted_by_neutropenia_on is None:
        state.treatment_status = TreatmentStatus.ACTIVE


def _on_dispense(
    state: Snapshot, rules: ProtocolRules, d: DispenseRecord, day: date, zone: tzinfo
) -> None:
    supply_end = day + timedelta(days=d.days_supply)
    state.has_dispenses = True
    state.supply_until = max(state.supply_until, supply_end) if state.supply_until else supply_end
    if (
        state.enrollment_status == EnrollmentStatus.ENROLLED
        and state.treatment_status == TreatmentStatus.NOT_STARTED
    ):
        # §2: a first supply before any `start` starts the clock; the decision that let it out
        # was judged on the latest result before it.
        _begin_treatment(
            state, rules, day, zone, act="first_supply", key=f"dispense:{d.dispense_id}", exact=True
        )


def _on_authorization(state: Snapshot, a: AuthorizationRecord, zone: tzinfo) -> None:
    """An authorization takes hold; a continuation is bound to the episode it answers (§9.5)."""
    state.authorizations = tuple(
        sorted((*state.authorizations, a), key=lambda x: x.authorization_id)
    )
    if a.kind != AuthorizationKind.CONTINUATION:
        return
    known_at = authorization_known_at(a, zone)
    target = state.episode or state.refuted
    if target is None:
        state.scopes = (*state.scopes, AuthorizationScope(a.authorization_id, None, -1, known_at))
        return
    known = [severity for at, severity in target.known if at <= known_at]
    cap = max(known) if known else -1
    state.scopes = (
        *state.scopes,
        AuthorizationScope(a.authorization_id, target.opened_at, cap, known_at),
    )


def _on_supplied_elsewhere(state: Snapshot, period: SuppliedElsewhereRecord) -> None:
    end = period.ends_on + timedelta(days=1)
    state.elsewhere_until = max(state.elsewhere_until, end) if state.elsewhere_until else end


def _on_consult_acknowledgement(state: Snapshot, ack: ConsultAcknowledgementRecord) -> None:
    opened = utc(ack.episode_opened_at)
    state.consults_acknowledged = tuple(sorted({*state.consults_acknowledged, opened}))
    if state.consult_pending == opened:
        state.consult_pending = None


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


def frequency_on(
    state: Snapshot, rules: ProtocolRules, day: date, zone: tzinfo
) -> Frequency | None:
    if state.enrollment_status != EnrollmentStatus.ENROLLED:
        return None
    if state.episode is not None:
        latest = (state.latest.value_per_ul or 0) if state.latest else 0
        return rules.episode_frequency(
            state.episode.worst, latest, state.population, _baseline(state)
        )
    if state.needs_rechallenge:
        # Recovered from severe neutropenia and not rechallenged: nothing is due (§3) unless an
        # authorization keeps the patient on treatment, then weekly as a new patient.
        continuation = continuation_in_force(state, rules, day)
        rechallenge = rechallenge_in_force(state, day, zone)
        return Frequency.WEEKLY if (continuation or rechallenge) else None
    routine = routine_on(state, rules, day)
    if state.weekly_until is not None and day <= state.weekly_until:
        longer = rules.due_after_days[routine] > rules.due_after_days[Frequency.WEEKLY]
        return Frequency.WEEKLY if longer else routine
    return routine


def days_on_hand(supply_until: date | None, day: date) -> int:
    """Days of supply the patient holds on `day`, that day included (§9.13): a 7-day supply
    dispensed today covers today and the next six days."""
    if supply_until is None:
        return 0
    return max(0, (supply_until - day).days)


def supply_allowance(rules: ProtocolRules, frequency: Frequency | None, on_hand: int) -> int:
    """The days the frequency's largest supply still allows after the supply on hand."""
    if frequency is None:
        return 0
    return max(0, rules.max_supply_days[frequency] - on_hand)


def _warnings(
    state: Snapshot, rules: ProtocolRules, as_of: datetime, zone: tzinfo, open_conflicts: int
) -> tuple[Notice, ...]:
    notices: list[Notice] = []
    episode = state.episode
    if episode is not None and episode.confirmation_pending and rules.confirmation_overdue_hours:
        overdue_from = episode.confirmation_deadline + timedelta(
            hours=rules.confirmation_overdue_hours
        )
        if utc(as_of) > overdue_from:
            notices.append(
                Notice(
                    WarningCode.CONFIRMATION_OVERDUE,
                    f"The repeat {rules.draw_name} that confirms the first low result is more than "
                    f"{rules.confirmation_overdue_hours} hours overdue.",
                )
            )
    if open_conflicts:
        notices.append(
            Notice(
                WarningCode.REVIEW_NEEDED,
                "Results filed after a recorded act conflict with it; the prescriber must review "
                "the patient's record.",
            )
        )
    covered = _covered_until(state)
    if (
        (state.has_dispenses or state.elsewhere_until is not None)
        and covered is not None
        and state.treatment_status in (TreatmentStatus.ACTIVE, TreatmentStatus.INTERRUPTED)
        # From the hour itself (docs/rules.md §10: "2 days or more"; the safer reading where a
        # source says "more than 48 hours", and the one the clinical dose tracking uses).
        and utc(as_of) - utc(start_of_day(covered, zone))
        >= timedelta(hours=rules.retitration_after_hours)
    ):
        notices.append(
            Notice(
                WarningCode.RETITRATION_NEEDED,
                f"The recorded supply ran out on {covered}: {rules.retitration_after_hours} "
                "hours or more without clozapine means the dose must be re-titrated.",
            )
        )
    if state.incomplete_at is not None:
        notices.append(
            Notice(
                WarningCode.INCOMPLETE_RESULT,
                f"A newer {rules.draw_name} is incomplete (a count is missing); it cannot make "
                "the patient current.",
            )
        )
    return tuple(notices)


def assess(
    state: Snapshot,
    as_of: datetime,
    zone: tzinfo,
    context: DecisionContext | None = None,
) -> Assessment:
    """Project `state` to `as_of` and, with a context, decide a supply (§7).

    `state` must hold no item effective after `as_of` (see `snapshot_for`).
    """
    rules = get_protocol(state.protocol)
    day = local_date(as_of, zone)
    state = project(state, utc(as_of), zone)
    if state.enrollment_check is not None:
        _judge_enrollment(state, rules)
    frequency = frequency_on(state, rules, day, zone)
    latest = state.latest
    in_force = tuple(a for a in state.authorizations if a.in_force_on(day))
    continuation_auth = continuation_in_force(state, rules, day)
    rechallenge_auth = rechallenge_in_force(state, day, zone)
    continuation = continuation_auth is not None
    rechallenge = rechallenge_auth is not None
    episode = state.episode

    next_due: date | None = None
    current_until: date | None = None
    if frequency is not None and latest is not None:
        next_due = latest.drawn_on + timedelta(days=rules.due_after_days[frequency])
        current_until = latest.drawn_on + timedelta(days=rules.current_window_days[frequency])
        if episode is not None and episode.confirmation_pending:
            next_due = min(next_due, local_date(episode.confirmation_deadline, zone))
    if state.treatment_status == TreatmentStatus.NOT_STARTED:
        next_due = None  # nothing is chased before treatment starts

    reasons: set[Reason] = set()
    enrollment = state.enrollment_status
    if enrollment in (EnrollmentStatus.PENDING, EnrollmentStatus.REENROLLMENT_REQUIRED):
        reasons.add(Reason.PATIENT_NOT_ENROLLED)
    if latest is None:
        reasons.add(Reason.NO_ANC_ON_FILE)
    elif current_until is not None and day > current_until:
        reasons.add(Reason.ANC_NOT_CURRENT)
    if state.population == Population.BEN and state.baseline_fresh < rules.ben_baselines_required:
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
        if Reason.ANC_BELOW_THRESHOLD in start_refusals(state, rules, day, zone):
            reasons.add(Reason.ANC_BELOW_THRESHOLD)
    if state.needs_rechallenge and not rechallenge and not continuation:
        reasons.add(Reason.RECHALLENGE_NOT_AUTHORIZED)
    if frequency in rules.needs_continuation and not continuation:
        reasons.add(Reason.TREATMENT_INTERRUPTED)

    allowance = supply_allowance(rules, frequency, days_on_hand(state.supply_until, day))

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

    messages = dict(reason_messages(state.protocol))
    if state.interrupted_by_prescriber_on is not None:
        messages[Reason.TREATMENT_INTERRUPTED] = (
            "The prescriber interrupted treatment; only the prescriber's resume lifts it (an "
            "authorization does not)."
        )
    ordered = tuple(
        ReasonItem(code, messages[code]) for code in sorted(reasons, key=REASON_ORDER.__getitem__)
    )
    if not ordered:
        decision, max_days = Verdict.ALLOWED, allowance
    elif {item.code for item in ordered} == {Reason.DAYS_SUPPLY_EXCEEDS_LIMIT}:
        decision, max_days = Verdict.BLOCKED, allowance
    else:
        decision, max_days = Verdict.BLOCKED, 0

    open_conflicts = tuple(
        sorted(
            (c for c in state.conflicts if c.key not in state.reviewed),
            key=lambda c: (c.on, c.key),
        )
    )
    applying = tuple(
        a.authorization_id for a in (continuation_auth, rechallenge_auth) if a is not None
    )
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
        hematology_consult=bool(episode and rules.consult(episode.worst))
        or state.consult_pending is not None,
        authorizations=in_force,
        clock_started_on=state.clock_started_on,
        interrupted_since=_interrupted_since(state)
        if treatment == TreatmentStatus.INTERRUPTED
        else None,
        lapse_on=lapse_on(state, rules, day),
        lapsed_on=state.lapsed_on,
        needs_rechallenge=state.needs_rechallenge,
        baseline_per_ul=state.baseline_per_ul(),
        baseline_count=state.baseline_fresh,
        supply_until=state.supply_until,
        decision=decision,
        max_days_supply=max_days,
        reasons=ordered,
        protocol_version=rules.version,
        step_down_offered=step_down_offered(state, rules, day)
        if frequency is not None and episode is None
        else None,
        limits=_limits_shown(state, rules, day),
        warnings=_warnings(state, rules, as_of, zone, len(open_conflicts)),
        review_needed=open_conflicts,
        weekly_until=state.weekly_until,
        has_dispenses=state.has_dispenses,
        elsewhere_until=state.elsewhere_until,
        applying=applying,
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


def latest_complete_draw(
    history: PatientHistory, protocol: str, until: datetime
) -> tuple[Draw, Band | None] | None:
    """The latest draw on file by `until` that is complete under `protocol`, and its band
    there; judged afresh, as a protocol's enrollment needs (§9.11)."""
    rules = get_protocol(protocol)
    for draw in reversed(draws_of(history.readings, utc(until))):
        anc, wbc = _reads(rules, draw)
        if (anc is not None or wbc is not None) and _complete(rules, anc, wbc):
            reading = BloodCount(draw.result_id, anc, draw.drawn_at, wbc)
            return draw, rules.band_of(reading, history.population, None, {})
    return None


def enrollment_refusal(
    history: PatientHistory,
    effective_date: date,
    *,
    prescriber_certified: bool,
    protocol: str | None = None,
) -> Refusal | None:
    """§4: may the patient be (re-)enrolled on `effective_date`, under `protocol` (default: the
    patient's)? Under a protocol other than the one in force, the latest complete result is
    judged by the new protocol's own rules (§9.11)."""
    protocol = protocol or history.protocol
    rules = get_protocol(protocol)
    zone = history.zone
    until = end_of_day(effective_date, zone)
    state = project(replay(history, until=until), until, zone)
    if state.enrollment_status == EnrollmentStatus.ENROLLED:
        return Refusal("conflict", "The patient is already enrolled on that date.")
    reasons: list[Reason] = []
    if not prescriber_certified:
        reasons.append(Reason.PRESCRIBER_NOT_CERTIFIED)
    if protocol == state.protocol:
        latest_on = state.latest.drawn_on if state.latest is not None else None
        normal = band_now(state, rules) == rules.normal_band
    else:
        found = latest_complete_draw(history, protocol, until)
        latest_on = local_date(found[0].drawn_at, zone) if found is not None else None
        normal = found is not None and found[1] == rules.normal_band
    if latest_on is None or (effective_date - latest_on).days > rules.enrollment_lab_days:
        reasons.append(Reason.ANC_NOT_RECENT)
    elif not normal:
        reasons.append(Reason.ANC_BELOW_THRESHOLD)
    if history.population == Population.BEN and state.baseline_fresh < rules.ben_baselines_required:
        reasons.append(Reason.BASELINE_INCOMPLETE)
    if reasons:
        return Refusal("rules", "The patient cannot be enrolled on that date.", tuple(reasons))
    return None


def treatment_event_refusal(
    history: PatientHistory, kind: TreatmentEventKind, effective_date: date
) -> Refusal | None:
    """§5: may `kind` be recorded with `effective_date`?"""
    zone = history.zone
    until = end_of_day(effective_date, zone)
    state = project(replay(history, until=until), until, zone)
    rules = get_protocol(state.protocol)
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
            refusals = start_refusals(state, rules, effective_date, zone)
            if refusals:
                return Refusal("rules", "Treatment cannot start.", tuple(refusals))
            return None
        if status == TreatmentStatus.ACTIVE and state.first_dose_on is not None:
            return (
                None
                if state.clock_started_on is not None and effective_date <= state.clock_started_on
                else Refusal("conflict", "Treatment is already active.")
            )
        return Refusal("conflict", f"Treatment is {status.value}; a start is not possible.")
    if kind == TreatmentEventKind.INTERRUPT:
        # The prescriber may stop treatment on top of a neutropenia interruption (a reason of
        # its own that outlasts the count, and that a continuation does not lift).
        neutropenia_only = (
            status == TreatmentStatus.INTERRUPTED and state.interrupted_by_prescriber_on is None
        )
        if status != TreatmentStatus.ACTIVE and not neutropenia_only:
            return Refusal(
                "conflict", f"Treatment is {status.value}; only active treatment can interrupt."
            )
        return None
    if status != TreatmentStatus.INTERRUPTED:
        return Refusal("conflict", f"Treatment is {status.value}; only interrupted can resume.")
    refusals = resume_refusals(state, rules, effective_date, zone)
    if refusals:
        return Refusal("rules", "Treatment cannot resume.", tuple(refusals))
    return None


def authorization_refusal(
    history: PatientHistory, kind: AuthorizationKind, starts_on: date, as_of: datetime
) -> Refusal | None:
    """§6, §9.5: a continuation only for an episode whose band interrupts treatment, open (or
    its interruption standing) on its first day; a rechallenge only after severe neutropenia."""
    zone = history.zone
    state = project(replay(history, until=as_of), as_of, zone)
    rules = get_protocol(state.protocol)
    first_day = min(utc(as_of), utc(end_of_day(starts_on, zone)))
    then = project(replay(history, until=first_day), first_day, zone)
    if then.enrollment_status != EnrollmentStatus.ENROLLED:
        # A lapse or a discontinuation is not undone by an authorization (§4, §9.5); nor does a
        # back-dated one (it answers only days on which it could have allowed a supply).
        return Refusal(
            "conflict",
            f"The patient is {then.enrollment_status.value.replace('_', ' ')} on {starts_on}; "
            "re-enroll the patient first.",
        )
    if kind == AuthorizationKind.CONTINUATION:
        if not rules.continuation_allowed:
            return Refusal(
                "rules",
                f"{rules.name} has no continuation authorization: a band that stops treatment "
                "stops it until the patient is back in range.",
                (Reason.ANC_BELOW_THRESHOLD,),
            )
        band = band_now(then, rules)
        interrupting = then.episode is not None and band is not None and rules.interrupts(band)
        if not interrupting and then.interrupted_by_neutropenia_on is None:
            return Refusal(
                "rules",
                "A continuation authorization answers an episode whose band interrupts "
                f"treatment, open on its first day ({starts_on}).",
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
    until = end_of_day(effective_date, history.zone)
    state = project(replay(history, until=until), until, history.zone)
    rules = get_protocol(state.protocol)
    if not rules.step_down_needs_confirmation:
        return Refusal(
            "conflict", f"{rules.name} steps down by its schedule; there is nothing to confirm."
        )
    offered = step_down_offered(state, rules, effective_date)
    if offered is None:
        return Refusal("conflict", "No longer monitoring interval is offered on that date.")
    current = rules.due_after_days[routine_on(state, rules, effective_date)]
    if not current < rules.due_after_days.get(frequency, 0) <= rules.due_after_days[offered]:
        return Refusal(
            "conflict", f"The interval offered on that date is {offered.value.replace('_', ' ')}."
        )
    return None
