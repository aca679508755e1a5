"""Properties of the engine over random histories (hypothesis).

Histories are random but well-formed for the engine: timezone-aware local times in the clinic's
zone, unique ids, results of 0..5000/µL (with the band edges over-represented) on random days
over ~400 days, random enrollments, treatment events, authorizations and dispenses.

The times of results and dispenses avoid 01:00-02:59, the local hours a US daylight-saving
change makes ambiguous or nonexistent. Python compares two aware datetimes with different
tzinfo objects as unequal when either one's offset depends on `fold`, so a snapshot holding such
a local time would compare unequal to its JSON copy (fixed UTC offsets) although both hold the
same instant; DST behaviour itself is tested in test_engine_confirmation.py.
"""

import json
from dataclasses import replace
from datetime import date, datetime, timedelta

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from engine import assess, evaluate, get_protocol, replay, snapshot_for
from engine.codec import snapshot_from_json, snapshot_to_json
from engine.core import Draw, _timeline, advance
from engine.types import (
    AuthorizationKind,
    AuthorizationRecord,
    BloodCount,
    DecisionContext,
    DispenseRecord,
    EnrollmentRecord,
    Frequency,
    LimitOverrideRecord,
    PatientHistory,
    Population,
    StepDownRecord,
    TreatmentEventKind,
    TreatmentEventRecord,
    Verdict,
)
from tests.engine.builders import UTC, ZONE

# Every property runs for every protocol.
PROTOCOLS = ["us-label-2015", "uk-cpms"]
BASE = date(2023, 1, 2)
HORIZON = 400
EDGES = [2000, 1500, 1499, 1000, 999, 500, 499, 0]
SAFE_HOURS = [0, *range(3, 24)]  # never inside a daylight-saving change

# No example database: the suite writes nothing outside its own folder.
PROPERTY_SETTINGS = settings(max_examples=200, deadline=None, database=None)


def local(offset: int, hour: int, minute: int) -> datetime:
    on = BASE + timedelta(days=offset)
    return datetime(on.year, on.month, on.day, hour, minute, tzinfo=ZONE)


day_offsets = st.one_of(st.integers(0, 45), st.integers(0, HORIZON))
# (hour, minute) of a result or a dispense, from 03:00 to 23:59.
safe_times = st.integers(3 * 60, 24 * 60 - 1).map(lambda minutes: divmod(minutes, 60))
# Mostly normal results, as in life, with every band and edge well represented.
# (Hypothesis favours small integers, so the full range is drawn downwards from 5000.)
anc_values = st.one_of(
    st.integers(1500, 5000),
    st.integers(1500, 5000),
    st.integers(1500, 5000),
    st.integers(0, 5000).map(lambda v: 5000 - v),
    st.sampled_from(EDGES),
)
# uk-cpms result sets: neutrophils and WBC of one draw, with their band edges; now and then one
# of the two is missing (an incomplete set).
UK_NEUTROPHIL_EDGES = [2000, 1999, 1500, 1499, 0]
UK_WBC_EDGES = [3500, 3499, 3000, 2999, 0]
uk_neutrophils = st.one_of(
    st.integers(2000, 6000),
    st.integers(2000, 6000),
    st.integers(0, 6000).map(lambda v: 6000 - v),
    st.sampled_from(UK_NEUTROPHIL_EDGES),
)
uk_wbc = st.one_of(
    st.integers(3500, 9000),
    st.integers(3500, 9000),
    st.integers(0, 9000).map(lambda v: 9000 - v),
    st.sampled_from(UK_WBC_EDGES),
)
uk_sets = st.one_of(
    st.tuples(uk_neutrophils, uk_wbc),
    st.tuples(uk_neutrophils, uk_wbc),
    st.tuples(uk_neutrophils, uk_wbc),
    st.tuples(st.none(), uk_wbc),
    st.tuples(uk_neutrophils, st.none()),
)
uk_limits = st.tuples(
    st.integers(1000, 3500),  # wbc green
    st.integers(500, 3000),  # wbc red
    st.integers(800, 2000),  # neutrophils green
    st.integers(300, 1500),  # neutrophils red
).map(
    lambda v: (
        ("neutrophils_green_per_ul", max(v[2], v[3])),
        ("neutrophils_red_per_ul", min(v[2], v[3])),
        ("wbc_green_per_ul", max(v[0], v[1])),
        ("wbc_red_per_ul", min(v[0], v[1])),
    )
)


