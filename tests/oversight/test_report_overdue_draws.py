"""Overdue draws now and over a period, by prescriber and by the pharmacy of the latest
dispense. In the data set two patients (alice's and bob's) drew last 13 days ago on a weekly
schedule: due 6 days ago, so 6 days overdue now and over a range ending today."""

from tests.oversight.conftest import csv_rows

URL = "/api/v1/reports/overdue/"


def _index(rows):
    return {(r["scope"], r["group"], r["id"]): r for r in rows}


def test_now_and_over_the_period(api, aud, alice, bob, pharmacy, other_pharmacy, dispense_world):
    rows = _index(api(aud).get(URL, {"from": "2026-04-20", "to": "2026-05-20"}).json()["results"])

    for scope in ("now", "period"):
        for key in (
            ("prescriber", alice.prescriber_id),
            ("prescriber", bob.prescriber_id),
            ("pharmacy", pharmacy.pk),
            ("pharmacy", other_pharmacy.pk),
        ):
            row = rows[(scope, *key)]
            assert (row["overdue_draws"], row["patients"]) == (1, 1), (scope, key, row)
            assert row["days_overdue_total"] == row["days_overdue_max"] == 6, (scope, key, row)
    assert len(rows) == 8  # the patient with a current ANC is overdue nowhere


def test_a_period_that_ends_before_the_due_date_has_none(api, aud, dispense_world):
    rows = api(aud).get(URL, {"from": "2026-05-01", "to": "2026-05-13"}).json()["results"]
    assert [r for r in rows if r["scope"] == "period"] == []


def test_a_period_ending_mid_way_counts_the_days_inside_it(api, aud, bob, dispense_world):
    # due 2026-05-14, overdue from the 15th: the 15th to the 17th are three days
    rows = (
        api(aud)
        .get(URL, {"from": "2026-05-01", "to": "2026-05-17", "prescriber": bob.prescriber_id})
        .json()["results"]
    )
    period = [r for r in rows if r["scope"] == "period" and r["group"] == "prescriber"]
    assert [(r["id"], r["days_overdue_total"]) for r in period] == [(bob.prescriber_id, 3)]


def test_csv(api, admin, other_pharmacy, dispense_world):
    rows = csv_rows(api(admin).get(URL, {"format": "csv", "pharmacy": other_pharmacy.pk}))
    assert sorted((r["scope"], r["group"], r["days_overdue_total"]) for r in rows) == [
        ("now", "pharmacy", "6"),
        ("now", "prescriber", "6"),
        ("period", "pharmacy", "6"),
        ("period", "prescriber", "6"),
    ]
