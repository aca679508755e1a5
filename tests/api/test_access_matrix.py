"""Who may NOT call each endpoint (api.md, Roles; Conventions: 401/403/404).

One table: endpoint, method, and the expected status for each persona (see tests/conftest.py).
Another prescriber's patient answers 404, never 403, so its existence is not revealed. Every
refused request writes nothing.
"""

from datetime import timedelta

import pytest

from monitoring.models import LabResult
from patients.models import (
    Authorization,
    Dispense,
    EnrollmentEvent,
    Patient,
    Pharmacy,
    Prescriber,
    TreatmentEvent,
    User,
)
from tests.conftest import NOW, TODAY
from tests.factories import PASSWORD, npi_with_check_digit

PERSONAS = ("anon", "alice", "designee", "bob", "phil", "aud", "admin", "root")

BODIES = {
    "prescriber": {
        "name": "Dr Matrix",
        "npi": npi_with_check_digit("555000111"),
        "email": "m@x.org",
    },
    "prescriber-patch": {"email": "changed@example.org"},
    "pharmacy": {"name": "Matrix Pharmacy", "ncpdp_id": "5550001"},
    "user": {"username": "matrix-user", "password": PASSWORD, "role": "auditor"},
    "patient": lambda w: {
        "first_name": "New",
        "last_name": "Matrix",
        "date_of_birth": "1990-01-01",
        "sex": "other",
        "population": "general",
        "prescriber": w["prescriber"],
    },
    "enroll": {},
    "anc": {"drawn_at": (NOW - timedelta(hours=1)).isoformat(), "value": 2000, "unit": "/uL"},
    "void": {"reason": "entered on the wrong chart"},
    "event": {"kind": "interrupt", "effective_date": TODAY.isoformat(), "reason": "matrix"},
    # a continuation while the band is normal: 422 once the caller got past the permissions
    "authorization": {
        "kind": "continuation",
        "rationale": "matrix",
        "expires_on": (TODAY + timedelta(days=7)).isoformat(),
    },
    "dispense": lambda w: {"patient": w["active"], "pharmacy": w["pharmacy"], "days_supply": 7},
}

