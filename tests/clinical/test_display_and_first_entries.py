"""Item 5: the draw time reads as the clinic's local date and time apart (never
"2026-11-2913:00"); a yes/no stable dose is never "stable for 0 days" (test_levels_api.py); a
first smoking entry is "first recorded", never shown as stopping."""

from datetime import timedelta
from decimal import Decimal

from clinical.messages import SMOKING_FIRST_RECORD, SMOKING_STOPPED
from clinical.services import level_result_record
from tests.conftest import NOW, TODAY


def test_the_page_shows_the_draw_time_local_with_the_date_and_time_apart(client, alice, patient):
    sampled = NOW - timedelta(hours=4)  # 08:00 in New York, 12:00 UTC
    level_result_record(
        patient=patient,
        actor=alice,
        sampled_at=sampled,
        clozapine=Decimal(400),
        unit="ng/mL",
        last_dose_at=sampled - timedelta(hours=12),
        dose_stable_days=10,
    )
    client.force_login(alice)
    html = client.get(f"/clinic/patients/{patient.pk}/").content.decode()
    assert '<dd data-testid="drawn-at">2026-05-20 08:00 EDT · valid steady-state trough' in html
    assert "2026-05-2012:00" not in html and "2026-05-2008:00" not in html


def test_the_api_gives_the_local_draw_time_too(api, alice, patient):
    level = (
        api(alice)
        .post(
            f"/api/v1/patients/{patient.pk}/levels/",
            {
                "sampled_at": "2026-05-20T12:00:00Z",
                "clozapine": "400",
                "unit": "ng/mL",
            },
            format="json",
        )
        .json()
    )
    assert level["sampled_at_local"] == "2026-05-20 08:00 EDT"


def test_a_first_non_smoker_entry_is_not_shown_as_stopping(api, alice, patient):
    client = api(alice)
    client.post(
        f"/api/v1/patients/{patient.pk}/smoking-status/",
        {"status": "non_smoker", "effective_on": str(TODAY - timedelta(days=3))},
    )
    [prompt] = client.get(f"/api/v1/patients/{patient.pk}/levels/summary/").json()[
        "level_suggested"
    ]
    assert prompt["code"] == SMOKING_FIRST_RECORD.code
    assert prompt["message"].startswith("Smoking status first recorded as non-smoker from ")
    assert "stopped" not in prompt["message"].split(":")[0]


def test_a_change_from_smoker_is_shown_as_stopping(api, alice, patient):
    client = api(alice)
    for status, days in (("smoker", 40), ("non_smoker", 3)):
        client.post(
            f"/api/v1/patients/{patient.pk}/smoking-status/",
            {"status": status, "effective_on": str(TODAY - timedelta(days=days))},
        )
    listed = client.get(f"/api/v1/patients/{patient.pk}/smoking-status/").json()["results"]
    assert [x["previous_status"] for x in listed] == ["smoker", "unknown"]
    prompts = client.get(f"/api/v1/patients/{patient.pk}/levels/summary/").json()["level_suggested"]
    assert prompts[-1]["code"] == SMOKING_STOPPED.code
