"""Overrides and emergency supplies, reviewed or not: the administrator's review queue."""

from tests.oversight.conftest import csv_rows

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


def test_free_text_cannot_become_a_spreadsheet_formula(api, aud, phil, pharmacy, alice):
    from datetime import timedelta

    from tests import factories
    from tests.conftest import TODAY

    patient = factories.enrolled_patient(
        actor=alice,
        start=TODAY - timedelta(days=20),
        draws=[(TODAY - timedelta(days=13), 2100)],
    )
    made = api(phil).post(
        "/api/v1/dispenses/",
        {
            "patient": patient.pk,
            "pharmacy": pharmacy.pk,
            "days_supply": 2,
            "emergency": {
                "reason": "other",
                "remark": '=HYPERLINK("http://x")',
                "last_dose_confirmed": True,
            },
        },
        format="json",
    )
    assert made.status_code == 201, made.json()
    [row] = csv_rows(api(aud).get(URL, {"format": "csv"}))
    assert row["remark"] == '\'=HYPERLINK("http://x")'
    assert api(aud).get(URL).json()["results"][0]["remark"] == '=HYPERLINK("http://x")'
