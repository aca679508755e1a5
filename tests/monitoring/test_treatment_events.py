"""POST /api/v1/patients/{id}/treatment-events/ (docs/api.md; docs/rules.md §5)."""

from datetime import timedelta

import pytest

from patients.models import TreatmentEvent
from tests import factories
from tests.conftest import NOW, TODAY


def _url(patient):
    return f"/api/v1/patients/{patient.pk}/treatment-events/"


def _event(kind, day=TODAY, reason="clinical decision"):
    return {"kind": kind, "effective_date": day.isoformat(), "reason": reason}


def _anc(client, patient, value, hours_ago, **extra):
    drawn = (NOW - timedelta(hours=hours_ago)).isoformat()
    response = client.post(
        f"/api/v1/patients/{patient.pk}/anc-results/",
        {"drawn_at": drawn, "value": value, "unit": "/uL", **extra},
        format="json",
    )
    assert response.status_code == 201, response.json()
    return response.json()


@pytest.fixture
def not_started(alice):
    return factories.enrolled_patient(
        actor=alice, start=TODAY - timedelta(days=2), started=False, last_name="Unstarted"
    )


def test_start_interrupt_resume_discontinue(api, alice, not_started):
    client = api(alice)
    steps = [
        ("start", TODAY - timedelta(days=2), "active"),
        ("interrupt", TODAY - timedelta(days=1), "interrupted"),
        ("resume", TODAY, "active"),
        ("discontinue", TODAY, "discontinued"),
    ]
    for kind, day, status in steps:
        response = client.post(_url(not_started), _event(kind, day), format="json")

        assert response.status_code == 201, (kind, response.json())
        data = response.json()
        assert data["kind"] == kind
        assert data["effective_date"] == day.isoformat()
        assert data["actor"] == alice.pk
        assert data["monitoring"]["treatment_status"] == status
    patient = client.get(f"/api/v1/patients/{not_started.pk}/").json()
    assert patient["treatment_status"] == "discontinued"
    assert patient["enrollment_status"] == "discontinued"
    assert TreatmentEvent.objects.filter(patient=not_started).count() == 4


def test_events_are_listed_newest_first(api, alice, aud, active_patient):
    api(alice).post(_url(active_patient), _event("interrupt"), format="json")

    data = api(aud).get(_url(active_patient)).json()

    assert set(data) == {"count", "next", "previous", "results"}
    assert [e["kind"] for e in data["results"]] == ["interrupt", "start"]


@pytest.mark.parametrize(
    ("history", "kind"),
    [
        ([], "resume"),  # active: nothing to resume
        ([], "start"),  # already active
        (["interrupt"], "interrupt"),
        (["discontinue"], "discontinue"),
        (["discontinue"], "start"),
        (["discontinue"], "resume"),
    ],
)
def test_an_impossible_transition_is_a_409(api, alice, active_patient, history, kind):
    client = api(alice)
    for earlier in history:
        assert client.post(_url(active_patient), _event(earlier), format="json").status_code == 201
    before = TreatmentEvent.objects.count()

    response = client.post(_url(active_patient), _event(kind), format="json")

    assert response.status_code == 409, response.json()
    assert set(response.json()) >= {"code", "message", "reasons"}
    assert TreatmentEvent.objects.count() == before


@pytest.mark.parametrize("kind", ["interrupt", "resume"])
def test_a_patient_who_has_not_started_cannot_interrupt_or_resume(api, alice, not_started, kind):
    response = api(alice).post(_url(not_started), _event(kind), format="json")

    assert response.status_code == 409


def test_a_pending_patient_cannot_start(api, alice, pending_patient):
    response = api(alice).post(_url(pending_patient), _event("start"), format="json")

    assert response.status_code == 409
    assert not TreatmentEvent.objects.filter(patient=pending_patient).exists()


def test_start_below_the_normal_band_is_a_422(api, alice, not_started):
    _anc(api(alice), not_started, 1300, hours_ago=2)

    response = api(alice).post(_url(not_started), _event("start"), format="json")

    assert response.status_code == 422
    assert [r["code"] for r in response.json()["reasons"]] == ["anc_below_threshold"]


