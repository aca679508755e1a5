"""The `uk-cpms` traffic lights, row by row and edge by edge, on the pure engine.

Counts are written as laboratories send them (×10⁹/L) and converted as the services convert them
(1.5 ×10⁹/L = 1500/µL). Unless a test says otherwise, a patient is enrolled and started on START
with a green set drawn that morning, then one set is drawn on day 3 at 09:00 and the decision
made the same day at noon.
"""

from datetime import date
from decimal import Decimal

import pytest

from engine import authorization_refusal, step_down_refusal, treatment_event_refusal
from engine.types import (
    AuthorizationKind,
    Band,
    EnrollmentStatus,
    Frequency,
    Population,
    Reason,
    TreatmentEventKind,
    TreatmentStatus,
    Verdict,
)
from monitoring.units import to_per_ul
from tests.engine.builders import (
    START,
    HistoryBuilder,
    at,
    day,
    decide,
    enrollment_refusal_for,
)

UK = "uk-cpms"
GENERAL = Population.GENERAL
BEN = Population.BEN
WEEKLY = Frequency.WEEKLY
TWICE = Frequency.TWICE_WEEKLY
DAILY = Frequency.DAILY
FORTNIGHTLY = Frequency.EVERY_2_WEEKS
FOUR_WEEKLY = Frequency.EVERY_4_WEEKS


def per_ul(value: str | None) -> int | None:
    """A count in ×10⁹/L as the services read it."""
    return None if value is None else to_per_ul(Decimal(value), "10*9/L")


def uk(population: Population = GENERAL) -> HistoryBuilder:
    return HistoryBuilder(population, protocol=UK)


def uk_started(population: Population = GENERAL, on: date = START) -> HistoryBuilder:
    return uk(population).fbc(2500, 5000, on, hour=8).enroll(on).start(on)


def fbc(history: HistoryBuilder, neutrophils: str | None, wbc: str | None, on: date):
    return history.fbc(per_ul(neutrophils), per_ul(wbc), on)


# --- the table ------------------------------------------------------------------------------

GREEN = (Band.GREEN, WEEKLY, Verdict.ALLOWED, 7, TreatmentStatus.ACTIVE)
AMBER = (Band.AMBER, TWICE, Verdict.ALLOWED, 7, TreatmentStatus.ACTIVE)
RED = (Band.RED, DAILY, Verdict.BLOCKED, 0, TreatmentStatus.INTERRUPTED)

TRAFFIC_LIGHTS = [
    # green: WBC >= 3.5 and neutrophils >= 2.0
    pytest.param("2.0", "3.5", GREEN, id="neutrophils 2.0 WBC 3.5 green"),
    pytest.param("6.1", "9.4", GREEN, id="neutrophils 6.1 WBC 9.4 green"),
    # neutrophil edges with a green WBC
    pytest.param("1.99", "3.5", AMBER, id="neutrophils 1.99 amber"),
    pytest.param("1.5", "3.5", AMBER, id="neutrophils 1.5 amber"),
    pytest.param("1.49", "3.5", RED, id="neutrophils 1.49 red"),
    pytest.param("1.499", "5.0", RED, id="neutrophils 1.499 red, never rounded up"),
    # WBC edges with green neutrophils
    pytest.param("2.0", "3.49", AMBER, id="WBC 3.49 amber"),
    pytest.param("2.0", "3.0", AMBER, id="WBC 3.0 amber"),
    pytest.param("2.0", "2.99", RED, id="WBC 2.99 red"),
    pytest.param("2.0", "2.999", RED, id="WBC 2.999 red, never rounded up"),
    # and/or: either count alone decides the worse colour
    pytest.param("1.5", "3.0", AMBER, id="both at the amber floor amber"),
    pytest.param("1.99", "3.49", AMBER, id="both just under green amber"),
    pytest.param("1.49", "3.49", RED, id="red neutrophils with amber WBC red"),
    pytest.param("1.99", "2.99", RED, id="amber neutrophils with red WBC red"),
    pytest.param("5.0", "2.99", RED, id="high neutrophils with red WBC red"),
    pytest.param("1.49", "9.0", RED, id="high WBC with red neutrophils red"),
]


