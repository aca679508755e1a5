"""Least privilege, for every endpoint the product serves: the API, FHIR, the feeds, the pages
and the admin, each called as every role and anonymously, against one table (the only one: the
API's own access matrix was folded into it). The table must name every route: a new route
fails `test_no_route_is_missing_from_the_table` until someone decides who may use it.

Statuses per persona: anonymous, alice (prescriber, owns the patient), alice's designee, bob
(another prescriber), phil (pharmacist), aud (auditor), admin, lab (a lab interface account)
and root (a superuser with no role). Pages answer an anonymous visitor with a redirect to the
login page (302). Another prescriber's patient is a 404, exactly like an unknown id (its
existence is not revealed); a role that may not use an endpoint at all gets 403. A write is
tried with an empty body (or the least one), and the main writes (the directory, a patient,
enrollment, a void, an interruption, a continuation, a dispense) again with a body that gets
past validation (a named `BODIES` entry), on records made anew for each persona where one
persona's success would change the next one's answer. A refused request (any 4xx, or the
anonymous redirect) writes nothing. The tests after the table hold what one request per row
cannot: the 404s bob gets are the unknown id's, users with no role or no pharmacy, an inactive
user's token, pagination.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from audit.models import AuditEntry
from clinical.models import DrugEffect, InteractingDrug
from feeds.models import (
    FeedBatch,
    FeedMessage,
    LabCodeMapping,
    PatientIdentifier,
    QuarantinedResult,
)
from monitoring.models import LabResult
from notifications.models import Channel, Kind, Notification
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
from tests.factories import (
    PASSWORD,
    DesigneeUserFactory,
    LabUserFactory,
    PatientFactory,
    UserFactory,
    enrolled_patient,
    npi_with_check_digit,
    record_anc,
    weekly_draws,
)

PERSONAS = ("anon", "alice", "designee", "bob", "phil", "aud", "admin", "lab", "root")

# Routes of Django's admin that are the admin's own machinery; its access rule (staff, and the
# administrators' second factor) is one `AdminSite.has_permission`, exercised through the rows
# for the index, a model page and the login below.
ADMIN_MACHINERY = {"app_list", "admin-catch-all"}

Body = dict[str, Any] | Callable[[dict[str, Any], str], dict[str, Any]] | str | None

# Bodies a caller who may use the endpoint would send, named in the table's rows by their key:
# they reach past the validation that an empty body stops at (its 400) to the answer itself.
# Each persona sends its own (a second prescriber with the same NPI would be a 400).
BODIES: dict[str, Callable[[dict[str, Any], str], dict[str, Any]]] = {
    "a new prescriber": lambda k, persona: {
        "name": f"Dr Matrix {persona}",
        "npi": npi_with_check_digit(f"5550001{PERSONAS.index(persona):02d}"),
        "email": f"{persona}@matrix.example.org",
    },
    "a new pharmacy": lambda k, persona: {
        "name": f"Matrix Pharmacy {persona}",
        "ncpdp_id": f"555000{PERSONAS.index(persona)}",
    },
    "a new user": lambda k, persona: {
        "username": f"matrix-user-{persona}",
        "password": PASSWORD,
        "role": "auditor",
    },
    "a new patient of alice's": lambda k, persona: {
        "first_name": "New",
        "last_name": f"Matrix{persona.capitalize()}",
        "date_of_birth": "1990-01-01",
        "sex": "other",
        "population": "general",
        "prescriber": k["prescriber"],
    },
    "a reason": lambda k, persona: {"reason": "entered on the wrong chart"},
    "an interruption": lambda k, persona: {
        "kind": "interrupt",
        "effective_date": TODAY.isoformat(),
        "reason": "matrix",
    },
    # a continuation while the band is normal: 422 once the caller got past the permissions
    "a continuation": lambda k, persona: {
        "kind": "continuation",
        "rationale": "matrix",
        "expires_on": (TODAY + timedelta(days=7)).isoformat(),
    },
    "7 days for an undispensed patient": lambda k, persona: {
        "patient": k["fresh_patient"],
        "pharmacy": k["pharmacy"],
        "days_supply": 7,
    },
}

# name, method, path, body, statuses (anon, alice, designee, bob, phil, aud, admin, lab, root)
# A `{fresh_...}` key in a path or a body is a record made anew for each persona (see `_Keys`):
# `fresh_patient` an enrolled patient of alice's with a current normal ANC that no pharmacy has
# dispensed to (so phil has not reached it), `fresh_result` its latest ANC (alice entered it),
# `fresh_pending` a patient of alice's not yet enrolled with a normal ANC 5 days old.
# fmt: off
TABLE: list[tuple[str, str, str, Body, tuple[int, ...]]] = [
    # --- API: auth and plumbing
    ("api-root", "get", "/api/v1/", None, (401, 200, 200, 200, 200, 200, 200, 200, 200)),
    ("auth-token", "post", "/api/v1/auth/token/", {},
        (400, 400, 400, 400, 400, 400, 400, 400, 400)),
    ("auth-token-revoke", "post", "/api/v1/auth/token/revoke/", None,
        (401, 204, 204, 204, 204, 204, 204, 204, 204)),
    ("ping", "get", "/api/v1/ping/", None, (401, 200, 200, 200, 200, 200, 200, 200, 200)),
    # Public documentation of the contract (docs/api.md); no data.
    ("schema", "get", "/api/schema/", None, (200, 200, 200, 200, 200, 200, 200, 200, 200)),
    ("swagger-ui", "get", "/api/docs/", None, (200, 200, 200, 200, 200, 200, 200, 200, 200)),
    ("health", "get", "/health/", None, (200, 200, 200, 200, 200, 200, 200, 200, 200)),
    # --- directory
    ("prescriber-list", "get", "/api/v1/prescribers/", None,
        (401, 200, 200, 200, 403, 200, 200, 403, 200)),
    ("prescriber-list", "post", "/api/v1/prescribers/", {},
        (401, 403, 403, 403, 403, 403, 400, 403, 400)),
    ("prescriber-list", "post", "/api/v1/prescribers/", "a new prescriber",
        (401, 403, 403, 403, 403, 403, 201, 403, 201)),
    ("prescriber-detail", "get", "/api/v1/prescribers/{prescriber}/", None,
        (401, 200, 200, 404, 403, 200, 200, 403, 200)),
    ("prescriber-detail", "patch", "/api/v1/prescribers/{prescriber}/", {"email": "x@example.org"},
        (401, 403, 403, 403, 403, 403, 200, 403, 200)),
    ("pharmacy-list", "get", "/api/v1/pharmacies/", None,
        (401, 403, 403, 403, 200, 200, 200, 403, 200)),
    ("pharmacy-list", "post", "/api/v1/pharmacies/", {},
        (401, 403, 403, 403, 403, 403, 400, 403, 400)),
    ("pharmacy-list", "post", "/api/v1/pharmacies/", "a new pharmacy",
        (401, 403, 403, 403, 403, 403, 201, 403, 201)),
    ("pharmacy-detail", "get", "/api/v1/pharmacies/{pharmacy}/", None,
        (401, 403, 403, 403, 200, 200, 200, 403, 200)),
    ("pharmacy-worklist", "get", "/api/v1/pharmacies/{pharmacy}/worklist/", None,
        (401, 403, 403, 403, 200, 200, 200, 403, 200)),
    ("user-list", "get", "/api/v1/users/", None, (401, 403, 403, 403, 403, 200, 200, 403, 200)),
    ("user-list", "post", "/api/v1/users/", {}, (401, 403, 403, 403, 403, 403, 400, 403, 400)),
    ("user-list", "post", "/api/v1/users/", "a new user",
        (401, 403, 403, 403, 403, 403, 201, 403, 201)),
    ("user-detail", "get", "/api/v1/users/{user}/", None,
        (401, 403, 403, 403, 403, 200, 200, 403, 200)),
    # --- patients
    # A pharmacist may only look a patient up (last name and date of birth): a bare list is 400.
    ("patient-list", "get", "/api/v1/patients/", None,
        (401, 200, 200, 200, 400, 200, 200, 403, 200)),
    ("patient-list", "get", "/api/v1/patients/?last_name={last_name}&date_of_birth={date_of_birth}",
        None, (401, 200, 200, 200, 200, 200, 200, 403, 200)),
    ("patient-list", "post", "/api/v1/patients/", {},
        (401, 400, 400, 400, 403, 403, 400, 403, 400)),
    # bob names alice as the prescriber: not his to name (400)
    ("patient-list", "post", "/api/v1/patients/", "a new patient of alice's",
        (401, 201, 201, 400, 403, 403, 201, 403, 201)),
    ("patient-detail", "get", "/api/v1/patients/{patient}/", None,
        (401, 200, 200, 404, 200, 200, 200, 403, 200)),
    # phil dispensed the world's patient (he reaches it by id); one he has not reached opens by
    # id only with its date of birth: an id alone is a 404.
    ("patient-detail", "get", "/api/v1/patients/{fresh_patient}/", None,
        (401, 200, 200, 404, 404, 200, 200, 403, 200)),
    ("patient-detail", "get", "/api/v1/patients/{fresh_patient}/?date_of_birth={date_of_birth}",
        None, (401, 200, 200, 404, 200, 200, 200, 403, 200)),
    ("patient-enroll", "post", "/api/v1/patients/{pending}/enroll/", {},
        (401, 200, 409, 404, 403, 403, 409, 403, 409)),  # once enrolled, enrolled: 409
    # each persona's own patient to enroll: who may enroll gets the 200
    ("patient-enroll", "post", "/api/v1/patients/{fresh_pending}/enroll/", {},
        (401, 200, 200, 404, 403, 403, 200, 403, 200)),
    ("patient-eligibility", "get", "/api/v1/patients/{patient}/eligibility/?pharmacy={pharmacy}",
        None, (401, 200, 200, 404, 200, 200, 200, 403, 200)),
    ("patient-consult-acknowledgement", "post",
        "/api/v1/patients/{patient}/consult-acknowledgement/", {},
        (401, 409, 403, 404, 403, 403, 409, 403, 409)),  # no consult flagged: 409
    ("patient-review-acknowledgement", "post",
        "/api/v1/patients/{patient}/review-acknowledgement/", {},
        (401, 409, 403, 404, 403, 403, 409, 403, 409)),  # nothing to review: 409
    ("patient-supplied-elsewhere", "post", "/api/v1/patients/{patient}/supplied-elsewhere/", {},
        (401, 400, 403, 404, 400, 403, 400, 403, 400)),  # no dates: 400
    ("patient-step-down", "post", "/api/v1/patients/{patient}/step-down/", {},
        (401, 400, 403, 404, 403, 403, 400, 403, 400)),
    ("anc-result-list", "get", "/api/v1/patients/{patient}/anc-results/", None,
        (401, 200, 200, 404, 403, 200, 200, 403, 200)),
    ("anc-result-list", "post", "/api/v1/patients/{patient}/anc-results/",
        {"drawn_at": (NOW - timedelta(hours=1)).isoformat(), "value": 2000, "unit": "/uL"},
        (401, 201, 201, 404, 403, 403, 201, 403, 201)),
    ("anc-result-detail", "get", "/api/v1/patients/{patient}/anc-results/{result}/", None,
        (401, 200, 200, 404, 403, 200, 200, 403, 200)),
    ("anc-result-void", "post", "/api/v1/patients/{patient}/anc-results/{result}/void/", {},
        (401, 400, 400, 404, 403, 403, 400, 403, 400)),
    # alice entered the result: she (its prescriber) may void it; a designee or an administrator
    # who did not enter it may not (docs/rules.md §8, who may void what).
    ("anc-result-void", "post",
        "/api/v1/patients/{fresh_patient}/anc-results/{fresh_result}/void/", "a reason",
        (401, 200, 403, 404, 403, 403, 403, 403, 403)),
    ("wbc-result-list", "get", "/api/v1/patients/{patient}/wbc-results/", None,
        (401, 200, 200, 404, 403, 200, 200, 403, 200)),
    ("wbc-result-list", "post", "/api/v1/patients/{patient}/wbc-results/", {},
        (401, 400, 400, 404, 403, 403, 400, 403, 400)),
    ("wbc-result-detail", "get", "/api/v1/patients/{patient}/wbc-results/{wbc}/", None,
        (401, 200, 200, 404, 403, 200, 200, 403, 200)),
    ("wbc-result-void", "post", "/api/v1/patients/{patient}/wbc-results/{wbc}/void/", {},
        (401, 400, 400, 404, 403, 403, 400, 403, 400)),
    ("limit-agreement-list", "get", "/api/v1/patients/{patient}/limit-agreements/", None,
        (401, 200, 200, 404, 403, 200, 200, 403, 200)),
    ("limit-agreement-list", "post", "/api/v1/patients/{patient}/limit-agreements/", {},
        (401, 400, 403, 404, 403, 403, 400, 403, 400)),
    ("treatment-event-list", "get", "/api/v1/patients/{patient}/treatment-events/", None,
        (401, 200, 200, 404, 403, 200, 200, 403, 200)),
    ("treatment-event-list", "post", "/api/v1/patients/{patient}/treatment-events/", {},
        (401, 400, 403, 404, 403, 403, 400, 403, 400)),
    ("treatment-event-list", "post", "/api/v1/patients/{fresh_patient}/treatment-events/",
        "an interruption", (401, 201, 403, 404, 403, 403, 201, 403, 201)),
    ("authorization-list", "get", "/api/v1/patients/{patient}/authorizations/", None,
        (401, 200, 200, 404, 403, 200, 200, 403, 200)),
    ("authorization-list", "post", "/api/v1/patients/{patient}/authorizations/", {},
        (401, 400, 403, 404, 403, 403, 400, 403, 400)),
    ("authorization-list", "post", "/api/v1/patients/{patient}/authorizations/",
        "a continuation", (401, 422, 403, 404, 403, 403, 422, 403, 422)),
    ("patient-identifier-list", "get", "/api/v1/patients/{patient}/identifiers/", None,
        (401, 200, 200, 404, 403, 200, 200, 403, 200)),
    ("patient-identifier-list", "post", "/api/v1/patients/{patient}/identifiers/",
        lambda w, persona: {"issuer": "MATRIXLAB", "value": f"M-{persona}"},
        (401, 201, 201, 404, 403, 403, 201, 403, 201)),
    ("patient-identifier-detail", "delete",
        "/api/v1/patients/{patient}/identifiers/{identifier}/", None,
        (401, 204, 204, 404, 403, 403, 204, 403, 204)),
    # --- clozapine levels and the monitoring plan (clinical/)
    ("level-list", "get", "/api/v1/patients/{patient}/levels/", None,
        (401, 200, 200, 404, 403, 200, 200, 403, 200)),
    ("level-list", "post", "/api/v1/patients/{patient}/levels/", {},
        (401, 400, 400, 404, 403, 403, 400, 403, 400)),
    ("smoking-status-list", "get", "/api/v1/patients/{patient}/smoking-status/", None,
        (401, 200, 200, 404, 403, 200, 200, 403, 200)),
    ("smoking-status-list", "post", "/api/v1/patients/{patient}/smoking-status/", {},
        (401, 400, 400, 404, 403, 403, 400, 403, 400)),
    ("medication-list", "get", "/api/v1/patients/{patient}/medications/", None,
        (401, 200, 200, 404, 403, 200, 200, 403, 200)),
    ("medication-list", "post", "/api/v1/patients/{patient}/medications/", {},
        (401, 400, 400, 404, 403, 403, 400, 403, 400)),
    ("dose-list", "get", "/api/v1/patients/{patient}/doses/", None,
        (401, 200, 200, 404, 403, 200, 200, 403, 200)),
    ("dose-list", "post", "/api/v1/patients/{patient}/doses/", {},
        (401, 400, 400, 404, 403, 403, 400, 403, 400)),
    ("level-detail", "get", "/api/v1/patients/{patient}/levels/999999/", None,
        (401, 404, 404, 404, 403, 404, 404, 403, 404)),
    ("level-summary", "get", "/api/v1/patients/{patient}/levels/summary/", None,
        (401, 200, 200, 404, 403, 200, 200, 403, 200)),
    ("plan-list", "get", "/api/v1/patients/{patient}/plan/", None,
        (401, 200, 200, 404, 403, 200, 200, 403, 200)),
    ("plan-list", "post", "/api/v1/patients/{patient}/plan/", {},
        (401, 400, 400, 404, 403, 403, 400, 403, 400)),
    ("plan-entries", "get", "/api/v1/patients/{patient}/plan/entries/", None,
        (401, 200, 200, 404, 403, 200, 200, 403, 200)),
    ("level-indication-list", "get", "/api/v1/patients/{patient}/level-indications/", None,
        (401, 200, 200, 404, 403, 200, 200, 403, 200)),
    ("level-indication-list", "post", "/api/v1/patients/{patient}/level-indications/", {},
        (401, 400, 400, 404, 403, 403, 400, 403, 400)),
    # the counter's observations: pharmacists too (by id, like the dispense), never auditors
    ("counter-observation-list", "post", "/api/v1/patients/{patient}/counter-observations/", {},
        (401, 400, 400, 404, 400, 403, 400, 403, 400)),
    ("interacting-drug-list", "get", "/api/v1/interacting-drugs/", None,
        (401, 200, 200, 200, 403, 200, 200, 403, 200)),
    ("interacting-drug-list", "post", "/api/v1/interacting-drugs/", {},
        (401, 403, 403, 403, 403, 403, 400, 403, 400)),
    ("interacting-drug-detail", "get", "/api/v1/interacting-drugs/{drug}/", None,
        (401, 200, 200, 200, 403, 200, 200, 403, 200)),
    # --- dispensing
    ("dispense-list", "get", "/api/v1/dispenses/", None,
        (401, 200, 200, 200, 200, 200, 200, 403, 200)),
    ("dispense-list", "post", "/api/v1/dispenses/", {},
        (401, 403, 403, 403, 400, 403, 400, 403, 400)),
    ("dispense-list", "post", "/api/v1/dispenses/", "7 days for an undispensed patient",
        (401, 403, 403, 403, 201, 403, 201, 403, 201)),
    ("dispense-detail", "get", "/api/v1/dispenses/{dispense}/", None,
        (401, 200, 200, 404, 200, 200, 200, 403, 200)),
    ("dispense-review", "post", "/api/v1/dispenses/{dispense}/review/", {},
        (401, 403, 403, 403, 403, 403, 409, 403, 409)),
    # --- notifications (each user's own)
    ("notification-list", "get", "/api/v1/notifications/", None,
        (401, 200, 200, 200, 200, 200, 200, 403, 200)),
    ("notification-detail", "get", "/api/v1/notifications/{notification}/", None,
        (401, 200, 404, 404, 404, 404, 404, 403, 404)),
    ("notification-read", "post", "/api/v1/notifications/{notification}/read/", None,
        (401, 200, 404, 404, 404, 404, 404, 403, 404)),
    ("notification-preferences", "get", "/api/v1/notifications/preferences/", None,
        (401, 200, 200, 200, 200, 200, 200, 403, 200)),
    ("notification-preferences", "patch", "/api/v1/notifications/preferences/", {},
        (401, 200, 200, 200, 200, 200, 200, 403, 200)),
    ("notification-preferences", "put", "/api/v1/notifications/preferences/", {},
        (401, 400, 400, 400, 400, 400, 400, 403, 400)),
    # --- lab feeds
    # JSON is not a lab message: 415 once the caller may post at all.
    ("feed-hl7", "post", "/api/v1/feeds/hl7/", {}, (401, 403, 403, 403, 403, 403, 415, 415, 415)),
    ("feed-csv", "post", "/api/v1/feeds/csv/", {}, (401, 403, 403, 403, 403, 403, 415, 415, 415)),
    ("feed-message-list", "get", "/api/v1/feeds/messages/", None,
        (401, 403, 403, 403, 403, 200, 200, 403, 200)),
    ("feed-message-detail", "get", "/api/v1/feeds/messages/{message}/", None,
        (401, 403, 403, 403, 403, 200, 200, 403, 200)),
    ("feed-message-retry", "post", "/api/v1/feeds/messages/{message}/retry/", None,
        (401, 403, 403, 403, 403, 403, 409, 403, 409)),
    # A batch taken asynchronously: its lab account (the sender) reads it, as do auditors.
    ("feed-batch-detail", "get", "/api/v1/feeds/batches/{batch}/", None,
        (401, 403, 403, 403, 403, 200, 200, 200, 200)),
    ("quarantine-list", "get", "/api/v1/feeds/quarantine/", None,
        (401, 403, 403, 403, 403, 200, 200, 403, 200)),
    ("quarantine-detail", "get", "/api/v1/feeds/quarantine/{quarantine}/", None,
        (401, 403, 403, 403, 403, 200, 200, 403, 200)),
    ("quarantine-resolve", "post", "/api/v1/feeds/quarantine/{quarantine}/resolve/", {},
        (401, 403, 403, 403, 403, 403, 400, 403, 400)),
    ("quarantine-dismiss", "post", "/api/v1/feeds/quarantine/{quarantine}/dismiss/", {},
        (401, 403, 403, 403, 403, 403, 400, 403, 400)),
    ("code-mapping-list", "get", "/api/v1/feeds/code-mappings/", None,
        (401, 403, 403, 403, 403, 200, 200, 403, 200)),
    ("code-mapping-list", "post", "/api/v1/feeds/code-mappings/", {},
        (401, 403, 403, 403, 403, 403, 400, 403, 400)),
    ("code-mapping-detail", "get", "/api/v1/feeds/code-mappings/{mapping}/", None,
        (401, 403, 403, 403, 403, 200, 200, 403, 200)),
    ("code-mapping-detail", "patch", "/api/v1/feeds/code-mappings/{mapping}/",
        {"description": "matrix"}, (401, 403, 403, 403, 403, 403, 200, 403, 200)),
    ("code-mapping-detail", "delete", "/api/v1/feeds/code-mappings/{mapping}/", None,
        (401, 403, 403, 403, 403, 403, 204, 403, 204)),
    # --- audit and reports
    ("audit-entry-list", "get", "/api/v1/audit-entries/", None,
        (401, 403, 403, 403, 403, 200, 200, 403, 200)),
    ("audit-entry-detail", "get", "/api/v1/audit-entries/{entry}/", None,
        (401, 403, 403, 403, 403, 200, 200, 403, 200)),
    *[
        (f"report-{slug}", "get", f"/api/v1/reports/{slug}/", None,
            (401, 403, 403, 403, 403, 200, 200, 403, 200))
        for slug in ("dispenses", "overrides", "overdue", "low-anc-episodes", "enrollment-gaps",
                     "compliance")
    ],
    # --- FHIR
    ("fhir-observation", "get", "/fhir/Observation?patient={patient}", None,
        (401, 200, 200, 200, 403, 200, 200, 403, 200)),
    ("fhir-observation", "post", "/fhir/Observation", {},
        (401, 403, 403, 403, 403, 403, 400, 400, 400)),
    ("fhir-bundle", "post", "/fhir", {}, (401, 403, 403, 403, 403, 403, 400, 400, 400)),
    # --- pages (anonymous visitors are sent to the login page)
    ("home", "get", "/", None, (302, 302, 302, 302, 302, 302, 302, 200, 302)),
    ("login", "get", "/login/", None, (200, 200, 200, 200, 200, 200, 200, 200, 200)),
    ("logout", "post", "/logout/", None, (302, 302, 302, 302, 302, 302, 302, 302, 302)),
    ("counter", "get", "/counter/", None, (302, 403, 403, 403, 200, 403, 200, 403, 200)),
    ("counter-worklist", "get", "/counter/worklist/", None,
        (302, 403, 403, 403, 200, 403, 403, 403, 403)),
    ("counter-patient", "get", "/counter/patients/{patient}/", None,
        (302, 403, 403, 403, 200, 403, 403, 403, 403)),
    ("counter-dispense", "post", "/counter/patients/{patient}/dispense/", {},
        (302, 403, 403, 403, 200, 403, 403, 403, 403)),
    ("counter-emergency", "post", "/counter/patients/{patient}/emergency/", {},
        (302, 403, 403, 403, 200, 403, 403, 403, 403)),
    # what the pharmacist sees, recorded at the counter: an empty form is refused in place
    ("counter-observe", "post", "/counter/patients/{patient}/observe/", {},
        (302, 403, 403, 403, 422, 403, 403, 403, 403)),
    ("clinic", "get", "/clinic/", None, (302, 200, 200, 200, 403, 403, 200, 403, 200)),
    ("clinic-patient", "get", "/clinic/patients/{patient}/", None,
        (302, 200, 200, 404, 403, 200, 200, 403, 200)),
    # An empty form comes back with its errors (422); the first enrollment succeeds (302).
    ("clinic-enroll", "post", "/clinic/patients/{pending}/enroll/", {},
        (302, 302, 422, 404, 403, 403, 422, 403, 422)),
    ("clinic-result", "post", "/clinic/patients/{patient}/results/", {},
        (302, 422, 422, 404, 403, 403, 422, 403, 422)),
    # The void control: only who may void this result (alice entered it) gets the form back.
    ("clinic-result-void", "post", "/clinic/patients/{patient}/results/{result}/void/", {},
        (302, 422, 403, 404, 403, 403, 403, 403, 403)),
    # The correction page: who may void the result may correct it (a correction replaces it).
    ("clinic-result-correct", "get", "/clinic/patients/{patient}/results/{result}/correct/",
        None, (302, 200, 403, 404, 403, 403, 403, 403, 403)),
    ("clinic-result-correct", "post", "/clinic/patients/{patient}/results/{result}/correct/",
        {}, (302, 422, 403, 404, 403, 403, 403, 403, 403)),
    ("clinic-event", "post", "/clinic/patients/{patient}/events/", {},
        (302, 422, 403, 404, 403, 403, 422, 403, 422)),
    ("clinic-authorization", "post", "/clinic/patients/{patient}/authorizations/", {},
        (302, 422, 403, 404, 403, 403, 422, 403, 422)),
    ("clinic-level", "post", "/clinic/patients/{patient}/levels/", {},
        (302, 422, 422, 404, 403, 403, 422, 403, 422)),
    ("clinic-plan", "post", "/clinic/patients/{patient}/plan/", {},
        (302, 422, 422, 404, 403, 403, 422, 403, 422)),
    ("clinic-step-down", "post", "/clinic/patients/{patient}/step-down/", {},
        (302, 422, 403, 404, 403, 403, 422, 403, 422)),
    ("oversight", "get", "/oversight/", None, (302, 403, 403, 403, 403, 200, 200, 403, 200)),
    # The printable record of a dispense made at the pharmacist's own pharmacy.
    ("counter-dispense-record", "get", "/counter/patients/{patient}/dispenses/{dispense}/",
        None, (302, 403, 403, 403, 200, 403, 403, 403, 403)),
    # An administrator names no prescriber to create a patient for.
    ("clinic-new-patient", "get", "/clinic/patients/new/", None,
        (302, 200, 200, 200, 403, 403, 403, 403, 403)),
    ("clinic-batch", "get", "/clinic/results/batch/", None,
        (302, 200, 200, 200, 403, 403, 200, 403, 200)),
    # Nothing to acknowledge for this patient: the refusal comes back in place (422).
    ("clinic-consult", "post", "/clinic/patients/{patient}/consult/", {},
        (302, 422, 403, 404, 403, 403, 422, 403, 422)),
    ("clinic-review", "post", "/clinic/patients/{patient}/review/", {},
        (302, 422, 403, 404, 403, 403, 422, 403, 422)),
    ("inbox", "get", "/inbox/", None, (302, 200, 200, 200, 200, 200, 200, 403, 200)),
    # Only its recipient's: anyone else's is a 404.
    ("inbox-read", "post", "/inbox/{notification}/read/", {},
        (302, 302, 404, 404, 404, 404, 404, 403, 404)),
    ("oversight-patients", "get", "/oversight/patients/", None,
        (302, 403, 403, 403, 403, 200, 200, 403, 200)),
    ("oversight-feeds", "get", "/oversight/feeds/", None,
        (302, 403, 403, 403, 403, 200, 200, 403, 200)),
    ("oversight-report", "get", "/oversight/reports/dispenses/", None,
        (302, 403, 403, 403, 403, 200, 200, 403, 200)),
    ("oversight-timeline", "get", "/oversight/patients/{patient}/timeline/", None,
        (302, 403, 403, 403, 403, 200, 200, 403, 200)),
    ("audit-trail", "get", "/oversight/audit/", None,
        (302, 403, 403, 403, 403, 200, 200, 403, 200)),
    # Administrators only; this dispense is no emergency supply (404).
    ("oversight-review", "post", "/oversight/emergency-supplies/{dispense}/review/", {},
        (302, 403, 403, 403, 403, 403, 404, 403, 404)),
    # --- Django admin (staff only; administrators verified by their second factor when on)
    ("index", "get", "/admin/", None, (302, 302, 302, 302, 302, 302, 200, 302, 200)),
    # A signed-in administrator is sent on from the admin's login page.
    ("admin-login", "get", "/admin/login/", None, (200, 200, 200, 200, 200, 200, 302, 200, 302)),
    ("admin-logout", "post", "/admin/logout/", None, (302, 302, 302, 302, 302, 302, 302, 302, 302)),
    ("password_change", "get", "/admin/password_change/", None,
        (302, 302, 302, 302, 302, 302, 200, 302, 200)),
    # Without its query parameters the autocomplete answers 403 even to an administrator.
    ("autocomplete", "get", "/admin/autocomplete/", None,
        (302, 302, 302, 302, 302, 302, 403, 302, 403)),
    ("jsi18n", "get", "/admin/jsi18n/", None, (302, 302, 302, 302, 302, 302, 200, 302, 200)),
    ("admin-model-page", "get", "/admin/patients/patient/", None,
        (302, 302, 302, 302, 302, 302, 200, 302, 200)),
]
# fmt: on

# Route names the resolver gives the admin's login and logout (they clash with the pages').
ALIASES = {"admin-login": "login", "admin-logout": "logout", "admin-model-page": None}


def route_names() -> set[str]:
    names: set[str] = set()

    def walk(patterns: list[Any], prefix: str) -> None:
        for p in patterns:
            if isinstance(p, URLResolver):
                walk(p.url_patterns, prefix + str(p.pattern))
            elif isinstance(p, URLPattern):
                route = prefix + str(p.pattern)
                if "format" in route:  # DRF's format-suffix twins of the same views
                    continue
                if route.startswith("admin/") and route.count("/") > 2:
                    continue  # each registered model's pages: the admin's machinery
                names.add(p.name or ("admin-catch-all" if route.startswith("admin/") else route))

    walk(get_resolver().url_patterns, "")
    return names


def test_no_route_is_missing_from_the_table():
    covered = {name for name, *_ in TABLE} | {a for a in ALIASES.values() if a}
    missing = route_names() - covered - ADMIN_MACHINERY
    assert not missing, f"routes with no row in the access table: {sorted(missing)}"


@pytest.fixture
def lab(db):
    return LabUserFactory.create(username="matrix-lab")


@pytest.fixture
def world(alice, designee, bob, phil, aud, admin, lab, root, clock):
    start = TODAY - timedelta(days=40)
    patient = enrolled_patient(
        actor=alice, start=start, draws=weekly_draws(start, TODAY - timedelta(days=2))
    )
    pending = PatientFactory.create(actor=alice, prescriber=alice.prescriber)
    record_anc(pending, alice, TODAY - timedelta(days=3), 2400)
    result = LabResult.objects.filter(patient=patient, analyte="anc").latest("drawn_at")
    wbc = LabResult.objects.create(
        patient=patient,
        analyte="wbc",
        value=5000,
        unit="/uL",
        value_per_ul=5000,
        drawn_at=NOW - timedelta(days=2),
        recorded_by=alice,
    )
    from pharmacy.services import dispense_record

    dispense = dispense_record(patient=patient, pharmacy=phil.pharmacy, actor=phil, days_supply=7)
    notification = Notification.objects.create(
        kind=Kind.DRAW_DUE,
        channel=Channel.IN_APP,
        recipient=alice,
        recipient_key=f"user:{alice.pk}",
        patient_id=patient.pk,
        subject_key=f"patient:{patient.pk}",
        key_date=TODAY,
        subject="matrix",
        body="matrix",
    )
    message = FeedMessage.objects.create(
        channel="hl7", raw="MSH|", outcome="accepted", received_by=lab
    )
    batch = FeedBatch.objects.create(channel="hl7", raw="MSH|", received_by=lab, status="done")
    quarantine = QuarantinedResult.objects.create(
        message=message, reason="unmatched_patient", detail="matrix", value="2.0", unit="10*3/uL"
    )
    mapping = LabCodeMapping.objects.create(lab="MATRIX", local_code="N", loinc="751-8")
    # Its own row: the rows a migration loads are gone after a transactional test's flush.
    drug = InteractingDrug.objects.create(name="matrixamine", effect=DrugEffect.INHIBITOR)
    return {
        "patient": patient.pk,
        "last_name": patient.last_name,
        "date_of_birth": patient.date_of_birth.isoformat(),
        "pending": pending.pk,
        "result": result.pk,
        "wbc": wbc.pk,
        "prescriber": alice.prescriber_id,
        "pharmacy": phil.pharmacy_id,
        "user": alice.pk,
        "dispense": dispense.dispense.pk,
        "notification": notification.pk,
        "message": message.pk,
        "batch": batch.pk,
        "quarantine": quarantine.pk,
        "mapping": mapping.pk,
        "drug": drug.pk,
        "entry": AuditEntry.objects.order_by("seq").first().pk,  # type: ignore[union-attr]
    }


def _fresh_keys(world: dict[str, Any], name: str, persona: str) -> dict[str, Any]:
    """Rows a persona's request may consume (a delete) are made anew for each persona."""
    extra: dict[str, Any] = {}
    if name == "patient-identifier-detail":
        from patients.models import User

        extra["identifier"] = PatientIdentifier.objects.create(
            patient_id=world["patient"],
            issuer="MATRIX",
            value=f"D-{persona}",
            recorded_by=User.objects.get(username="alice"),
        ).pk
    if name == "code-mapping-detail":
        extra["mapping"] = LabCodeMapping.objects.get_or_create(
            lab="MATRIX", local_code=f"N-{persona}", defaults={"loinc": "751-8"}
        )[0].pk
    return extra


