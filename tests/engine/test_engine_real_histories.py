"""docs/rules.md §9: real histories - late, simultaneous, partial and switched data - row by row.

Each test names the rule it pins. The patient of most scenarios is on the monthly routine
(started on START, so from day 366 on); LOW_DAY is day 420. `recorded=` says when a result was
filed, where that matters.
"""

from datetime import timedelta

import pytest

from engine import replay, treatment_event_refusal
from engine.core import enrollment_refusal
from engine.types import (
    Band,
    EnrollmentStatus,
    Frequency,
    Population,
    Reason,
    TreatmentEventKind,
    TreatmentStatus,
    Verdict,
    WarningCode,
)
from tests.engine.builders import (
    START,
    HistoryBuilder,
    at,
    day,
    decide,
    general,
    monthly_patient,
    started_patient,
)

LOW_DAY = day(420)


def plus(offset, base=LOW_DAY):
    return day(offset, base)


def warning_codes(assessment):
    return [w.code for w in assessment.warnings]


def conflict_codes(assessment):
    return [c.code for c in assessment.review_needed]


# --- §9.1 a clinician's act stands -------------------------------------------------------------


def late_mild_on_the_start_day():
    """Started on START on a 2000 from two days before; a 1200 drawn at 07:00 on the start day
    is filed a week later."""
    return (
        general()
        .anc(2000, day(-2))
        .enroll(START)
        .start(START)
        .anc(1200, at(START, 7), recorded=at(day(7), 10))
    )


def test_a_late_result_drawn_on_the_start_day_never_drops_the_start():
    history = late_mild_on_the_start_day()

    snapshot = replay(history.build())

    assert snapshot.clock_started_on == START
    assert snapshot.first_dose_on == START
    assert snapshot.treatment_status == TreatmentStatus.ACTIVE


def test_a_prescribers_interrupt_after_a_late_result_still_blocks_the_supply():
    # The case found from outside: the start was dropped, then the interrupt ignored, and 7
    # days went out to a patient the prescriber had stopped ("suspected myocarditis").
    history = late_mild_on_the_start_day().anc(1600, day(3)).interrupt(day(10))

    assessment = decide(history, day(12), days_supply=7)

    assert assessment.decision == Verdict.BLOCKED
    assert "treatment_interrupted" in assessment.reason_codes
    assert assessment.treatment_status == TreatmentStatus.INTERRUPTED


def test_a_late_moderate_result_from_before_the_start_interrupts_and_needs_a_resume():
    history = (
        general()
        .anc(2000, day(-3))
        .enroll(START)
        .start(START)
        .anc(800, at(day(-1), 9), recorded=at(day(2), 9))
        .anc(1600, day(7))
    )

    assessment = decide(history, day(8), days_supply=7)

    assert assessment.treatment_status == TreatmentStatus.INTERRUPTED
    assert "treatment_interrupted" in assessment.reason_codes
    # The enrollment and the start both stand; both would have been refused on the late 800.
    assert conflict_codes(assessment) == [
        "enrollment_conflicts_with_results",
        "start_conflicts_with_results",
    ]
    assert WarningCode.REVIEW_NEEDED in warning_codes(assessment)
    # The clock started with the recorded start, and a resume lifts the interruption.
    resumed = decide(history.resume(day(8)), day(8), days_supply=7)
    assert resumed.clock_started_on == START
    assert resumed.decision == Verdict.ALLOWED


def test_a_prescribers_interruption_is_lifted_only_by_a_resume_never_by_a_result():
    # Interrupted by a moderate result, then by the prescriber; a normal repeat within 24 hours
    # leaves the low result unconfirmed, but the prescriber's interruption stands.
    history = (
        monthly_patient()
        .anc(2000, plus(-14))
        .anc(800, at(LOW_DAY, 9))
        .interrupt(LOW_DAY)
        .anc(1800, at(plus(1), 8))
    )

    assessment = decide(history, plus(1))

    assert assessment.treatment_status == TreatmentStatus.INTERRUPTED
    assert "treatment_interrupted" in assessment.reason_codes


