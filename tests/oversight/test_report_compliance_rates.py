"""Per pharmacy and per prescriber: the share of dispenses resting on a current, acceptable ANC
(re-evaluated as of each dispense)."""

from tests.oversight.conftest import csv_rows

URL = "/api/v1/reports/compliance/"


def test_rates_per_pharmacy_and_prescriber(
    api, aud, alice, bob, pharmacy, other_pharmacy, dispense_world
):
    rows = {(r["group"], r["id"]): r for r in api(aud).get(URL).json()["results"]}

    assert set(rows) == {
        ("pharmacy", pharmacy.pk),
        ("pharmacy", other_pharmacy.pk),
        ("prescriber", alice.prescriber_id),
        ("prescriber", bob.prescriber_id),
    }
    main = rows[("pharmacy", pharmacy.pk)]
    assert (main["dispenses"], main["with_acceptable_anc"], main["compliance_rate"]) == (2, 1, 0.5)
    assert main["emergency_supplies"] == 1
    other = rows[("pharmacy", other_pharmacy.pk)]
    assert (other["dispenses"], other["with_acceptable_anc"], other["compliance_rate"]) == (1, 0, 0)
    assert other["disagreements"] == 1
    assert rows[("prescriber", alice.prescriber_id)]["compliance_rate"] == 0.5
    assert rows[("prescriber", bob.prescriber_id)]["compliance_rate"] == 0


def test_the_pharmacy_filter_and_csv(api, admin, pharmacy, dispense_world):
    response = api(admin).get(URL, {"pharmacy": pharmacy.pk, "format": "csv"})
    rows = csv_rows(response)
    assert [(r["group"], r["dispenses"], r["compliance_rate"]) for r in rows] == [
        ("pharmacy", "2", "0.5"),
        ("prescriber", "2", "0.5"),
    ]
