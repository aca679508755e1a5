"""The quarantine: an administrator files a held result on a patient (fixing its unit, draw
time or status where the lab's was unusable) or dismisses it; nothing is dropped."""

from __future__ import annotations

import pytest

from feeds import ingest
from feeds.models import FeedMessage, QuarantinedResult
from monitoring.models import LabResult, MonitoringState
from tests.feeds.conftest import PERCENT, WBC, message, msh, obr, obx, pid


@pytest.fixture
def send(api, lab_user):
    def post(text: str) -> dict:
        response = api(lab_user).post(
            "/api/v1/feeds/hl7/", data=text.encode(), content_type="text/plain"
        )
        assert response.status_code == 200
        return response.json()["messages"][0]

    return post


def held(api, admin) -> dict:
    results = api(admin).get("/api/v1/feeds/quarantine/?status=open").json()["results"]
    assert len(results) == 1
    return results[0]


def test_an_unmatched_result_is_attached_to_a_patient_by_an_administrator(api, admin, send, ann):
    send(message(msh(), pid("Z9^^^ACMELAB", "OBRIEN^A", "19850615"), obr(), obx(1, value="0.8")))
    entry = held(api, admin)
    assert entry["reason"] == "unmatched_patient" and entry["message"]
    response = api(admin).post(
        f"/api/v1/feeds/quarantine/{entry['id']}/resolve/", {"patient": ann.pk, "note": "lab typo"}
    )
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "resolved"
    result = LabResult.objects.get(accession="ACC1")
    assert result.patient == ann and result.value_per_ul == 800 and result.source == "hl7"
    assert MonitoringState.objects.get(patient=ann).band == "moderate"
    again = api(admin).post(f"/api/v1/feeds/quarantine/{entry['id']}/resolve/", {"patient": ann.pk})
    assert again.status_code == 409


def test_an_unknown_unit_is_fixed_on_resolution(api, admin, send, ann):
    send(message(msh(), pid(), obr(), obx(1, value="1.6", unit="10^3/mcL")))
    entry = held(api, admin)
    assert entry["reason"] == "unknown_unit" and entry["patient"] == ann.pk
    bad = api(admin).post(f"/api/v1/feeds/quarantine/{entry['id']}/resolve/", {"unit": "bushels"})
    assert bad.status_code == 400 and "unit" in bad.json()
    assert QuarantinedResult.objects.get().status == "open"
    ok = api(admin).post(f"/api/v1/feeds/quarantine/{entry['id']}/resolve/", {"unit": "10*3/uL"})
    assert ok.status_code == 200
    assert LabResult.objects.get(accession="ACC1").value_per_ul == 1600


def test_a_derivation_held_for_its_wbc_unit_is_redone_with_the_fixed_unit(api, admin, send, ann):
    send(
        message(
            msh(),
            pid(),
            obr(),
            obx(1, code=WBC, value="5", unit="giga/L"),
            obx(2, code=PERCENT, value="40", unit="%"),
        )
    )
    entry = held(api, admin)
    assert entry["reason"] == "unknown_unit" and entry["derivation"]["wbc"]["unit"] == "giga/L"
    response = api(admin).post(
        f"/api/v1/feeds/quarantine/{entry['id']}/resolve/", {"unit": "10*9/L"}
    )
    assert response.status_code == 200, response.content
    result = LabResult.objects.get(accession="ACC1")
    assert result.value_per_ul == 2000 and result.derived


def test_a_missing_draw_time_and_an_unknown_status_must_be_given(api, admin, send, ann):
    send(message(msh(), pid(), obr(drawn=""), obx(1, status="R")))
    entry = held(api, admin)
    url = f"/api/v1/feeds/quarantine/{entry['id']}/resolve/"
    assert "result_status" in api(admin).post(url, {"drawn_at": "2026-05-19T08:00:00-04:00"}).json()
    response = api(admin).post(
        url, {"drawn_at": "2026-05-19T08:00:00-04:00", "result_status": "final"}
    )
    assert response.status_code == 200, response.content


def test_a_dismissal_needs_a_reason_and_keeps_the_entry(api, admin, send, ann):
    send(message(msh(), pid("Z9^^^ACMELAB", "NOBODY^N", "19700101"), obr(), obx(1)))
    entry = held(api, admin)
    url = f"/api/v1/feeds/quarantine/{entry['id']}/dismiss/"
    assert api(admin).post(url, {}).status_code == 400
    assert api(admin).post(url, {"reason": "not our patient"}).status_code == 200
    kept = QuarantinedResult.objects.get()
    assert kept.status == "dismissed" and kept.resolution_note == "not our patient"
    assert kept.resolved_by == admin


