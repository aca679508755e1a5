"""docs/rules.md §1, §5, §6: severe neutropenia, rechallenge and continuation authorizations.

The patient is on the monthly routine interval; its low results are drawn on LOW_DAY at 09:00
and confirmed at 15:00.
"""

import pytest

from engine import authorization_refusal, treatment_event_refusal
from engine.types import (
    AuthorizationKind,
    Band,
    Frequency,
    Population,
    Reason,
    TreatmentEventKind,
    TreatmentStatus,
    Verdict,
)
from tests.engine.builders import at, day, decide, monthly_patient

LOW_DAY = day(420)


def plus(offset):
    return day(offset, LOW_DAY)


def confirmed(value, population=Population.GENERAL):
    return (
        monthly_patient(population)
        .anc(2000, plus(-14))
        .anc(value, at(LOW_DAY, 9))
        .anc(value, at(LOW_DAY, 15))
    )


def recovered_from_severe():
    """Severe on LOW_DAY, 1200 on +3, 1600 on +6: recovered, not yet rechallenged."""
    return confirmed(300).anc(1200, plus(3)).anc(1600, plus(6))


# --- severe ------------------------------------------------------------------------------------


def test_severe_neutropenia_interrupts_and_needs_a_rechallenge_authorization():
    assessment = decide(confirmed(300), at(LOW_DAY, 16))

    assert assessment.band == Band.SEVERE
    assert assessment.treatment_status == TreatmentStatus.INTERRUPTED
    assert assessment.needs_rechallenge is True
    assert assessment.reason_codes == ["treatment_interrupted", "rechallenge_not_authorized"]
    assert assessment.max_days_supply == 0


def test_a_patient_recovered_from_severe_and_not_rechallenged_has_no_monitoring_frequency():
    assessment = decide(recovered_from_severe(), plus(6))

    assert assessment.band == Band.NORMAL
    assert assessment.monitoring_frequency is None
    assert assessment.next_draw_due is None
    assert assessment.reason_codes == ["treatment_interrupted", "rechallenge_not_authorized"]


def test_a_rechallenge_authorization_and_a_resume_at_1500_restart_the_clock_as_a_new_patient():
    history = recovered_from_severe().rechallenge(plus(7), plus(30)).resume(plus(7))

    assessment = decide(history, plus(7), days_supply=7)

    assert assessment.treatment_status == TreatmentStatus.ACTIVE
    assert assessment.needs_rechallenge is False
    assert assessment.clock_started_on == plus(7)
    assert assessment.monitoring_frequency == Frequency.WEEKLY
    assert assessment.decision == Verdict.ALLOWED
    assert assessment.max_days_supply == 7


def test_a_rechallenged_patient_stays_weekly_long_after_the_authorization_expired():
    history = (
        recovered_from_severe().rechallenge(plus(7), plus(30)).resume(plus(7)).anc(2000, plus(100))
    )

    assessment = decide(history, plus(100))

    assert assessment.clock_started_on == plus(7)
    assert assessment.monitoring_frequency == Frequency.WEEKLY
    assert assessment.decision == Verdict.ALLOWED


@pytest.mark.parametrize(
    ("latest", "authorized", "reasons"),
    [
        pytest.param(1600, True, None, id="1600 and authorized: may resume"),
        pytest.param(1500, True, None, id="1500 and authorized: may resume"),
        pytest.param(
            1400, True, (Reason.ANC_BELOW_THRESHOLD,), id="1400 and authorized: below 1500"
        ),
        pytest.param(
            1600, False, (Reason.RECHALLENGE_NOT_AUTHORIZED,), id="1600, no authorization"
        ),
        pytest.param(
            1400,
            False,
            (Reason.ANC_BELOW_THRESHOLD, Reason.RECHALLENGE_NOT_AUTHORIZED),
            id="1400, no authorization",
        ),
    ],
)
def test_a_resume_after_severe_needs_a_rechallenge_authorization_and_an_anc_of_1500(
    latest, authorized, reasons
):
    history = confirmed(300).anc(1200, plus(3)).anc(latest, plus(6))
    if authorized:
        history = history.rechallenge(plus(6), plus(30))

    refusal = treatment_event_refusal(history.build(), TreatmentEventKind.RESUME, plus(7))

    if reasons is None:
        assert refusal is None
    else:
        assert refusal is not None
        assert refusal.reasons == reasons


def test_a_rechallenge_authorization_alone_does_not_lift_the_interruption():
    history = recovered_from_severe().rechallenge(plus(7), plus(30))

    assessment = decide(history, plus(7))

    assert assessment.treatment_status == TreatmentStatus.INTERRUPTED
    assert assessment.reason_codes == ["treatment_interrupted"]