def result_sets(protocol):
    """(neutrophils, wbc) pairs: the ANC alone for us-label-2015."""
    if protocol == "uk-cpms":
        return uk_sets
    return anc_values.map(lambda v: (v, None))


usually = st.sampled_from([True, True, True, True, False])
ANY_POPULATION = st.sampled_from(Population)
# Gaps between successive draws: repeats within a day, the schedule's intervals, overdue draws.
draw_gaps = st.sampled_from([0, 1, 2, 3, 4, 7, 7, 7, 8, 14, 15, 16, 28, 31, 32, 45])
event_kinds = st.sampled_from(
    [
        TreatmentEventKind.START,
        TreatmentEventKind.INTERRUPT,
        TreatmentEventKind.INTERRUPT,
        TreatmentEventKind.RESUME,
        TreatmentEventKind.RESUME,
        TreatmentEventKind.RESUME,
        TreatmentEventKind.DISCONTINUE,
    ]
)


@st.composite
def histories(draw, protocol, populations=ANY_POPULATION, min_readings=1):
    """A random history: usually an enrollment and a start early on and a series of draws at
    schedule-like gaps, plus random events, authorizations and dispenses anywhere (and, for a
    protocol that has them, step-down confirmations and per-patient limits)."""
    rules = get_protocol(protocol)
    sets = result_sets(protocol)
    population = draw(populations)
    enrolled_on = draw(st.integers(0, 30))

    readings: list[BloodCount] = []
    offset = enrolled_on - draw(st.integers(0, 12))
    series = draw(
        st.lists(st.tuples(draw_gaps, safe_times, sets), min_size=min_readings, max_size=10)
    )
    for gap, (hour, minute), (value, wbc) in series:
        offset += gap
        readings.append(BloodCount(len(readings) + 1, value, local(offset, hour, minute), wbc))
    # Repeats a few hours after another result, so confirmations within 24 h happen often.
    if readings:
        repeats = draw(
            st.lists(
                st.tuples(st.integers(0, len(readings) - 1), st.integers(1, 30 * 60), sets),
                max_size=3,
            )
        )
        for which, minutes, (value, wbc) in repeats:
            moment = after(readings[which].drawn_at, timedelta(minutes=minutes))
            if moment.hour not in (1, 2):
                readings.append(BloodCount(len(readings) + 1, value, moment, wbc))

    enrollment_days = draw(st.lists(day_offsets, max_size=2))
    if draw(usually):  # usually enrolled early on
        enrollment_days.insert(0, enrolled_on)
    enrollments = [
        EnrollmentRecord(BASE + timedelta(days=d), seq=index)
        for index, d in enumerate(enrollment_days, start=1)
    ]

    event_list = draw(st.lists(st.tuples(event_kinds, day_offsets), max_size=4))
    if draw(usually):  # usually started soon after the enrollment
        event_list.insert(0, (TreatmentEventKind.START, enrolled_on + draw(st.integers(0, 5))))
    events = [
        TreatmentEventRecord(kind, BASE + timedelta(days=d), seq=index)
        for index, (kind, d) in enumerate(event_list, start=1)
    ]

    authorizations = [
        AuthorizationRecord(
            index, kind, BASE + timedelta(days=d), BASE + timedelta(days=d + length)
        )
        for index, (kind, d, length) in enumerate(
            draw(
                st.lists(
                    st.tuples(st.sampled_from(AuthorizationKind), day_offsets, st.integers(0, 30)),
                    max_size=3,
                )
            ),
            start=1,
        )
    ]
    # Either no dispenses on record (supplied elsewhere), or a regular series from about the
    # start, plus a few stray ones anywhere.
    dispense_list: list[tuple[int, tuple[int, int], int]] = []
    every, supply = draw(st.sampled_from([(7, 7), (14, 14), (28, 28), (7, 3), (10, 7)]))
    first = enrolled_on + draw(st.integers(0, 5))
    series_time = draw(safe_times)
    for index in range(draw(st.integers(0, 15))):
        dispense_list.append((first + index * every, series_time, supply))
    dispense_list += draw(
        st.lists(st.tuples(day_offsets, safe_times, st.sampled_from([1, 3, 7, 14, 28])), max_size=2)
    )
    dispenses = [
        DispenseRecord(index, local(d, hour, minute), days)
        for index, (d, (hour, minute), days) in enumerate(dispense_list, start=1)
    ]
    step_downs: list[StepDownRecord] = []
    overrides: list[LimitOverrideRecord] = []
    if rules.step_down_needs_confirmation:
        longer = st.sampled_from([Frequency.EVERY_2_WEEKS, Frequency.EVERY_4_WEEKS])
        step_downs = [
            StepDownRecord(frequency, BASE + timedelta(days=d), seq=index)
            for index, (frequency, d) in enumerate(
                draw(st.lists(st.tuples(longer, st.integers(100, HORIZON)), max_size=3)), start=1
            )
        ]
    if rules.overridable_limits:
        overrides = [
            LimitOverrideRecord(index, BASE + timedelta(days=d), limits)
            for index, (d, limits) in enumerate(
                draw(st.lists(st.tuples(day_offsets, uk_limits), max_size=2)), start=1
            )
        ]
    return PatientHistory(
        population=population,
        protocol=protocol,
        zone=ZONE,
        readings=tuple(readings),
        enrollments=tuple(enrollments),
        treatment_events=tuple(events),
        authorizations=tuple(authorizations),
        dispenses=tuple(dispenses),
        step_downs=tuple(step_downs),
        limit_overrides=tuple(overrides),
    )


