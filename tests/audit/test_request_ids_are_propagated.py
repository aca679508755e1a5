"""X-Request-ID: the caller's id is kept (when sane), a uuid4 is made otherwise; it comes back
on the response and goes into the audit entries the request writes."""

import uuid

from tests.audit.conftest import entries_after, head


def test_a_given_request_id_is_echoed_and_recorded(api, phil, active_patient):
    before = head()
    response = api(phil).get(
        f"/api/v1/patients/{active_patient.pk}/eligibility/", HTTP_X_REQUEST_ID="pos-7/abc"
    )
    assert response["X-Request-ID"] == "pos-7/abc"
    [entry] = entries_after(before)
    assert entry.request_id == "pos-7/abc"


def test_a_missing_request_id_is_generated_as_a_uuid4(api, phil, active_patient):
    before = head()
    response = api(phil).get(f"/api/v1/patients/{active_patient.pk}/eligibility/")
    generated = response["X-Request-ID"]
    assert uuid.UUID(generated).version == 4
    [entry] = entries_after(before)
    assert entry.request_id == generated


def test_an_unsafe_request_id_is_replaced(api, phil, active_patient):
    response = api(phil).get(
        f"/api/v1/patients/{active_patient.pk}/eligibility/",
        HTTP_X_REQUEST_ID="bad id\r\nInjected: yes",
    )
    assert uuid.UUID(response["X-Request-ID"]).version == 4


def test_every_response_carries_one_even_unauthenticated(api):
    response = api().get("/api/v1/patients/")
    assert response.status_code == 401
    assert uuid.UUID(response["X-Request-ID"])
