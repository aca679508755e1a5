"""docs/rules.md §9 and §10 as properties over generated histories (hypothesis), for every
protocol. The histories are those of test_engine_properties.py: random but well-formed, with
events the services would have refused as well as ones they would have accepted, so the replay
is exercised on histories that were valid when recorded and were then changed by late data.

A result "added late" is filed after everything else on record (its recording time is after
every authorization's), as a late lab result is.
"""

import random
from dataclasses import replace
from datetime import timedelta

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from engine import evaluate, replay
from engine.core import end_of_day, local_date, start_of_day, utc
from engine.emergency import emergency_option
from engine.protocols import get_protocol
from engine.types import (
    AuthorizationKind,
    AuthorizationRecord,
    BloodCount,
    DecisionContext,
    EnrollmentRecord,
    Population,
    Reason,
    TreatmentEventKind,
    TreatmentEventRecord,
    TreatmentStatus,
    Verdict,
)
from tests.engine.builders import ZONE
from tests.engine.test_engine_properties import (
    PROPERTY_SETTINGS,
    PROTOCOLS,
    cases,
    contexts,
    histories,
    local,
    result_sets,
    safe_times,
)

GENERAL = st.just(Population.GENERAL)
CURRENCY_ONLY = {
    Reason.ANC_NOT_CURRENT,
    Reason.NO_ANC_ON_FILE,
    Reason.DAYS_SUPPLY_EXCEEDS_LIMIT,
}


def comparable(assessment):
    """An assessment without the ids that only say which row was stored first (and when)."""
    latest = assessment.latest_anc
    return replace(
        assessment,
        latest_anc=replace(latest, result_id=0, known_at=None) if latest is not None else None,
        review_needed=tuple(replace(c, key="") for c in assessment.review_needed),
    )


def filed_after_everything(history):
    """An instant later than every recording and every item of the history."""
    moments = [r.drawn_at for r in history.readings] + [d.dispensed_at for d in history.dispenses]
    moments += [end_of_day(a.starts_on, ZONE) for a in history.authorizations]
    moments += [
        end_of_day(e.effective_date, ZONE)
        for e in (*history.enrollments, *history.treatment_events)
    ]
    latest = max((utc(m) for m in moments), default=utc(local(0, 0, 0)))
    return latest + timedelta(days=1)


def next_id(history):
    return max((r.result_id for r in history.readings), default=0) + 1


def with_reading(history, reading):
    return replace(history, readings=(*history.readings, reading))


# --- §9.3: the same writes in any order give the same decision --------------------------------


def shuffled(history, rng):
    """The same writes recorded in another order: the results' ids and order, the dispenses'
    ids and order, and the order of treatment events on different dates are permuted (events
    of one date keep their order: that order is part of what was recorded)."""
    readings = list(history.readings)
    ids = [r.result_id for r in readings]
    rng.shuffle(ids)
    readings = [replace(r, result_id=i) for r, i in zip(readings, ids, strict=True)]
    rng.shuffle(readings)
    dispenses = list(history.dispenses)
    dispense_ids = [d.dispense_id for d in dispenses]
    rng.shuffle(dispense_ids)
    dispenses = [replace(d, dispense_id=i) for d, i in zip(dispenses, dispense_ids, strict=True)]
    rng.shuffle(dispenses)
    by_date = sorted(history.treatment_events, key=lambda e: (e.effective_date, e.seq))
    dates = sorted({e.effective_date for e in by_date})
    base = {d: rng.randrange(1000) * 100 for d in dates}
    events = [replace(e, seq=base[e.effective_date] + index) for index, e in enumerate(by_date)]
    rng.shuffle(events)
    return replace(
        history,
        readings=tuple(readings),
        dispenses=tuple(dispenses),
        treatment_events=tuple(events),
    )


