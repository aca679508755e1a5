"""The trail says who looked at which patient (one entry per read: the patient's detail, each
list of its results or events, the clinic's patient page; a pharmacist's lookup; the counter's
patient page is its eligibility check), and records step-down confirmations and every account
created or changed, through the API and the admin."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.models import Action, AuditEntry
from patients.models import User
from tests.conftest import NOW, TODAY
from tests.factories import PASSWORD
from tests.monitoring.test_uk_cpms import UK, create, enroll_and_start, fbc


def entries(**filters):
    return list(AuditEntry.objects.filter(**filters).order_by("seq"))


# What each entry says was read: the view's name for the list.
READ_NAMES = {
    "": "patient",
    "anc-results/": "anc-result",
    "wbc-results/": "wbc-result",
    "treatment-events/": "treatment-event",
    "authorizations/": "authorization",
    "limit-agreements/": "limit-agreement",
    "identifiers/": "patient-identifier",
    "levels/": "level",
    "plan/": "plan",
}


@pytest.mark.parametrize(
    "part",
    [
        "",
        "anc-results/",
        "wbc-results/",
        "treatment-events/",
        "authorizations/",
        "limit-agreements/",
        "identifiers/",
        "levels/",
        "plan/",
    ],
)
def test_each_read_of_a_patients_record_writes_one_entry(api, alice, aud, active_patient, part):
    for reader in (alice, aud):
        before = AuditEntry.objects.count()
        response = api(reader).get(f"/api/v1/patients/{active_patient.pk}/{part}")
        assert response.status_code == 200
        assert AuditEntry.objects.count() == before + 1
        [entry] = entries(action=Action.PATIENT_READ, actor_id=reader.pk)[-1:]
        assert entry.patient_id == active_patient.pk and entry.actor_username == reader.username
        assert entry.inputs["what"] == READ_NAMES[part]


def test_a_read_costs_one_insert_and_a_refused_read_writes_nothing(api, alice, bob, active_patient):
    client = api(alice)
    with CaptureQueriesContext(connection) as queries:
        client.get(f"/api/v1/patients/{active_patient.pk}/anc-results/")
    inserts = [q for q in queries.captured_queries if q["sql"].startswith("INSERT")]
    assert len(inserts) == 1 and "audit_auditentry" in inserts[0]["sql"]
    before = AuditEntry.objects.count()
    assert api(bob).get(f"/api/v1/patients/{active_patient.pk}/").status_code == 404
    assert AuditEntry.objects.count() == before


def test_the_clinic_patient_page_is_a_read(client, alice, active_patient):
    client.force_login(alice)
    assert client.get(f"/clinic/patients/{active_patient.pk}/").status_code == 200
    [entry] = entries(action=Action.PATIENT_READ)
    assert (entry.actor_username, entry.patient_id, entry.inputs["what"]) == (
        "alice",
        active_patient.pk,
        "clinic_page",
    )


def test_the_counter_page_is_recorded_by_its_eligibility_check(client, phil, active_patient):
    client.force_login(phil)
    client.get("/counter/", {"last_name": "Active", "date_of_birth": active_patient.date_of_birth})
    [lookup] = entries(action=Action.PATIENT_LOOKUP)
    assert lookup.output["patient_ids"] == [active_patient.pk]
    before = AuditEntry.objects.count()
    assert client.get(f"/counter/patients/{active_patient.pk}/").status_code == 200
    assert AuditEntry.objects.count() == before + 1
    assert entries(action=Action.ELIGIBILITY_CHECK)[-1].actor_username == "phil"


def test_a_pharmacists_lookup_is_one_entry_with_what_was_asked_and_found(api, phil, active_patient):
    api(phil).get("/api/v1/patients/", {"last_name": "active", "date_of_birth": "1985-06-15"})
    [entry] = entries(action=Action.PATIENT_LOOKUP)
    assert entry.inputs == {"last_name": "active", "date_of_birth": "1985-06-15"}
    assert entry.output == {"patient_ids": [active_patient.pk]}


def test_a_step_down_confirmation_is_audited(api, alice):
    client = api(alice)
    uk = create(client, alice, protocol=UK)
    fbc(client, uk["id"], "2.5", "5.0", when=NOW - timedelta(days=130))
    enroll_and_start(client, uk["id"], on=TODAY - timedelta(days=130))
    fbc(client, uk["id"], "2.5", "5.0")
    response = client.post(
        f"/api/v1/patients/{uk['id']}/step-down/", {"frequency": "every_2_weeks"}, format="json"
    )
    assert response.status_code == 201
    [entry] = entries(action=Action.STEP_DOWN_CONFIRM)
    assert entry.patient_id == uk["id"] and entry.actor_username == "alice"
    assert entry.inputs["frequency"] == "every_2_weeks"
    assert entry.output == {"monitoring_frequency": "every_2_weeks"}
    # A refused confirmation (409) writes nothing.
    again = client.post(
        f"/api/v1/patients/{uk['id']}/step-down/", {"frequency": "every_2_weeks"}, format="json"
    )
    assert again.status_code == 409
    assert len(entries(action=Action.STEP_DOWN_CONFIRM)) == 1


def test_a_user_created_through_the_api_is_audited(api, admin, pharmacy):
    response = api(admin).post(
        "/api/v1/users/",
        {
            "username": "new-rph",
            "password": PASSWORD,
            "role": "pharmacist",
            "pharmacy": pharmacy.pk,
        },
        format="json",
    )
    assert response.status_code == 201
    [entry] = entries(action=Action.USER_CREATE)
    assert entry.actor_username == "admin" and entry.object_id == str(response.json()["id"])
    assert entry.inputs["role"] == "pharmacist" and entry.inputs["pharmacy_id"] == pharmacy.pk
    assert "password" not in entry.inputs and PASSWORD not in str(entry.inputs)


def test_users_created_and_changed_in_the_admin_are_audited(client, root, alice, pharmacy):
    client.force_login(root)
    added = client.post(
        "/admin/patients/user/add/",
        {
            "username": "made-here",
            "password1": PASSWORD,
            "password2": PASSWORD,
            "usable_password": "true",
        },
    )
    assert added.status_code == 302, added.content[:500]
    made = User.objects.get(username="made-here")
    [created] = entries(action=Action.USER_CREATE)
    assert created.object_id == str(made.pk) and created.actor_username == "root"

    page = client.get(f"/admin/patients/user/{alice.pk}/change/")
    form = page.context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None and k != "password"}
    data.update(
        {
            "username": "alice",
            "role": "admin",
            "prescriber": "",
            "pharmacy": "",
            "is_active": "on",
            "is_staff": "on",
            "is_superuser": "on",
            "date_joined_0": str(TODAY),
            "date_joined_1": "09:00:00",
            "last_login_0": "",
            "last_login_1": "",
            "groups": [],
            "user_permissions": [],
            "email": "",
            "first_name": "",
            "last_name": "",
        }
    )
    changed = client.post(f"/admin/patients/user/{alice.pk}/change/", data)
    assert changed.status_code == 302, changed.context["adminform"].form.errors
    [update] = entries(action=Action.USER_UPDATE)
    assert update.output["changed"]["role"] == ["prescriber", "admin"]
    assert update.output["changed"]["is_superuser"] == [False, True]
    assert update.output["password_changed"] is False


def test_permission_groups_saved_in_the_admin_are_audited(client, root):
    client.force_login(root)
    response = client.post("/admin/auth/group/add/", {"name": "night shift", "permissions": []})
    assert response.status_code == 302
    [entry] = entries(action=Action.GROUP_SAVE)
    assert entry.inputs == {"name": "night shift", "permissions": []}