def test_a_resume_never_lifts_an_interruption_caused_by_a_result_it_did_not_see():
    # Moderate, recovered to 1100, resumed; a 700 drawn the morning of the resume is filed
    # afterwards. The resume stands on record, the patient stays interrupted, and the prescriber
    # is asked to review it (docs/rules.md R2).
    history = (
        monthly_patient()
        .anc(2000, plus(-14))
        .anc(800, at(LOW_DAY, 9))
        .anc(800, at(LOW_DAY, 15))
        .anc(1100, plus(2))
        .resume(plus(3))
        .anc(700, at(plus(3), 8), recorded=at(plus(3), 16))
    )

    assessment = decide(history, plus(3))

    assert assessment.treatment_status == TreatmentStatus.INTERRUPTED
    assert "treatment_interrupted" in assessment.reason_codes
    assert conflict_codes(assessment) == ["resume_conflicts_with_results"]


def test_a_review_acknowledgement_clears_exactly_the_conflicts_it_saw():
    history = (
        general()
        .anc(2000, day(-3))
        .enroll(START)
        .start(START)
        .anc(800, at(day(-1), 9), recorded=at(day(2), 9))
    )
    seen = decide(history, day(3)).review_needed
    reviewed = history.reviewed(tuple(c.key for c in seen), at(day(3), 13))

    assert decide(reviewed, day(4)).review_needed == ()
    assert WarningCode.REVIEW_NEEDED not in warning_codes(decide(reviewed, day(4)))
    # The interruption itself is not lifted by a review.
    assert decide(reviewed, day(4)).treatment_status == TreatmentStatus.INTERRUPTED


# --- §9.2 a mild result on or after the start day is "continue" ---------------------------------


@pytest.mark.parametrize("filed_after_the_start", [True, False])
def test_a_mild_result_on_the_start_day_means_continue_whatever_order_it_was_filed_in(
    filed_after_the_start,
):
    recorded = at(day(1), 9) if filed_after_the_start else None
    history = (
        general()
        .anc(2000, day(-2))
        .enroll(START)
        .start(START)
        .anc(1200, at(START, 15), recorded=recorded)
    )

    assessment = decide(history, day(1), days_supply=7)

    assert assessment.treatment_status == TreatmentStatus.ACTIVE
    assert assessment.band == Band.MILD
    assert assessment.monitoring_frequency == Frequency.THREE_TIMES_WEEKLY
    assert assessment.decision == Verdict.ALLOWED
    assert assessment.review_needed == ()


def test_a_start_not_yet_recorded_is_gated_by_a_mild_latest_anc():
    history = general().anc(2000, day(-10)).enroll(START).anc(1200, day(-1))

    refusal = treatment_event_refusal(history.build(), TreatmentEventKind.START, START)

    assert refusal is not None and Reason.ANC_BELOW_THRESHOLD in refusal.reasons


# --- §9.3 one draw, one verdict ---------------------------------------------------------------


@pytest.mark.parametrize("normal_first", [True, False])
@pytest.mark.parametrize("low", [800, 300])
def test_a_normal_value_of_the_same_draw_never_refutes_a_low_one(normal_first, low):
    base = monthly_patient().anc(2000, plus(-14))
    values = [2000, low] if normal_first else [low, 2000]
    history = base
    for value in values:
        history = history.anc(value, at(LOW_DAY, 9))

    assessment = decide(history, at(LOW_DAY, 12), days_supply=7)

    assert assessment.band == (Band.MODERATE if low == 800 else Band.SEVERE)
    assert assessment.treatment_status == TreatmentStatus.INTERRUPTED
    assert assessment.decision == Verdict.BLOCKED
    assert assessment.latest_anc is not None and assessment.latest_anc.value_per_ul == low


def test_results_with_one_accession_are_one_draw_even_when_stamped_apart():
    history = (
        monthly_patient()
        .anc(2000, plus(-14))
        .anc(300, at(LOW_DAY, 9), accession="ACC-1", lab="L")
        .anc(2000, at(LOW_DAY, 11), accession="ACC-1", lab="L")
    )

    assessment = decide(history, at(LOW_DAY, 12))

    # One specimen: the 2000 is not a repeat that refutes the 300.
    assert assessment.band == Band.SEVERE
    assert assessment.confirmation_due is not None


# --- §9.4 a confirming repeat is a later draw ---------------------------------------------------