@pytest.mark.parametrize("protocol", PROTOCOLS)
@PROPERTY_SETTINGS
@given(data=st.data(), context=contexts, seed=st.integers(0, 2**32 - 1))
def test_the_same_writes_recorded_in_any_order_give_the_same_decision(
    protocol, data, context, seed
):
    history, as_of = data.draw(cases(protocol))
    other = shuffled(history, random.Random(seed))  # noqa: S311 - a permutation, not a secret

    assert comparable(evaluate(other, as_of, context)) == comparable(
        evaluate(history, as_of, context)
    )


@pytest.mark.parametrize("protocol", PROTOCOLS)
@PROPERTY_SETTINGS
@given(data=st.data(), context=contexts)
def test_when_results_were_filed_never_matters_without_an_authorization(protocol, data, context):
    history, as_of = data.draw(cases(protocol))
    history = replace(history, authorizations=())
    lags = st.integers(0, 20 * 24 * 60).map(lambda minutes: timedelta(minutes=minutes))

    def filed(reading):
        return replace(reading, recorded_at=reading.drawn_at + data.draw(lags))

    one = replace(history, readings=tuple(filed(r) for r in history.readings))
    two = replace(history, readings=tuple(filed(r) for r in history.readings))

    assert comparable(evaluate(one, as_of, context)) == comparable(evaluate(two, as_of, context))


# --- §9.3, §9.1: a worse or late result never opens the gate ---------------------------------


@pytest.mark.parametrize("protocol", PROTOCOLS)
@PROPERTY_SETTINGS
@given(data=st.data(), context=contexts)
def test_a_worse_result_of_the_same_draw_never_turns_a_block_into_an_allow(protocol, data, context):
    history, as_of = data.draw(cases(protocol))
    assume(history.readings)
    target = data.draw(st.sampled_from(history.readings))
    anc = None if target.value_per_ul is None else data.draw(st.integers(0, target.value_per_ul))
    wbc = None if target.wbc_per_ul is None else data.draw(st.integers(0, target.wbc_per_ul))
    assume(anc is not None or wbc is not None)
    worse = BloodCount(
        next_id(history), anc, target.drawn_at, wbc, recorded_at=filed_after_everything(history)
    )

    without = evaluate(history, as_of, context)
    with_it = evaluate(with_reading(history, worse), as_of, context)

    if without.decision == Verdict.BLOCKED:
        assert with_it.decision == Verdict.BLOCKED, (without.reason_codes, with_it.reason_codes)


def before(moment, minutes):
    """`minutes` of elapsed time before `moment`, in the clinic's zone."""
    return (utc(moment) - timedelta(minutes=minutes)).astimezone(ZONE)


@st.composite
def low_results(draw, protocol, history, as_of):
    """A result outside the normal range, drawn any time before `as_of` over the span."""
    when = before(as_of, draw(st.integers(0, 400 * 24 * 60)))
    assume(when.hour not in (1, 2))  # never inside a daylight-saving change
    if protocol == "uk-cpms":
        anc, wbc = draw(
            st.one_of(
                st.tuples(st.integers(0, 1999), st.one_of(st.none(), st.integers(0, 9000))),
                st.tuples(st.one_of(st.none(), st.integers(0, 6000)), st.integers(0, 3499)),
            )
        )
    else:
        anc, wbc = draw(st.integers(0, 1499)), None
    reading = BloodCount(next_id(history), anc, when, wbc)
    return replace(reading, recorded_at=filed_after_everything(history))


@pytest.mark.parametrize("protocol", PROTOCOLS)
@PROPERTY_SETTINGS
@given(data=st.data(), context=contexts)
def test_a_low_result_filed_late_never_turns_a_block_into_an_allow(protocol, data, context):
    # A low result can make a stale patient current (a current mild result allows a supply),
    # so blocks for currency alone are left out; every other block stays a block.
    history, as_of = data.draw(cases(protocol, populations=GENERAL))
    low = data.draw(low_results(protocol, history, as_of))

    without = evaluate(history, as_of, context)
    with_it = evaluate(with_reading(history, low), as_of, context)

    if without.decision == Verdict.BLOCKED and not {r.code for r in without.reasons} <= (
        CURRENCY_ONLY
    ):
        assert with_it.decision == Verdict.BLOCKED, (without.reason_codes, with_it.reason_codes)


