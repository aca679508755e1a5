"""Patients: create, get, list and the pharmacist's lookup (docs/api.md, Patients and Roles)."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from patients.models import Patient
from tests import factories
from tests.conftest import TODAY

PAGE_KEYS = {"count", "next", "previous", "results"}
# docs/api.md: the patient's `monitoring` is the decision's fields minus decision/max_days_supply.
MONITORING_KEYS = {
    "patient",
    "reasons",
    "as_of",
    "protocol",
    "population",
    "band",
    "monitoring_frequency",
    "latest_anc",
    "next_draw_due",
    "confirmation_due",
    "hematology_consult",
    "authorization",
    "enrollment_status",
    "treatment_status",
}
PHARMACIST_FORBIDDEN_FIELDS = {"sex", "prescriber", "created_at", "ben_documented_by", "protocol"}


def _new(owner, **overrides):
    body = {
        "first_name": "Sam",
        "last_name": "Lee",
        "date_of_birth": "1990-06-01",
        "sex": "male",
        "population": "general",
        "prescriber": owner.pk,
    }
    body.update(overrides)
    return body


# --- create ---------------------------------------------------------------------------------


def test_a_prescriber_creates_a_pending_patient(api, alice):
    response = api(alice).post("/api/v1/patients/", _new(alice.prescriber), format="json")

    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["id"]
    assert data["enrollment_status"] == "pending"
    assert data["treatment_status"] == "not_started"
    assert data["protocol"] == "us-label-2015"
    assert data["prescriber"] == alice.prescriber_id
    assert MONITORING_KEYS <= set(data["monitoring"])
    assert data["monitoring"]["monitoring_frequency"] is None
    patient = Patient.objects.get(pk=data["id"])
    assert patient.created_by == alice
    assert patient.monitoring.enrollment_status == "pending"


def test_the_designee_creates_a_patient_for_its_prescriber(api, designee):
    response = api(designee).post("/api/v1/patients/", _new(designee.prescriber), format="json")

    assert response.status_code == 201


def test_a_ben_patient_records_who_documented_ben_and_when(api, alice):
    response = api(alice).post(
        "/api/v1/patients/", _new(alice.prescriber, population="ben"), format="json"
    )

    assert response.status_code == 201
    assert response.json()["ben_documented_by"] == alice.pk
    assert response.json()["ben_documented_at"]


def test_an_explicit_protocol_is_kept(api, alice):
    body = _new(alice.prescriber, protocol="us-label-2015")

    response = api(alice).post("/api/v1/patients/", body, format="json")

    assert response.json()["protocol"] == "us-label-2015"


def test_a_prescriber_may_not_create_a_patient_for_another_prescriber(api, alice, bob):
    response = api(bob).post("/api/v1/patients/", _new(alice.prescriber), format="json")

    assert response.status_code == 400
    assert "prescriber" in response.json()
    assert not Patient.objects.exists()


def test_admin_creates_a_patient_for_any_prescriber(api, admin, alice_prescriber):
    response = api(admin).post("/api/v1/patients/", _new(alice_prescriber), format="json")

    assert response.status_code == 201


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("date_of_birth", (TODAY + timedelta(days=1)).isoformat()),
        ("date_of_birth", "1990-02-30"),
        ("population", "martian"),
        ("sex", "x"),
        ("protocol", "uk-cpms-9000"),
        ("first_name", ""),
        ("prescriber", 999999),
    ],
)
def test_bad_patient_input_is_a_400_naming_the_field(api, alice, field, value):
    response = api(alice).post(
        "/api/v1/patients/", _new(alice.prescriber, **{field: value}), format="json"
    )

    assert response.status_code == 400
    assert field in response.json()
    assert not Patient.objects.exists()


# --- get ------------------------------------------------------------------------------------


def test_get_shows_statuses_and_the_monitoring_picture(api, alice, active_patient):
    response = api(alice).get(f"/api/v1/patients/{active_patient.pk}/")

    assert response.status_code == 200
    data = response.json()
    assert data["enrollment_status"] == "enrolled"
    assert data["treatment_status"] == "active"
    monitoring = data["monitoring"]
    assert MONITORING_KEYS <= set(monitoring)
    assert "decision" not in monitoring
    assert "max_days_supply" not in monitoring
    assert monitoring["band"] == "normal"
    assert monitoring["monitoring_frequency"] == "weekly"
    assert monitoring["latest_anc"]["value_per_ul"] == 2100
    assert monitoring["next_draw_due"] == (TODAY + timedelta(days=1)).isoformat()
    assert data["sex"] == "female"
    assert data["prescriber"] == alice.prescriber_id


def test_another_prescribers_patient_is_404(api, bob, active_patient):
    assert api(bob).get(f"/api/v1/patients/{active_patient.pk}/").status_code == 404


def test_an_unknown_patient_is_404(api, alice):
    assert api(alice).get("/api/v1/patients/999999/").status_code == 404


def test_a_pharmacist_gets_only_what_a_decision_needs(api, phil, active_patient):
    response = api(phil).get(
        f"/api/v1/patients/{active_patient.pk}/",
        {"date_of_birth": active_patient.date_of_birth.isoformat()},
    )

    assert response.status_code == 200
    data = response.json()
    assert {"id", "first_name", "last_name", "date_of_birth", "enrollment_status"} <= set(data)
    assert not PHARMACIST_FORBIDDEN_FIELDS & set(data)
    assert data["enrollment_status"] == "enrolled"


def test_a_pharmacist_does_not_see_a_pending_patient(api, phil, pending_patient):
    assert api(phil).get(f"/api/v1/patients/{pending_patient.pk}/").status_code == 404


# --- list and lookup ------------------------------------------------------------------------


def test_a_prescriber_lists_only_its_own_patients(api, alice, bob, active_patient):
    factories.PatientFactory.create(actor=bob, prescriber=bob.prescriber)

    response = api(alice).get("/api/v1/patients/")

    assert response.status_code == 200
    data = response.json()
    assert set(data) >= PAGE_KEYS
    assert data["count"] == 1
    assert [p["id"] for p in data["results"]] == [active_patient.pk]


def test_an_auditor_lists_every_patient(api, aud, alice, bob, active_patient):
    factories.PatientFactory.create(actor=bob, prescriber=bob.prescriber)

    assert api(aud).get("/api/v1/patients/").json()["count"] == 2


def test_the_list_is_paginated(api, alice):
    for _ in range(55):
        Patient.objects.create(
            first_name="P",
            last_name="Many",
            date_of_birth="1990-01-01",
            sex="male",
            population="general",
            protocol="us-label-2015",
            prescriber=alice.prescriber,
            created_by=alice,
        )

    first = api(alice).get("/api/v1/patients/").json()
    second = api(alice).get(first["next"]).json()

    assert set(first) == PAGE_KEYS
    assert first["count"] == 55
    assert len(first["results"]) == 50
    assert first["previous"] is None
    assert len(second["results"]) == 5
    assert second["next"] is None
    assert second["previous"]


def test_a_pharmacist_looks_a_patient_up_by_last_name_and_date_of_birth(api, phil, active_patient):
    query = {"last_name": "active", "date_of_birth": active_patient.date_of_birth.isoformat()}

    response = api(phil).get("/api/v1/patients/", query)

    assert response.status_code == 200
    data = response.json()
    assert set(data) == PAGE_KEYS
    assert [p["id"] for p in data["results"]] == [active_patient.pk]
    found = data["results"][0]
    assert not PHARMACIST_FORBIDDEN_FIELDS & set(found)
    assert found["enrollment_status"] == "enrolled"


def test_the_lookup_does_not_match_another_date_of_birth(api, phil, active_patient):
    response = api(phil).get(
        "/api/v1/patients/", {"last_name": "Active", "date_of_birth": "1970-01-01"}
    )

    assert response.json()["count"] == 0


def test_a_pharmacist_lookup_never_finds_a_pending_patient(api, phil, pending_patient):
    query = {"last_name": "Waiting", "date_of_birth": pending_patient.date_of_birth.isoformat()}

    assert api(phil).get("/api/v1/patients/", query).json()["count"] == 0


@pytest.mark.parametrize(
    ("query", "missing"),
    [
        ({}, {"last_name", "date_of_birth"}),
        ({"last_name": "Active"}, {"date_of_birth"}),
        ({"date_of_birth": "1985-06-15"}, {"last_name"}),
    ],
)
def test_a_pharmacist_must_give_last_name_and_date_of_birth(
    api, phil, active_patient, query, missing
):
    response = api(phil).get("/api/v1/patients/", query)

    assert response.status_code == 400
    assert set(response.json()) == missing


def test_a_prescriber_may_use_the_same_lookup(api, alice, active_patient):
    response = api(alice).get(
        "/api/v1/patients/", {"last_name": "Active", "date_of_birth": "1985-06-15"}
    )

    assert [p["id"] for p in response.json()["results"]] == [active_patient.pk]


def test_a_malformed_lookup_date_is_a_400(api, alice):
    response = api(alice).get("/api/v1/patients/", {"date_of_birth": "15/06/1985"})

    assert response.status_code == 400
    assert "date_of_birth" in response.json()


# --- query counts ---------------------------------------------------------------------------


def _list_queries(client, path):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path)
    assert response.status_code == 200
    return len(queries), response.json()


def _patients(alice, how_many):
    start = TODAY - timedelta(days=20)
    for i in range(how_many):
        factories.enrolled_patient(
            actor=alice,
            start=start,
            draws=[(TODAY - timedelta(days=3), 2000 + i)],
            last_name="Crowd",
        )


def test_the_patient_list_has_no_n_plus_1(api, alice):
    client = api(alice)
    _patients(alice, 2)
    few, few_body = _list_queries(client, "/api/v1/patients/")
    _patients(alice, 18)
    many, many_body = _list_queries(client, "/api/v1/patients/")

    assert few_body["count"] == 2
    assert many_body["count"] == 20
    assert all(p["monitoring"]["band"] == "normal" for p in many_body["results"])
    assert few == many


def test_the_pharmacist_lookup_has_no_n_plus_1(api, alice, phil):
    client = api(phil)
    path = "/api/v1/patients/?last_name=crowd&date_of_birth=1985-06-15"
    _patients(alice, 2)
    few, few_body = _list_queries(client, path)
    _patients(alice, 18)
    many, many_body = _list_queries(client, path)

    assert (few_body["count"], many_body["count"]) == (2, 20)
    assert few == many


def test_the_patient_record_carries_the_rules_reasons_in_its_monitoring(api, alice, active_patient):
    factories.record_anc(active_patient, alice, TODAY, 800)

    monitoring = api(alice).get(f"/api/v1/patients/{active_patient.pk}/").json()["monitoring"]

    assert monitoring["patient"] == str(active_patient.pk)
    assert monitoring["band"] == "moderate"
    assert [r["code"] for r in monitoring["reasons"]] == ["treatment_interrupted"]
