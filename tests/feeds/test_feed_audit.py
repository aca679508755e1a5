"""The feeds write the audit trail through the same services as manual entry: one entry per
stored result (the lab account as actor), one per quarantine resolution or dismissal, one per
identifier or code-mapping change; and the chain still verifies."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from audit.models import AuditEntry
from feeds.models import QuarantinedResult
from tests.audit.conftest import head
from tests.feeds.conftest import message, msh, obr, obx, pid


@pytest.fixture
def send(api, lab_user):
    def post(text: str) -> dict:
        response = api(lab_user).post(
            "/api/v1/feeds/hl7/", data=text.encode(), content_type="text/plain"
        )
        assert response.status_code == 200
        return response.json()["messages"][0]

    return post


def entries(**filters) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(**filters).order_by("id"))


def test_a_result_from_a_lab_is_audited_once_with_its_lab_and_channel(send, lab_user, ann):
    before = head()
    send(message(msh(), pid(), obr(), obx(1, value="2.2")))
    [entry] = entries(id__gt=before)
    assert entry.action == "anc_result.record" and entry.actor_username == lab_user.username
    assert entry.role == "lab" and entry.patient_id == ann.pk
    assert entry.inputs["lab"] == "ACMELAB" and entry.inputs["source"] == "hl7"
    assert entry.output["value_per_ul"] == 2200 and entry.output["band"] == "normal"


def test_a_preliminary_result_is_audited_as_not_used(send, ann):
    before = head()
    send(message(msh(), pid(), obr(), obx(1, value="0.4", status="P")))
    [entry] = entries(id__gt=before)
    assert entry.output == {"value_per_ul": 400, "used_for_decisions": False}


def test_a_quarantined_result_writes_nothing_until_resolved_then_two_entries(api, admin, send, ann):
    before = head()
    send(message(msh(), pid("Z9^^^ACMELAB", "OBRIEN^A", "19850615"), obr(), obx(1)))
    assert head() == before
    held = QuarantinedResult.objects.get()
    response = api(admin).post(f"/api/v1/feeds/quarantine/{held.pk}/resolve/", {"patient": ann.pk})
    assert response.status_code == 200
    actions = [e.action for e in entries(id__gt=before)]
    assert actions == ["anc_result.record", "lab_feed.quarantine_resolve"]
    resolution = entries(action="lab_feed.quarantine_resolve")[0]
    assert resolution.inputs["reason"] == "unmatched_patient"
    assert resolution.output["created"] is True and resolution.actor_username == admin.username


def test_a_dismissal_is_audited(api, admin, send, ann):
    send(message(msh(), pid("Z9^^^ACMELAB", "NOBODY^N", "19700101"), obr(), obx(1)))
    held = QuarantinedResult.objects.get()
    api(admin).post(f"/api/v1/feeds/quarantine/{held.pk}/dismiss/", {"reason": "test sample"})
    [entry] = entries(action="lab_feed.quarantine_dismiss")
    assert entry.inputs["why"] == "test sample"


def test_identifier_and_code_mapping_changes_are_audited(api, admin, alice, ann):
    url = f"/api/v1/patients/{ann.pk}/identifiers/"
    created = api(alice).post(url, {"issuer": "QUESTLAB", "value": "Q-1"}).json()
    api(alice).delete(f"{url}{created['id']}/")
    mapping = (
        api(admin)
        .post(
            "/api/v1/feeds/code-mappings/", {"lab": "ACMELAB", "local_code": "N#", "loinc": "751-8"}
        )
        .json()
    )
    api(admin).patch(f"/api/v1/feeds/code-mappings/{mapping['id']}/", {"loinc": "26499-4"})
    assert api(admin).delete(f"/api/v1/feeds/code-mappings/{mapping['id']}/").status_code == 204
    actions = [
        e.action
        for e in entries(action__startswith="patient_identifier.")
        + entries(action__startswith="lab_code_mapping.")
    ]
    assert actions == [
        "patient_identifier.add",
        "patient_identifier.remove",
        "lab_code_mapping.save",
        "lab_code_mapping.save",
        "lab_code_mapping.remove",
    ]
    taken = api(admin).post(
        "/api/v1/feeds/code-mappings/", {"lab": "X", "local_code": "A", "loinc": "751-8"}
    )
    again = api(admin).post(
        "/api/v1/feeds/code-mappings/", {"lab": "X", "local_code": "A", "loinc": "751-8"}
    )
    assert taken.status_code == 201 and again.status_code == 409


def test_the_chain_verifies_after_feed_traffic(send, api, admin, ann, capsys):
    send(message(msh("V1"), pid(), obr("V1"), obx(1)))
    send(message(msh("V2"), pid("Z9^^^ACMELAB", "NOBODY^N", "19700101"), obr("V2"), obx(1)))
    held = QuarantinedResult.objects.get()
    api(admin).post(f"/api/v1/feeds/quarantine/{held.pk}/dismiss/", {"reason": "not ours"})
    call_command("audit_seal")
    call_command("audit_verify")
    out = capsys.readouterr().out.lower()
    assert "intact" in out and "not yet sealed" not in out
