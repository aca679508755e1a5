"""Fuzzing the feeds with hypothesis, aimed at what broke them: HL7 escape sequences (huge and
malformed formatting commands), deeply nested FHIR, and junk CSV. Whatever arrives: never a
500, never half a result, and every message received is kept (none left `received` or
`failed`)."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feeds.hl7v2 import split_messages
from feeds.models import FeedMessage
from monitoring.models import LabResult
from monitoring.units import MAX_PER_UL
from tests.feeds.conftest import LAB, msh, obr, obx, pid

SETTINGS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

escapes = st.one_of(
    st.integers(0, 10**12).map(lambda n: f"\\.sp{n}\\"),
    st.integers(0, 10**6).map(lambda n: f"\\.sk{n}\\"),
    st.sampled_from(
        [
            "\\.spX\\",
            "\\.sp\\",
            "\\.br\\",
            "\\.in-99\\",
            "\\.ce\\",
            "\\F\\",
            "\\S\\",
            "\\T\\",
            "\\R\\",
            "\\E\\",
            "\\H\\",
            "\\N\\",
            "\\X\\",
            "\\X4\\",
            "\\XZZ\\",
            "\\C2842\\",
            "\\M2442\\",
            "\\Zlocal\\",
            "\\",
            "\\\\",
            "\\.sp",
        ]
    ),
    st.binary(min_size=1, max_size=8).map(lambda b: f"\\X{b.hex()}\\"),
)
plain = st.text(alphabet=st.characters(exclude_categories=["Cs", "Cc"]), max_size=12)
piece = st.lists(st.one_of(plain, escapes), max_size=4).map("".join)


def assert_nothing_half_written() -> None:
    for result in LabResult.objects.exclude(source="manual"):
        assert 0 <= result.value_per_ul <= MAX_PER_UL
        assert result.drawn_at is not None and result.patient_id is not None and result.unit
    assert not FeedMessage.objects.filter(outcome__in=["received", "failed"]).exists()


@pytest.mark.django_db
@SETTINGS
@given(
    name=piece,
    value=st.one_of(piece, st.just("2.1")),
    unit=st.one_of(piece, st.just("10*3/uL")),
    accession=piece,
    control=piece,
    count=st.integers(1, 3),
)
def test_hl7_escape_sequences_never_break_the_feed(
    api, lab_user, ann, name, value, unit, accession, control, count
):
    one = "\r".join(
        [
            msh(control=control or "C"),
            pid(name=f"{name}^ANN"),
            obr(accession or "A"),
            obx(1, value=value, unit=unit),
        ]
    )
    body = "\r".join([one] * count) + "\r"
    before = FeedMessage.objects.count()
    response = api(lab_user).post(
        "/api/v1/feeds/hl7/", data=body.encode(), content_type="text/plain"
    )
    assert response.status_code == 200, response.content[:500]
    answers = response.json()["messages"]
    assert len(answers) == len(split_messages(body))
    assert all(a["ack_code"] in ("AA", "AE", "AR") and a["ack"].startswith("MSH|") for a in answers)
    assert FeedMessage.objects.count() - before == len(answers)
    assert_nothing_half_written()


def _observation(depth: int, value, unit) -> dict:
    extension: dict = {"url": "http://example.org/x", "valueString": "x"}
    for _ in range(depth):
        extension = {"url": "http://example.org/x", "extension": [extension]}
    return {
        "resourceType": "Observation",
        "status": "final",
        "extension": [extension],
        "identifier": [{"value": "FZ", "assigner": {"display": LAB}}],
        "code": {"coding": [{"system": "http://loinc.org", "code": "751-8"}]},
        "subject": {"identifier": {"system": LAB, "value": "M1001"}},
        "effectiveDateTime": "2026-05-19T08:00:00-04:00",
        "valueQuantity": {"value": value, "unit": unit},
    }


json_junk = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | plain,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(plain, children, max_size=3),
    max_leaves=8,
)


@pytest.mark.django_db
@SETTINGS
@given(
    depth=st.one_of(st.integers(0, 12), st.integers(12, 400)),
    value=st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.integers(), json_junk),
    unit=st.one_of(st.sampled_from(["10*3/uL", "/uL", ""]), plain),
    wrap=st.sampled_from(["none", "batch", "transaction"]),
)
def test_deep_or_junk_fhir_is_answered_and_kept(api, lab_user, ann, depth, value, unit, wrap):
    body: dict = _observation(depth, value, unit)
    path = "/fhir/Observation"
    if wrap != "none":
        body = {"resourceType": "Bundle", "type": wrap, "entry": [{"resource": body}]}
        path = "/fhir"
    before = FeedMessage.objects.count()
    text = json.dumps(body)
    response = api(lab_user).post(path, data=text.encode(), content_type="application/fhir+json")
    assert response.status_code in (200, 201, 202, 400, 413), response.content[:500]
    assert response.json()["resourceType"] in ("Observation", "OperationOutcome", "Bundle")
    assert FeedMessage.objects.count() - before >= 1
    assert_nothing_half_written()


cells = st.one_of(plain, piece, st.sampled_from(["751-8", "M1001", LAB, "2.1", "10*3/uL"]))


@pytest.mark.django_db
@SETTINGS
@given(
    rows=st.lists(st.lists(cells, min_size=0, max_size=8), min_size=1, max_size=5),
    header=st.booleans(),
)
def test_junk_csv_is_answered_and_kept(api, lab_user, ann, rows, header):
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    if header:
        writer.writerow(["lab", "accession", "mrn", "drawn_at", "code", "value", "unit", "status"])
    writer.writerows(rows)
    text = buffer.getvalue()
    before = FeedMessage.objects.count()
    response = api(lab_user).post("/api/v1/feeds/csv/", data=text.encode(), content_type="text/csv")
    assert response.status_code in (200, 400), response.content[:500]
    if text.strip():
        assert FeedMessage.objects.count() - before >= 1
    assert_nothing_half_written()