def _unreached_patient(alice: User) -> Patient:
    """Alice's patient, enrolled and started 20 days ago with weekly normal draws (current
    today), dispensed at no pharmacy: a pharmacist has not reached it."""
    start = TODAY - timedelta(days=20)
    return enrolled_patient(
        actor=alice, start=start, draws=weekly_draws(start, TODAY - timedelta(days=2))
    )


def _pending_patient(alice: User) -> Patient:
    """Alice's patient, not yet enrolled, with a normal ANC drawn 5 days ago."""
    patient = PatientFactory.create(actor=alice, prescriber=alice.prescriber)
    record_anc(patient, alice, TODAY - timedelta(days=5), 2300)
    return patient


class _Keys(dict):
    """The world's keys for one persona's request; a `fresh_...` key is made when first asked
    for (by `str.format_map` or a body), so each persona gets its own record."""

    def __init__(self, world: dict[str, Any], persona: str) -> None:
        super().__init__(world)
        self.persona = persona

    def __missing__(self, key: str) -> Any:
        alice = User.objects.get(username="alice")
        if key == "fresh_patient":
            value = _unreached_patient(alice).pk
        elif key == "fresh_result":
            value = (
                LabResult.objects.filter(patient_id=self["fresh_patient"], analyte="anc")
                .latest("drawn_at")
                .pk
            )
        elif key == "fresh_pending":
            value = _pending_patient(alice).pk
        else:
            raise KeyError(key)
        self[key] = value
        return value


