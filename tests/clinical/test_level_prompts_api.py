"""Smoking status, interacting medication and dose entries: recorded (audited), and a change
that should prompt a level reminds the prescriber. The interacting list is editable by
administrators only."""

from datetime import timedelta

import pytest

from audit.models import Action
from clinical.models import InteractingDrug, MedicationEvent, SmokingStatusChange
from notifications.models import Notification
from tests.audit.conftest import entries_after, head
from tests.conftest import NOW, TODAY


def url(patient, name):
    return f"/api/v1/patients/{patient.pk}/{name}/"


def test_a_smoking_change_on_admission_reminds_the_prescriber_to_check_a_level(
    api, alice, designee, patient, django_capture_on_commit_callbacks
):
    before = head()
    with django_capture_on_commit_callbacks(execute=True):
        response = api(designee).post(
            url(patient, "smoking-status"),
            {
                "status": "non_smoker",
                "effective_on": str(TODAY - timedelta(days=1)),
                "context": "hospital admission",
                "cigarettes_per_day": 0,
            },
            format="json",
        )
    assert response.status_code == 201, response.json()
    [entry] = entries_after(before)
    assert entry.action == Action.SMOKING_STATUS_RECORD
    assert entry.output == {"previous_status": "unknown", "level_suggested": True}
    reminders = Notification.objects.filter(kind="level_suggested", channel="in_app")
    assert {n.recipient_id for n in reminders} == {alice.pk, designee.pk}
    assert "hospital admission" in reminders[0].body
    assert "CYP1A2" in reminders[0].body


def test_the_same_smoking_status_twice_is_a_conflict(api, alice, patient):
    client = api(alice)
    data = {"status": "smoker", "effective_on": str(TODAY - timedelta(days=5))}
    assert client.post(url(patient, "smoking-status"), data).status_code == 201
    again = client.post(url(patient, "smoking-status"), {**data, "effective_on": str(TODAY)})
    assert again.status_code == 409
    assert SmokingStatusChange.objects.count() == 1
    listed = client.get(url(patient, "smoking-status")).json()["results"]
    assert [x["status"] for x in listed] == ["smoker"]


def test_a_level_takes_the_recorded_smoking_status_when_none_is_given(api, alice, patient):
    client = api(alice)
    client.post(
        url(patient, "smoking-status"),
        {"status": "smoker", "effective_on": str(TODAY - timedelta(days=30))},
    )
    level = client.post(
        url(patient, "levels"),
        {
            "sampled_at": (NOW - timedelta(hours=2)).isoformat(),
            "clozapine": "300",
            "norclozapine": "400",
            "unit": "ug/L",
            # the ratio bands are read on a trough only
            "last_dose_at": (NOW - timedelta(hours=14)).isoformat(),
        },
        format="json",
    ).json()
    assert level["smoking"] == "smoker"
    ratio = next(f for f in level["interpretation"]["flags"] if f["code"] == "ratio_induction")
    assert "recorded smoking" in ratio["message"]


@pytest.mark.parametrize(
    ("drug", "kind", "words"),
    [
        ("fluvoxamine", "start", "Avoid the combination if there is an alternative"),
        ("ciprofloxacin", "start", "reduce the clozapine dose pre-emptively"),
        ("carbamazepine", "start", "bone-marrow suppression"),
        ("phenytoin", "stop", "levels rise as induction wears off"),
    ],
)
def test_an_interacting_medication_reminds_the_prescriber(
    api, alice, patient, drug, kind, words, django_capture_on_commit_callbacks
):
    before = head()
    with django_capture_on_commit_callbacks(execute=True):
        response = api(alice).post(
            url(patient, "medications"),
            {"drug": drug, "kind": kind, "effective_on": str(TODAY)},
            format="json",
        )
    assert response.status_code == 201, response.json()
    [entry] = entries_after(before)
    assert entry.action == Action.MEDICATION_EVENT_RECORD
    assert entry.inputs["drug"] == drug and entry.inputs["kind"] == kind
    [reminder] = Notification.objects.filter(
        kind="level_suggested", recipient=alice, channel="in_app"
    )
    assert drug in reminder.body and words in reminder.body


def test_the_summary_lists_interacting_medications_in_use(api, alice, patient):
    client = api(alice)
    for drug, kind in (("fluvoxamine", "start"), ("phenytoin", "start"), ("phenytoin", "stop")):
        client.post(
            url(patient, "medications"), {"drug": drug, "kind": kind, "effective_on": str(TODAY)}
        )
    summary = client.get(url(patient, "levels") + "summary/").json()
    assert [m["drug"] for m in summary["interacting_medications"]] == ["fluvoxamine"]
    assert len(summary["level_suggested"]) == 3


