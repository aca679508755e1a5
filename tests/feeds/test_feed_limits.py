"""Bounded feeds: FHIR nesting is refused with an OperationOutcome, bodies over a channel's size
limit get a 413 (and are logged as refused with their size), and large batches are taken
asynchronously: 202 with a batch resource whose acknowledgements a worker fills in. Whatever is
refused is kept."""

from __future__ import annotations

import io
import json

import pytest

from feeds.batches import feed_batch_process
from feeds.models import FeedBatch, FeedMessage, LabAccount
from monitoring.models import LabResult
from tests import factories
from tests.feeds.conftest import LAB, message, msh, obr, obx, pid

FHIR = "application/fhir+json"


def _nested_observation(depth: int) -> dict:
    extension: dict = {"url": "http://example.org/leaf", "valueString": "x"}
    for level in range(depth):
        extension = {"url": f"http://example.org/level{level}", "extension": [extension]}
    return {
        "resourceType": "Observation",
        "status": "final",
        "extension": [extension],
        "code": {"coding": [{"system": "http://loinc.org", "code": "751-8"}]},
        "subject": {"identifier": {"system": LAB, "value": "M1001"}},
        "effectiveDateTime": "2026-05-19T08:00:00-04:00",
        "valueQuantity": {"value": 2.1, "unit": "10*3/uL"},
    }


@pytest.mark.parametrize("path", ["/fhir/Observation", "/fhir"])
def test_a_deeply_nested_fhir_body_is_a_400_outcome_and_kept(api, lab_user, ann, path):
    body = _nested_observation(140)
    if path == "/fhir":
        body = {"resourceType": "Bundle", "type": "batch", "entry": [{"resource": body}]}
    text = json.dumps(body)
    response = api(lab_user).post(path, data=text.encode(), content_type=FHIR)
    assert response.status_code == 400, response.content[:300]
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["code"] == "too-costly"
    kept = FeedMessage.objects.get()
    assert (kept.outcome, kept.raw, kept.channel) == ("rejected", text, "fhir")
    assert "nests deeper" in kept.detail
    assert not LabResult.objects.filter(source="fhir").exists()


def test_shallow_extensions_are_read_as_before(api, lab_user, ann):
    text = json.dumps(_nested_observation(3))
    response = api(lab_user).post("/fhir/Observation", data=text.encode(), content_type=FHIR)
    assert response.status_code == 201, response.content
    assert FeedMessage.objects.get().raw == text  # kept as received, byte for byte


@pytest.fixture
def small_bodies(settings):
    settings.CLOZREMS_FEED_MAX_BYTES = {"hl7": 2000, "csv": 2000, "fhir": 2000}


def _refused_for_size(response, size_at_least: int) -> FeedMessage:
    assert response.status_code == 413, response.content[:300]
    kept = FeedMessage.objects.get()
    assert kept.outcome == "rejected" and "over the 2000-byte limit" in kept.detail
    assert int(kept.detail.split("the body is ")[1].split(" ")[0]) >= size_at_least
    assert len(kept.raw.encode()) <= 65_536
    return kept


def test_an_hl7_body_over_the_limit_is_a_413_and_logged_with_its_size(
    api, lab_user, ann, small_bodies
):
    text = "".join(message(msh(f"S{n}"), pid(), obr(f"S{n}"), obx(1)) for n in range(40))
    response = api(lab_user).post(
        "/api/v1/feeds/hl7/", data=text.encode(), content_type="text/plain"
    )
    assert "at most 2000" in json.dumps(response.json())
    kept = _refused_for_size(response, len(text))
    assert text.startswith(kept.raw)
    assert not LabResult.objects.filter(source="hl7").exists()


