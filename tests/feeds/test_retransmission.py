"""The same result delivered twice without an accession (same lab, patient, analyte, draw
instant and value) is stored once, whatever channel brought each copy (docs/rules.md §8). Manual
entry keeps its own reading: a clinician who voids a result and types it again means it."""

from __future__ import annotations

import json
import threading

import pytest
from django.db import connection, connections

from feeds.models import FeedMessage, LabAccount
from monitoring.models import LabResult, MonitoringState
from tests.feeds.conftest import LAB, message, msh, obx, pid

DRAWN = "2026-05-19T08:00:00-04:00"


def _hl7(control: str, value: str = "2.2") -> tuple[str, bytes, str]:
    # An order with no filler or placer number (OBR-2 and OBR-3 empty): no accession.
    order = "OBR|1|||57021-8^CBC^LN|||202605190800-0400"
    text = message(msh(control), pid(), order, obx(1, value=value))
    return "/api/v1/feeds/hl7/", text.encode(), "text/plain"


def _csv(value: str = "2.2") -> tuple[str, bytes, str]:
    text = f"lab,mrn,drawn_at,code,value,unit\n{LAB},M1001,{DRAWN},751-8,{value},10*3/uL\n"
    return "/api/v1/feeds/csv/", text.encode(), "text/csv"


def _fhir(value: float = 2.2) -> tuple[str, bytes, str]:
    body = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "751-8"}]},
        "subject": {"identifier": {"system": LAB, "value": "M1001"}},
        "effectiveDateTime": DRAWN,
        "valueQuantity": {"value": value, "unit": "10*3/uL"},
    }
    return "/fhir/Observation", json.dumps(body).encode(), "application/fhir+json"


@pytest.fixture
def send(api, lab_user):
    # The lab account speaks for ACMELAB on every channel (a FHIR Observation without an
    # identifier names no lab of its own).
    LabAccount.objects.create(user=lab_user, lab=LAB)
    client = api(lab_user)

    def post(request: tuple[str, bytes, str]):
        url, body, content_type = request
        response = client.post(url, data=body, content_type=content_type)
        assert response.status_code < 300, response.content
        return response

    return post


def _stored(ann):
    return list(LabResult.objects.filter(patient=ann).exclude(source="manual"))


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (_hl7("R1"), _hl7("R2")),  # a resend gets a new control id
        (_csv(), _csv()),
        (_fhir(), _fhir()),
        (_hl7("R1"), _csv()),
        (_csv(), _fhir()),
        (_fhir(), _hl7("R3")),
    ],
    ids=["hl7-hl7", "csv-csv", "fhir-fhir", "hl7-csv", "csv-fhir", "fhir-hl7"],
)
def test_a_result_without_accession_sent_twice_is_stored_once(send, ann, first, second):
    send(first)
    state = MonitoringState.objects.get(patient=ann).snapshot
    send(second)
    [result] = _stored(ann)
    assert (result.value_per_ul, result.accession) == (2200, "")
    assert FeedMessage.objects.count() == 2  # both copies kept as received
    assert MonitoringState.objects.get(patient=ann).snapshot == state


def test_the_second_copy_is_answered_as_a_duplicate(send, ann):
    send(_hl7("R1"))
    answer = send(_hl7("R2")).json()["messages"][0]
    assert answer["ack_code"] == "AA"
    assert [r["outcome"] for r in answer["results"]] == ["duplicate"]


def test_another_value_at_the_same_instant_is_another_result(send, ann):
    send(_hl7("R1", value="2.2"))
    send(_hl7("R2", value="0.9"))
    assert sorted(r.value_per_ul for r in _stored(ann)) == [900, 2200]


def test_the_same_value_in_another_unit_is_the_same_result(send, ann):
    send(_csv("2.2"))
    url, _, content_type = _csv()
    text = f"lab,mrn,drawn_at,code,value,unit\n{LAB},M1001,{DRAWN},751-8,2200,/uL\n"
    send((url, text.encode(), content_type))
    assert len(_stored(ann)) == 1


def test_a_voided_result_sent_again_stays_void(send, api, alice, ann):
    send(_csv())
    [result] = _stored(ann)
    voided = api(alice).post(
        f"/api/v1/patients/{ann.pk}/anc-results/{result.pk}/void/", {"reason": "wrong tube"}
    )
    assert voided.status_code == 200, voided.content
    send(_csv())
    assert [r.status for r in _stored(ann)] == ["entered_in_error"]


def test_manual_entry_of_the_same_value_again_after_a_void_is_stored(api, alice, ann):
    url = f"/api/v1/patients/{ann.pk}/anc-results/"
    body = {"drawn_at": DRAWN, "value": "2200", "unit": "/uL"}
    first = api(alice).post(url, body, format="json")
    assert first.status_code == 201, first.content
    api(alice).post(f"{url}{first.json()['id']}/void/", {"reason": "typed on the wrong day"})
    again = api(alice).post(url, body, format="json")
    assert again.status_code == 201, again.content


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_copies_arriving_at_once_are_stored_once(lab_user, ann):
    if connection.vendor != "postgresql":
        pytest.skip(
            f"needs PostgreSQL: the patient row lock is what this tests, and the database is "
            f"{connection.vendor} (set DATABASE_URL=postgres://...)"
        )
    from feeds.hl7v2 import hl7_ingest

    copies = [_hl7(f"P{n}")[1].decode() for n in range(6)]
    barrier = threading.Barrier(len(copies))
    codes: list[str] = []

    def worker(text: str) -> None:
        try:
            barrier.wait(timeout=10)
            codes.extend(answer.code for answer in hl7_ingest(text=text, actor=lab_user))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(text,)) for text in copies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert codes == ["AA"] * len(copies)
    assert len(_stored(ann)) == 1