def test_a_first_low_result_whose_repeat_is_48_hours_overdue_warns_every_decision():
    history = monthly_patient().anc(2000, plus(-14)).anc(1200, at(LOW_DAY, 9))

    just_before = decide(history, at(LOW_DAY, 9) + timedelta(hours=24 + 47))
    after = decide(history, at(LOW_DAY, 9) + timedelta(hours=24 + 49), days_supply=7)

    assert WarningCode.CONFIRMATION_OVERDUE not in warning_codes(just_before)
    assert WarningCode.CONFIRMATION_OVERDUE in warning_codes(after)
    # Information, not a block, for a mild result.
    assert after.decision == Verdict.ALLOWED


def test_the_consult_of_an_unconfirmed_severe_episode_stays_flagged_until_acknowledged():
    opened = at(LOW_DAY, 9)
    history = monthly_patient().anc(2000, plus(-14)).anc(300, opened).anc(1800, at(plus(1), 8))

    assert decide(history, plus(2)).hematology_consult is True
    acknowledged = history.consult_acknowledged(opened, at(plus(2), 10))
    assert decide(acknowledged, plus(2)).hematology_consult is False


# --- §9.5 authorizations have a scope ----------------------------------------------------------


def moderate_with_continuation():
    """Moderate 800 on LOW_DAY (confirmed at 15:00), a continuation written at 16:00."""
    return (
        monthly_patient()
        .anc(2000, plus(-14))
        .anc(800, at(LOW_DAY, 9))
        .anc(800, at(LOW_DAY, 15))
        .continuation(LOW_DAY, plus(30), recorded_at=at(LOW_DAY, 16))
    )


def test_a_continuation_allows_the_episode_it_was_written_for():
    assessment = decide(moderate_with_continuation(), plus(1), days_supply=7)

    assert assessment.decision == Verdict.ALLOWED
    assert assessment.max_days_supply == 7


def test_a_continuation_written_at_800_does_not_cover_a_new_severe_episode_two_weeks_later():
    history = (
        moderate_with_continuation()
        .anc(1600, plus(3))  # recovered: the episode closed
        .anc(250, at(plus(14), 9))
        .anc(250, at(plus(14), 15))
    )

    assessment = decide(history, plus(15), days_supply=7)

    assert assessment.band == Band.SEVERE
    assert assessment.decision == Verdict.BLOCKED
    assert "treatment_interrupted" in assessment.reason_codes
    assert "rechallenge_not_authorized" in assessment.reason_codes
    assert assessment.applying == ()


def test_a_continuation_does_not_cover_a_worse_band_of_its_own_episode_filed_after_it():
    history = moderate_with_continuation().anc(300, at(plus(1), 9))

    assessment = decide(history, plus(1), days_supply=7)

    assert assessment.decision == Verdict.BLOCKED
    assert "treatment_interrupted" in assessment.reason_codes


def test_a_worse_result_drawn_before_a_continuation_but_filed_after_it_is_not_covered():
    # docs/rules.md R1: the authorization answers what was on record when it was written.
    history = (
        monthly_patient()
        .anc(2000, plus(-14))
        .anc(800, at(LOW_DAY, 9))
        .anc(300, at(LOW_DAY, 14), recorded=at(LOW_DAY, 18))
        .continuation(LOW_DAY, plus(30), recorded_at=at(LOW_DAY, 16))
    )

    assert decide(history, plus(1), days_supply=7).decision == Verdict.BLOCKED
    # Known before it was written, the same severe result is covered.
    known = (
        monthly_patient()
        .anc(2000, plus(-14))
        .anc(800, at(LOW_DAY, 9))
        .anc(300, at(LOW_DAY, 14), recorded=at(LOW_DAY, 14))
        .continuation(LOW_DAY, plus(30), recorded_at=at(LOW_DAY, 16))
    )
    assert decide(known, plus(1), days_supply=7).decision == Verdict.ALLOWED


def severe_then_rechallenged():
    """Severe on LOW_DAY, recovered by +6, a rechallenge on +7 and a resume the same day."""
    return (
        monthly_patient()
        .anc(2000, plus(-14))
        .anc(300, at(LOW_DAY, 9))
        .anc(300, at(LOW_DAY, 15))
        .anc(1600, plus(6))
        .rechallenge(plus(7), plus(30))
        .resume(plus(7))
    )


