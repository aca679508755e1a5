"""Issue 9, uk-cpms reading 1: what counts as "the same draw" when the history selector pairs
a neutrophil count with a WBC into one result set (monitoring.selectors.result_sets)."""

from datetime import UTC, datetime, timedelta

from monitoring.engine.types import AncReading
from monitoring.selectors import LabCount, result_sets

DRAWN = datetime(2026, 5, 20, 13, 0, tzinfo=UTC)


def count(result_id, value, drawn=DRAWN, accession="", lab=""):
    return LabCount(result_id, value, drawn, accession, lab)


def test_counts_drawn_at_the_same_instant_without_accessions_make_one_set():
    sets = result_sets([count(1, 2100)], [count(2, 4000)])
    assert sets == [AncReading(1, 2100, DRAWN, 4000)]


def test_the_same_instant_in_another_time_zone_is_the_same_draw():
    local = DRAWN.astimezone(datetime.now().astimezone().tzinfo)
    assert result_sets([count(1, 2100)], [count(2, 4000, drawn=local)])[0].wbc_per_ul == 4000


def test_counts_a_second_apart_are_two_incomplete_sets():
    later = DRAWN + timedelta(seconds=1)
    sets = result_sets([count(1, 2100)], [count(2, 4000, drawn=later)])
    assert sets == [AncReading(1, 2100, DRAWN, None), AncReading(2, None, later, 4000)]


def test_different_accessions_are_different_specimens_even_at_the_same_instant():
    sets = result_sets([count(1, 2100, accession="A1", lab="L")], [count(2, 4000, "A2", lab="L")])
    assert [(s.value_per_ul, s.wbc_per_ul) for s in sets] == [(2100, None), (None, 4000)]


def test_the_same_accession_from_another_lab_is_another_specimen():
    sets = result_sets([count(1, 2100, accession="A1", lab="L1")], [count(2, 4000, "A1", "L2")])
    assert [(s.value_per_ul, s.wbc_per_ul) for s in sets] == [(2100, None), (None, 4000)]


def test_one_accession_missing_pairs_by_the_instant():
    sets = result_sets([count(1, 2100, accession="A1", lab="L")], [count(2, 4000)])
    assert sets == [AncReading(1, 2100, DRAWN, 4000)]


def test_a_wbc_pairs_with_one_neutrophil_count_only():
    sets = result_sets([count(1, 2100), count(3, 2200)], [count(2, 4000)])
    assert sorted((s.result_id, s.value_per_ul, s.wbc_per_ul) for s in sets) == [
        (1, 2100, 4000),
        (3, 2200, None),
    ]
