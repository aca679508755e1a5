"""JSON nested deeper than CLOZREMS_JSON_MAX_DEPTH (64) is refused with a 400 by every JSON
endpoint, the anonymous token endpoint included, instead of exhausting the interpreter's stack
(a 500). The limit is the default parser's (clozrems/parsers.py), for every view."""

from __future__ import annotations

import json

import pytest
from drf_spectacular.generators import SchemaGenerator
from hypothesis import given
from hypothesis import strategies as st

from clozrems.parsers import nesting_depth_exceeds

DEEP = "[" * 1000 + "]" * 1000  # 2 kB
DEEP_OBJECT = '{"a":' * 1000 + "1" + "}" * 1000

SCHEMA = SchemaGenerator().get_schema(request=None, public=True)
# The FHIR endpoints name their own parsers (feeds/api.py); they answer with an
# OperationOutcome and are covered with the FHIR feed's tests.
JSON_OPERATIONS = sorted(
    (method.upper(), path)
    for path, item in SCHEMA["paths"].items()
    for method, operation in item.items()
    if "application/json" in operation.get("requestBody", {}).get("content", {})
    and not path.startswith("/fhir")
)


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_every_json_operation_is_listed():
    assert ("POST", "/api/v1/auth/token/") in JSON_OPERATIONS
    assert len(JSON_OPERATIONS) > 20


def test_the_anonymous_token_endpoint_refuses_deep_nesting(api, db):
    for body in (DEEP, DEEP_OBJECT):
        response = api().generic(
            "POST", "/api/v1/auth/token/", body, content_type="application/json"
        )
        assert response.status_code == 400
        assert "nested more than 64 levels" in response.json()["detail"]


@pytest.mark.parametrize(("method", "path"), JSON_OPERATIONS)
def test_every_json_endpoint_refuses_deep_nesting_with_a_400(api, root, method, path):
    url = path.replace("{patient_pk}", "1").replace("{id}", "1")
    response = api(root).generic(method, url, DEEP, content_type="application/json")
    assert response.status_code in (400, 404, 405), (response.status_code, response.content[:200])
    if response.status_code == 400:
        assert "nested more than" in response.content.decode()


def test_the_limit_is_the_setting(api, db, settings):
    settings.CLOZREMS_JSON_MAX_DEPTH = 64
    at_limit = api().generic(
        "POST",
        "/api/v1/auth/token/",
        json.dumps({"username": [[[]]]}),
        content_type="application/json",
    )
    assert "nested more than" not in at_limit.content.decode()
    settings.CLOZREMS_JSON_MAX_DEPTH = 3
    over = api().generic(
        "POST",
        "/api/v1/auth/token/",
        json.dumps({"username": [[[]]]}),
        content_type="application/json",
    )
    assert over.status_code == 400 and "nested more than 3 levels" in over.json()["detail"]


@given(depth=st.integers(min_value=1, max_value=200), limit=st.integers(min_value=1, max_value=100))
def test_the_depth_check_counts_the_nesting_exactly(depth, limit):
    assert nesting_depth_exceeds(json.loads(nested(depth)), limit) is (depth > limit)
