"""ANC results: record, convert, reject, deduplicate, correct, void, list (docs/rules.md §8)."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from monitoring.models import LabResult, MonitoringState
from tests import factories
from tests.conftest import NOW, TODAY

UTC = ZoneInfo("UTC")


def _url(patient):
    return f"/api/v1/patients/{patient.pk}/anc-results/"


def _body(drawn_at=None, value=2100, unit="/uL", **extra):
    drawn_at = drawn_at or (NOW - timedelta(hours=3))
    return {"drawn_at": drawn_at.isoformat(), "value": value, "unit": unit, **extra}


def _state(patient):
    return MonitoringState.objects.get(patient=patient).snapshot


# --- record ---------------------------------------------------------------------------------


def test_a_result_is_stored_with_its_canonical_value_and_the_new_monitoring(
    api, alice, active_patient
):
    drawn = NOW - timedelta(hours=3)

    response = api(alice).post(_url(active_patient), _body(drawn, 1800), format="json")

    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["id"]
    assert data["value_per_ul"] == 1800
    assert data["unit"] == "/uL"
    assert data["status"] == "final"
    assert data["superseded"] is False
    assert data["recorded_by"] == alice.pk
    assert datetime.fromisoformat(data["drawn_at"]) == drawn
    monitoring = data["monitoring"]
    assert monitoring["latest_anc"]["value_per_ul"] == 1800
    assert monitoring["next_draw_due"] == (TODAY + timedelta(days=7)).isoformat()
    assert monitoring["band"] == "normal"


def test_thousands_per_microlitre_are_converted(api, alice, active_patient):
    response = api(alice).post(
        _url(active_patient), _body(value=1.2, unit="10*3/uL"), format="json"
    )

    assert response.status_code == 201
    data = response.json()
    assert data["value_per_ul"] == 1200
    assert data["unit"] == "10*3/uL"
    assert float(data["value"]) == 1.2
    assert data["monitoring"]["band"] == "mild"
    assert data["monitoring"]["confirmation_due"]


@pytest.mark.parametrize(
    ("value", "unit", "per_ul"),
    [
        ("1500", "/uL", 1500),
        ("1500", "/mm3", 1500),
        ("1500", "cells/uL", 1500),
        ("1500", "cells/mm3", 1500),
        ("1.5", "10*3/uL", 1500),
        ("1.5", "10*3/mm3", 1500),
        ("1.5", "10*9/L", 1500),
        ("1.5", "K/uL", 1500),
        ("1.4999", "10*3/uL", 1499),  # never rounded up into a better band
        ("100", "10*3/uL", 100_000),  # the plausible maximum itself is accepted
        ("0", "/uL", 0),
    ],
)
def test_every_known_unit_is_converted(api, alice, active_patient, value, unit, per_ul):
    # Confirmed: 0/µL is a count the manual entry guards hold back otherwise (docs/rules.md §8).
    body = _body(value=value, unit=unit, confirm_unusual=True)
    response = api(alice).post(_url(active_patient), body, format="json")

    assert response.status_code == 201, response.json()
    assert response.json()["value_per_ul"] == per_ul


def test_the_designee_may_enter_labs(api, designee, active_patient):
    assert api(designee).post(_url(active_patient), _body(), format="json").status_code == 201


def test_a_draw_a_few_minutes_ahead_is_clock_skew_not_the_future(api, alice, active_patient):
    response = api(alice).post(
        _url(active_patient), _body(NOW + timedelta(minutes=2)), format="json"
    )

    assert response.status_code == 201


def test_a_utc_draw_time_is_accepted(api, alice, active_patient):
    drawn = (NOW - timedelta(hours=1)).astimezone(UTC)
    body = _body()
    body["drawn_at"] = drawn.strftime("%Y-%m-%dT%H:%M:%SZ")

    response = api(alice).post(_url(active_patient), body, format="json")

    assert response.status_code == 201
    assert datetime.fromisoformat(response.json()["drawn_at"]) == drawn


# --- rejected, nothing written --------------------------------------------------------------


BIRTH = "1985-06-15"  # PatientFactory's date of birth


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (_body(value=-1), "value"),
        (_body(value="-0.1", unit="10*3/uL"), "value"),
        ({"drawn_at": (NOW - timedelta(hours=1)).isoformat(), "value": 2000}, "unit"),
        (_body(unit=""), "unit"),
        (_body(unit="   "), "unit"),
        (_body(unit="mg/dL"), "unit"),
        (_body(unit="10*6/uL"), "unit"),
        (_body(value=100_001), "value"),
        (_body(value="100.001", unit="10*3/uL"), "value"),
        (_body(value=1500, unit="10*9/L"), "value"),  # 1,500,000/µL: a unit mix-up
        (_body(value="abc"), "value"),
        ({"drawn_at": (NOW - timedelta(hours=1)).isoformat(), "unit": "/uL"}, "value"),
        (_body(NOW + timedelta(hours=1)), "drawn_at"),
        (_body(NOW + timedelta(days=2)), "drawn_at"),
        (_body(datetime(1985, 6, 14, 12, tzinfo=ZoneInfo("America/New_York"))), "drawn_at"),
        (_body(datetime(1970, 1, 1, tzinfo=UTC)), "drawn_at"),
        ({"drawn_at": "2026-13-01T09:00:00-04:00", "value": 2000, "unit": "/uL"}, "drawn_at"),
        ({"drawn_at": "2026-05-19T25:00:00Z", "value": 2000, "unit": "/uL"}, "drawn_at"),
        ({"drawn_at": "yesterday", "value": 2000, "unit": "/uL"}, "drawn_at"),
        ({"drawn_at": "", "value": 2000, "unit": "/uL"}, "drawn_at"),
        ({"drawn_at": "2026-05-19T09:00:00", "value": 2000, "unit": "/uL"}, "drawn_at"),
        ({"drawn_at": "2026-05-19 09:00", "value": 2000, "unit": "/uL"}, "drawn_at"),
        ({"drawn_at": "2026-05-19", "value": 2000, "unit": "/uL"}, "drawn_at"),
        ({"value": 2000, "unit": "/uL"}, "drawn_at"),
    ],
    ids=[
        "negative",
        "negative-thousands",
        "missing-unit",
        "blank-unit",
        "whitespace-unit",
        "unknown-unit",
        "millions-unit",
        "above-100000",
        "above-100000-after-conversion",
        "10*9/L-mix-up",
        "not-a-number",
        "missing-value",
        "an-hour-ahead",
        "days-ahead",
        "before-birth",
        "long-before-birth",
        "month-13",
        "hour-25",
        "words",
        "empty-date",
        "naive",
        "naive-with-space",
        "date-only",
        "missing-drawn-at",
    ],
)
def test_a_bad_result_is_a_400_naming_the_field_and_writes_nothing(
    api, alice, active_patient, body, field
):
    rows = LabResult.objects.count()
    snapshot = _state(active_patient)

    response = api(alice).post(_url(active_patient), body, format="json")

    assert response.status_code == 400, response.json()
    assert field in response.json()
    assert isinstance(response.json()[field], list)
    assert LabResult.objects.count() == rows
    assert _state(active_patient) == snapshot


def test_a_draw_on_the_date_of_birth_is_accepted(api, alice, active_patient):
    born = datetime(1985, 6, 15, 23, tzinfo=ZoneInfo("America/New_York"))

    response = api(alice).post(_url(active_patient), _body(born), format="json")

    assert response.status_code == 201


# --- duplicates and corrections -------------------------------------------------------------


def test_the_same_result_delivered_twice_is_stored_once(api, alice, active_patient):
    client = api(alice)
    body = _body(value=1900, accession="LAB-1")

    first = client.post(_url(active_patient), body, format="json")
    second = client.post(_url(active_patient), body, format="json")

    assert first.status_code == 201
    assert second.status_code in (200, 201)
    assert second.json()["id"] == first.json()["id"]
    assert LabResult.objects.filter(accession="LAB-1").count() == 1


def test_the_same_result_in_another_unit_is_still_the_same_result(api, alice, active_patient):
    client = api(alice)
    drawn = NOW - timedelta(hours=2)

    first = client.post(_url(active_patient), _body(drawn, 1900, accession="A7"), format="json")
    second = client.post(
        _url(active_patient), _body(drawn, "1.9", "10*3/uL", accession="A7"), format="json"
    )

    assert second.json()["id"] == first.json()["id"]
    assert LabResult.objects.filter(accession="A7").count() == 1


@pytest.mark.parametrize(
    "change",
    [{"value": 1200}, {"drawn_at": (NOW - timedelta(hours=5)).isoformat()}],
    ids=["other-value", "other-draw-time"],
)
def test_the_same_accession_with_other_values_is_a_409(api, alice, active_patient, change):
    client = api(alice)
    client.post(_url(active_patient), _body(value=1900, accession="LAB-2"), format="json")
    snapshot = _state(active_patient)

    response = client.post(
        _url(active_patient), {**_body(value=1900, accession="LAB-2"), **change}, format="json"
    )

    assert response.status_code == 409
    assert response.json()["code"] == "accession_conflict"
    assert set(response.json()) >= {"code", "message", "reasons"}
    assert LabResult.objects.filter(accession="LAB-2").count() == 1
    assert _state(active_patient) == snapshot


def test_a_corrected_result_supersedes_the_old_one_which_stays_in_the_history(
    api, alice, active_patient
):
    client = api(alice)
    drawn = NOW - timedelta(hours=3)
    original = client.post(_url(active_patient), _body(drawn, 900, accession="L3"), format="json")
    assert original.json()["monitoring"]["band"] == "moderate"

    corrected = client.post(
        _url(active_patient), _body(drawn, 1900, accession="L3", status="corrected"), format="json"
    )

    assert corrected.status_code == 201, corrected.json()
    data = corrected.json()
    assert data["status"] == "corrected"
    assert data["corrects"] == original.json()["id"]
    assert data["monitoring"]["latest_anc"]["value_per_ul"] == 1900
    assert data["monitoring"]["band"] == "normal"
    assert data["monitoring"]["treatment_status"] == "active"
    old = LabResult.objects.get(pk=original.json()["id"])
    assert old.superseded is True
    assert old.value_per_ul == 900
    history = client.get(_url(active_patient)).json()["results"]
    by_id = {r["id"]: r for r in history}
    assert by_id[old.pk]["superseded"] is True
    assert by_id[data["id"]]["superseded"] is False


def test_a_correction_changes_the_decision(api, alice, phil, active_patient):
    client = api(alice)
    drawn = NOW - timedelta(hours=3)
    client.post(
        _url(active_patient),
        _body(drawn, 400, accession="L4", confirm_unusual=True),  # a steep fall, confirmed
        format="json",
    )
    eligibility = f"/api/v1/patients/{active_patient.pk}/eligibility/"
    assert api(phil).get(eligibility).json()["decision"] == "blocked"

    client.post(
        _url(active_patient), _body(drawn, 2400, accession="L4", status="corrected"), format="json"
    )

    decision = api(phil).get(eligibility).json()
    assert decision["decision"] == "allowed", decision
    assert decision["latest_anc"]["value_per_ul"] == 2400


def test_an_accession_of_another_patient_is_a_409(api, alice, active_patient):
    other = factories.PatientFactory.create(actor=alice, prescriber=alice.prescriber)
    client = api(alice)
    client.post(_url(active_patient), _body(accession="SHARED"), format="json")

    response = client.post(_url(other), _body(accession="SHARED"), format="json")

    assert response.status_code == 409
    assert LabResult.objects.filter(patient=other).count() == 0


# --- void -----------------------------------------------------------------------------------


def test_a_result_entered_in_error_is_voided_with_a_reason_never_deleted(
    api, alice, active_patient
):
    client = api(alice)
    wrong = client.post(_url(active_patient), _body(value=600), format="json").json()
    assert wrong["monitoring"]["band"] == "moderate"

    response = client.post(
        f"{_url(active_patient)}{wrong['id']}/void/", {"reason": "wrong patient"}, format="json"
    )

    assert response.status_code == 200, response.json()
    data = response.json()
    assert data["status"] == "entered_in_error"
    assert data["void_reason"] == "wrong patient"
    assert data["monitoring"]["latest_anc"]["value_per_ul"] == 2100
    assert data["monitoring"]["band"] == "normal"
    assert data["monitoring"]["treatment_status"] == "active"
    assert LabResult.objects.filter(pk=wrong["id"]).exists()


def test_voiding_needs_a_reason(api, alice, active_patient):
    client = api(alice)
    result = client.post(_url(active_patient), _body(), format="json").json()

    for body in ({}, {"reason": ""}, {"reason": "   "}):
        response = client.post(f"{_url(active_patient)}{result['id']}/void/", body, format="json")
        assert response.status_code == 400
        assert "reason" in response.json()
    assert LabResult.objects.get(pk=result["id"]).status == "final"


def test_voiding_twice_is_a_409(api, alice, active_patient):
    client = api(alice)
    result = client.post(_url(active_patient), _body(), format="json").json()
    url = f"{_url(active_patient)}{result['id']}/void/"
    client.post(url, {"reason": "typo"}, format="json")

    response = client.post(url, {"reason": "again"}, format="json")

    assert response.status_code == 409
    assert LabResult.objects.get(pk=result["id"]).void_reason == "typo"


def test_a_superseded_result_cannot_be_voided(api, alice, active_patient):
    client = api(alice)
    drawn = NOW - timedelta(hours=3)
    old = client.post(_url(active_patient), _body(drawn, 900, accession="V1"), format="json")
    client.post(
        _url(active_patient), _body(drawn, 1900, accession="V1", status="corrected"), format="json"
    )

    response = client.post(
        f"{_url(active_patient)}{old.json()['id']}/void/", {"reason": "x"}, format="json"
    )

    assert response.status_code == 409


def test_voiding_a_result_of_another_patient_is_404(api, alice, active_patient):
    other = factories.PatientFactory.create(actor=alice, prescriber=alice.prescriber)
    result = api(alice).post(_url(active_patient), _body(), format="json").json()

    response = api(alice).post(f"{_url(other)}{result['id']}/void/", {"reason": "x"})

    assert response.status_code == 404


# --- history --------------------------------------------------------------------------------


def test_the_history_is_paginated_and_newest_first(api, alice, active_patient):
    client = api(alice)
    client.post(_url(active_patient), _body(NOW - timedelta(days=1)), format="json")
    client.post(_url(active_patient), _body(NOW - timedelta(days=3)), format="json")

    data = client.get(_url(active_patient)).json()

    assert set(data) == {"count", "next", "previous", "results"}
    # 1 baseline + 2 weekly draws from the fixture, plus the two above
    assert data["count"] == 5
    drawn = [datetime.fromisoformat(r["drawn_at"]) for r in data["results"]]
    assert drawn == sorted(drawn, reverse=True)


def test_one_result_can_be_read_back(api, alice, aud, active_patient):
    result = api(alice).post(_url(active_patient), _body(value=1750), format="json").json()

    response = api(aud).get(f"{_url(active_patient)}{result['id']}/")

    assert response.status_code == 200
    assert response.json()["value_per_ul"] == 1750
