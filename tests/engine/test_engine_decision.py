"""docs/rules.md §7: the dispensing decision, its reason codes, their order and the supply allowed.

The base case is a general patient started on START with a normal ANC drawn on DRAWN_ON; the
decision is made that day at noon unless a row says otherwise.
"""

import pytest

from engine.types import Band, Frequency, Verdict
from tests.engine.builders import (
    PROTOCOL,
    at,
    ben,
    day,
    decide,
    general,
    monthly_patient,
    started_patient,
)

DRAWN_ON = day(20)

# docs/rules.md §7, in the table's order.
SECTION_7 = [
    "patient_not_enrolled",
    "prescriber_not_certified",
    "pharmacy_not_certified",
    "no_anc_on_file",
    "anc_not_current",
    "baseline_incomplete",
    "treatment_interrupted",
    "treatment_discontinued",
    "rechallenge_not_authorized",
    "days_supply_exceeds_limit",
]


def base():
    return started_patient().anc(2000, DRAWN_ON)


SEVERE_ON = day(420)  # the monthly patient's severe result; it recovers 4 days later
RECOVERED_ON = day(4, SEVERE_ON)


def recovered_from_severe():
    return (
        monthly_patient()
        .anc(2000, day(-14, SEVERE_ON))
        .anc(300, at(SEVERE_ON, 9))
        .anc(300, at(SEVERE_ON, 15))
        .anc(1600, RECOVERED_ON)
    )


def ben_with_one_baseline():
    return ben().anc(1200, DRAWN_ON).enroll(DRAWN_ON).start(DRAWN_ON)


# code, history, decided on, context keywords, whether only this code applies
ONE_REASON_EACH = [
    pytest.param(
        "patient_not_enrolled",
        general().anc(2000, DRAWN_ON),
        DRAWN_ON,
        {},
        True,
        id="patient_not_enrolled: pending",
    ),
    pytest.param(
        "prescriber_not_certified",
        base(),
        DRAWN_ON,
        {"prescriber_certified": False},
        True,
        id="prescriber_not_certified",
    ),
    pytest.param(
        "pharmacy_not_certified",
        base(),
        DRAWN_ON,
        {"pharmacy_certified": False},
        True,
        id="pharmacy_not_certified",
    ),
    pytest.param(
        "no_anc_on_file",
        general().enroll(DRAWN_ON),
        DRAWN_ON,
        {},
        False,
        id="no_anc_on_file: enrolled without any result",
    ),
    pytest.param(
        "anc_not_current",
        base(),
        day(8, DRAWN_ON),
        {},
        True,
        id="anc_not_current: a weekly result 8 days old",
    ),
    pytest.param(
        "baseline_incomplete",
        ben_with_one_baseline(),
        DRAWN_ON,
        {},
        True,
        id="baseline_incomplete: ben with one baseline",
    ),
    pytest.param(
        "treatment_interrupted",
        base().interrupt(DRAWN_ON),
        DRAWN_ON,
        {},
        True,
        id="treatment_interrupted: by the prescriber",
    ),
    pytest.param(
        "treatment_discontinued",
        base().discontinue(DRAWN_ON),
        DRAWN_ON,
        {},
        True,
        id="treatment_discontinued",
    ),
    pytest.param(
        "rechallenge_not_authorized",
        recovered_from_severe(),
        RECOVERED_ON,
        {},
        False,
        id="rechallenge_not_authorized: recovered from severe",
    ),
    pytest.param(
        "days_supply_exceeds_limit",
        base(),
        DRAWN_ON,
        {"days_supply": 8},
        True,
        id="days_supply_exceeds_limit: 8 days for a weekly patient",
    ),
]


@pytest.mark.parametrize(("code", "history", "on", "context", "alone"), ONE_REASON_EACH)
def test_every_section_7_reason_appears_when_its_condition_holds(code, history, on, context, alone):
    assessment = decide(history, on, **context)

    assert assessment.decision == Verdict.BLOCKED
    assert code in assessment.reason_codes
    if alone:
        assert assessment.reason_codes == [code]


@pytest.mark.parametrize(("code", "history", "on", "context", "alone"), ONE_REASON_EACH)
def test_a_blocked_decision_allows_no_supply_unless_only_the_supply_is_too_long(
    code, history, on, context, alone
):
    assessment = decide(history, on, **context)

    if assessment.reason_codes == ["days_supply_exceeds_limit"]:
        assert assessment.max_days_supply == 7
    else:
        assert assessment.max_days_supply == 0


def test_an_unremarkable_patient_is_allowed_the_largest_supply_with_no_reason():
    assessment = decide(base(), DRAWN_ON, days_supply=7)

    assert assessment.decision == Verdict.ALLOWED
    assert assessment.reasons == ()
    assert assessment.max_days_supply == 7