def test_resume_after_moderate_needs_an_anc_of_1000(api, alice, active_patient):
    client = api(alice)
    first = _anc(client, active_patient, 800, hours_ago=30)
    assert first["monitoring"]["treatment_status"] == "interrupted"
    _anc(client, active_patient, 850, hours_ago=20)  # confirms the episode

    refused = client.post(_url(active_patient), _event("resume"), format="json")
    _anc(client, active_patient, 1000, hours_ago=1)
    allowed = client.post(_url(active_patient), _event("resume"), format="json")

    assert refused.status_code == 422
    assert [r["code"] for r in refused.json()["reasons"]] == ["anc_below_threshold"]
    assert allowed.status_code == 201, allowed.json()
    assert allowed.json()["monitoring"]["treatment_status"] == "active"


def _severe_then_recovered(client, patient):
    # A fall of more than 75% from 2100/µL: entered by hand, it is confirmed (docs/rules.md §8).
    low = _anc(client, patient, 400, hours_ago=60, confirm_unusual=True)
    assert low["monitoring"]["treatment_status"] == "interrupted"
    _anc(client, patient, 420, hours_ago=40)  # within 24 h: confirmed severe
    return _anc(client, patient, 1600, hours_ago=2)


def test_resume_after_severe_without_rechallenge_authorization_is_a_422(api, alice, active_patient):
    client = api(alice)
    recovered = _severe_then_recovered(client, active_patient)
    assert recovered["monitoring"]["treatment_status"] == "interrupted"

    response = client.post(_url(active_patient), _event("resume"), format="json")

    assert response.status_code == 422, response.json()
    body = response.json()
    assert body["code"]
    assert body["message"]
    assert [r["code"] for r in body["reasons"]] == ["rechallenge_not_authorized"]
    assert not TreatmentEvent.objects.filter(patient=active_patient, kind="resume").exists()


def test_resume_after_severe_with_a_rechallenge_authorization_restarts_the_clock(
    api, alice, active_patient
):
    client = api(alice)
    _severe_then_recovered(client, active_patient)
    authorization = client.post(
        f"/api/v1/patients/{active_patient.pk}/authorizations/",
        {
            "kind": "rechallenge",
            "rationale": "benefit outweighs risk",
            "expires_on": (TODAY + timedelta(days=14)).isoformat(),
        },
        format="json",
    )
    assert authorization.status_code == 201, authorization.json()

    response = client.post(_url(active_patient), _event("resume"), format="json")

    assert response.status_code == 201, response.json()
    monitoring = response.json()["monitoring"]
    assert monitoring["treatment_status"] == "active"
    assert monitoring["clock_started_on"] == TODAY.isoformat()
    assert monitoring["monitoring_frequency"] == "weekly"


def test_a_designee_may_not_record_treatment_events(api, designee, active_patient):
    response = api(designee).post(_url(active_patient), _event("interrupt"), format="json")

    assert response.status_code == 403
    assert TreatmentEvent.objects.filter(patient=active_patient).count() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (_event("interrupt", TODAY + timedelta(days=1)), "effective_date"),
        ({"kind": "interrupt", "effective_date": "soon", "reason": "x"}, "effective_date"),
        ({"kind": "interrupt", "reason": "x"}, "effective_date"),
        (_event("pause"), "kind"),
        ({"kind": "interrupt", "effective_date": TODAY.isoformat()}, "reason"),
        (_event("interrupt", reason=""), "reason"),
        (_event("interrupt", reason="   "), "reason"),
    ],
)
def test_bad_event_input_is_a_400_naming_the_field(api, alice, active_patient, body, field):
    response = api(alice).post(_url(active_patient), body, format="json")

    assert response.status_code == 400, response.json()
    assert field in response.json()
    assert TreatmentEvent.objects.filter(patient=active_patient).count() == 1