def test_a_csv_body_or_upload_over_the_limit_is_a_413(api, lab_user, ann, small_bodies):
    text = "lab,mrn,drawn_at,code,value,unit\n" + (
        f"{LAB},M1001,2026-05-19T08:00:00-04:00,751-8,2.2,10*3/uL\n" * 60
    )
    response = api(lab_user).post("/api/v1/feeds/csv/", data=text.encode(), content_type="text/csv")
    _refused_for_size(response, len(text))
    FeedMessage.objects.all().delete()
    upload = io.BytesIO(text.encode())
    upload.name = "big.csv"
    response = api(lab_user).post("/api/v1/feeds/csv/", {"file": upload}, format="multipart")
    _refused_for_size(response, len(text))


def test_a_fhir_body_over_the_limit_is_a_413_outcome(api, lab_user, ann, small_bodies):
    bundle = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [{"resource": _nested_observation(1)} for _ in range(10)],
    }
    text = json.dumps(bundle)
    response = api(lab_user).post("/fhir", data=text.encode(), content_type=FHIR)
    assert response.json()["resourceType"] == "OperationOutcome"
    assert response.json()["issue"][0]["code"] == "too-costly"
    _refused_for_size(response, len(text))


def test_a_bundle_of_too_many_entries_is_refused_and_kept(api, lab_user, ann, settings):
    settings.CLOZREMS_FHIR_MAX_ENTRIES = 3
    bundle = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [{"resource": _nested_observation(1)} for _ in range(4)],
    }
    response = api(lab_user).post("/fhir", data=json.dumps(bundle).encode(), content_type=FHIR)
    assert response.status_code == 413
    assert "at most 3" in response.json()["issue"][0]["diagnostics"]
    assert FeedMessage.objects.get().outcome == "rejected"


# --- large batches, asynchronously ----------------------------------------------------------


@pytest.fixture
def small_sync(settings):
    settings.CLOZREMS_FEED_SYNC_MAX_ITEMS = 3


def _hl7_batch() -> str:
    return (
        message(msh("B1"), pid(), obr("BA1", "202605180800-0400"), obx(1, value="2.2"))
        + message(msh("B2"), pid(), obr("BA2", "202605190800-0400"), obx(1, value="2.3"))
        + message(msh("B3"), pid("Z9^^^ACMELAB", "NOBODY^N", "19700101"), obr("BA3"), obx(1))
        + message(msh("B4", kind="ADT^A01^ADT_A01"), pid())
        + message(msh("B5"), pid(), obr("BA1", "202605180800-0400"), obx(1, value="2.2"))
    )


def test_a_large_hl7_batch_is_taken_asynchronously_with_the_same_acks(
    api, lab_user, aud, ann, small_sync, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):  # the worker's task, eager
        response = api(lab_user).post(
            "/api/v1/feeds/hl7/", data=_hl7_batch().encode(), content_type="text/plain"
        )
    assert response.status_code == 202, response.content
    accepted = response.json()
    assert response["Location"] == accepted["url"] == f"/api/v1/feeds/batches/{accepted['batch']}/"
    assert accepted["size"] == 5
    body = api(lab_user).get(accepted["url"]).json()
    assert body["status"] == "done" and body["processed"] == 5
    assert [(m["control_id"], m["ack_code"]) for m in body["messages"]] == [
        ("B1", "AA"),
        ("B2", "AA"),
        ("B3", "AE"),
        ("B4", "AR"),
        ("B5", "AA"),
    ]
    assert body["summary"] == {"messages": 5, "AA": 3, "AE": 1, "AR": 1}
    assert [r["outcome"] for r in body["messages"][4]["results"]] == ["duplicate"]
    for answer in body["messages"]:
        msa = answer["ack"].split("\r")[1].split("|")
        assert msa[1:3] == [answer["ack_code"], answer["control_id"]]
    assert body["messages"][2]["detail"].startswith("held for review: OBX 1 (reference Q")
    # Every message kept, in its place in the batch.
    batch = FeedBatch.objects.get()
    assert list(batch.messages.order_by("position").values_list("position", flat=True)) == [
        0,
        1,
        2,
        3,
        4,
    ]
    assert LabResult.objects.filter(source="hl7").count() == 2
    # Paging, and who may read it.
    page = api(lab_user).get(accepted["url"] + "?offset=3&limit=1").json()
    assert [m["control_id"] for m in page["messages"]] == ["B4"]
    assert api(aud).get(accepted["url"]).status_code == 200
    other = factories.LabUserFactory.create(username="other-lab")
    assert api(other).get(accepted["url"]).status_code == 404
    assert api(lab_user).get(accepted["url"] + "?limit=x").status_code == 400