def _counts() -> dict[str, Any]:
    """Everything the table's requests could write, as comparable values."""
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
        "identifiers": PatientIdentifier.objects.count(),
        "mappings": LabCodeMapping.objects.count(),
        "quarantined_open": QuarantinedResult.objects.filter(status="open").count(),
    }


def _row_id(row: tuple[str, str, str, Body, tuple[int, ...]], seen: set[str]) -> str:
    name, method, path, body, _ = row
    row_id = f"{method.upper()} {name}" + (f" with {body}" if isinstance(body, str) else "")
    if row_id in seen:  # the same route and body on another record (a `fresh_...` one)
        row_id = f"{row_id} {path}"
    seen.add(row_id)
    return row_id


_SEEN_IDS: set[str] = set()


@pytest.mark.parametrize(
    ("name", "method", "path", "body", "statuses"),
    [pytest.param(*row, id=_row_id(row, _SEEN_IDS)) for row in TABLE],
)
def test_every_role_gets_the_tables_answer(
    request, api, client, world, name, method, path, body, statuses
):
    observed = []
    for persona, expected in zip(PERSONAS, statuses, strict=True):
        keys = _Keys({**world, **_fresh_keys(world, name, persona)}, persona)
        url = path.format_map(keys)
        if isinstance(body, str):
            payload = BODIES[body](keys, persona)
        else:
            payload = body(keys, persona) if callable(body) else body
        before = _counts()
        if path.startswith(("/api/", "/fhir", "/health")):
            user = None if persona == "anon" else request.getfixturevalue(persona)
            response = getattr(api(user), method)(url, payload, format="json")
        else:
            client.logout()
            if persona != "anon":
                client.force_login(request.getfixturevalue(persona))
            response = getattr(client, method)(url, payload or {})
        observed.append((persona, expected, response.status_code))
        # A refused request writes nothing (docs/api.md, Conventions): any 4xx, and the login page
        # an anonymous visitor is sent to.
        if response.status_code >= 400 or (response.status_code == 302 and persona == "anon"):
            assert _counts() == before, f"{persona} was refused but something was written"
    wrong = [f"{p}: expected {e}, got {g}" for p, e, g in observed if e != g]
    assert not wrong, f"{method.upper()} {path}: " + "; ".join(wrong)