# --- §9.1: no result ever removes a recorded act ----------------------------------------------


@pytest.mark.parametrize("protocol", PROTOCOLS)
@PROPERTY_SETTINGS
@given(data=st.data())
def test_no_result_filed_late_removes_a_recorded_act(protocol, data):
    history = data.draw(histories(protocol))
    hour, minute = data.draw(safe_times)
    anc, wbc = data.draw(result_sets(protocol))
    late = BloodCount(
        next_id(history),
        anc,
        local(data.draw(st.integers(-20, 420)), hour, minute),
        wbc,
        recorded_at=filed_after_everything(history),
    )

    without = replay(history)
    with_it = replay(with_reading(history, late))

    # A start (or first supply) that began treatment still began it.
    if without.first_dose_on is not None:
        assert with_it.first_dose_on is not None
        assert with_it.first_dose_on <= without.first_dose_on
    # A recorded interrupt still stands (not the lapse's own mark, which follows the data); a
    # discontinuation is still a discontinuation.
    recorded_interrupt = any(
        e.kind == TreatmentEventKind.INTERRUPT
        and e.effective_date == without.interrupted_by_prescriber_on
        for e in history.treatment_events
    )
    if recorded_interrupt and without.lapsed_on is None:
        assert with_it.interrupted_by_prescriber_on is not None
    if without.treatment_status == TreatmentStatus.DISCONTINUED:
        assert with_it.treatment_status == TreatmentStatus.DISCONTINUED


# --- §9.5: a rechallenge authorization lifts at most one severe episode ---------------------


@pytest.mark.parametrize("gap", [7, 10, 20])
@PROPERTY_SETTINGS
@given(
    severe=st.integers(0, 499),
    recovery=st.integers(1500, 5000),
    second=st.integers(0, 499),
    length=st.integers(20, 30),
)
def test_one_rechallenge_authorization_lifts_one_severe_episode(
    gap, severe, recovery, second, length
):
    rules = get_protocol("us-label-2015")
    first_low = local(100, 9, 0)
    readings = [
        BloodCount(1, 2000, local(0, 8, 0)),
        BloodCount(2, 2000, local(93, 9, 0)),
        BloodCount(3, severe, first_low),
        BloodCount(4, severe, first_low + timedelta(hours=6)),
        BloodCount(5, recovery, local(106, 9, 0)),
    ]
    resume_day = local(107, 12, 0).date()
    auth = AuthorizationRecord(
        1,
        AuthorizationKind.RECHALLENGE,
        resume_day,
        resume_day + timedelta(days=min(length, rules.authorization_max_days)),
        local(107, 10, 0),
    )
    second_low = local(107 + gap, 9, 0)
    readings += [
        BloodCount(6, second, second_low),
        BloodCount(7, second, second_low + timedelta(hours=6)),
        BloodCount(8, recovery, local(107 + gap + 6, 9, 0)),
    ]
    history = replace(
        histories_base(),
        readings=tuple(readings),
        authorizations=(auth,),
        treatment_events=(
            TreatmentEventRecord(TreatmentEventKind.START, local(0, 0, 0).date(), 1),
            TreatmentEventRecord(TreatmentEventKind.RESUME, resume_day, 2),
            TreatmentEventRecord(TreatmentEventKind.RESUME, local(107 + gap + 7, 0, 0).date(), 3),
        ),
    )

    decision = evaluate(history, local(107 + gap + 7, 12, 0), DecisionContext(True, True, 7))

    assert decision.needs_rechallenge is True
    assert decision.decision == Verdict.BLOCKED
    assert "rechallenge_not_authorized" in decision.reason_codes


