"""/api/v1/patients/{id}/levels/: record (units, interpretation, audit, reminders), list,
summary; who may do what."""

from datetime import timedelta

import pytest

from audit.models import Action
from clinical.models import LevelResult
from notifications.models import Notification
from tests import factories
from tests.audit.conftest import entries_after, head
from tests.conftest import NOW, TODAY


def url(patient, suffix=""):
    return f"/api/v1/patients/{patient.pk}/levels/{suffix}"


def body(**overrides):
    data = {
        "sampled_at": (NOW - timedelta(hours=4)).isoformat(),
        "clozapine": "420",
        "norclozapine": "300",
        "unit": "ng/mL",
        "last_dose_at": (NOW - timedelta(hours=16)).isoformat(),
        "daily_dose_mg": "400",
        "dose_stable_days": 7,
    }
    data.update(overrides)
    return data


def test_a_designee_records_a_level_and_gets_its_interpretation(
    api, designee, patient, django_capture_on_commit_callbacks
):
    before = head()
    with django_capture_on_commit_callbacks(execute=True):
        response = api(designee).post(url(patient), body(), format="json")
    assert response.status_code == 201, response.json()
    level = response.json()
    assert level["clozapine_ng_ml"] == "420.00"
    assert level["metabolic_ratio"] == "1.40"
    assert level["valid_trough"] is True
    codes = [f["code"] for f in level["interpretation"]["flags"]]
    assert codes == [
        "trough_valid",
        "steady_state",
        "at_or_above_response_threshold",
        "ratio_expected",
    ]
    assert all(f["source"] and f["message"] for f in level["interpretation"]["flags"])
    [entry] = entries_after(before)
    assert entry.action == Action.LEVEL_RESULT_RECORD
    assert entry.actor_id == designee.pk
    assert entry.object_id == str(level["id"])
    assert entry.output["flags"] == codes
    assert not Notification.objects.exists()  # nothing unexpected


def test_nmol_per_litre_is_converted_with_each_analytes_molar_mass(api, alice, patient):
    response = api(alice).post(
        url(patient), body(clozapine="1071", norclozapine="1000", unit="nmol/L"), format="json"
    )
    assert response.status_code == 201, response.json()
    level = response.json()
    assert (level["clozapine"], level["unit"]) == ("1071.0000", "nmol/L")
    assert level["clozapine_ng_ml"] == "350.00"
    assert level["norclozapine_ng_ml"] == "312.80"
    assert level["metabolic_ratio"] == "1.12"