@pytest.mark.parametrize(("neutrophils", "wbc", "expected"), TRAFFIC_LIGHTS)
def test_the_traffic_light_table_row_by_row(neutrophils, wbc, expected):
    band, frequency, decision, max_days, treatment = expected
    assessment = decide(fbc(uk_started(), neutrophils, wbc, day(3)), day(3))

    assert assessment.protocol == UK
    assert assessment.protocol_version
    assert assessment.band == band
    assert assessment.monitoring_frequency == frequency
    assert assessment.decision == decision
    assert assessment.max_days_supply == max_days
    assert assessment.treatment_status == treatment
    assert assessment.hematology_consult is (band == Band.RED)
    assert assessment.needs_rechallenge is (band == Band.RED)
    assert assessment.latest_anc is not None
    assert assessment.latest_anc.value_per_ul == per_ul(neutrophils)
    assert assessment.latest_anc.wbc_per_ul == per_ul(wbc)


def test_amber_continues_tests_twice_weekly_and_limits_the_supply_to_7_days():
    history = fbc(uk_started(), "1.8", "4.0", day(3))

    assert decide(history, day(3), days_supply=7).decision == Verdict.ALLOWED
    too_long = decide(history, day(3), days_supply=14)
    assert too_long.reason_codes == [Reason.DAYS_SUPPLY_EXCEEDS_LIMIT]
    assert too_long.max_days_supply == 7
    assert too_long.next_draw_due == day(6)  # twice weekly: 3 days after the draw
    assert too_long.current_until == day(7)
    assert decide(history, day(8)).reason_codes == [Reason.ANC_NOT_CURRENT]


def test_red_stops_treatment_and_blocks_supply_with_the_interruption_and_rechallenge_reasons():
    assessment = decide(fbc(uk_started(), "1.2", "3.2", day(3)), day(3))

    assert assessment.reason_codes == [
        Reason.TREATMENT_INTERRUPTED,
        Reason.RECHALLENGE_NOT_AUTHORIZED,
    ]
    assert assessment.next_draw_due == day(4)  # daily
    assert assessment.confirmation_due is None  # no 24-hour confirmation step


def test_a_first_green_is_needed_for_enrollment_and_start():
    amber_only = fbc(uk(), "1.8", "4.0", day(-2))
    refusal = enrollment_refusal_for(amber_only, START)
    assert refusal is not None
    assert refusal.reasons == (Reason.ANC_BELOW_THRESHOLD,)
    assert enrollment_refusal_for(fbc(uk(), "2.0", "3.5", day(-2)), START) is None


# --- incomplete result sets -------------------------------------------------------------------


def test_neutrophils_without_a_wbc_cannot_enroll_a_patient():
    refusal = enrollment_refusal_for(fbc(uk(), "4.0", None, day(-2)), START)
    assert refusal is not None
    assert Reason.ANC_NOT_RECENT in refusal.reasons


def test_a_green_looking_incomplete_set_is_not_read_and_does_not_keep_the_result_current():
    started = uk_started()
    neutrophils_only = fbc(started, "5.0", None, day(6))
    wbc_only = fbc(started, None, "8.0", day(6))

    for history in (neutrophils_only, wbc_only):
        at_six = decide(history, day(6))
        assert at_six.latest_anc is not None
        assert at_six.latest_anc.drawn_at == at(START, 8)  # still the start's set
        assert at_six.band == Band.GREEN
        # The start's set is current through day 7 only; the incomplete one does not extend it.
        assert decide(history, day(8)).reason_codes == [Reason.ANC_NOT_CURRENT]


def test_a_patient_with_only_incomplete_sets_has_no_result_on_file():
    history = fbc(uk(), "4.0", None, day(1))
    assert Reason.NO_ANC_ON_FILE in decide(history, day(1)).reason_codes