def test_an_unknown_or_retired_medication_is_refused(api, alice, patient):
    client = api(alice)
    unknown = client.post(
        url(patient, "medications"),
        {"drug": "aspirin", "kind": "start", "effective_on": str(TODAY)},
    )
    assert unknown.status_code == 400 and "drug" in unknown.json()
    InteractingDrug.objects.filter(name="ciprofloxacin").update(active=False)
    retired = client.post(
        url(patient, "medications"),
        {"drug": "ciprofloxacin", "kind": "start", "effective_on": str(TODAY)},
    )
    assert retired.status_code == 400 and "drug" in retired.json()
    assert not MedicationEvent.objects.exists()


def test_dose_entries_are_recorded_and_a_change_needs_the_new_dose(api, designee, patient):
    client = api(designee)
    before = head()
    ok = client.post(
        url(patient, "doses"),
        {"kind": "dose_change", "effective_at": NOW.isoformat(), "daily_dose_mg": "450"},
        format="json",
    )
    assert ok.status_code == 201, ok.json()
    assert [e.action for e in entries_after(before)] == [Action.DOSE_ENTRY_RECORD]
    missing = client.post(
        url(patient, "doses"), {"kind": "dose_change", "effective_at": NOW.isoformat()}
    )
    assert missing.status_code == 400 and "daily_dose_mg" in missing.json()
    naive = client.post(
        url(patient, "doses"), {"kind": "last_dose_taken", "effective_at": "2026-05-19T08:00:00"}
    )
    assert naive.status_code == 400 and "effective_at" in naive.json()


def test_a_reported_last_dose_two_days_ago_shows_in_the_dose_tracking(api, alice, patient):
    client = api(alice)
    client.post(
        url(patient, "doses"),
        {"kind": "last_dose_taken", "effective_at": (NOW - timedelta(hours=49)).isoformat()},
        format="json",
    )
    tracking = client.get(url(patient, "levels") + "summary/").json()["dose_tracking"]
    assert tracking["retitration_needed"] is True
    assert tracking["days_since_supply_ran_out"] == 2


@pytest.mark.parametrize("name", ["smoking-status", "medications", "doses"])
def test_access_rules(api, bob, phil, aud, patient, name):
    assert api(bob).get(url(patient, name)).status_code == 404
    assert api(bob).post(url(patient, name), {}).status_code == 404
    assert api(phil).get(url(patient, name)).status_code == 403
    assert api(aud).get(url(patient, name)).status_code == 200
    assert api(aud).post(url(patient, name), {}).status_code == 403
    assert api().get(url(patient, name)).status_code == 401


def test_the_interacting_list_is_seeded_and_only_administrators_edit_it(api, alice, aud, admin):
    listed = api(alice).get("/api/v1/interacting-drugs/", {"page_size": 100}).json()["results"]
    by_name = {d["name"]: (d["effect"], d["advice"]) for d in listed}
    # The maintained list of the common inhibitors and inducers, with what to do for each.
    assert by_name["fluvoxamine"] == ("inhibitor", "avoid_or_reduce")
    assert by_name["ciprofloxacin"] == ("inhibitor", "avoid_or_reduce")
    assert by_name["carbamazepine"] == ("inducer", "avoid_marrow_risk")
    assert by_name["phenytoin"] == ("inducer", "later_level")
    assert by_name["rifampicin"] == ("inducer", "later_level")
    assert by_name["fluoxetine"] == ("inhibitor", "level_at_steady_state")
    assert api(aud).get("/api/v1/interacting-drugs/").status_code == 200
    new = {"name": "modafinil", "effect": "inducer", "enzyme": "CYP3A4"}
    assert api(alice).post("/api/v1/interacting-drugs/", new).status_code == 403
    before = head()
    created = api(admin).post("/api/v1/interacting-drugs/", new)
    assert created.status_code == 201
    [entry] = entries_after(before)
    assert entry.action == Action.INTERACTING_DRUG_SAVE
    drug_id = created.json()["id"]
    edited = api(admin).patch(f"/api/v1/interacting-drugs/{drug_id}/", {"active": False})
    assert edited.status_code == 200 and edited.json()["active"] is False
    assert api().get("/api/v1/interacting-drugs/").status_code == 401