@pytest.mark.parametrize(
    ("hours", "valid"), [((9, 59), False), ((10, 0), True), ((14, 0), True), ((14, 1), False)]
)
def test_the_trough_window_edges_through_the_api(api, alice, patient, hours, valid):
    sampled = NOW - timedelta(hours=1)
    last_dose = sampled - timedelta(hours=hours[0], minutes=hours[1])
    response = api(alice).post(
        url(patient),
        body(sampled_at=sampled.isoformat(), last_dose_at=last_dose.isoformat()),
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["valid_trough"] is valid


def test_a_yes_no_stable_dose_answer_is_accepted(api, alice, patient):
    level = (
        api(alice)
        .post(url(patient), body(dose_stable_days=None, dose_stable=True), format="json")
        .json()
    )
    # The answer is kept as given: no number of days is made up from a "yes".
    assert level["dose_stable_days"] is None and level["dose_stable"] is True
    assert level["valid_trough"] is True
    stable = next(f for f in level["interpretation"]["flags"] if f["code"].startswith("steady"))
    assert stable["code"] == "steady_state_reported"
    assert stable["message"] == (
        "The dose was reported unchanged for at least the past 5 days (steady state after 5 to 7)."
    )
    level = (
        api(alice)
        .post(url(patient), body(dose_stable_days=None, dose_stable=False), format="json")
        .json()
    )
    assert level["valid_trough"] is False
    changed = next(f for f in level["interpretation"]["flags"] if f["code"].startswith("steady"))
    assert changed["code"] == "steady_state_dose_changed"
    # never "stable for 0 days" from a "no"
    assert "0 days" not in changed["message"]


def test_a_high_level_sends_the_prescriber_an_urgent_reminder(
    api, alice, designee, patient, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = api(designee).post(url(patient), body(clozapine="1000"), format="json")
    assert response.status_code == 201
    assert response.json()["interpretation"]["urgent"] is True
    reminders = Notification.objects.filter(kind="level_high", channel="in_app")
    assert {n.recipient_id for n in reminders} == {alice.pk, designee.pk}
    assert all(n.urgent for n in reminders)
    assert "1000.00 ng/mL" in reminders[0].subject
    assert "toxicity" in reminders[0].body
    # Delivered by e-mail to the prescriber's address as well.
    assert Notification.objects.filter(kind="level_high", channel="email").count() == 1


def test_a_large_change_at_the_same_dose_asks_for_a_recheck(
    api, alice, patient, django_capture_on_commit_callbacks
):
    client = api(alice)
    earlier = NOW - timedelta(days=14)
    client.post(
        url(patient),
        body(
            sampled_at=earlier.isoformat(), last_dose_at=(earlier - timedelta(hours=12)).isoformat()
        ),
        format="json",
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            url(patient), body(clozapine="600", norclozapine="300"), format="json"
        )
    codes = [f["code"] for f in response.json()["interpretation"]["flags"]]
    assert {"level_changed_same_dose", "ratio_changed"} <= set(codes)
    [reminder] = Notification.objects.filter(
        kind="level_unexpected", recipient=alice, channel="in_app"
    )
    assert not reminder.urgent
    assert "same daily dose" in reminder.body


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"unit": "mmol/L"}, "unit"),
        ({"unit": ""}, "unit"),
        ({"clozapine": "-3"}, "clozapine"),
        ({"sampled_at": "2026-05-20T08:00:00"}, "sampled_at"),
        ({"sampled_at": (NOW + timedelta(days=1)).isoformat()}, "sampled_at"),
        ({"last_dose_at": (NOW - timedelta(hours=1)).isoformat()}, "last_dose_at"),
        ({"clozapine": "30", "unit": "mg/L"}, "clozapine"),
    ],
)
def test_bad_input_is_refused_naming_the_field(api, alice, patient, changes, field):
    before = head()
    response = api(alice).post(url(patient), body(**changes), format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert not LevelResult.objects.exists()
    assert entries_after(before) == []


def test_the_list_is_newest_first(api, alice, aud, patient):
    client = api(alice)
    for hours in (48, 24):
        sampled = NOW - timedelta(hours=hours)
        client.post(
            url(patient),
            body(
                sampled_at=sampled.isoformat(),
                last_dose_at=(sampled - timedelta(hours=12)).isoformat(),
            ),
            format="json",
        )
    listed = api(aud).get(url(patient)).json()["results"]
    assert [x["sampled_at"] for x in listed] == sorted(
        (x["sampled_at"] for x in listed), reverse=True
    )


def test_the_summary_shows_the_last_level_the_adequate_trial_and_what_prompts_a_level(
    api, alice, patient
):
    client = api(alice)
    for days in (100, 93):
        sampled = factories.at(TODAY - timedelta(days=days), 8)
        client.post(
            url(patient),
            body(
                sampled_at=sampled.isoformat(),
                last_dose_at=(sampled - timedelta(hours=12)).isoformat(),
            ),
            format="json",
        )
    client.post(
        f"/api/v1/patients/{patient.pk}/smoking-status/",
        {"status": "non_smoker", "effective_on": str(TODAY - timedelta(days=3)), "context": "ward"},
        format="json",
    )
    summary = client.get(url(patient, "summary/")).json()
    assert summary["latest"]["clozapine_ng_ml"] == "420.00"
    assert summary["latest"]["interpretation"]["metabolic_ratio"] == "1.40"
    assert summary["levels_count"] == 2
    assert summary["adequate_trial"]["status"] == "adequate"
    assert summary["adequate_trial"]["therapeutic_since"] == str(TODAY - timedelta(days=100))
    assert summary["smoking_status"] == "non_smoker"
    [prompt] = summary["level_suggested"]
    assert prompt["kind"] == "smoking_status_change" and "ward" in prompt["message"]
    assert summary["dose_tracking"]["retitration_needed"] is False


# --- access ---------------------------------------------------------------------------------


def test_another_prescribers_patient_is_not_found(api, bob, patient):
    client = api(bob)
    assert client.get(url(patient)).status_code == 404
    assert client.get(url(patient, "summary/")).status_code == 404
    assert client.post(url(patient), body(), format="json").status_code == 404
    assert not LevelResult.objects.exists()


def test_a_pharmacist_sees_no_levels(api, phil, patient):
    client = api(phil)
    assert client.get(url(patient)).status_code == 403
    assert client.get(url(patient, "summary/")).status_code == 403
    assert client.post(url(patient), body(), format="json").status_code == 403


def test_an_auditor_reads_but_does_not_record(api, alice, aud, patient):
    level = api(alice).post(url(patient), body(), format="json").json()
    client = api(aud)
    assert client.get(url(patient)).status_code == 200
    assert client.get(url(patient, f"{level['id']}/")).json()["id"] == level["id"]
    assert client.get(url(patient, "summary/")).status_code == 200
    assert client.post(url(patient), body(), format="json").status_code == 403


def test_anonymous_callers_are_unauthenticated(api, patient):
    client = api()
    assert client.get(url(patient)).status_code == 401
    assert client.post(url(patient), body(), format="json").status_code == 401