@st.composite
def as_of_for(draw, history):
    """Shortly after one of the history's results (usually), or any instant over its span."""
    if history.readings and draw(usually):
        reading = draw(st.sampled_from(history.readings))
        return after(reading.drawn_at, timedelta(minutes=draw(st.integers(0, 10 * 24 * 60))))
    return local(draw(st.integers(-5, HORIZON + 60)), draw(st.sampled_from(SAFE_HOURS)), 0)


@st.composite
def cases(draw, protocol, populations=ANY_POPULATION):
    history = draw(histories(protocol, populations=populations))
    return history, draw(as_of_for(history))


contexts = st.builds(
    DecisionContext,
    prescriber_certified=usually,
    pharmacy_certified=st.sampled_from([True, True, True, True, None, False]),
    days_supply=st.one_of(st.none(), st.sampled_from([1, 3, 7, 7, 14, 28]), st.integers(1, 40)),
)
# An instant at or after a snapshot's high-water mark: up to 60 days later.
later_by = st.integers(0, 60 * 24 * 60).map(lambda minutes: timedelta(minutes=minutes))


def after(moment: datetime | None, delta: timedelta) -> datetime:
    start = moment if moment is not None else local(0, 0, 0)
    return (start.astimezone(UTC) + delta).astimezone(ZONE)


def through_json(snapshot):
    return snapshot_from_json(json.loads(json.dumps(snapshot_to_json(snapshot))))


# --- every history gets a coherent answer -----------------------------------------------------


@pytest.mark.parametrize("protocol", PROTOCOLS)
@PROPERTY_SETTINGS
@given(data=st.data(), context=contexts)
def test_any_history_yields_an_assessment_whose_decision_matches_its_reasons(
    protocol, data, context
):
    history, as_of = data.draw(cases(protocol))
    assessment = evaluate(history, as_of, context)

    if assessment.decision == Verdict.BLOCKED:
        assert len(assessment.reasons) >= 1
    else:
        assert assessment.decision == Verdict.ALLOWED
        assert assessment.reasons == ()