# endpoint, method, url, body,
#   expected status for: anon, alice, designee, bob, phil, aud, admin, root
# fmt: off
MATRIX = [
    ("prescribers", "get", "/api/v1/prescribers/", None,
        (401, 200, 200, 200, 403, 200, 200, 200)),
    ("prescribers", "post", "/api/v1/prescribers/", "prescriber",
        (401, 403, 403, 403, 403, 403, 201, 201)),
    ("prescriber", "get", "/api/v1/prescribers/{prescriber}/", None,
        (401, 200, 200, 404, 403, 200, 200, 200)),
    ("prescriber", "patch", "/api/v1/prescribers/{prescriber}/", "prescriber-patch",
        (401, 403, 403, 403, 403, 403, 200, 200)),
    ("pharmacies", "get", "/api/v1/pharmacies/", None,
        (401, 403, 403, 403, 200, 200, 200, 200)),
    ("pharmacies", "post", "/api/v1/pharmacies/", "pharmacy",
        (401, 403, 403, 403, 403, 403, 201, 201)),
    ("pharmacy", "get", "/api/v1/pharmacies/{pharmacy}/", None,
        (401, 403, 403, 403, 200, 200, 200, 200)),
    ("users", "get", "/api/v1/users/", None,
        (401, 403, 403, 403, 403, 200, 200, 200)),
    ("users", "post", "/api/v1/users/", "user",
        (401, 403, 403, 403, 403, 403, 201, 201)),
    ("patients", "get", "/api/v1/patients/?last_name=Active&date_of_birth=1985-06-15", None,
        (401, 200, 200, 200, 200, 200, 200, 200)),
    ("patients", "post", "/api/v1/patients/", "patient",
        (401, 201, 201, 400, 403, 403, 201, 201)),
    # A pharmacist opens a patient only with its date of birth (or once found by name and date
    # of birth in the same sign-in, or dispensed at its pharmacy): an id alone is a 404.
    ("patient", "get", "/api/v1/patients/{active}/", None,
        (401, 200, 200, 404, 404, 200, 200, 200)),
    ("patient", "get", "/api/v1/patients/{active}/?date_of_birth=1985-06-15", None,
        (401, 200, 200, 404, 200, 200, 200, 200)),
    ("enroll", "post", "/api/v1/patients/{pending}/enroll/", "enroll",
        (401, 200, 200, 404, 403, 403, 200, 200)),
    ("eligibility", "get", "/api/v1/patients/{active}/eligibility/?pharmacy={pharmacy}", None,
        (401, 200, 200, 404, 200, 200, 200, 200)),
    ("anc-results", "get", "/api/v1/patients/{active}/anc-results/", None,
        (401, 200, 200, 404, 403, 200, 200, 200)),
    ("anc-results", "post", "/api/v1/patients/{active}/anc-results/", "anc",
        (401, 201, 201, 404, 403, 403, 201, 201)),
    ("anc-result", "get", "/api/v1/patients/{active}/anc-results/{result}/", None,
        (401, 200, 200, 404, 403, 200, 200, 200)),
    # alice entered the result: she (its prescriber) may void it; a designee or an administrator
    # who did not enter it may not (docs/rules.md §8, who may void what).
    ("anc-void", "post", "/api/v1/patients/{active}/anc-results/{result}/void/", "void",
        (401, 200, 403, 404, 403, 403, 403, 403)),
    ("treatment-events", "get", "/api/v1/patients/{active}/treatment-events/", None,
        (401, 200, 200, 404, 403, 200, 200, 200)),
    ("treatment-events", "post", "/api/v1/patients/{active}/treatment-events/", "event",
        (401, 201, 403, 404, 403, 403, 201, 201)),
    ("authorizations", "get", "/api/v1/patients/{active}/authorizations/", None,
        (401, 200, 200, 404, 403, 200, 200, 200)),
    ("authorizations", "post", "/api/v1/patients/{active}/authorizations/", "authorization",
        (401, 422, 403, 404, 403, 403, 422, 422)),
    ("dispenses", "get", "/api/v1/dispenses/", None,
        (401, 200, 200, 200, 200, 200, 200, 200)),
    ("dispenses", "post", "/api/v1/dispenses/", "dispense",
        (401, 403, 403, 403, 201, 403, 201, 201)),
    ("health", "get", "/health/", None,
        (200, 200, 200, 200, 200, 200, 200, 200)),
]
# fmt: on

CASES = [
    pytest.param(method, url, body, persona, status, id=f"{method.upper()} {name} as {persona}")
    for name, method, url, body, statuses in MATRIX
    for persona, status in zip(PERSONAS, statuses, strict=True)
]


@pytest.fixture
def world(alice, phil, active_patient, pending_patient):
    return {
        "active": active_patient.pk,
        "pending": pending_patient.pk,
        "result": LabResult.objects.filter(patient=active_patient).latest("drawn_at").pk,
        "prescriber": alice.prescriber_id,
        "pharmacy": phil.pharmacy_id,
    }


def _rows():
    """Everything a request could write, as comparable numbers."""
    return {
        "prescribers": list(Prescriber.objects.values_list("id", "email", "certified")),
        "pharmacies": Pharmacy.objects.count(),
        "users": User.objects.count(),
        "patients": Patient.objects.count(),
        "enrollments": EnrollmentEvent.objects.count(),
        "results": list(LabResult.objects.values_list("id", "status", "superseded")),
        "events": TreatmentEvent.objects.count(),
        "authorizations": Authorization.objects.count(),
        "dispenses": Dispense.objects.count(),
    }