def test_a_large_csv_batch_is_taken_asynchronously_with_the_same_rows(
    api, lab_user, ann, small_sync, django_capture_on_commit_callbacks
):
    rows = [
        f"{LAB},C{n},M1001,2026-05-19T0{n}:00:00-04:00,751-8,2.{n},10*3/uL" for n in range(1, 5)
    ]
    text = "lab,accession,mrn,drawn_at,code,value,unit\n" + "\n".join(rows) + "\n"
    with django_capture_on_commit_callbacks(execute=True):
        response = api(lab_user).post(
            "/api/v1/feeds/csv/", data=text.encode(), content_type="text/csv"
        )
    assert response.status_code == 202, response.content
    body = api(lab_user).get(response.json()["url"]).json()
    assert body["status"] == "done"
    assert [(r["row"], r["outcome"]) for r in body["rows"]] == [
        (2, "stored"),
        (3, "stored"),
        (4, "stored"),
        (5, "stored"),
    ]
    assert body["summary"] == {"rows": 4, "stored": 4}


def test_prefer_respond_async_takes_even_a_small_batch_asynchronously(
    api, lab_user, ann, django_capture_on_commit_callbacks
):
    text = message(msh("P1"), pid(), obr("PA1"), obx(1))
    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = api(lab_user).post(
            "/api/v1/feeds/hl7/",
            data=text.encode(),
            content_type="text/plain",
            HTTP_PREFER="respond-async",
        )
    assert response.status_code == 202
    url = response.json()["url"]
    assert api(lab_user).get(url).json()["status"] == "queued"
    for task in queued:
        task()
    assert api(lab_user).get(response.json()["url"]).json()["summary"] == {
        "messages": 1,
        "AA": 1,
    }


def test_a_batch_run_again_keeps_each_message_once(lab_user, ann):
    """A worker that died half-way: the rerun skips what is kept and goes on with the rest."""
    LabAccount.objects.create(user=lab_user, lab=LAB)
    batch = FeedBatch.objects.create(channel="hl7", raw=_hl7_batch(), received_by=lab_user, size=5)
    from feeds import hl7v2

    first = hl7v2.split_messages(batch.raw)[0]
    hl7v2.message_ingest(er7=first, actor=lab_user, batch=batch, position=0)
    feed_batch_process(batch_id=batch.pk)
    feed_batch_process(batch_id=batch.pk)
    assert FeedMessage.objects.filter(batch=batch).count() == 5
    batch.refresh_from_db()
    assert (batch.status, batch.processed) == ("done", 5)


def test_the_periodic_feed_retry_resumes_a_batch_left_unfinished(
    lab_user, ann, clock, django_capture_on_commit_callbacks
):
    """A batch whose task was lost (the broker was down) is picked up by the periodic retry."""
    from datetime import timedelta

    from feeds.tasks import feeds_retry

    batch = FeedBatch.objects.create(channel="hl7", raw=_hl7_batch(), received_by=lab_user, size=5)
    with django_capture_on_commit_callbacks(execute=True):
        feeds_retry()
    assert FeedBatch.objects.get().status == "queued"  # too recent: its own task may still run
    clock.shift(timedelta(hours=1))
    with django_capture_on_commit_callbacks(execute=True):
        feeds_retry()
    batch.refresh_from_db()
    assert (batch.status, batch.messages.count()) == ("done", 5)