@pytest.mark.parametrize("protocol", PROTOCOLS)
@PROPERTY_SETTINGS
@given(data=st.data(), context=contexts)
def test_the_supply_allowed_never_exceeds_the_largest_supply_and_covers_an_allowed_request(
    protocol, data, context
):
    history, as_of = data.draw(cases(protocol))
    assessment = evaluate(history, as_of, context)

    frequency = assessment.monitoring_frequency
    largest = get_protocol(protocol).max_supply_days[frequency] if frequency is not None else 0
    assert 0 <= assessment.max_days_supply <= largest
    if assessment.decision == Verdict.ALLOWED:
        assert frequency is not None
        assert assessment.max_days_supply >= 1
        if context.days_supply is not None:
            assert context.days_supply <= assessment.max_days_supply


# --- the stored snapshot path equals the reference path ---------------------------------------


@pytest.mark.parametrize("protocol", PROTOCOLS)
@PROPERTY_SETTINGS
@given(data=st.data(), later=later_by, context=contexts)
def test_a_snapshot_projected_past_its_high_water_mark_equals_a_full_evaluation_even_from_json(
    protocol, data, later, context
):
    history = data.draw(histories(protocol))
    snapshot = replay(history)
    as_of = after(snapshot.high_water, later)
    reference = evaluate(history, as_of, context)

    assert assess(snapshot, as_of, ZONE, context) == reference
    assert through_json(snapshot) == snapshot
    assert assess(through_json(snapshot), as_of, ZONE, context) == reference


@pytest.mark.parametrize("protocol", PROTOCOLS)
@PROPERTY_SETTINGS
@given(data=st.data(), later=later_by, context=contexts)
def test_the_stored_snapshot_path_equals_replaying_the_full_history(protocol, data, later, context):
    history, as_of = data.draw(cases(protocol))
    stored = through_json(replay(history))
    reference_at = evaluate(history, as_of, context)
    reference_later = evaluate(history, after(stored.high_water, later), context)

    # Any instant: snapshot_for takes the stored snapshot only when nothing in it is later.
    at_any_time = assess(snapshot_for(history, as_of, stored), as_of, ZONE, context)
    past_high_water = after(stored.high_water, later)
    after_everything = assess(
        snapshot_for(history, past_high_water, stored), past_high_water, ZONE, context
    )

    assert at_any_time == reference_at
    assert after_everything == reference_later


# --- an older normal result never unblocks a decision -----------------------------------------
#
# The property is restricted where an older normal result legitimately changes the answer:
# - general population only: for a BEN patient a result before the first dose is a baseline, so
#   it can complete the two baselines (lifting `baseline_incomplete`) and it moves the baseline
#   mean, which moves where a BEN episode ends and when a resume is allowed;
# - at least one other result effective at `as_of`: otherwise the older one is the only result
#   and lifts `no_anc_on_file` (the "older than every other reading" condition is then vacuous);
# - no `start` event dated before the first other result's local date: a start with no result
#   on file is refused (protocol reading 5), while with the older normal result on file it
#   takes effect, and an earlier clock can legitimately reach a longer routine interval (a
#   wider "current" window and a larger supply).
# - uk-cpms: the first other result is a complete set (an incomplete green-looking set is not
#   read, so without it the older result would be the only one read; the "no result" case
#   again), and the older normal result is a complete green set.
# Everything else a result feeds (the latest result, episodes, resume checks) only looks at
# later results, which are the same with or without the older one.


@st.composite
def general_history_with_an_older_normal_result(draw, protocol):
    """A general history with at least one result and no `start` before its first result, the
    first result, and a normal result drawn on an earlier local date."""
    history = draw(histories(protocol, populations=st.just(Population.GENERAL), min_readings=1))
    first = min(history.readings, key=lambda r: r.drawn_at)
    uk = protocol == "uk-cpms"
    if uk and (first.value_per_ul is None or first.wbc_per_ul is None):
        complete = replace(
            first,
            value_per_ul=first.value_per_ul if first.value_per_ul is not None else 1800,
            wbc_per_ul=first.wbc_per_ul if first.wbc_per_ul is not None else 3200,
        )
        history = replace(
            history,
            readings=tuple(complete if r is first else r for r in history.readings),
        )
        first = complete
    first_day = first.drawn_at.astimezone(ZONE).date()
    history = replace(
        history,
        treatment_events=tuple(
            e
            for e in history.treatment_events
            if not (e.kind == TreatmentEventKind.START and e.effective_date < first_day)
        ),
    )
    on = first_day - timedelta(days=draw(st.integers(1, 90)))
    hour, minute = draw(safe_times)
    older = BloodCount(
        len(history.readings) + 1,
        draw(st.integers(2000 if uk else 1500, 5000)),
        datetime(on.year, on.month, on.day, hour, minute, tzinfo=ZONE),
        draw(st.integers(3500, 9000)) if uk else None,
    )
    return history, older, first