def test_anonymous_pages_redirect_to_the_login_page(client, world):
    response = client.get(f"/clinic/patients/{world['patient']}/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_the_lab_account_exists_with_a_password(lab):
    assert lab.check_password(PASSWORD)


# --- beyond one request per row --------------------------------------------------------------

# Every GET under one patient's id that the table answers bob (another prescriber) with a 404.
HIDDEN_FROM_BOB = [
    path
    for name, method, path, body, statuses in TABLE
    if method == "get"
    and path.startswith("/api/v1/patients/{patient}/")
    and statuses[PERSONAS.index("bob")] == 404
]


def test_another_prescribers_patient_looks_exactly_like_an_unknown_one(api, bob, world):
    client = api(bob)
    assert HIDDEN_FROM_BOB
    for path in HIDDEN_FROM_BOB:
        hidden = client.get(path.format_map(world))
        unknown = client.get(path.format_map({**world, "patient": 999999}))

        assert hidden.status_code == unknown.status_code == 404, path
        assert hidden.json() == unknown.json(), path


def test_another_prescribers_patients_are_not_in_the_list(api, bob, world):
    assert api(bob).get("/api/v1/patients/").json()["count"] == 0


def test_the_designee_of_another_prescriber_sees_nothing_of_alices(api, bob, world):
    bobs_designee = DesigneeUserFactory.create(prescriber=bob.prescriber)
    client = api(bobs_designee)

    assert client.get(f"/api/v1/patients/{world['patient']}/").status_code == 404
    assert client.get(f"/api/v1/patients/{world['patient']}/anc-results/").status_code == 404


def test_a_user_without_a_role_may_do_nothing(api, world):
    client = api(UserFactory.create(role=""))

    assert client.get("/api/v1/patients/").status_code == 403
    assert client.get(f"/api/v1/patients/{world['patient']}/").status_code == 403
    assert client.get("/api/v1/prescribers/").status_code == 403


def test_a_pharmacist_without_a_pharmacy_sees_no_patient(api, world):
    orphan = UserFactory.create(role="pharmacist")
    response = api(orphan).get(
        "/api/v1/patients/",
        {"last_name": world["last_name"], "date_of_birth": world["date_of_birth"]},
    )

    assert response.status_code == 200
    assert response.json()["count"] == 0


def test_a_pharmacist_may_not_read_lab_history_or_treatment_events(api, alice, phil, world):
    # The table's rows ask about the world's patient, whom phil reached by dispensing to it;
    # this one he has not reached.
    patient = _unreached_patient(alice)
    client = api(phil)

    assert client.get(f"/api/v1/patients/{patient.pk}/anc-results/").status_code == 403
    assert client.get(f"/api/v1/patients/{patient.pk}/treatment-events/").status_code == 403
    assert client.get(f"/api/v1/patients/{patient.pk}/authorizations/").status_code == 403


def test_an_inactive_users_token_stops_working(api, alice, world):
    client = api(alice)
    assert client.get(f"/api/v1/patients/{world['patient']}/").status_code == 200
    alice.is_active = False
    alice.save()

    assert client.get(f"/api/v1/patients/{world['patient']}/").status_code == 401


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/prescribers/",
        "/api/v1/pharmacies/",
        "/api/v1/users/",
        "/api/v1/patients/",
        "/api/v1/patients/{patient}/anc-results/",
        "/api/v1/patients/{patient}/treatment-events/",
        "/api/v1/patients/{patient}/authorizations/",
        "/api/v1/dispenses/",
    ],
)
def test_every_list_is_paginated(api, admin, world, url):
    response = api(admin).get(url.format_map(world), {"page_size": 1})

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"count", "next", "previous", "results"}
    assert isinstance(body["results"], list)
    assert body["count"] >= len(body["results"])


def test_an_out_of_range_page_is_a_404(api, admin, world):
    assert api(admin).get("/api/v1/patients/", {"page": 99}).status_code == 404
