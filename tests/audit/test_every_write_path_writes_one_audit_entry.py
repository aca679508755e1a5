"""Every state change and every dispensing decision writes exactly one audit entry, in the same
transaction, naming the actor, role, request id, object, the inputs used and the output."""

from datetime import timedelta

import pytest

from audit.models import Action, AuditEntry
from audit.services import audit_record, audit_seal
from monitoring.models import LabResult
from patients.models import Dispense
from tests import factories
from tests.audit.conftest import entries_after, head
from tests.conftest import TODAY


def _one(before, action):
    entries = entries_after(before)
    assert [e.action for e in entries] == [action], [e.action for e in entries]
    return entries[0]


def test_creating_a_patient_writes_one_entry(api, alice):
    before = head()
    response = api(alice).post(
        "/api/v1/patients/",
        {
            "first_name": "Ann",
            "last_name": "Audit",
            "date_of_birth": "1980-01-02",
            "sex": "female",
            "population": "general",
            "prescriber": alice.prescriber_id,
        },
        format="json",
        HTTP_X_REQUEST_ID="req-create-1",
    )
    assert response.status_code == 201, response.json()
    entry = _one(before, Action.PATIENT_CREATE)
    assert entry.actor_id == alice.pk
    assert entry.actor_username == "alice"
    assert entry.role == "prescriber"
    assert entry.request_id == "req-create-1"
    assert entry.object_type == "patient"
    assert entry.object_id == str(response.json()["id"])
    assert entry.patient_id == response.json()["id"]
    assert entry.inputs["population"] == "general"
    assert entry.output == {"enrollment_status": "pending"}


def test_enrolling_writes_one_entry_with_the_labs_it_used(api, alice, pending_patient):
    lab = LabResult.objects.get(patient=pending_patient)
    before = head()
    response = api(alice).post(f"/api/v1/patients/{pending_patient.pk}/enroll/", {})
    assert response.status_code == 200, response.json()
    entry = _one(before, Action.PATIENT_ENROLL)
    assert entry.outcome == "ok"
    assert entry.object_type == "enrollment_event"
    assert entry.inputs["protocol"] == "us-label-2015"
    assert entry.inputs["protocol_version"]
    assert [(r["id"], r["value_per_ul"]) for r in entry.inputs["anc_results"]] == [(lab.pk, 2300)]
    assert entry.output == {"kind": "enroll", "enrollment_status": "enrolled"}


def test_recording_correcting_and_voiding_a_result_write_one_entry_each(api, alice, active_patient):
    client = api(alice)
    url = f"/api/v1/patients/{active_patient.pk}/anc-results/"
    drawn = factories.at(TODAY, 8).isoformat()
    before = head()
    first = client.post(
        url,
        {"drawn_at": drawn, "value": "2.2", "unit": "10*3/uL", "accession": "ACC-1"},
        format="json",
    )
    assert first.status_code == 201, first.json()
    entry = _one(before, Action.ANC_RESULT_RECORD)
    assert entry.object_id == str(first.json()["id"])
    assert entry.inputs["unit"] == "10*3/uL"
    assert entry.output["value_per_ul"] == 2200
    assert entry.output["band"] == "normal"

    before = head()
    same = client.post(
        url,
        {"drawn_at": drawn, "value": "2.2", "unit": "10*3/uL", "accession": "ACC-1"},
        format="json",
    )
    assert same.status_code == 200
    assert entries_after(before) == []  # a repeat delivery changes nothing

    corrected = client.post(
        url,
        {
            "drawn_at": drawn,
            "value": "2.4",
            "unit": "10*3/uL",
            "accession": "ACC-1",
            "status": "corrected",
        },
        format="json",
    )
    assert corrected.status_code == 201, corrected.json()
    entry = _one(before, Action.ANC_RESULT_CORRECT)
    assert entry.inputs["corrects"] == {"id": first.json()["id"], "value_per_ul": 2200}
    assert entry.output["value_per_ul"] == 2400

    before = head()
    void = client.post(f"{url}{corrected.json()['id']}/void/", {"reason": "wrong patient"})
    assert void.status_code == 200, void.json()
    entry = _one(before, Action.ANC_RESULT_VOID)
    # Who entered the result and from where decide who may void it (docs/rules.md §8): both kept.
    assert entry.inputs == {
        "reason": "wrong patient",
        "value_per_ul": 2400,
        "analyte": "anc",
        "source": "manual",
        "recorded_by": alice.pk,
    }
    assert entry.output["status"] == "entered_in_error"


def test_treatment_events_and_authorizations_write_one_entry_each(api, alice, active_patient):
    client = api(alice)
    before = head()
    event = client.post(
        f"/api/v1/patients/{active_patient.pk}/treatment-events/",
        {"kind": "interrupt", "effective_date": TODAY.isoformat(), "reason": "surgery"},
        format="json",
    )
    assert event.status_code == 201, event.json()
    entry = _one(before, Action.TREATMENT_EVENT_RECORD)
    assert entry.object_id == str(event.json()["id"])
    assert entry.output["treatment_status"] == "interrupted"
    assert entry.inputs["latest_anc"]["value_per_ul"] == 2100


