"""Reports and the audit trail are for administrators and auditors; everyone else gets 403;
bad parameters are a 400 naming the field."""

import pytest

REPORTS = [
    "/api/v1/reports/dispenses/",
    "/api/v1/reports/overrides/",
    "/api/v1/reports/overdue/",
    "/api/v1/reports/low-anc-episodes/",
    "/api/v1/reports/enrollment-gaps/",
    "/api/v1/reports/compliance/",
    "/api/v1/audit-entries/",
]


@pytest.mark.parametrize("url", REPORTS)
@pytest.mark.parametrize("who", ["alice", "designee", "phil"])
def test_others_are_refused(api, request, url, who):
    assert api(request.getfixturevalue(who)).get(url).status_code == 403


@pytest.mark.parametrize("url", REPORTS)
@pytest.mark.parametrize("who", ["aud", "admin", "root"])
def test_admins_and_auditors_may_read(api, request, url, who):
    assert api(request.getfixturevalue(who)).get(url).status_code == 200


@pytest.mark.parametrize("url", REPORTS[:-1])
def test_anonymous_is_refused(api, url):
    assert api().get(url).status_code == 401


def test_reports_cannot_be_written_to(api, aud, admin):
    assert api(aud).post(REPORTS[0], {}).status_code in (403, 405)
    assert api(admin).post(REPORTS[0], {}).status_code == 405
    assert api(admin).delete("/api/v1/audit-entries/1/").status_code == 405


def test_a_bad_range_names_the_field(api, aud):
    response = api(aud).get(REPORTS[0], {"from": "2026-05-20", "to": "2026-05-01"})
    assert response.status_code == 400
    assert "from" in response.json()
    response = api(aud).get(REPORTS[0], {"to": "yesterday"})
    assert response.status_code == 400
    assert "to" in response.json()


def test_the_audit_trail_lists_entries_with_filters(api, aud, phil, active_patient):
    api(phil).get(f"/api/v1/patients/{active_patient.pk}/eligibility/", HTTP_X_REQUEST_ID="r-9")
    body = api(aud).get("/api/v1/audit-entries/", {"request_id": "r-9"}).json()
    assert body["count"] == 1
    entry = body["results"][0]
    assert (entry["action"], entry["patient_id"], entry["actor_username"]) == (
        "eligibility.check",
        active_patient.pk,
        "phil",
    )
    by_patient = api(aud).get("/api/v1/audit-entries/", {"patient": active_patient.pk}).json()
    assert by_patient["count"] >= 1