def test_a_rechallenge_authorization_is_used_by_the_first_resume():
    assessment = decide(severe_then_rechallenged(), plus(7), days_supply=7)

    assert assessment.decision == Verdict.ALLOWED
    assert assessment.clock_started_on == plus(7)


def test_a_rechallenge_authorization_cannot_lift_a_second_severe_episode():
    history = (
        severe_then_rechallenged()
        .anc(250, at(plus(14), 9))
        .anc(250, at(plus(14), 15))
        .anc(1600, plus(20))
        .resume(plus(21))  # recorded despite the rules: it stands, but lifts nothing
    )

    assessment = decide(history, plus(21), days_supply=7)

    assert assessment.needs_rechallenge is True
    assert assessment.decision == Verdict.BLOCKED
    assert "rechallenge_not_authorized" in assessment.reason_codes
    assert treatment_event_refusal(history.build(), TreatmentEventKind.RESUME, plus(22)) is not None


def test_a_continuation_does_not_pause_the_lapse_while_the_prescribers_interruption_stands():
    # Moderate, a continuation, then the prescriber's own interruption: 44 days later the
    # patient has lapsed (it was "still enrolled, 28 days on the old monthly clock").
    history = moderate_with_continuation().interrupt(plus(1)).anc(1600, plus(5))

    assessment = decide(history, plus(44), days_supply=28)

    assert assessment.enrollment_status == EnrollmentStatus.REENROLLMENT_REQUIRED
    assert assessment.decision == Verdict.BLOCKED
    assert "patient_not_enrolled" in assessment.reason_codes


def test_a_continuation_counts_as_on_treatment_only_while_its_count_is_current():
    # The 800 of LOW_DAY is current for 2 days at the daily frequency: from then on the
    # continuation allows no supply, so the count runs from LOW_DAY + 3 and lapses on + 33
    # (it was: 44 days off clozapine and still enrolled).
    history = moderate_with_continuation()

    assert decide(history, plus(32)).enrollment_status == EnrollmentStatus.ENROLLED
    assert decide(history, plus(33)).enrollment_status == EnrollmentStatus.REENROLLMENT_REQUIRED


def test_a_continuation_counts_as_on_treatment_only_until_it_expires():
    history = moderate_with_continuation()
    for offset in range(1, 31):  # daily moderate counts: it could allow a supply every day
        history = history.anc(850, plus(offset))

    assert decide(history, plus(30)).enrollment_status == EnrollmentStatus.ENROLLED
    # Expired on +30: the count runs again from +31 and lapses on +61.
    assert decide(history, plus(60)).enrollment_status == EnrollmentStatus.ENROLLED
    assert decide(history, plus(61)).enrollment_status == EnrollmentStatus.REENROLLMENT_REQUIRED


# --- §9.6 a result counts from when the system holds it ------------------------------------


def test_a_result_drawn_a_few_minutes_in_the_future_counts_from_when_it_was_stored():
    stored_at = at(LOW_DAY, 10)
    history = (
        monthly_patient()
        .anc(2000, plus(-14))
        .anc(300, stored_at + timedelta(minutes=4), recorded=stored_at)
    )

    assessment = decide(history, stored_at + timedelta(minutes=1), days_supply=7)

    assert assessment.band == Band.SEVERE
    assert assessment.decision == Verdict.BLOCKED


# --- §9.7 exposure comes first ------------------------------------------------------------------


def test_a_severe_count_from_before_any_clozapine_only_gates_the_start():
    history = general().anc(400, day(-20)).anc(2000, day(-2)).enroll(START)

    assert treatment_event_refusal(history.build(), TreatmentEventKind.START, START) is None
    started = history.start(START)
    assessment = decide(started, day(1), days_supply=7)
    assert assessment.needs_rechallenge is False
    assert assessment.decision == Verdict.ALLOWED


def test_a_low_count_before_any_clozapine_opens_no_episode_but_refuses_the_start():
    history = general().anc(2000, day(-20)).enroll(day(-10)).anc(700, day(-2))

    assessment = decide(history, day(-1))

    assert assessment.confirmation_due is None
    assert assessment.hematology_consult is False
    assert "anc_below_threshold" in assessment.reason_codes