# --- continuation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("population", "value", "frequency"),
    [
        pytest.param(Population.GENERAL, 800, Frequency.DAILY, id="general moderate, daily"),
        pytest.param(Population.GENERAL, 300, Frequency.DAILY, id="general severe, daily"),
        pytest.param(Population.BEN, 300, Frequency.DAILY, id="ben severe, daily"),
    ],
)
def test_a_continuation_authorization_allows_7_days_to_an_interrupted_patient(
    population, value, frequency
):
    history = confirmed(value, population).continuation(LOW_DAY, plus(10))

    assessment = decide(history, at(LOW_DAY, 16), days_supply=7)

    assert assessment.monitoring_frequency == frequency
    assert assessment.decision == Verdict.ALLOWED
    assert assessment.max_days_supply == 7


@pytest.mark.parametrize(
    ("value", "later"),
    [
        pytest.param(800, 1200, id="moderate recovering at 1200"),
        pytest.param(300, 1200, id="severe recovering at 1200"),
    ],
)
def test_a_continuation_authorization_allows_7_days_at_three_times_weekly(value, later):
    history = confirmed(value).continuation(LOW_DAY, plus(10)).anc(later, plus(2))

    assessment = decide(history, plus(2), days_supply=7)

    assert assessment.monitoring_frequency == Frequency.THREE_TIMES_WEEKLY
    assert assessment.decision == Verdict.ALLOWED
    assert assessment.max_days_supply == 7


def test_a_continuation_authorization_never_allows_more_than_7_days():
    history = confirmed(800).continuation(LOW_DAY, plus(10))

    assessment = decide(history, at(LOW_DAY, 16), days_supply=8)

    assert assessment.reason_codes == ["days_supply_exceeds_limit"]
    assert assessment.max_days_supply == 7


@pytest.mark.parametrize(
    ("value", "on_expiry_day", "day_after_expiry"),
    [
        pytest.param(800, [], ["treatment_interrupted"], id="moderate"),
        pytest.param(300, [], ["treatment_interrupted", "rechallenge_not_authorized"], id="severe"),
    ],
)
def test_after_the_continuation_expires_the_patient_is_blocked_again(
    value, on_expiry_day, day_after_expiry
):
    history = confirmed(value).continuation(LOW_DAY, plus(10)).anc(value, plus(10))

    last_day = decide(history, plus(10))
    next_day = decide(history, plus(11))

    assert last_day.reason_codes == on_expiry_day
    assert next_day.reason_codes == day_after_expiry
    assert next_day.max_days_supply == 0


def test_the_authorization_in_force_is_shown_with_the_decision_and_not_after_it_expired():
    history = confirmed(800).continuation(LOW_DAY, plus(10))

    in_force = decide(history, plus(1))
    expired = decide(history, plus(11))

    assert in_force.authorization is not None
    assert in_force.authorization.kind == AuthorizationKind.CONTINUATION
    assert in_force.authorization.expires_on == plus(10)
    assert expired.authorizations == ()


def test_a_continuation_does_not_lift_an_interruption_the_prescriber_recorded():
    history = (
        monthly_patient().anc(2000, plus(-1)).interrupt(LOW_DAY).continuation(LOW_DAY, plus(10))
    )

    assessment = decide(history, plus(1))

    assert "treatment_interrupted" in assessment.reason_codes


# --- which authorization may be recorded --------------------------------------------------------


@pytest.mark.parametrize(
    ("history", "kind", "refused"),
    [
        pytest.param(
            monthly_patient().anc(2000, plus(-1)),
            AuthorizationKind.CONTINUATION,
            True,
            id="continuation for a normal patient: refused",
        ),
        pytest.param(
            confirmed(1200),
            AuthorizationKind.CONTINUATION,
            True,
            id="continuation for a mild patient: refused",
        ),
        pytest.param(
            confirmed(800),
            AuthorizationKind.CONTINUATION,
            False,
            id="continuation for a moderate patient",
        ),
        pytest.param(
            confirmed(300, Population.BEN),
            AuthorizationKind.CONTINUATION,
            False,
            id="continuation for a ben severe patient",
        ),
        pytest.param(
            confirmed(800),
            AuthorizationKind.RECHALLENGE,
            True,
            id="rechallenge after moderate: refused",
        ),
        pytest.param(
            recovered_from_severe(),
            AuthorizationKind.RECHALLENGE,
            False,
            id="rechallenge after severe",
        ),
    ],
)
def test_an_authorization_may_be_recorded_only_where_the_rules_provide_for_it(
    history, kind, refused
):
    refusal = authorization_refusal(history.build(), kind, plus(7), at(plus(7), 12))

    assert (refusal is not None) is refused