@pytest.mark.parametrize("protocol", PROTOCOLS)
@PROPERTY_SETTINGS
@given(
    data=st.data(),
    later=st.integers(0, 120 * 24 * 60).map(lambda minutes: timedelta(minutes=minutes)),
    context=contexts,
)
def test_adding_an_older_normal_result_never_turns_a_blocked_decision_into_allowed(
    protocol, data, later, context
):
    history, older, first = data.draw(general_history_with_an_older_normal_result(protocol))
    as_of = after(first.drawn_at, later)  # the first other result is effective at as_of
    with_older = replace(history, readings=(*history.readings, older))

    without = evaluate(history, as_of, context)
    with_it = evaluate(with_older, as_of, context)

    if without.decision == Verdict.BLOCKED:
        assert with_it.decision == Verdict.BLOCKED, (without.reason_codes, with_it.reason_codes)


# --- the stored snapshot advanced one item at a time equals a replay ----------------------------


@pytest.mark.parametrize("protocol", PROTOCOLS)
@PROPERTY_SETTINGS
@given(data=st.data(), later=later_by, context=contexts)
def test_advancing_the_snapshot_item_by_item_equals_replaying_the_history(
    protocol, data, later, context
):
    # What the services do on each write (monitoring.services.monitoring_state_advance): apply
    # the new item to the stored snapshot when it comes after everything in it, else replay.
    history = data.draw(histories(protocol))
    readings = {r.result_id: r for r in history.readings}
    applied = replace(
        history,
        readings=(),
        enrollments=(),
        treatment_events=(),
        authorizations=(),
        dispenses=(),
        step_downs=(),
    )
    state = replay(applied)
    advanced = 0
    for _key, _effective, item in _timeline(history, None):
        if isinstance(item, Draw):
            new = tuple(readings[i] for i in item.members)
            applied = replace(applied, readings=(*applied.readings, *new))
            one = new[0] if len(new) == 1 else None
        else:
            field = {
                EnrollmentRecord: "enrollments",
                TreatmentEventRecord: "treatment_events",
                AuthorizationRecord: "authorizations",
                DispenseRecord: "dispenses",
                StepDownRecord: "step_downs",
            }[type(item)]
            original = next(x for x in getattr(history, field) if _same(x, item))
            applied = replace(applied, **{field: (*getattr(applied, field), original)})
            one = original
        moved = (
            advance(through_json(state), one, zone=ZONE, patient_protocol=history.protocol)
            if one is not None
            else None
        )
        if moved is None:
            state = replay(applied)
        else:
            state = moved
            advanced += 1

    event("advanced one item or more" if advanced else "replayed every item")
    full = replay(history)
    assert state == full
    as_of = after(full.high_water, later)
    assert assess(state, as_of, ZONE, context) == assess(full, as_of, ZONE, context)


def _same(original, item):
    """`item` is `original` as the timeline holds it (dispense times in UTC)."""
    if isinstance(original, DispenseRecord):
        return original.dispense_id == item.dispense_id
    return original == item


def test_an_item_that_sorts_before_the_snapshots_last_one_is_not_applied_alone():
    from tests.engine.builders import day, started_patient

    history = started_patient().anc(2000, day(7)).dispense(day(8), 7).build()
    state = replay(history)
    earlier = BloodCount(99, 300, local_dt(day(6)))

    assert advance(state, earlier, zone=ZONE, patient_protocol=history.protocol) is None


def local_dt(on):
    return datetime(on.year, on.month, on.day, 9, 0, tzinfo=ZONE)