def test_only_administrators_resolve_and_auditors_only_read(
    api, admin, aud, alice, phil, lab_user, send, ann
):
    send(message(msh(), pid("Z9^^^ACMELAB", "NOBODY^N", "19700101"), obr(), obx(1)))
    entry = QuarantinedResult.objects.get()
    assert api(aud).get("/api/v1/feeds/quarantine/").status_code == 200
    for user in (alice, phil, lab_user):
        assert api(user).get("/api/v1/feeds/quarantine/").status_code == 403
    for user in (aud, alice, phil, lab_user):
        response = api(user).post(
            f"/api/v1/feeds/quarantine/{entry.pk}/resolve/", {"patient": ann.pk}
        )
        assert response.status_code == 403
    assert api().get("/api/v1/feeds/quarantine/").status_code == 401
    assert QuarantinedResult.objects.get().status == "open"


def test_a_message_whose_processing_fails_is_kept_whole_and_retried(
    api, admin, send, ann, monkeypatch
):
    real = ingest.anc_result_record
    calls = {"n": 0}

    def flaky(**kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("database hiccup")
        return real(**kwargs)

    monkeypatch.setattr(ingest, "anc_result_record", flaky)
    text = message(msh(), pid(), obr("A1"), obx(1, value="2.2"), obr("A2"), obx(1, value="2.3"))
    answer = send(text)
    assert answer["ack_code"] == "AE" and answer["outcome"] == "failed"
    # The first result of the message was rolled back with it: never half a message.
    assert not LabResult.objects.filter(source="hl7").exists()
    kept = FeedMessage.objects.get()
    assert kept.outcome == "failed" and kept.raw == text.rstrip("\r")
    retried = api(admin).post(f"/api/v1/feeds/messages/{kept.pk}/retry/")
    assert retried.status_code == 200, retried.content
    assert retried.json()["ack_code"] == "AA"
    assert LabResult.objects.filter(source="hl7").count() == 2
    kept.refresh_from_db()
    assert (kept.outcome, kept.attempts) == ("accepted", 2)
    assert api(admin).post(f"/api/v1/feeds/messages/{kept.pk}/retry/").status_code == 409


def test_feeds_retry_command_retries_failed_messages(send, ann, monkeypatch, capsys):
    from django.core.management import call_command

    real = ingest.anc_result_record
    monkeypatch.setattr(
        ingest, "anc_result_record", lambda **kw: (_ for _ in ()).throw(RuntimeError("down"))
    )
    send(message(msh(), pid(), obr(), obx(1)))
    assert FeedMessage.objects.get().outcome == "failed"
    monkeypatch.setattr(ingest, "anc_result_record", real)
    call_command("feeds_retry")
    assert "1 of 1 failed message(s) now processed" in capsys.readouterr().out
    assert FeedMessage.objects.get().outcome == "accepted"


def test_prescribers_record_the_lab_identifiers_of_their_own_patients(
    api, alice, bob, designee, ann
):
    url = f"/api/v1/patients/{ann.pk}/identifiers/"
    created = api(designee).post(url, {"issuer": "QUESTLAB", "value": "Q-55"})
    assert created.status_code == 201, created.content
    assert api(alice).post(url, {"issuer": "QUESTLAB", "value": "Q-55"}).status_code == 409
    assert api(alice).post(url, {"issuer": " ", "value": "x"}).status_code == 400
    assert api(bob).get(url).status_code == 404
    assert api(bob).post(url, {"issuer": "QUESTLAB", "value": "Q-56"}).status_code == 404
    listed = api(alice).get(url).json()["results"]
    assert {(i["issuer"], i["value"]) for i in listed} == {
        ("ACMELAB", "M1001"),
        ("QUESTLAB", "Q-55"),
    }
    identifier = created.json()["id"]
    assert api(alice).delete(f"{url}{identifier}/").status_code == 204


def test_administrators_map_local_codes_to_the_loinc_codes_the_rules_read(api, admin, aud):
    url = "/api/v1/feeds/code-mappings/"
    assert (
        api(admin)
        .post(url, {"lab": "ACMELAB", "local_code": "NEUT#", "loinc": "751-8"})
        .status_code
        == 201
    )
    refused = api(admin).post(url, {"lab": "ACMELAB", "local_code": "HB", "loinc": "718-7"})
    assert refused.status_code == 400 and "loinc" in refused.json()
    assert api(aud).get(url).status_code == 200
    assert api(aud).post(url, {"lab": "X", "local_code": "Y", "loinc": "751-8"}).status_code == 403


def test_an_administrator_resolves_a_held_result_in_the_django_admin(client, root, send, ann):
    send(message(msh(), pid("Z9^^^ACMELAB", "OBRIEN^A", "19850615"), obr(), obx(1, value="2.5")))
    entry = QuarantinedResult.objects.get()
    client.force_login(root)
    url = f"/admin/monitoring/quarantinedresult/{entry.pk}/change/"
    assert client.get(url).status_code == 200
    refused = client.post(url, {"resolve_unit": "furlongs"})
    assert refused.status_code == 200 and "Name the patient" in refused.content.decode()
    response = client.post(url, {"resolve_patient": ann.pk})
    assert response.status_code == 302
    entry.refresh_from_db()
    assert entry.status == "resolved" and entry.resolved_by == root
    assert LabResult.objects.get(accession="ACC1").patient == ann
    assert client.get("/admin/monitoring/feedmessage/").status_code == 200


def test_the_periodic_retry_task_processes_failed_messages_and_gives_up_after_max_attempts(
    send, ann, monkeypatch
):
    from feeds.retry import MAX_ATTEMPTS
    from feeds.tasks import feeds_retry

    real = ingest.anc_result_record

    def down(**kwargs):
        raise RuntimeError("down")

    monkeypatch.setattr(ingest, "anc_result_record", down)
    send(message(msh("R1"), pid(), obr("R1"), obx(1)))
    send(message(msh("R2"), pid(), obr("R2"), obx(1)))
    FeedMessage.objects.filter(control_id="R2").update(attempts=MAX_ATTEMPTS)
    assert feeds_retry.delay().get() == 0  # still failing: kept, counted
    assert FeedMessage.objects.get(control_id="R1").attempts == 2
    monkeypatch.setattr(ingest, "anc_result_record", real)
    assert feeds_retry.delay().get() == 1
    outcomes = dict(FeedMessage.objects.values_list("control_id", "outcome"))
    assert outcomes == {"R1": "accepted", "R2": "failed"}


def _mismatch(send, ann):
    """ACMELAB's M1001 is Ann, but the message says another birth date: held, not filed."""
    send(message(msh(), pid("M1001^^^ACMELAB", "O'BRIEN^ANN", "19900101"), obr(), obx(1)))
    entry = QuarantinedResult.objects.get()
    assert entry.reason == "identity_mismatch" and entry.patient == ann
    return entry


def test_an_identity_mismatch_is_never_filed_on_the_mrns_patient_by_default(api, admin, send, ann):
    entry = _mismatch(send, ann)
    url = f"/api/v1/feeds/quarantine/{entry.pk}/resolve/"
    refused = api(admin).post(url, {"note": "looks fine"}, format="json")
    assert refused.status_code == 400
    assert "patient" in refused.json() and "Name the patient" in str(refused.json()["patient"])
    entry.refresh_from_db()
    assert entry.status == "open"
    assert not LabResult.objects.filter(source="hl7").exists()
    filed = api(admin).post(url, {"patient": ann.pk, "note": "checked with the lab"})
    assert filed.status_code == 200, filed.content
    assert LabResult.objects.get(source="hl7").patient == ann


def test_an_identity_mismatch_needs_a_patient_in_the_django_admin_too(client, root, send, ann):
    entry = _mismatch(send, ann)
    client.force_login(root)
    url = f"/admin/monitoring/quarantinedresult/{entry.pk}/change/"
    refused = client.post(url, {"resolve_status": ""})
    assert refused.status_code == 200 and "Name the patient" in refused.content.decode()
    entry.refresh_from_db()
    assert entry.status == "open"
    assert client.post(url, {"resolve_patient": ann.pk}).status_code == 302
    assert LabResult.objects.get(source="hl7").patient == ann


def test_a_name_and_birth_date_match_needs_the_patient_named_to_be_filed(api, admin, send, ann):
    send(message(msh(), pid("", "O'BRIEN^ANN", "19850615"), obr(), obx(1)))
    entry = QuarantinedResult.objects.get()
    assert entry.reason == "demographic_match_only"
    url = f"/api/v1/feeds/quarantine/{entry.pk}/resolve/"
    assert api(admin).post(url, {}, format="json").status_code == 400
    assert api(admin).post(url, {"patient": ann.pk}, format="json").status_code == 200
