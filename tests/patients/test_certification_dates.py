"""Certification has a start (docs/rules.md §9.12): a prescriber or pharmacy counts as
certified only from its `certified_on` date through `certification_expires_on`. A date in the
future is "not yet certified": decisions block, enrollment and authorizations are refused,
until that day."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from patients.models import Dispense
from tests.conftest import NOW, TODAY

TOMORROW = TODAY + timedelta(days=1)
TOMORROW_NOON = NOW + timedelta(days=1)


def _codes(body):
    return [r["code"] for r in body["reasons"]]


def _certify_from(api, admin, kind, record, day):
    """The administrator records a certification that starts on `day` (through the API)."""
    response = api(admin).patch(
        f"/api/v1/{kind}/{record.pk}/",
        {"certified": True, "certified_on": day.isoformat()},
        format="json",
    )
    assert response.status_code == 200, response.json()


def _decide(api, phil, patient):
    response = api(phil).get(f"/api/v1/patients/{patient.pk}/eligibility/")
    assert response.status_code == 200
    return response.json()


def test_a_prescriber_certified_from_tomorrow_blocks_today_and_allows_tomorrow(
    api, admin, phil, clock, active_patient
):
    _certify_from(api, admin, "prescribers", active_patient.prescriber, TOMORROW)

    today = _decide(api, phil, active_patient)
    assert today["decision"] == "blocked"
    assert _codes(today) == ["prescriber_not_certified"]

    clock.move_to(TOMORROW_NOON)
    tomorrow = _decide(api, phil, active_patient)
    assert tomorrow["decision"] == "allowed", tomorrow
    assert _codes(tomorrow) == []


def test_a_pharmacy_certified_from_tomorrow_blocks_today_and_allows_tomorrow(
    api, admin, phil, pharmacy, clock, active_patient
):
    _certify_from(api, admin, "pharmacies", pharmacy, TOMORROW)
    body = {"patient": active_patient.pk, "pharmacy": pharmacy.pk, "days_supply": 7}

    today = _decide(api, phil, active_patient)
    assert _codes(today) == ["pharmacy_not_certified"]
    refused = api(phil).post("/api/v1/dispenses/", body, format="json")
    assert refused.status_code == 422
    assert _codes(refused.json()) == ["pharmacy_not_certified"]
    assert not Dispense.objects.exists()

    clock.move_to(TOMORROW_NOON)
    assert _decide(api, phil, active_patient)["decision"] == "allowed"
    assert api(phil).post("/api/v1/dispenses/", body, format="json").status_code == 201


def test_the_certification_day_itself_counts(api, admin, phil, pharmacy, active_patient):
    _certify_from(api, admin, "prescribers", active_patient.prescriber, TODAY)
    _certify_from(api, admin, "pharmacies", pharmacy, TODAY)

    assert _decide(api, phil, active_patient)["decision"] == "allowed"


def test_enrollment_is_refused_the_day_before_the_certification_and_allowed_on_it(
    api, admin, alice, clock, pending_patient
):
    _certify_from(api, admin, "prescribers", pending_patient.prescriber, TOMORROW)
    url = f"/api/v1/patients/{pending_patient.pk}/enroll/"

    refused = api(alice).post(url, {}, format="json")

    assert refused.status_code == 422, refused.json()
    assert _codes(refused.json()) == ["prescriber_not_certified"]
    clock.move_to(TOMORROW_NOON)
    enrolled = api(alice).post(url, {}, format="json")
    assert enrolled.status_code == 200, enrolled.json()
    assert enrolled.json()["enrollment_status"] == "enrolled"


def test_a_back_dated_enrollment_before_the_certification_is_refused(
    api, admin, alice, pending_patient
):
    _certify_from(api, admin, "prescribers", pending_patient.prescriber, TODAY)

    response = api(alice).post(
        f"/api/v1/patients/{pending_patient.pk}/enroll/",
        {"effective_date": (TODAY - timedelta(days=1)).isoformat()},
        format="json",
    )

    assert response.status_code == 422
    assert _codes(response.json()) == ["prescriber_not_certified"]


def test_an_authorization_is_refused_before_the_certification(api, admin, alice, active_patient):
    _certify_from(api, admin, "prescribers", active_patient.prescriber, TOMORROW)

    response = api(alice).post(
        f"/api/v1/patients/{active_patient.pk}/authorizations/",
        {
            "kind": "continuation",
            "rationale": "stable for years",
            "expires_on": (TODAY + timedelta(days=7)).isoformat(),
        },
        format="json",
    )

    assert response.status_code == 422
    assert _codes(response.json()) == ["prescriber_not_certified"]


def test_the_patients_picture_says_not_certified_until_the_day(
    api, admin, alice, clock, active_patient
):
    _certify_from(api, admin, "prescribers", active_patient.prescriber, TOMORROW)

    picture = api(alice).get(f"/api/v1/patients/{active_patient.pk}/").json()["monitoring"]
    assert "prescriber_not_certified" in _codes(picture)

    clock.move_to(TOMORROW_NOON)
    picture = api(alice).get(f"/api/v1/patients/{active_patient.pk}/").json()["monitoring"]
    assert "prescriber_not_certified" not in _codes(picture)


def test_an_imported_dispense_dated_before_the_pharmacys_certification_is_refused(
    api, admin, pharmacy, active_patient
):
    _certify_from(api, admin, "pharmacies", pharmacy, TODAY)
    yesterday = datetime.combine(TODAY - timedelta(days=1), time(15), tzinfo=NOW.tzinfo)

    response = api(admin).post(
        "/api/v1/dispenses/",
        {
            "patient": active_patient.pk,
            "pharmacy": pharmacy.pk,
            "days_supply": 7,
            "dispensed_at": yesterday.isoformat(),
        },
        format="json",
    )

    assert response.status_code == 422, response.json()
    assert "pharmacy_not_certified" in _codes(response.json())