@pytest.mark.parametrize(
    ("neutrophils", "wbc", "band"),
    [
        pytest.param("1.49", None, Band.RED, id="neutrophils 1.49 alone red"),
        pytest.param(None, "2.99", Band.RED, id="WBC 2.99 alone red"),
        pytest.param("1.99", None, Band.AMBER, id="neutrophils 1.99 alone amber"),
        pytest.param(None, "3.49", Band.AMBER, id="WBC 3.49 alone amber"),
        pytest.param("2.0", None, Band.GREEN, id="neutrophils 2.0 alone not read"),
        pytest.param(None, "3.5", Band.GREEN, id="WBC 3.5 alone not read"),
    ],
)
def test_an_incomplete_set_can_only_make_things_worse(neutrophils, wbc, band):
    assessment = decide(fbc(uk_started(), neutrophils, wbc, day(3)), day(3))
    assert assessment.band == band  # green: the start's set still speaks


def test_an_incomplete_green_looking_set_does_not_count_toward_the_two_greens_after_red():
    red = fbc(uk_started(), "1.0", "3.2", day(3))
    history = fbc(fbc(red, "2.5", "4.0", day(4)), "3.0", None, day(5))

    assessment = decide(history, day(5))
    assert assessment.band == Band.RED
    assert assessment.monitoring_frequency == DAILY
    # ... nor does it break the run: the next green is the second in a row.
    closed = decide(fbc(history, "2.5", "4.0", day(6)), day(6))
    assert closed.band == Band.GREEN


# --- red: daily until two consecutive greens; non-rechallengeable ------------------------------


def test_red_needs_two_consecutive_greens_and_stays_daily_until_then():
    red = fbc(uk_started(), "1.0", "3.2", day(3))
    one_green = fbc(red, "2.2", "4.0", day(4))

    after_one = decide(one_green, day(4))
    assert after_one.band == Band.RED
    assert after_one.monitoring_frequency == DAILY
    assert after_one.treatment_status == TreatmentStatus.INTERRUPTED
    refusal = treatment_event_refusal(one_green.build(), TreatmentEventKind.RESUME, day(4))
    assert refusal is not None
    assert Reason.ANC_BELOW_THRESHOLD in refusal.reasons

    two_greens = fbc(one_green, "2.4", "4.1", day(5))
    after_two = decide(two_greens, day(5))
    assert after_two.band == Band.GREEN
    assert after_two.hematology_consult is False
    # Back in green, but flagged non-rechallengeable: nothing is due and nothing may be supplied.
    assert after_two.needs_rechallenge is True
    assert after_two.monitoring_frequency is None
    assert after_two.reason_codes == [
        Reason.TREATMENT_INTERRUPTED,
        Reason.RECHALLENGE_NOT_AUTHORIZED,
    ]


def test_an_amber_between_two_greens_restarts_the_count_after_red():
    red = fbc(uk_started(), "1.0", "3.2", day(3))
    history = fbc(fbc(fbc(red, "2.2", "4.0", day(4)), "1.8", "4.0", day(5)), "2.2", "4.0", day(6))

    assert decide(history, day(6)).band == Band.RED
    assert decide(fbc(history, "2.3", "4.0", day(7)), day(7)).band == Band.GREEN


def test_a_haematologist_agreement_and_a_resume_restart_the_patient_weekly_as_new():
    red = fbc(uk_started(), "1.0", "3.2", day(3))
    recovered = fbc(fbc(red, "2.2", "4.0", day(4)), "2.4", "4.1", day(5))
    refusal = treatment_event_refusal(recovered.build(), TreatmentEventKind.RESUME, day(5))
    assert refusal is not None
    assert refusal.reasons == (Reason.RECHALLENGE_NOT_AUTHORIZED,)

    agreed = recovered.rechallenge(day(5), day(20))
    assert treatment_event_refusal(agreed.build(), TreatmentEventKind.RESUME, day(6)) is None
    resumed = agreed.resume(day(6))
    assessment = decide(resumed, day(6))
    assert assessment.treatment_status == TreatmentStatus.ACTIVE
    assert assessment.clock_started_on == day(6)
    assert assessment.monitoring_frequency == WEEKLY
    assert assessment.decision == Verdict.ALLOWED
    assert assessment.max_days_supply == 7


def test_there_is_no_continuation_authorization_under_uk_cpms():
    red = fbc(uk_started(), "1.0", "3.2", day(3))
    refusal = authorization_refusal(
        red.build(), AuthorizationKind.CONTINUATION, day(3), at(day(3), 12)
    )
    assert refusal is not None
    assert refusal.kind == "rules"