# --- §9.8 the BEN baseline ------------------------------------------------------------------------


def ben_with_an_old_low_baseline():
    """600 eighteen months before, then 1100 and 1050 in the weeks before the first dose."""
    return (
        HistoryBuilder(Population.BEN)
        .anc(600, day(-540))
        .anc(1100, day(-14))
        .anc(1050, day(-2))
        .enroll(START)
        .start(START)
    )


def test_the_ben_baseline_is_the_mean_of_the_last_two_pre_dose_results():
    assessment = decide(ben_with_an_old_low_baseline(), day(1))

    assert assessment.baseline_per_ul == pytest.approx(1075)
    assert assessment.baseline_count == 2


def test_a_ben_neutropenia_episode_never_ends_inside_the_ben_neutropenia_range():
    history = (
        HistoryBuilder(Population.BEN)
        .anc(900, day(-14))
        .anc(960, day(-7))
        .anc(1100, day(-2))
        .enroll(START)
        .start(START)
        .anc(700, at(day(10), 9))
        .anc(700, at(day(10), 15))
        .anc(990, day(13))
    )

    assessment = decide(history, day(13))

    assert assessment.band == Band.BEN_NEUTROPENIA
    assert assessment.monitoring_frequency == Frequency.THREE_TIMES_WEEKLY
    assert assessment.hematology_consult is True
    assert decide(history.anc(1000, day(15)), day(15)).band == Band.NORMAL


def test_a_course_that_lapsed_lends_no_baselines_to_the_next():
    history = (
        ben_with_an_old_low_baseline()
        .dispense(START, 7)
        .anc(1200, day(60))  # after the lapse (supply ran out on day 7, lapse on day 37)
    )

    assessment = decide(history, day(61))

    assert assessment.enrollment_status == EnrollmentStatus.REENROLLMENT_REQUIRED
    refusal = enrollment_refusal(history.build(), day(61), prescriber_certified=True)
    assert refusal is not None and Reason.BASELINE_INCOMPLETE in refusal.reasons
    two = history.anc(1150, day(62))
    assert enrollment_refusal(two.build(), day(62), prescriber_certified=True) is None


# --- §9.9 incomplete result sets (uk-cpms) ---------------------------------------------------


def uk_patient():
    """uk-cpms, started on START on a green full blood count."""
    return (
        HistoryBuilder(Population.GENERAL, protocol="uk-cpms")
        .fbc(2500, 5000, at(START, 8))
        .enroll(START)
        .start(START)
    )


def test_one_amber_count_alone_never_makes_the_patient_current():
    # It was: 7 days out 9 days after the last full blood count.
    history = uk_patient().fbc(1800, 5000, day(7)).fbc(1700, None, day(9))

    assessment = decide(history, day(9), days_supply=7)

    assert assessment.band == Band.AMBER
    assert assessment.latest_anc is not None and assessment.latest_anc.drawn_on == day(7)
    assert decide(history, day(12), days_supply=7).reason_codes == ["anc_not_current"]
    assert WarningCode.INCOMPLETE_RESULT in warning_codes(assessment)


def test_one_red_count_alone_stops_treatment():
    history = uk_patient().fbc(None, 2900, day(7))

    assessment = decide(history, day(7))

    assert assessment.band == Band.RED
    assert assessment.treatment_status == TreatmentStatus.INTERRUPTED


def test_an_incomplete_green_looking_set_never_enrolls_and_never_counts_toward_recovery():
    never = HistoryBuilder(Population.GENERAL, protocol="uk-cpms").fbc(2500, None, day(-1))
    refusal = enrollment_refusal(never.build(), START, prescriber_certified=True)
    assert refusal is not None and Reason.ANC_NOT_RECENT in refusal.reasons

    red = uk_patient().fbc(1200, 5000, day(7)).fbc(2500, 5000, day(8)).fbc(2600, None, day(9))
    assert decide(red, day(9)).band == Band.RED  # one green so far; the incomplete one is not
    closed = red.fbc(2600, 5000, day(10))
    assert decide(closed, day(10)).band == Band.GREEN


