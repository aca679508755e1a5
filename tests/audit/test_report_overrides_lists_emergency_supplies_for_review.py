"""Overrides and emergency supplies, reviewed or not: the administrator's review queue."""

from tests.audit.conftest import csv_rows

URL = "/api/v1/reports/overrides/"


def test_an_unreviewed_supply_is_listed_until_reviewed(api, aud, admin, dispense_world):
    emergency = dispense_world["emergency"]
    [row] = api(aud).get(URL, {"reviewed": "false"}).json()["results"]
    assert row["dispense_id"] == emergency.pk
    assert (row["reason"], row["days_supply"], row["reviewed"]) == ("lab_delay", 4, False)
    assert row["recorded_by"] == "phil"
    assert api(aud).get(URL, {"reviewed": "true"}).json()["count"] == 0

    review = api(admin).post(f"/api/v1/dispenses/{emergency.pk}/review/", {"note": "ok"})
    assert review.status_code == 200

    assert api(aud).get(URL, {"reviewed": "false"}).json()["count"] == 0
    [row] = api(aud).get(URL, {"reviewed": "true"}).json()["results"]
    assert (row["reviewed"], row["reviewed_by"], row["review_note"]) == (True, "admin", "ok")


def test_regular_dispenses_are_not_overrides_and_csv_parses(api, aud, dispense_world):
    rows = csv_rows(api(aud).get(URL, {"format": "csv"}))
    assert [(int(r["dispense_id"]), r["kind"], r["reviewed"]) for r in rows] == [
        (dispense_world["emergency"].pk, "emergency_supply", "false")
    ]
