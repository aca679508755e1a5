"""docs/rules.md §9.3 and §9.13 (uk-cpms pairing): which stored results are one draw.

Results with the same draw instant, or the same laboratory and accession, are one draw; the
lowest value of each count is the draw's. The engine groups them (`draws_of`), so the order in
which they were filed never matters.
"""

import itertools
from datetime import UTC, datetime, timedelta

from engine.core import draws_of
from engine.types import BloodCount

DRAWN = datetime(2026, 5, 20, 13, 0, tzinfo=UTC)


def anc(result_id, value, drawn=DRAWN, accession="", lab="", recorded=None):
    return BloodCount(result_id, value, drawn, None, accession, lab, recorded)


def wbc(result_id, value, drawn=DRAWN, accession="", lab="", recorded=None):
    return BloodCount(result_id, None, drawn, value, accession, lab, recorded)


def counts(draws):
    return [(d.anc, d.wbc) for d in draws]


def test_counts_drawn_at_the_same_instant_make_one_draw():
    assert counts(draws_of([anc(1, 2100), wbc(2, 4000)])) == [(2100, 4000)]


def test_the_same_instant_in_another_time_zone_is_the_same_draw():
    local = DRAWN.astimezone(datetime.now().astimezone().tzinfo)
    assert counts(draws_of([anc(1, 2100), wbc(2, 4000, drawn=local)])) == [(2100, 4000)]


def test_counts_a_second_apart_without_accessions_are_two_draws():
    later = DRAWN + timedelta(seconds=1)
    assert counts(draws_of([anc(1, 2100), wbc(2, 4000, drawn=later)])) == [
        (2100, None),
        (None, 4000),
    ]


def test_counts_of_one_accession_stamped_a_minute_apart_are_one_specimen():
    later = DRAWN + timedelta(minutes=1)
    draws = draws_of([anc(1, 2100, accession="A1", lab="L"), wbc(2, 4000, later, "A1", "L")])
    assert counts(draws) == [(2100, 4000)]
    assert draws[0].drawn_at == DRAWN  # the earlier stamp: the older, the safer for currency


def test_the_same_accession_from_another_lab_is_another_specimen():
    later = DRAWN + timedelta(minutes=1)
    draws = draws_of([anc(1, 2100, accession="A1", lab="L1"), wbc(2, 4000, later, "A1", "L2")])
    assert counts(draws) == [(2100, None), (None, 4000)]


def test_a_normal_value_of_the_same_draw_never_refutes_a_low_one_whatever_the_filing_order():
    results = [anc(1, 2400), anc(2, 300), anc(3, 1800)]
    for order in itertools.permutations(results):
        (draw,) = draws_of(order)
        assert draw.anc == 300
        assert draw.result_id == 2


def test_a_retransmission_with_the_same_accession_at_another_instant_is_the_same_draw():
    later = DRAWN + timedelta(hours=3)
    draws = draws_of([anc(1, 800, accession="X", lab="L"), anc(2, 800, later, "X", "L")])
    assert len(draws) == 1


def test_accession_links_are_transitive():
    # The ANC shares the instant with a WBC, which shares an accession with a second WBC.
    later = DRAWN + timedelta(minutes=5)
    draws = draws_of(
        [anc(1, 2100), wbc(2, 4000, accession="B", lab="L"), wbc(3, 3100, later, "B", "L")]
    )
    assert counts(draws) == [(2100, 3100)]


def test_a_result_counts_from_when_it_was_recorded_when_its_draw_time_is_ahead_of_the_clock():
    # docs/rules.md §9.6: a draw time 4 minutes in the future (clock skew) counts from the
    # moment the result was stored.
    recorded = DRAWN
    ahead = DRAWN + timedelta(minutes=4)
    (draw,) = draws_of([anc(1, 2100, drawn=ahead, recorded=recorded)], until=recorded)
    assert draw.effective_at == recorded
    assert draws_of([anc(1, 2100, drawn=ahead)], until=recorded) == []