def test_a_neutrophil_count_and_a_wbc_of_one_accession_a_minute_apart_are_one_set():
    history = (
        uk_patient()
        .fbc(2500, None, at(day(7), 9), accession="A1", lab="L")
        .wbc(5000, at(day(7), 9, 1), accession="A1", lab="L")
    )

    assessment = decide(history, day(7), days_supply=7)

    assert assessment.band == Band.GREEN
    assert assessment.latest_anc is not None and assessment.latest_anc.drawn_on == day(7)
    assert assessment.decision == Verdict.ALLOWED


def test_one_green_draw_sent_twice_is_not_two_consecutive_greens():
    red = uk_patient().fbc(1200, 5000, day(7))
    twice = red.fbc(2500, 5000, day(8), accession="G1", lab="L").fbc(
        2500, 5000, at(day(8), 11), accession="G1", lab="L"
    )

    assert decide(twice, day(8)).band == Band.RED


# --- §9.11 patient facts survive a protocol switch ----------------------------------------------


def test_switching_to_uk_cpms_keeps_old_anc_only_results_as_they_were():
    history = (
        started_patient()
        .anc(800, at(day(40), 9))
        .anc(800, at(day(40), 15))
        .anc(1600, day(45))
        .resume(day(46))
        .discontinue(day(60))
        .fbc(2500, 5000, day(70))
    )

    assert (
        enrollment_refusal(history.build(), day(71), prescriber_certified=True, protocol="uk-cpms")
        is None
    )
    switched = history.enroll(day(71), protocol="uk-cpms").start(day(71))
    assessment = decide(_as_protocol(switched, "uk-cpms"), day(72), days_supply=7)
    assert assessment.protocol == "uk-cpms"
    assert assessment.band == Band.GREEN
    assert assessment.decision == Verdict.ALLOWED


def _as_protocol(builder, protocol):
    from dataclasses import replace

    return replace(builder.build(), protocol=protocol)


def test_switching_back_keeps_a_uk_red_non_rechallengeable_flag():
    history = (
        uk_patient()
        .fbc(2500, 2900, day(10))  # red by the WBC alone: the ANC is normal
        .fbc(2500, 5000, day(11))
        .fbc(2600, 5000, day(12))
        .discontinue(day(20))
        .anc(2400, day(25))
        .enroll(day(26), protocol="us-label-2015")
    )
    us = _as_protocol(history, "us-label-2015")

    assessment = decide(us, day(27))

    assert assessment.needs_rechallenge is True
    refusal = treatment_event_refusal(us, TreatmentEventKind.START, day(27))
    assert refusal is not None and Reason.RECHALLENGE_NOT_AUTHORIZED in refusal.reasons


def test_enrollment_under_uk_cpms_needs_a_complete_result_of_its_own():
    history = started_patient().discontinue(day(30)).anc(2400, day(40))

    refusal = enrollment_refusal(
        history.build(), day(41), prescriber_certified=True, protocol="uk-cpms"
    )

    assert refusal is not None and Reason.ANC_NOT_RECENT in refusal.reasons


# --- §9.13 supply on hand counts the day of dispensing -------------------------------------------


def test_after_a_full_weekly_supply_no_more_today_and_one_day_tomorrow():
    history = started_patient().anc(2000, day(14)).dispense(at(day(14), 10), 7)

    assert decide(history, day(14), days_supply=1).decision == Verdict.BLOCKED
    assert decide(history, day(14)).max_days_supply == 0
    assert decide(history, day(15)).max_days_supply == 1


# --- §9.14 supply from elsewhere ---------------------------------------------------------------


def test_days_supplied_elsewhere_count_as_on_treatment_for_the_lapse():
    history = started_patient().dispense(START, 7).elsewhere(day(7), day(30))

    # Without the stay the patient lapses on day 37; with it, the count starts on day 31.
    assert decide(started_patient().dispense(START, 7), day(37)).enrollment_status == (
        EnrollmentStatus.REENROLLMENT_REQUIRED
    )
    assert decide(history, day(37)).enrollment_status == EnrollmentStatus.ENROLLED
    assert decide(history, day(61)).enrollment_status == EnrollmentStatus.REENROLLMENT_REQUIRED