@pytest.mark.parametrize(("method", "url", "body", "persona", "status"), CASES)
def test_access(api, request, world, method, url, body, persona, status):
    user = None if persona == "anon" else request.getfixturevalue(persona)
    payload = BODIES.get(body)
    if callable(payload):
        payload = payload(world)
    before = _rows()

    response = getattr(api(user), method)(url.format(**world), payload, format="json")

    assert response.status_code == status, response.content[:300]
    if status >= 400:
        assert _rows() == before


# --- focused --------------------------------------------------------------------------------


def test_another_prescribers_patient_looks_exactly_like_an_unknown_one(api, bob, active_patient):
    client = api(bob)
    for suffix in ("", "anc-results/", "treatment-events/", "authorizations/", "eligibility/"):
        hidden = client.get(f"/api/v1/patients/{active_patient.pk}/{suffix}?pharmacy=1")
        unknown = client.get(f"/api/v1/patients/999999/{suffix}?pharmacy=1")

        assert hidden.status_code == unknown.status_code == 404, suffix
        assert hidden.json() == unknown.json()


def test_another_prescribers_patients_are_not_in_the_list(api, bob, active_patient):
    assert api(bob).get("/api/v1/patients/").json()["count"] == 0


def test_the_designee_of_another_prescriber_sees_nothing_of_alices(api, bob, active_patient):
    from tests.factories import DesigneeUserFactory

    bobs_designee = DesigneeUserFactory.create(prescriber=bob.prescriber)
    client = api(bobs_designee)

    assert client.get(f"/api/v1/patients/{active_patient.pk}/").status_code == 404
    assert client.get(f"/api/v1/patients/{active_patient.pk}/anc-results/").status_code == 404


def test_a_user_without_a_role_may_do_nothing(api, db, active_patient):
    from tests.factories import UserFactory

    nobody = UserFactory.create(role="")
    client = api(nobody)

    assert client.get("/api/v1/patients/").status_code == 403
    assert client.get(f"/api/v1/patients/{active_patient.pk}/").status_code == 403
    assert client.get("/api/v1/prescribers/").status_code == 403


def test_a_pharmacist_without_a_pharmacy_sees_no_patient(api, db, active_patient):
    from tests.factories import UserFactory

    orphan = UserFactory.create(role="pharmacist")
    response = api(orphan).get(
        "/api/v1/patients/", {"last_name": "Active", "date_of_birth": "1985-06-15"}
    )

    assert response.json()["count"] == 0


def test_a_pharmacist_may_not_read_lab_history_or_treatment_events(api, phil, active_patient):
    client = api(phil)

    assert client.get(f"/api/v1/patients/{active_patient.pk}/anc-results/").status_code == 403
    assert client.get(f"/api/v1/patients/{active_patient.pk}/treatment-events/").status_code == 403
    assert client.get(f"/api/v1/patients/{active_patient.pk}/authorizations/").status_code == 403


def test_an_inactive_users_token_stops_working(api, alice, active_patient):
    client = api(alice)
    assert client.get(f"/api/v1/patients/{active_patient.pk}/").status_code == 200
    alice.is_active = False
    alice.save()

    assert client.get(f"/api/v1/patients/{active_patient.pk}/").status_code == 401


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/prescribers/",
        "/api/v1/pharmacies/",
        "/api/v1/users/",
        "/api/v1/patients/",
        "/api/v1/patients/{active}/anc-results/",
        "/api/v1/patients/{active}/treatment-events/",
        "/api/v1/patients/{active}/authorizations/",
        "/api/v1/dispenses/",
    ],
)
def test_every_list_is_paginated(api, admin, world, url):
    response = api(admin).get(url.format(**world), {"page_size": 1})

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"count", "next", "previous", "results"}
    assert isinstance(body["results"], list)
    assert body["count"] >= len(body["results"])


def test_an_out_of_range_page_is_a_404(api, admin, world):
    assert api(admin).get("/api/v1/patients/", {"page": 99}).status_code == 404
