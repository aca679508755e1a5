"""/api/v1/patients/{id}/plan/: the checks with their status, POST a done entry, the myocarditis
checklist prompt; who may do what."""

from datetime import timedelta

import pytest

from audit.models import Action
from clinical.models import PlanEntry
from notifications.models import Notification
from tests.audit.conftest import entries_after, head
from tests.clinical.conftest import STARTED_DAYS_AGO
from tests.conftest import TODAY

START = TODAY - timedelta(days=STARTED_DAYS_AGO)


def url(patient, suffix=""):
    return f"/api/v1/patients/{patient.pk}/plan/{suffix}"


def by_code(items):
    return {item["code"]: item for item in items}


def test_the_plan_lists_every_check_with_its_status_on_day_100(api, alice, patient):
    response = api(alice).get(url(patient))
    assert response.status_code == 200
    items = by_code(response.json())
    expected = [
        "ecg",
        "vitals",
        "troponin_crp",
        "myocarditis_watch",
        "eosinophils",
        "bowel",
        "weight",
        "glucose",
        "lipids",
        "liver",
        "symptom_rating",
        "clozapine_level",
        "seizure",
    ]
    if patient.sex == "female":
        expected.append("pregnancy")
    assert list(items) == expected
    # Nothing recorded: the week-4 ECG (after the baseline) has been overdue since day 29.
    assert items["ecg"]["status"] == "overdue"
    assert items["ecg"]["due_on"] == str(START + timedelta(days=28))
    assert items["ecg"]["days_overdue"] == STARTED_DAYS_AGO - 28
    assert items["ecg"]["answers"][0]["name"] == "qtc_ms"
    # The first 4 weeks' myocarditis tests are past undone: missed, shown, no longer chased.
    assert items["troponin_crp"]["status"] == "missed"
    # The 3-month glucose (day 91) is 9 days late, within its 14 days of grace: due.
    assert items["glucose"]["status"] == "due"
    assert items["glucose"]["due_on"] == str(START + timedelta(days=91))
    assert items["glucose"]["next_due_on"] == str(START + timedelta(days=365))
    # The week-12 weight (day 84) is 16 days late: overdue; the next is day 175.
    assert items["weight"]["status"] == "overdue"
    assert items["weight"]["next_due_on"] == str(START + timedelta(days=175))
    assert all(item["gates_dispensing"] is False for item in items.values())
    assert "seed 001" in items["weight"]["source"]


def test_a_done_entry_brings_a_check_up_to_date_and_is_audited(api, designee, patient):
    client = api(designee)
    before = head()
    response = client.post(
        url(patient),
        {"item": "glucose", "done_on": str(TODAY), "value": "HbA1c 5.6", "unit": "%"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    [entry] = entries_after(before)
    assert entry.action == Action.PLAN_ENTRY_RECORD
    assert entry.inputs["item"] == "glucose"
    items = by_code(client.get(url(patient)).json())
    assert items["glucose"]["status"] == "up_to_date"
    assert items["glucose"]["last_done_on"] == str(TODAY)
    ecg = client.post(
        url(patient),
        {"item": "ecg", "done_on": str(TODAY), "answers": {"qtc_ms": 430}},
        format="json",
    )
    assert ecg.status_code == 201, ecg.json()
    assert by_code(client.get(url(patient)).json())["ecg"]["status"] == "complete"
    entries = client.get(url(patient, "entries/")).json()
    assert [e["item"] for e in entries] == ["ecg", "glucose"]  # newest first


def test_the_myocarditis_watch_asks_about_symptoms_and_prompts_troponin_and_crp(
    api, alice, patient, django_capture_on_commit_callbacks
):
    client = api(alice)
    done_on = str(START + timedelta(days=7))
    missing = client.post(url(patient), {"item": "myocarditis_watch", "done_on": done_on})
    assert missing.status_code == 400 and "symptoms" in missing.json()
    calm = client.post(
        url(patient), {"item": "myocarditis_watch", "done_on": done_on, "symptoms": False}
    )
    assert calm.status_code == 201 and calm.json()["prompt"] == ""
    with django_capture_on_commit_callbacks(execute=True):
        worried = client.post(
            url(patient),
            {"item": "myocarditis_watch", "done_on": done_on, "symptoms": True},
            format="json",
        )
    assert "troponin and CRP" in worried.json()["prompt"]
    assert worried.json()["needs_action"] is True
    [reminder] = Notification.objects.filter(
        kind="myocarditis_symptoms", recipient=alice, channel="in_app"
    )
    assert reminder.urgent
    # A positive checklist is never "complete": it needs action until a later clean one.
    watch = by_code(client.get(url(patient)).json())["myocarditis_watch"]
    assert watch["status"] == "action_needed"


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"item": "xray", "done_on": str(TODAY)}, "item"),
        ({"item": "ecg", "done_on": str(TODAY + timedelta(days=1))}, "done_on"),
        ({"item": "ecg"}, "done_on"),
    ],
)
def test_bad_entries_are_refused(api, alice, patient, data, field):
    response = api(alice).post(url(patient), data, format="json")
    assert response.status_code == 400 and field in response.json()
    assert not PlanEntry.objects.exists()


def test_access_rules(api, bob, phil, aud, patient):
    entry = {"item": "glucose", "done_on": str(TODAY)}
    assert api(bob).get(url(patient)).status_code == 404
    assert api(bob).post(url(patient), entry).status_code == 404
    assert api(phil).get(url(patient)).status_code == 403
    assert api(phil).post(url(patient), entry).status_code == 403
    assert api(aud).get(url(patient)).status_code == 200
    assert api(aud).get(url(patient, "entries/")).status_code == 200
    assert api(aud).post(url(patient), entry).status_code == 403
    assert api().get(url(patient)).status_code == 401
    assert not PlanEntry.objects.exists()