def test_amber_ends_with_one_green_and_the_patient_returns_to_its_interval():
    amber = fbc(uk_started(), "1.7", "3.8", day(3))
    back = decide(fbc(amber, "2.1", "3.6", day(6)), day(6))

    assert back.band == Band.GREEN
    assert back.monitoring_frequency == WEEKLY
    assert back.decision == Verdict.ALLOWED


# --- the schedule: weekly to week 18, every 2 weeks to week 52, then every 4 weeks -------------


def weekly_greens(until: int) -> HistoryBuilder:
    history = uk_started()
    for offset in range(7, until + 1, 7):
        history = history.fbc(2500, 5000, day(offset))
    return history


def test_week_18_boundary_offers_every_2_weeks_and_waits_for_the_prescriber():
    history = weekly_greens(126)

    at_125 = decide(history, day(125))
    assert at_125.monitoring_frequency == WEEKLY
    assert at_125.step_down_offered is None

    at_126 = decide(history, day(126))  # week 19 begins: day 126 = 18 weeks
    assert at_126.monitoring_frequency == WEEKLY  # not yet confirmed
    assert at_126.step_down_offered == FORTNIGHTLY
    assert at_126.max_days_supply == 7


def test_a_confirmed_step_down_moves_to_every_2_weeks_with_a_14_day_supply():
    confirmed = weekly_greens(126).step_down(FORTNIGHTLY, day(126))

    assessment = decide(confirmed, day(126))
    assert assessment.monitoring_frequency == FORTNIGHTLY
    assert assessment.step_down_offered is None
    assert assessment.max_days_supply == 14
    assert assessment.next_draw_due == day(140)


def test_a_step_down_before_it_is_offered_is_refused_and_ignored():
    early = weekly_greens(126).step_down(FORTNIGHTLY, day(125))

    refusal = step_down_refusal(early.build(), FORTNIGHTLY, day(125))
    assert refusal is not None
    assert decide(early, day(126)).monitoring_frequency == WEEKLY
    assert step_down_refusal(early.build(), FORTNIGHTLY, day(126)) is None


def test_week_52_boundary_offers_every_4_weeks_and_a_confirmation_gives_28_days():
    history = weekly_greens(126).step_down(FORTNIGHTLY, day(126))
    for offset in range(140, 365, 14):
        history = history.fbc(2500, 5000, day(offset))
    history = history.fbc(2500, 5000, day(364))

    at_363 = decide(history, day(363))
    assert at_363.monitoring_frequency == FORTNIGHTLY
    assert at_363.step_down_offered is None
    at_364 = decide(history, day(364))  # day 364 = 52 weeks
    assert at_364.monitoring_frequency == FORTNIGHTLY
    assert at_364.step_down_offered == FOUR_WEEKLY
    assert at_364.max_days_supply == 14

    confirmed = decide(history.step_down(FOUR_WEEKLY, day(364)), day(364))
    assert confirmed.monitoring_frequency == FOUR_WEEKLY
    assert confirmed.max_days_supply == 28
    assert confirmed.current_until == day(364 + 28)


def test_amber_on_a_longer_interval_tests_twice_weekly_then_returns_to_the_confirmed_interval():
    history = weekly_greens(126).step_down(FORTNIGHTLY, day(126)).fbc(2500, 5000, day(140))
    amber = fbc(history, "1.9", "4.0", day(150))
    assert decide(amber, day(150)).monitoring_frequency == TWICE
    back = decide(fbc(amber, "2.2", "4.0", day(153)), day(153))
    assert back.monitoring_frequency == FORTNIGHTLY


def test_a_restarted_clock_needs_its_step_downs_confirmed_again():
    history = weekly_greens(126).step_down(FORTNIGHTLY, day(126)).fbc(2500, 5000, day(140))
    red = fbc(history, "1.0", "3.0", day(150))
    back = fbc(fbc(red, "2.2", "4.0", day(151)), "2.2", "4.0", day(152))
    resumed = back.rechallenge(day(152), day(170)).resume(day(153))

    assessment = decide(resumed, day(153))
    assert assessment.clock_started_on == day(153)
    assert assessment.monitoring_frequency == WEEKLY
    assert assessment.step_down_offered is None


