"""docs/rules.md §10: the pharmacist's emergency supply, condition by condition.

The base case is a weekly patient (started on START) whose last ANC, 2000 on day 21, went stale
on day 29, supplied 7 days on day 21 (the supply ran out at the start of day 28). Each test
breaks one condition and checks that the option names it.
"""

from datetime import timedelta

import pytest

from engine.emergency import emergency_option
from engine.types import Reason
from tests.engine.builders import ZONE, HistoryBuilder, at, day, decide, started_patient

LAST_ANC = day(21)


def stale(history=None):
    base = history or started_patient().anc(2000, day(14)).dispense(day(14), 7)
    return base.anc(2000, LAST_ANC).dispense(at(LAST_ANC, 10), 7)


def option(history, when, *, used=False, confirmed=None):
    decision = decide(history, when)
    return emergency_option(
        decision, ZONE, used_since_latest_anc=used, last_dose_confirmed=confirmed
    )


def test_it_is_offered_when_only_the_lab_is_late():
    offered = option(stale(), at(day(29), 12))

    assert offered.available
    assert offered.max_days_supply == 4
    assert not offered.needs_last_dose_confirmation


def test_not_when_the_decision_is_allowed():
    assert option(stale(), at(day(27), 12)).refusals == (Reason.EMERGENCY_SUPPLY_NOT_NEEDED,)


def test_not_when_anything_but_the_stale_anc_blocks():
    interrupted = stale().interrupt(day(28))

    refused = option(interrupted, at(day(29), 12))

    assert not refused.available
    assert Reason.TREATMENT_INTERRUPTED in refused.refusals


def test_not_when_the_anc_is_more_than_7_days_past_its_window():
    # Window 7 days: current through day 28; offered through day 35, not on day 36. The supply
    # is kept recent by a period supplied elsewhere so that only the ANC's age counts.
    kept = stale().elsewhere(day(28), day(34))

    assert option(kept, at(day(35), 12)).available
    assert Reason.EMERGENCY_SUPPLY_ANC_TOO_OLD in option(kept, at(day(36), 12)).refusals


def test_not_in_the_weekly_step_after_a_moderate_episode():
    history = (
        started_patient()
        .anc(2000, day(5))
        .anc(800, at(day(7), 9))
        .anc(800, at(day(7), 15))
        .anc(1600, day(9))
        .resume(day(9))
        .dispense(at(day(9), 10), 7)
    )

    refused = option(history, at(day(17), 12))

    assert refused.refusals == (Reason.EMERGENCY_SUPPLY_AFTER_EPISODE,)


def test_not_while_a_confirmation_is_pending():
    # A mild first result on day 24, never repeated: three times weekly, stale on day 29.
    history = stale().anc(1200, at(day(24), 8))

    refused = option(history, at(day(29), 12))

    assert not refused.available
    assert Reason.EMERGENCY_SUPPLY_CONFIRMATION_PENDING in refused.refusals


def test_not_while_the_consult_of_an_unconfirmed_severe_episode_is_pending():
    history = stale().anc(300, at(day(22), 9)).anc(2000, at(day(22), 20)).resume(day(23))

    refused = option(history, at(day(30), 12))

    assert Reason.EMERGENCY_SUPPLY_CONSULT_PENDING in refused.refusals


@pytest.mark.parametrize(
    ("hours_after_running_out", "offered"),
    [(47, True), (48, True), (49, False)],
)
def test_not_when_the_supply_ran_out_more_than_48_hours_ago(hours_after_running_out, offered):
    ran_out = at(day(28), 0)
    history = stale()

    result = option(history, ran_out + timedelta(hours=hours_after_running_out))

    assert result.available is offered
    if not offered:
        assert Reason.EMERGENCY_SUPPLY_OFF_CLOZAPINE in result.refusals


@pytest.mark.parametrize(
    ("confirmed", "available", "asks"),
    [(None, True, True), (True, True, False), (False, False, False)],
)
def test_with_no_supply_recorded_here_the_pharmacist_confirms_the_last_dose(
    confirmed, available, asks
):
    history = started_patient().anc(2000, day(14)).anc(2000, LAST_ANC)

    result = option(history, at(day(29), 12), confirmed=confirmed)

    assert result.available is available
    assert result.needs_last_dose_confirmation is asks


def test_not_twice_on_the_same_anc():
    refused = option(stale(), at(day(29), 12), used=True)

    assert refused.refusals == (Reason.EMERGENCY_SUPPLY_ALREADY_USED,)


def test_never_under_uk_cpms():
    uk = (
        HistoryBuilder(protocol="uk-cpms")
        .fbc(2500, 5000, at(day(0), 8))
        .enroll(day(0))
        .start(day(0))
        .fbc(2500, 5000, LAST_ANC)
        .dispense(at(LAST_ANC, 10), 7)
    )

    refused = option(uk, at(day(29), 12))

    assert Reason.EMERGENCY_SUPPLY_NOT_AVAILABLE in refused.refusals
