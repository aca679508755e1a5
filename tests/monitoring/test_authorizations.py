"""POST /api/v1/patients/{id}/authorizations/ (docs/api.md; docs/rules.md §6)."""

from datetime import timedelta

import pytest

from patients.models import Authorization
from tests import factories
from tests.conftest import TODAY


def _url(patient):
    return f"/api/v1/patients/{patient.pk}/authorizations/"


def _auth(kind="continuation", days=14, **extra):
    body = {
        "kind": kind,
        "rationale": "benefit outweighs risk",
        "expires_on": (TODAY + timedelta(days=days)).isoformat(),
    }
    body.update(extra)
    return body


@pytest.fixture
def moderate_patient(alice):
    """Alice's active patient with a moderate ANC yesterday: interrupted by neutropenia."""
    start = TODAY - timedelta(days=20)
    return factories.enrolled_patient(
        actor=alice,
        start=start,
        draws=[(TODAY - timedelta(days=6), 2100), (TODAY - timedelta(days=1), 800)],
        last_name="Moderate",
    )


def test_a_continuation_authorization_while_moderate_lets_the_patient_be_dispensed_to(
    api, alice, phil, moderate_patient
):
    eligibility = f"/api/v1/patients/{moderate_patient.pk}/eligibility/"
    before = api(phil).get(eligibility).json()
    assert before["decision"] == "blocked"

    response = api(alice).post(_url(moderate_patient), _auth(days=30), format="json")

    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["kind"] == "continuation"
    assert data["starts_on"] == TODAY.isoformat()  # the default
    assert data["expires_on"] == (TODAY + timedelta(days=30)).isoformat()
    assert data["prescriber"] == alice.prescriber_id
    assert data["recorded_by"] == alice.pk
    assert data["monitoring"]["authorization"]["kind"] == "continuation"
    after = api(phil).get(eligibility).json()
    assert after["decision"] == "allowed", after
    assert after["max_days_supply"] == 7
    assert after["authorization"]["id"] == data["id"]


def test_an_explicit_start_date_is_kept(api, alice, moderate_patient):
    starts = TODAY - timedelta(days=1)
    body = _auth(starts_on=starts.isoformat(), expires_on=(starts + timedelta(days=30)).isoformat())

    response = api(alice).post(_url(moderate_patient), body, format="json")

    assert response.status_code == 201, response.json()
    assert response.json()["starts_on"] == starts.isoformat()


def test_an_expiry_beyond_30_days_is_a_400(api, alice, moderate_patient):
    response = api(alice).post(_url(moderate_patient), _auth(days=31), format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["expires_on"]
    assert not Authorization.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (_auth(days=-1), "expires_on"),
        (_auth(rationale=""), "rationale"),
        (_auth(rationale="   "), "rationale"),
        (_auth(kind="forever"), "kind"),
        ({"kind": "continuation", "rationale": "x"}, "expires_on"),
        (_auth(expires_on="2026-02-30"), "expires_on"),
    ],
)
def test_bad_authorization_input_is_a_400_naming_the_field(
    api, alice, moderate_patient, body, field
):
    response = api(alice).post(_url(moderate_patient), body, format="json")

    assert response.status_code == 400, response.json()
    assert field in response.json()
    assert not Authorization.objects.exists()


def test_a_continuation_when_the_band_is_normal_is_a_422(api, alice, active_patient):
    response = api(alice).post(_url(active_patient), _auth(), format="json")

    assert response.status_code == 422
    body = response.json()
    assert set(body) >= {"code", "message", "reasons"}
    assert body["reasons"]
    assert not Authorization.objects.exists()


def test_a_rechallenge_without_severe_neutropenia_is_a_422(api, alice, moderate_patient):
    response = api(alice).post(_url(moderate_patient), _auth("rechallenge"), format="json")

    assert response.status_code == 422
    assert not Authorization.objects.exists()


def test_a_pending_patient_gets_no_authorization(api, alice, pending_patient):
    response = api(alice).post(_url(pending_patient), _auth(), format="json")

    assert response.status_code in (409, 422)
    assert not Authorization.objects.exists()


def test_an_uncertified_prescriber_may_not_authorize(api, alice, moderate_patient):
    prescriber = alice.prescriber
    prescriber.certified = False
    prescriber.save()

    response = api(alice).post(_url(moderate_patient), _auth(), format="json")

    assert response.status_code == 422
    assert [r["code"] for r in response.json()["reasons"]] == ["prescriber_not_certified"]
    assert not Authorization.objects.exists()


@pytest.mark.parametrize("persona", ["designee", "phil", "aud"])
def test_only_the_prescriber_authorizes(api, request, moderate_patient, persona):
    user = request.getfixturevalue(persona)

    response = api(user).post(_url(moderate_patient), _auth(), format="json")

    assert response.status_code == 403
    assert not Authorization.objects.exists()


def test_authorizations_are_listed(api, alice, designee, moderate_patient):
    api(alice).post(_url(moderate_patient), _auth(), format="json")

    data = api(designee).get(_url(moderate_patient)).json()

    assert data["count"] == 1
    assert data["results"][0]["kind"] == "continuation"