def test_an_authorization_writes_one_entry(api, alice, active_patient):
    client = api(alice)
    factories.record_anc(active_patient, alice, TODAY, 700)  # moderate: interrupts
    before = head()
    auth = client.post(
        f"/api/v1/patients/{active_patient.pk}/authorizations/",
        {
            "kind": "continuation",
            "rationale": "benefit outweighs risk",
            "expires_on": (TODAY + timedelta(days=10)).isoformat(),
        },
        format="json",
    )
    assert auth.status_code == 201, auth.json()
    entry = _one(before, Action.AUTHORIZATION_RECORD)
    assert entry.object_type == "authorization"
    assert entry.inputs["kind"] == "continuation"


def test_each_eligibility_check_writes_one_entry_with_the_decision(api, phil, active_patient):
    before = head()
    response = api(phil).get(
        f"/api/v1/patients/{active_patient.pk}/eligibility/", {"days_supply": 30}
    )
    assert response.status_code == 200
    body = response.json()
    entry = _one(before, Action.ELIGIBILITY_CHECK)
    assert entry.outcome == "blocked"
    assert entry.role == "pharmacist"
    assert entry.output["decision"] == "blocked"
    assert entry.output["reasons"] == ["days_supply_exceeds_limit"]
    assert entry.output["max_days_supply"] == body["max_days_supply"] == 7
    assert entry.inputs["latest_anc"]["id"] == body["latest_anc"]["id"]
    assert entry.inputs["latest_anc"]["value_per_ul"] == 2100
    assert entry.inputs["protocol"] == "us-label-2015"
    assert entry.inputs["days_supply_requested"] == 30
    assert entry.inputs["pharmacy_id"] == phil.pharmacy_id

    before = head()
    api(phil).get(f"/api/v1/patients/{active_patient.pk}/eligibility/")
    assert _one(before, Action.ELIGIBILITY_CHECK).outcome == "allowed"


def test_a_dispense_writes_one_entry_and_a_replay_writes_none(api, phil, pharmacy, active_patient):
    client = api(phil)
    body = {"patient": active_patient.pk, "pharmacy": pharmacy.pk, "days_supply": 7}
    before = head()
    response = client.post("/api/v1/dispenses/", body, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    assert response.status_code == 201, response.json()
    entry = _one(before, Action.DISPENSE_RECORD)
    assert entry.outcome == "allowed"
    assert entry.object_type == "dispense"
    assert entry.object_id == str(response.json()["id"])
    assert entry.output["decision"] == "allowed"
    assert entry.output["authorization_code"] == response.json()["authorization_code"]
    assert entry.inputs["latest_anc"]["value_per_ul"] == 2100

    before = head()
    again = client.post("/api/v1/dispenses/", body, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    assert again.status_code == 201
    assert entries_after(before) == []
    assert Dispense.objects.count() == 1


def test_a_consult_acknowledgement_writes_one_entry(api, alice, active_patient):
    factories.record_anc(active_patient, alice, TODAY, 700)
    before = head()
    response = api(alice).post(
        f"/api/v1/patients/{active_patient.pk}/consult-acknowledgement/", {"note": "booked"}
    )
    assert response.status_code == 201, response.json()
    entry = _one(before, Action.CONSULT_ACKNOWLEDGE)
    assert entry.inputs["note"] == "booked"
    assert entry.output == {"band": "moderate"}


def test_certification_changes_write_one_entry_each(api, admin, alice_prescriber, pharmacy):
    client = api(admin)
    before = head()
    response = client.patch(
        f"/api/v1/prescribers/{alice_prescriber.pk}/", {"certified": False}, format="json"
    )
    assert response.status_code == 200, response.json()
    entry = _one(before, Action.PRESCRIBER_UPDATE)
    assert entry.output == {"changed": {"certified": [True, False]}}
    assert entry.role == "admin"

    before = head()
    response = client.patch(
        f"/api/v1/pharmacies/{pharmacy.pk}/",
        {"certification_expires_on": "2026-12-31"},
        format="json",
    )
    assert response.status_code == 200, response.json()
    entry = _one(before, Action.PHARMACY_UPDATE)
    assert entry.output == {"changed": {"certification_expires_on": [None, "2026-12-31"]}}

    before = head()
    response = client.post(
        "/api/v1/pharmacies/",
        {"name": "New", "ncpdp_id": "7654321", "certified": True},
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert _one(before, Action.PHARMACY_CREATE).object_id == str(response.json()["id"])


@pytest.mark.django_db
def test_the_hook_for_other_apps_appends_to_the_chain(admin):
    before = head()
    entry = audit_record(
        action=Action.QUARANTINE_RESOLVE,
        actor=admin,
        object_type="quarantined_result",
        object_id=42,
        inputs={"resolution": "matched"},
    )
    assert _one(before, Action.QUARANTINE_RESOLVE) == entry
    # The request path writes it unsealed; the sealer gives it its place in the chain.
    assert (entry.seq, entry.prev_hash, entry.hash) == (None, None, None)
    audit_seal()
    entry.refresh_from_db()
    assert entry.seq is not None and entry.hash is not None
    previous = AuditEntry.objects.filter(seq=entry.seq - 1).first()
    assert entry.prev_hash == (previous.hash if previous else "0" * 64)
    assert len(entry.hash) == 64
