"""schemathesis against the served OpenAPI schema: every operation, called as every role (and
anonymously) with generated input, answers without a server error, with a documented content
type and a body that matches the schema for the status it gives. The number of requests sent
per persona is printed at the end of the run (tests/security/conftest.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import schemathesis
from django.db import DatabaseError, transaction
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from clozrems.wsgi import application
from patients.auth import api_token_create

# The same document /api/schema/ serves (tests/test_openapi.py checks they agree).
RAW: dict[str, Any] = json.loads(
    json.dumps(SchemaGenerator().get_schema(request=None, public=True), default=str)
)
SCHEMA = schemathesis.openapi.from_dict(RAW)
SCHEMA.app = application
OPERATIONS = {
    op.label: op
    for op in (r.ok() for r in SCHEMA.get_all_operations())  # type: ignore[union-attr]
}
# Administrators reach every handler's depths; the other roles are mostly refused early, so
# fewer examples each cover them (the run stays within CI's time).
EXAMPLES_PER_OPERATION = {"admin": 20}
EXAMPLES_OTHERWISE = 10
PERSONAS = ("anonymous", "prescriber", "designee", "pharmacist", "auditor", "admin", "lab")
FIXTURE_OF = {
    "prescriber": "alice",
    "designee": "designee",
    "pharmacist": "phil",
    "auditor": "aud",
    "admin": "admin",
    "lab": "lab_account",
}


@pytest.fixture
def lab_account(db):
    from tests.factories import LabUserFactory

    return LabUserFactory.create(username="fuzz-lab")


@pytest.fixture
def wsgi_keeps_the_test_connection():
    """The WSGI app is called directly (as Django's own test client does, keep the test's
    database connection open across requests: the request signals would close it)."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.mark.parametrize("label", sorted(OPERATIONS))
@pytest.mark.parametrize("persona", PERSONAS)
def test_no_operation_answers_with_a_server_error_or_off_schema(
    request, persona, label, designee, active_world, wsgi_keeps_the_test_connection
):
    operation = OPERATIONS[label]
    user = None if persona == "anonymous" else request.getfixturevalue(FIXTURE_OF[persona])
    calls = {"n": 0}
    statuses: dict[int, int] = {}

    @settings(
        max_examples=EXAMPLES_PER_OPERATION.get(persona, EXAMPLES_OTHERWISE),
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    @given(case=operation.as_strategy())
    def run(case: Any) -> None:
        # A fresh token each time: a generated call to the revoke endpoint must not end the run.
        headers = {}
        if user is not None:
            headers["Authorization"] = f"Token {api_token_create(user=user, otp_verified=True)}"
        # Every other call names the real patient, so that the handlers get past their 404s.
        calls["n"] += 1
        if calls["n"] % 2 and case.path_parameters and "patient_pk" in case.path_parameters:
            case.path_parameters["patient_pk"] = active_world.pk
        if (
            calls["n"] % 2
            and case.path_parameters
            and label.startswith(("GET /api/v1/patients/{id}", "POST /api/v1/patients/{id}"))
        ):
            case.path_parameters["id"] = active_world.pk
        # In production each request runs in its own transaction; here the whole test is one.
        # A statement PostgreSQL refused (a filter out of range, answered 400) would leave it
        # aborted for the next call, so each call gets a savepoint to fall back to.
        # The schema names the session cookie, so schemathesis invents one; the calls sign in by
        # token. A statement refused inside a request aborts this test's one transaction for the
        # rest of that request, which production's autocommit would not: Django's session
        # machinery reading an invented cookie afterwards would fail where production does not.
        case.cookies = {}
        savepoint = transaction.savepoint()
        response = case.call(headers=headers)
        try:
            transaction.savepoint_commit(savepoint)
        except DatabaseError:
            transaction.savepoint_rollback(savepoint)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        case.validate_response(
            response,
            checks=(not_a_server_error, response_schema_conformance, content_type_conformance),
        )

    try:
        run()
    finally:
        # Carried to the controlling process under xdist too (tests/security/conftest.py).
        request.node.user_properties.append(("fuzz", {"persona": persona, "statuses": statuses}))