def histories_base():
    from engine.types import PatientHistory

    return PatientHistory(
        population=Population.GENERAL,
        protocol="us-label-2015",
        zone=ZONE,
        enrollments=(EnrollmentRecord(local(0, 0, 0).date(), 1, protocol="us-label-2015"),),
    )


# --- §9.9: an incomplete set never makes a patient current -------------------------------------


@PROPERTY_SETTINGS
@given(data=st.data(), context=contexts)
def test_an_incomplete_set_never_makes_a_patient_current(data, context):
    history, as_of = data.draw(cases("uk-cpms"))
    when = before(as_of, data.draw(st.integers(0, 400 * 24 * 60)))
    assume(when.hour not in (1, 2))  # never inside a daylight-saving change
    value = data.draw(st.integers(0, 9000))
    alone = (
        BloodCount(next_id(history), value, when, None)
        if data.draw(st.booleans())
        else BloodCount(next_id(history), None, when, value)
    )
    # Not part of a draw already on file (it would complete that draw instead).
    assume(all(utc(r.drawn_at) != utc(when) for r in history.readings))

    without = evaluate(history, as_of, context)
    with_it = evaluate(with_reading(history, alone), as_of, context)

    assert with_it.latest_anc == without.latest_anc
    if without.current_until is not None and with_it.current_until is not None:
        assert with_it.current_until <= without.current_until
    if {Reason.ANC_NOT_CURRENT, Reason.NO_ANC_ON_FILE} & {r.code for r in without.reasons}:
        # Still blocked: for the stale result, or because the incomplete set stopped treatment.
        assert with_it.decision == Verdict.BLOCKED


# --- §10: the emergency supply is never offered when a condition withholds it --------------


def supply_ran_out(history, as_of):
    """When the dispenses on record (an upper bound of what the engine counts) ran out."""
    ends = [
        local_date(d.dispensed_at, ZONE) + timedelta(days=d.days_supply)
        for d in history.dispenses
        if utc(d.dispensed_at) <= utc(as_of)
    ]
    return utc(start_of_day(max(ends), ZONE)) if ends else None


@pytest.mark.parametrize("protocol", PROTOCOLS)
@PROPERTY_SETTINGS
@given(
    data=st.data(),
    context=contexts,
    used=st.booleans(),
    confirmed=st.sampled_from([None, True, False]),
)
def test_the_emergency_supply_is_never_offered_when_a_condition_withholds_it(
    protocol, data, context, used, confirmed
):
    history, as_of = data.draw(cases(protocol))
    rules = get_protocol(protocol)
    decision = evaluate(history, as_of, context)
    option = emergency_option(
        decision, ZONE, used_since_latest_anc=used, last_dose_confirmed=confirmed
    )
    if not option.available:
        return
    day = local_date(as_of, ZONE)
    codes = {r.code for r in decision.reasons}
    assert rules.emergency_supply_max_days > 0
    assert Reason.ANC_NOT_CURRENT in codes
    assert codes <= {Reason.ANC_NOT_CURRENT, Reason.DAYS_SUPPLY_EXCEEDS_LIMIT}
    assert decision.band == rules.normal_band
    assert decision.confirmation_due is None and not decision.hematology_consult
    assert decision.weekly_until is None or day > decision.weekly_until
    assert decision.current_until is not None
    assert day <= decision.current_until + timedelta(days=rules.emergency_anc_grace_days)
    assert decision.treatment_status == TreatmentStatus.ACTIVE
    assert not used
    ran_out = supply_ran_out(history, as_of)
    if decision.has_dispenses:
        assert ran_out is not None
        assert utc(as_of) - ran_out <= timedelta(hours=rules.emergency_last_dose_hours)
    else:
        assert confirmed is not False
        assert option.needs_last_dose_confirmation == (confirmed is None)
    assert 1 <= option.max_days_supply <= rules.emergency_supply_max_days