# --- the 30-day lapse is a protocol setting, 30 days here too ---------------------------------


def test_an_interruption_of_30_days_needs_re_enrollment_and_29_does_not():
    history = uk_started().interrupt(day(10))

    assert decide(history, day(39)).enrollment_status == EnrollmentStatus.ENROLLED
    assert decide(history, day(40)).enrollment_status == EnrollmentStatus.REENROLLMENT_REQUIRED


# --- BEN: per-patient limits agreed with a haematologist --------------------------------------

BEN_LIMITS = {
    "wbc_green_per_ul": 3000,
    "wbc_red_per_ul": 2500,
    "neutrophils_green_per_ul": 1200,
    "neutrophils_red_per_ul": 800,
}


def ben_started() -> HistoryBuilder:
    return uk(BEN).limits(day(-10), **BEN_LIMITS).fbc(1300, 3100, START, hour=8).enroll(START)


@pytest.mark.parametrize(
    ("neutrophils", "wbc", "band"),
    [
        pytest.param("1.2", "3.0", Band.GREEN, id="BEN 1.2 and 3.0 green on the agreed limits"),
        pytest.param("1.19", "3.0", Band.AMBER, id="BEN neutrophils 1.19 amber"),
        pytest.param("1.2", "2.99", Band.AMBER, id="BEN WBC 2.99 amber"),
        pytest.param("0.8", "2.5", Band.AMBER, id="BEN at the agreed red limits amber"),
        pytest.param("0.79", "3.0", Band.RED, id="BEN neutrophils 0.79 red"),
        pytest.param("1.2", "2.49", Band.RED, id="BEN WBC 2.49 red"),
    ],
)
def test_a_ben_patient_is_banded_by_the_limits_a_haematologist_agreed(neutrophils, wbc, band):
    history = fbc(ben_started().start(START), neutrophils, wbc, day(3))

    assessment = decide(history, day(3))
    assert assessment.band == band
    assert dict(assessment.limits or ()) == BEN_LIMITS


def test_agreed_limits_let_a_ben_patient_enroll_who_would_be_amber_on_the_standard_ones():
    assert enrollment_refusal_for(ben_started(), START) is not None  # already enrolled
    without = uk(BEN).fbc(1300, 3100, START, hour=8)
    refusal = enrollment_refusal_for(without, START)
    assert refusal is not None
    assert refusal.reasons == (Reason.ANC_BELOW_THRESHOLD,)
    with_limits = uk(BEN).limits(day(-10), **BEN_LIMITS).fbc(1300, 3100, START, hour=8)
    assert enrollment_refusal_for(with_limits, START) is None


def test_agreed_limits_apply_from_their_date_and_never_to_a_general_population_patient():
    before = uk(BEN).limits(day(5), **BEN_LIMITS).fbc(2500, 5000, START, hour=8)
    history = fbc(before.enroll(START).start(START), "1.6", "3.2", day(3))
    assert decide(history, day(3)).band == Band.AMBER  # drawn before the agreement

    general = uk(GENERAL).limits(day(-10), **BEN_LIMITS).fbc(2500, 5000, START, hour=8)
    general_history = fbc(general.enroll(START).start(START), "1.6", "3.2", day(3))
    assert decide(general_history, day(3)).band == Band.AMBER


def test_agreed_limits_never_raise_a_standard_limit():
    higher = dict(BEN_LIMITS, neutrophils_green_per_ul=2500)
    history = uk(BEN).limits(day(-10), **higher).fbc(2100, 4000, START, hour=8)
    history = fbc(history.enroll(START).start(START), "2.1", "4.0", day(3))
    assert decide(history, day(3)).band == Band.GREEN


def test_a_haematologist_agreement_is_refused_before_any_red_result_in_the_protocols_words():
    refusal = authorization_refusal(
        uk_started().build(), AuthorizationKind.RECHALLENGE, day(3), at(day(3), 12)
    )
    assert refusal is not None
    assert "red result" in refusal.message
