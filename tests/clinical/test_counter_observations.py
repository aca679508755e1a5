"""Item 4: the re-titration warning is in the dispense response and its audit entry, and a
pharmacist records at the counter what they see - the reported last dose, a smoking change, a
new interacting drug, doubtful adherence - through the same services and audit as the clinic."""

from datetime import timedelta

import pytest

from audit.models import Action, AuditEntry
from clinical.models import DoseEntry, LevelIndication, MedicationEvent, SmokingStatusChange
from notifications.models import Notification
from tests.audit.conftest import entries_after, head
from tests.clinical.conftest import dispensed
from tests.conftest import NOW, TODAY


def url(patient):
    return f"/api/v1/patients/{patient.pk}/counter-observations/"


def dispense(api, phil, patient, pharmacy, days_supply=7):
    return api(phil).post(
        "/api/v1/dispenses/",
        {"patient": patient.pk, "pharmacy": pharmacy.pk, "days_supply": days_supply},
        format="json",
    )


def test_a_dispense_after_a_gap_carries_the_retitration_warning_and_audits_it(
    api, phil, pharmacy, patient
):
    dispensed(patient, pharmacy, phil, days_ago=12, days_supply=7)  # ran out 5 days ago
    before = head()
    response = dispense(api, phil, patient, pharmacy)
    assert response.status_code == 201, response.json()
    warning = response.json()["retitration_warning"]
    assert warning["days_without"] == 5 and warning["restart_dose_mg"] == "12.5"
    assert warning["code"] == "retitration_needed"
    assert "re-titration from 12.5 mg" in warning["message"]
    [entry] = [e for e in entries_after(before) if e.action == Action.DISPENSE_RECORD]
    assert entry.output["retitration_warning"]["days_without"] == 5


def test_a_dispense_without_a_gap_has_a_null_warning(api, phil, pharmacy, patient):
    dispensed(patient, pharmacy, phil, days_ago=5, days_supply=7)
    response = dispense(api, phil, patient, pharmacy)
    assert response.status_code == 201, response.json()
    assert response.json()["retitration_warning"] is None
    entry = AuditEntry.objects.filter(action=Action.DISPENSE_RECORD).latest("seq")
    assert entry.output["retitration_warning"] is None


def test_the_eligibility_audit_entry_carries_the_warning(api, phil, pharmacy, patient):
    dispensed(patient, pharmacy, phil, days_ago=12, days_supply=7)
    api(phil).get(f"/api/v1/patients/{patient.pk}/eligibility/")
    entry = AuditEntry.objects.filter(action=Action.ELIGIBILITY_CHECK).latest("seq")
    assert entry.output["retitration_warning"]["days_without"] == 5


def test_a_pharmacist_records_the_reported_last_dose_and_gets_the_warning(
    api, phil, pharmacy, patient
):
    dispensed(patient, pharmacy, phil, days_ago=5, days_supply=14)  # supply left
    before = head()
    response = api(phil).post(
        url(patient),
        {"kind": "last_dose_reported", "last_dose_at": (NOW - timedelta(days=3)).isoformat()},
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["retitration_warning"]["days_without"] == 3
    [entry] = entries_after(before)
    assert entry.action == Action.DOSE_ENTRY_RECORD and entry.actor_id == phil.pk
    assert DoseEntry.objects.get().recorded_by == phil
    # the next decision reads it (from the stored dose facts)
    decision = api(phil).get(f"/api/v1/patients/{patient.pk}/eligibility/").json()
    assert decision["retitration_warning"]["days_without"] == 3


def test_a_pharmacist_records_a_smoking_change_and_a_new_interacting_drug(
    api, alice, phil, patient, django_capture_on_commit_callbacks
):
    client = api(phil)
    before = head()
    with django_capture_on_commit_callbacks(execute=True):
        smoking = client.post(
            url(patient),
            {
                "kind": "smoking_change",
                "smoking_status": "non_smoker",
                "nicotine": "vaping",
                "effective_on": str(TODAY),
            },
            format="json",
        )
        drug = client.post(
            url(patient),
            {
                "kind": "interacting_drug",
                "drug": "fluvoxamine",
                "change": "start",
                "effective_on": str(TODAY),
            },
            format="json",
        )
        doubt = client.post(
            url(patient), {"kind": "adherence_doubt", "effective_on": str(TODAY)}, format="json"
        )
    assert (smoking.status_code, drug.status_code, doubt.status_code) == (201, 201, 201)
    actions = [e.action for e in entries_after(before)]
    assert actions == [
        Action.SMOKING_STATUS_RECORD,
        Action.MEDICATION_EVENT_RECORD,
        Action.LEVEL_INDICATION_RECORD,
    ]
    assert SmokingStatusChange.objects.get().nicotine == "vaping"
    assert MedicationEvent.objects.get().recorded_by == phil
    assert LevelIndication.objects.get().reason == "adherence_doubt"
    bodies = [
        n.body
        for n in Notification.objects.filter(
            kind="level_suggested", recipient=alice, channel="in_app"
        )
    ]
    assert len(bodies) == 3
    assert any("Avoid the combination" in b for b in bodies)
    assert any("Do not increase the dose until adherence is confirmed" in b for b in bodies)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"kind": "last_dose_reported"}, "last_dose_at"),
        ({"kind": "smoking_change", "effective_on": str(TODAY)}, "smoking_status"),
        ({"kind": "interacting_drug", "drug": "aspirin", "change": "start"}, "drug"),
        ({"kind": "interacting_drug", "drug": "fluvoxamine", "effective_on": str(TODAY)}, "change"),
        ({"kind": "guess"}, "kind"),
        (
            {
                "kind": "smoking_change",
                "smoking_status": "smoker",
                "nicotine": "vaping",
                "effective_on": str(TODAY),
            },
            "nicotine",
        ),
        (
            {"kind": "last_dose_reported", "last_dose_at": (NOW + timedelta(hours=2)).isoformat()},
            "last_dose_at",
        ),
    ],
)
def test_bad_counter_input_names_the_field_and_writes_nothing(api, phil, patient, data, field):
    before = head()
    response = api(phil).post(url(patient), data, format="json")
    assert response.status_code == 400, response.json()
    assert field in str(response.json())
    assert not DoseEntry.objects.exists() and not SmokingStatusChange.objects.exists()
    assert not entries_after(before)


def test_who_may_record_at_the_counter(api, aud, phil, alice, bobs_patient, patient):
    data = {"kind": "adherence_doubt", "effective_on": str(TODAY)}
    assert api(aud).post(url(patient), data).status_code == 403
    assert api().post(url(patient), data).status_code == 401
    assert api(alice).post(url(bobs_patient), data).status_code == 404
    assert api(alice).post(url(patient), data).status_code == 201
    # a pharmacist still reads no levels or plan
    assert api(phil).get(f"/api/v1/patients/{patient.pk}/levels/").status_code == 403