def test_a_decision_without_a_requested_supply_says_the_largest_supply():
    assessment = decide(base(), DRAWN_ON, days_supply=None)

    assert assessment.decision == Verdict.ALLOWED
    assert assessment.max_days_supply == 7


def test_an_unknown_pharmacy_certification_is_not_a_reason_to_block():
    assessment = decide(base(), DRAWN_ON, pharmacy_certified=None)

    assert assessment.decision == Verdict.ALLOWED


def test_a_first_supply_below_the_normal_band_is_refused_before_treatment_starts():
    # Protocol reading 5: treatment may start only in the normal band.
    history = general().anc(1200, at(DRAWN_ON, 8)).anc(1300, at(DRAWN_ON, 9)).enroll(DRAWN_ON)

    assessment = decide(history, DRAWN_ON)

    assert assessment.decision == Verdict.BLOCKED
    assert assessment.reason_codes == ["anc_below_threshold"]


@pytest.mark.parametrize(
    ("history", "on", "context", "codes"),
    [
        pytest.param(
            base().interrupt(day(2, DRAWN_ON)),
            day(10, DRAWN_ON),
            {"prescriber_certified": False, "pharmacy_certified": False, "days_supply": 30},
            [
                "prescriber_not_certified",
                "pharmacy_not_certified",
                "anc_not_current",
                "treatment_interrupted",
                "days_supply_exceeds_limit",
            ],
            id="uncertified, stale, interrupted and too long",
        ),
        pytest.param(
            general(),
            DRAWN_ON,
            {"prescriber_certified": False},
            ["patient_not_enrolled", "prescriber_not_certified", "no_anc_on_file"],
            id="pending, uncertified prescriber, no result",
        ),
        pytest.param(
            ben().anc(1200, DRAWN_ON),
            DRAWN_ON,
            {"pharmacy_certified": False},
            ["patient_not_enrolled", "pharmacy_not_certified", "baseline_incomplete"],
            id="pending ben patient with one baseline at an uncertified pharmacy",
        ),
        pytest.param(
            base().interrupt(day(2, DRAWN_ON)),
            day(32, DRAWN_ON),
            {},
            ["patient_not_enrolled", "treatment_interrupted"],
            id="lapsed after 30 days of interruption",
        ),
    ],
)
def test_every_reason_that_applies_is_given_at_once_in_the_tables_order(
    history, on, context, codes
):
    assessment = decide(history, on, **context)

    assert assessment.decision == Verdict.BLOCKED
    assert assessment.reason_codes == codes
    assert assessment.max_days_supply == 0


@pytest.mark.parametrize(("code", "history", "on", "context", "alone"), ONE_REASON_EACH)
def test_reasons_always_come_in_the_order_of_the_section_7_table(code, history, on, context, alone):
    codes = decide(history, on, **context).reason_codes
    table_codes = [c for c in codes if c in SECTION_7]

    assert table_codes == sorted(table_codes, key=SECTION_7.index)
    assert codes[: len(table_codes)] == table_codes


def test_every_reason_has_a_message():
    assessment = decide(base().interrupt(DRAWN_ON), day(10, DRAWN_ON), prescriber_certified=False)

    assert all(item.message for item in assessment.reasons)


def test_the_decision_returns_the_monitoring_picture_with_it():
    assessment = decide(base(), DRAWN_ON)

    assert assessment.protocol == PROTOCOL
    assert assessment.band == Band.NORMAL
    assert assessment.monitoring_frequency == Frequency.WEEKLY
    assert assessment.latest_anc is not None
    assert assessment.latest_anc.value_per_ul == 2000
    assert assessment.latest_anc.drawn_on == DRAWN_ON
    assert assessment.next_draw_due == day(7, DRAWN_ON)
    assert assessment.confirmation_due is None
    assert assessment.hematology_consult is False
    assert assessment.authorizations == ()


@pytest.mark.parametrize(
    "history",
    [
        pytest.param(base().anc(800, day(5, DRAWN_ON)), id="a later low result"),
        pytest.param(base().interrupt(day(5, DRAWN_ON)), id="a later interruption"),
        pytest.param(base().discontinue(day(5, DRAWN_ON)), id="a later discontinuation"),
    ],
)
def test_the_decision_uses_only_data_effective_at_as_of(history):
    before = decide(history, day(4, DRAWN_ON))
    on_the_day = decide(history, day(5, DRAWN_ON))

    assert before.decision == Verdict.ALLOWED
    assert on_the_day.decision == Verdict.BLOCKED


def test_a_result_drawn_later_the_same_day_is_not_yet_effective():
    history = base().anc(800, at(day(5, DRAWN_ON), 15))

    before_the_draw = decide(history, at(day(5, DRAWN_ON), 14))
    after_the_draw = decide(history, at(day(5, DRAWN_ON), 16))

    assert before_the_draw.decision == Verdict.ALLOWED
    assert after_the_draw.decision == Verdict.BLOCKED