def test_days_supplied_elsewhere_never_make_a_result_current():
    history = started_patient().dispense(START, 7).elsewhere(day(7), day(20))

    assert "anc_not_current" in decide(history, day(21)).reason_codes


# --- found by the outside clinical tester (tests/outside/scenarios.py N82, N83, N77, N88, N11) ---


@pytest.mark.parametrize(("low", "second"), [(400, 450), (800, 750)])
def test_a_later_low_result_within_24_hours_confirms_an_episode_a_normal_repeat_refuted(
    low, second
):
    # docs/rules.md §1: low, normal, low within 24 hours of the first: the episode is confirmed.
    first = at(LOW_DAY, 8)
    history = (
        monthly_patient()
        .anc(2000, plus(-14))
        .anc(low, first)
        .anc(2000, at(LOW_DAY, 14))
        .anc(second, at(LOW_DAY, 22))
        .anc(2100, at(plus(1), 9))
        .anc(1600, at(plus(2), 9))
        .resume(plus(2))
    )

    assessment = decide(history, plus(2), days_supply=7)

    if low < 500:
        assert assessment.needs_rechallenge is True
        assert "rechallenge_not_authorized" in assessment.reason_codes
    else:
        # confirmed moderate: resumed at >= 1000, then weekly for four weeks
        assert assessment.decision == Verdict.ALLOWED
        assert assessment.monitoring_frequency == Frequency.WEEKLY
    # Confirmed at 22:00: no repeat is waited for any more.
    assert decide(history, at(LOW_DAY, 23)).confirmation_due is None


def test_a_patient_recovered_from_severe_under_a_continuation_is_not_supplied_until_rechallenged():
    history = (
        monthly_patient()
        .anc(2000, plus(-14))
        .anc(300, at(LOW_DAY, 8))
        .anc(320, at(plus(1), 7))
        .continuation(plus(1), plus(25), recorded_at=at(plus(1), 10))
        .anc(700, plus(2))
    )
    assert decide(history, plus(2), days_supply=7).decision == Verdict.ALLOWED

    recovered = history.anc(1600, plus(7))
    assessment = decide(recovered, plus(7), days_supply=7)

    assert assessment.decision == Verdict.BLOCKED
    assert assessment.monitoring_frequency is None
    assert "rechallenge_not_authorized" in assessment.reason_codes


def test_a_rechallenge_written_before_a_protocol_switch_does_not_carry_over():
    history = (
        uk_patient()
        .fbc(1000, 2500, day(40))  # red
        .fbc(3000, 6000, day(41))
        .fbc(3000, 6000, day(42))
        .rechallenge(day(42), day(70))
        .discontinue(day(50))
        .anc(2500, day(55))
        .enroll(day(55), protocol="us-label-2015")
    )
    us = _as_protocol(history, "us-label-2015")

    refusal = treatment_event_refusal(us, TreatmentEventKind.START, day(55))

    assert refusal is not None and Reason.RECHALLENGE_NOT_AUTHORIZED in refusal.reasons


def test_a_continuation_never_answers_the_prescribers_own_interruption():
    history = (
        monthly_patient()
        .anc(2000, plus(-14))
        .anc(800, at(LOW_DAY, 8))
        .anc(850, at(plus(1), 7))
        .interrupt(plus(1))
        .continuation(plus(1), plus(15), recorded_at=at(plus(1), 10))
    )

    assessment = decide(history, plus(1), days_supply=7)

    assert assessment.decision == Verdict.BLOCKED
    assert assessment.applying == ()
    (interrupted,) = [r for r in assessment.reasons if r.code == Reason.TREATMENT_INTERRUPTED]
    assert "prescriber" in interrupted.message


def test_a_continuation_back_dated_after_the_count_went_stale_never_undoes_a_lapse():
    history = (
        monthly_patient()
        .anc(2000, plus(-14))
        .anc(800, at(LOW_DAY, 8))
        .anc(850, at(plus(1), 7))
        .continuation(plus(5), plus(34), recorded_at=at(plus(38), 10))
    )

    assert decide(history, plus(38)).enrollment_status == EnrollmentStatus.REENROLLMENT_REQUIRED
