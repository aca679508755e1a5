"""The dispense report: each dispense with the decision stored at the time and the engine's
re-evaluation as of the dispense time, flagging any disagreement; CSV parses back."""

from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.oversight.conftest import csv_rows

URL = "/api/v1/reports/dispenses/"


def test_each_dispense_is_re_evaluated_and_the_forged_one_flagged(api, aud, dispense_world):
    body = api(aud).get(URL).json()

    rows = {row["dispense_id"]: row for row in body["results"]}
    assert body["count"] == 3
    regular = rows[dispense_world["regular"].pk]
    assert (regular["stored_decision"], regular["reevaluated_decision"]) == ("allowed", "allowed")
    assert regular["reevaluated_max_days_supply"] == regular["stored_max_days_supply"] == 7
    assert regular["latest_anc_per_ul"] == 2100
    assert regular["acceptable_anc"] is True
    assert regular["disagrees"] is False

    emergency = rows[dispense_world["emergency"].pk]
    assert emergency["emergency_reason"] == "lab_delay"
    assert emergency["stored_reasons"] == emergency["reevaluated_reasons"] == ["anc_not_current"]
    assert emergency["acceptable_anc"] is False
    assert emergency["disagrees"] is False

    forged = rows[dispense_world["forged"].pk]
    assert forged["stored_decision"] == "allowed"
    assert forged["reevaluated_decision"] == "blocked"
    assert forged["reevaluated_reasons"] == ["anc_not_current"]
    assert forged["disagrees"] is True


def test_filters_by_pharmacy_prescriber_and_dates(api, admin, bob, other_pharmacy, dispense_world):
    client = api(admin)
    by_pharmacy = client.get(URL, {"pharmacy": other_pharmacy.pk}).json()["results"]
    assert [r["dispense_id"] for r in by_pharmacy] == [dispense_world["forged"].pk]
    by_prescriber = client.get(URL, {"prescriber": bob.prescriber_id}).json()["results"]
    assert [r["dispense_id"] for r in by_prescriber] == [dispense_world["forged"].pk]
    today_only = client.get(URL, {"from": "2026-05-20", "to": "2026-05-20"}).json()["results"]
    assert {r["dispense_id"] for r in today_only} == {
        dispense_world["regular"].pk,
        dispense_world["emergency"].pk,
    }


def test_the_csv_export_parses_back(api, aud, dispense_world):
    response = api(aud).get(URL, {"format": "csv"})

    assert response.status_code == 200
    assert "attachment" in response["Content-Disposition"]
    rows = {int(r["dispense_id"]): r for r in csv_rows(response)}
    assert len(rows) == 3
    forged = rows[dispense_world["forged"].pk]
    assert forged["disagrees"] == "true"
    assert forged["reevaluated_reasons"] == "anc_not_current"
    assert forged["pharmacy"] == "Other Pharmacy"
    assert rows[dispense_world["regular"].pk]["stored_decision"] == "allowed"


def test_the_query_count_does_not_grow_with_rows(api, aud, alice, phil, pharmacy, dispense_world):
    from datetime import timedelta

    from tests import factories
    from tests.conftest import TODAY

    client = api(aud)
    client.get(URL)

    def count():
        with CaptureQueriesContext(connection) as captured:
            assert client.get(URL).status_code == 200
        return len(captured)

    few = count()
    start = TODAY - timedelta(days=20)
    for _ in range(4):
        patient = factories.enrolled_patient(
            actor=alice, start=start, draws=[(TODAY - timedelta(days=1), 2000)]
        )
        ok = api(phil).post(
            "/api/v1/dispenses/",
            {"patient": patient.pk, "pharmacy": pharmacy.pk, "days_supply": 7},
            format="json",
        )
        assert ok.status_code == 201
    assert client.get(URL).json()["count"] == 7
    assert count() == few
