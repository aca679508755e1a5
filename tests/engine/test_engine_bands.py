"""docs/rules.md §1: the ANC bands of `us-label-2015`, row by row and edge by edge.

Each case is a patient enrolled and started on START with a normal ANC, then one result drawn
on day 10 at 09:00 and the decision made the same day at noon.
"""

import pytest

from engine.types import Band, Frequency, Population, TreatmentStatus
from tests.engine.builders import day, decide, started_patient

GENERAL = Population.GENERAL
BEN = Population.BEN

ACTIVE = TreatmentStatus.ACTIVE
INTERRUPTED = TreatmentStatus.INTERRUPTED

DAILY = Frequency.DAILY
TIW = Frequency.THREE_TIMES_WEEKLY
WEEKLY = Frequency.WEEKLY


def assess_after(population, value):
    history = started_patient(population).anc(value, day(10))
    return decide(history, day(10))


BAND_TABLE = [
    # general population: normal >= 1500, mild 1000-1499, moderate 500-999, severe < 500
    pytest.param(GENERAL, 5000, Band.NORMAL, ACTIVE, False, WEEKLY, id="general 5000 is normal"),
    pytest.param(GENERAL, 1500, Band.NORMAL, ACTIVE, False, WEEKLY, id="general 1500 is normal"),
    pytest.param(GENERAL, 1499, Band.MILD, ACTIVE, False, TIW, id="general 1499 is mild"),
    pytest.param(GENERAL, 1250, Band.MILD, ACTIVE, False, TIW, id="general 1250 is mild"),
    pytest.param(GENERAL, 1000, Band.MILD, ACTIVE, False, TIW, id="general 1000 is mild"),
    pytest.param(GENERAL, 999, Band.MODERATE, INTERRUPTED, True, DAILY, id="general 999 moderate"),
    pytest.param(GENERAL, 750, Band.MODERATE, INTERRUPTED, True, DAILY, id="general 750 moderate"),
    pytest.param(GENERAL, 500, Band.MODERATE, INTERRUPTED, True, DAILY, id="general 500 moderate"),
    pytest.param(GENERAL, 499, Band.SEVERE, INTERRUPTED, True, DAILY, id="general 499 is severe"),
    pytest.param(GENERAL, 0, Band.SEVERE, INTERRUPTED, True, DAILY, id="general 0 is severe"),
    # BEN: normal >= 1000, ben_neutropenia 500-999, severe < 500; no mild band
    pytest.param(BEN, 5000, Band.NORMAL, ACTIVE, False, WEEKLY, id="ben 5000 is normal"),
    pytest.param(BEN, 1500, Band.NORMAL, ACTIVE, False, WEEKLY, id="ben 1500 is normal"),
    pytest.param(BEN, 1499, Band.NORMAL, ACTIVE, False, WEEKLY, id="ben 1499 is normal"),
    pytest.param(BEN, 1000, Band.NORMAL, ACTIVE, False, WEEKLY, id="ben 1000 is normal"),
    pytest.param(BEN, 999, Band.BEN_NEUTROPENIA, ACTIVE, True, TIW, id="ben 999 neutropenia"),
    pytest.param(BEN, 750, Band.BEN_NEUTROPENIA, ACTIVE, True, TIW, id="ben 750 neutropenia"),
    pytest.param(BEN, 500, Band.BEN_NEUTROPENIA, ACTIVE, True, TIW, id="ben 500 neutropenia"),
    pytest.param(BEN, 499, Band.SEVERE, INTERRUPTED, True, DAILY, id="ben 499 is severe"),
    pytest.param(BEN, 0, Band.SEVERE, INTERRUPTED, True, DAILY, id="ben 0 is severe"),
]


@pytest.mark.parametrize(
    ("population", "value", "band", "treatment", "consult", "frequency"), BAND_TABLE
)
def test_a_result_falls_in_its_band_with_the_tables_treatment_consult_and_frequency(
    population, value, band, treatment, consult, frequency
):
    assessment = assess_after(population, value)

    assert assessment.band == band
    assert assessment.treatment_status == treatment
    assert assessment.hematology_consult is consult
    assert assessment.monitoring_frequency == frequency


@pytest.mark.parametrize(
    ("population", "value", "band", "treatment", "consult", "frequency"), BAND_TABLE
)
def test_only_the_interrupting_bands_block_with_treatment_interrupted(
    population, value, band, treatment, consult, frequency
):
    assessment = assess_after(population, value)

    assert ("treatment_interrupted" in assessment.reason_codes) is (treatment == INTERRUPTED)


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(1000, id="1000"),
        pytest.param(1250, id="1250"),
        pytest.param(1499, id="1499"),
    ],
)
def test_a_ben_patient_has_no_mild_band_so_1000_to_1499_asks_for_no_confirmation(value):
    assessment = assess_after(BEN, value)

    assert assessment.band == Band.NORMAL
    assert assessment.confirmation_due is None
    assert assessment.decision == "allowed"


@pytest.mark.parametrize(
    ("population", "value"),
    [
        pytest.param(GENERAL, 1499, id="general 1499 is below 1500"),
        pytest.param(GENERAL, 999, id="general 999 is below 1000"),
        pytest.param(GENERAL, 499, id="general 499 is below 500"),
        pytest.param(BEN, 999, id="ben 999 is below 1000"),
        pytest.param(BEN, 499, id="ben 499 is below 500"),
    ],
)
def test_a_value_one_below_a_bound_is_never_rounded_up_into_the_better_band(population, value):
    below = assess_after(population, value)
    at_bound = assess_after(population, value + 1)

    assert below.band != at_bound.band


def test_with_no_episode_open_the_band_is_the_latest_results_band():
    history = started_patient().anc(2500, day(3)).anc(1700, day(10))

    assessment = decide(history, day(10))

    assert assessment.band == Band.NORMAL
    assert assessment.latest_anc is not None
    assert assessment.latest_anc.value_per_ul == 1700
    assert assessment.hematology_consult is False
