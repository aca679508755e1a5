"""A request the rules refuse (422) writes its decision to the audit trail and nothing else:
the service's transaction rolls back, then the entry is written on its own."""

from datetime import timedelta

from django.apps import apps

from audit.models import Action, AuditEntry, FieldChange
from tests import factories
from tests.audit.conftest import entries_after, head
from tests.conftest import TODAY


def _counts():
    return {
        model._meta.label: model._default_manager.count()
        for model in apps.get_models()
        if model not in (AuditEntry,) and model._meta.app_label != "sessions"
    }


def test_a_refused_enrollment_writes_only_its_audit_entry(api, alice):
    patient = factories.PatientFactory.create(actor=alice, prescriber=alice.prescriber)
    old = factories.record_anc(patient, alice, TODAY - timedelta(days=40), 2300)
    client = api(alice)
    client.get("/api/v1/patients/")  # the token exists before counting
    counts = _counts()
    before = head()

    response = client.post(
        f"/api/v1/patients/{patient.pk}/enroll/", {}, HTTP_X_REQUEST_ID="refused-1"
    )

    assert response.status_code == 422
    assert [r["code"] for r in response.json()["reasons"]] == ["anc_not_recent"]
    assert _counts() == counts
    [entry] = entries_after(before)
    assert entry.action == Action.PATIENT_ENROLL
    assert entry.outcome == "refused"
    assert entry.request_id == "refused-1"
    assert entry.output["code"] == "enrollment_refused"
    assert entry.output["reasons"] == ["anc_not_recent"]
    assert entry.inputs["anc_results"] == []
    assert old.pk  # the 40-day-old result is outside the window the entry lists


def test_a_blocked_dispense_writes_only_the_decisions_entry(api, phil, pharmacy, alice):
    start = TODAY - timedelta(days=20)
    patient = factories.enrolled_patient(
        actor=alice, start=start, draws=[(TODAY - timedelta(days=1), 800)]
    )
    client = api(phil)
    client.get("/api/v1/dispenses/")
    counts = _counts()
    history = FieldChange.objects.count()
    before = head()

    response = client.post(
        "/api/v1/dispenses/",
        {"patient": patient.pk, "pharmacy": pharmacy.pk, "days_supply": 7},
        format="json",
    )

    assert response.status_code == 422
    body = response.json()
    assert "treatment_interrupted" in [r["code"] for r in body["reasons"]]
    assert _counts() == counts
    assert FieldChange.objects.count() == history
    [entry] = entries_after(before)
    assert entry.action == Action.DISPENSE_RECORD
    assert entry.outcome == "blocked"
    assert entry.output["decision"]["decision"] == "blocked"
    assert entry.output["decision"]["max_days_supply"] == 0
    assert "treatment_interrupted" in entry.output["reasons"]
    assert entry.inputs["latest_anc"]["value_per_ul"] == 800
    assert entry.inputs["days_supply_requested"] == 7


def test_a_refused_treatment_event_writes_only_its_audit_entry(api, alice):
    start = TODAY - timedelta(days=20)
    patient = factories.enrolled_patient(
        actor=alice, start=start, draws=[(TODAY - timedelta(days=1), 400)]
    )
    client = api(alice)
    client.get("/api/v1/patients/")
    counts = _counts()
    before = head()

    response = client.post(
        f"/api/v1/patients/{patient.pk}/treatment-events/",
        {"kind": "resume", "effective_date": TODAY.isoformat(), "reason": "try again"},
        format="json",
    )

    assert response.status_code == 422, response.json()
    assert _counts() == counts
    [entry] = entries_after(before)
    assert entry.action == Action.TREATMENT_EVENT_RECORD
    assert entry.outcome == "refused"
    assert entry.output["reasons"] == [r["code"] for r in response.json()["reasons"]]


def test_a_malformed_request_writes_nothing_at_all(api, alice, pending_patient):
    before = head()
    response = api(alice).post(
        f"/api/v1/patients/{pending_patient.pk}/enroll/",
        {"effective_date": (TODAY + timedelta(days=3)).isoformat()},
    )
    assert response.status_code == 400
    assert "effective_date" in response.json()
    assert entries_after(before) == []
