"""hypothesis-generated junk into each feed: never a 500, never a half-written result. Whatever
is stored is a complete, plausible result that came from a kept message."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feeds.models import FeedMessage
from monitoring.models import LabResult
from monitoring.units import MAX_PER_UL
from tests.feeds.conftest import HGB, PERCENT, WBC, msh, obr, obx, pid

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
ANC = "751-8^Neutrophils^LN"
text = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=40)
fragment = st.one_of(text, st.sampled_from(["", "|", "^", "~", "\\", "&", "\\T\\", "\\X0D\\"]))
units = st.one_of(st.sampled_from(["10*3/uL", "/uL", "%", "K/uL", "", "mg", "10*9/L"]), text)
values = st.one_of(
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.integers(-(10**9), 10**9).map(str),
    text,
)
statuses = st.sampled_from(["F", "C", "P", "X", "W", "", "f", "Z"])
times = st.one_of(st.sampled_from(["202605190800-0400", "20260519", "", "2026", "99999999"]), text)
segment = st.one_of(
    st.builds(
        lambda *a: obx(*a),
        st.integers(0, 9),
        st.sampled_from([ANC, WBC, PERCENT, HGB, ""]),
        values,
        units,
        statuses,
        times,
    ),
    st.builds(lambda a, t: obr(a, t), fragment, times),
    st.builds(
        lambda m, n, d: pid(m, n, d),
        st.sampled_from(["M1001^^^ACMELAB", "", "Z^^^X"]),
        fragment,
        times,
    ),
    fragment,
)
messages = st.lists(
    st.tuples(st.booleans(), st.lists(segment, min_size=0, max_size=8)), min_size=1, max_size=3
)


def assert_nothing_half_written() -> None:
    for result in LabResult.objects.exclude(source="manual"):
        assert 0 <= result.value_per_ul <= MAX_PER_UL
        assert result.drawn_at is not None and result.patient_id is not None
        assert result.unit
    assert not FeedMessage.objects.filter(outcome="failed").exists()


@pytest.mark.django_db
@SETTINGS
@given(batch=messages, separator=st.sampled_from(["\r", "\n", "\r\n"]))
def test_hl7_junk_is_answered_never_a_500(api, lab_user, ann, batch, separator):
    body = ""
    for with_header, segments in batch:
        lines = ([msh()] if with_header else []) + segments
        body += separator.join(lines) + separator
    response = api(lab_user).post(
        "/api/v1/feeds/hl7/", data=body.encode(), content_type="text/plain"
    )
    assert response.status_code in (200, 400), response.content
    if response.status_code == 200:
        for answer in response.json()["messages"]:
            assert answer["ack_code"] in ("AA", "AE", "AR")
            assert answer["ack"].startswith("MSH|")
    assert_nothing_half_written()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | text,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(text, children, max_size=3),
    max_leaves=10,
)
observation_fields = st.fixed_dictionaries(
    {"resourceType": st.sampled_from(["Observation", "Patient", ""])},
    optional={
        "status": st.one_of(
            st.sampled_from(["final", "preliminary", "amended", "bogus"]), json_values
        ),
        "code": st.one_of(
            st.just({"coding": [{"system": "http://loinc.org", "code": "751-8"}]}), json_values
        ),
        "subject": st.one_of(
            st.just({"identifier": {"system": "ACMELAB", "value": "M1001"}}), json_values
        ),
        "effectiveDateTime": st.one_of(st.just("2026-05-19T08:00:00-04:00"), json_values),
        "valueQuantity": st.one_of(
            st.builds(
                lambda v, u: {"value": v, "unit": u},
                st.one_of(st.floats(allow_nan=False), st.integers()),
                units,
            ),
            json_values,
        ),
        "identifier": st.one_of(st.just([{"value": "J1"}]), json_values),
    },
)


@pytest.mark.django_db
@SETTINGS
@given(body=st.one_of(observation_fields, json_values))
def test_fhir_junk_is_a_4xx_or_a_stored_or_held_result(api, lab_user, ann, body):
    response = api(lab_user).post(
        "/fhir/Observation", data=json.dumps(body), content_type="application/fhir+json"
    )
    assert response.status_code in (200, 201, 202, 400), response.content
    assert response.json()["resourceType"] in ("Observation", "OperationOutcome")
    bundle = {"resourceType": "Bundle", "type": "batch", "entry": [{"resource": body}]}
    response = api(lab_user).post(
        "/fhir", data=json.dumps(bundle), content_type="application/fhir+json"
    )
    assert response.status_code in (200, 400), response.content
    assert_nothing_half_written()


csv_rows = st.lists(
    st.lists(st.one_of(text, values, units, times), min_size=0, max_size=12), max_size=5
)


@pytest.mark.django_db
@SETTINGS
@given(rows=csv_rows, header=st.booleans())
def test_csv_junk_is_a_400_or_per_row_results(api, lab_user, ann, rows, header):
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    if header:
        writer.writerow(["lab", "accession", "mrn", "drawn_at", "code", "value", "unit", "status"])
    writer.writerows(rows)
    response = api(lab_user).post(
        "/api/v1/feeds/csv/", data=buffer.getvalue().encode(), content_type="text/csv"
    )
    assert response.status_code in (200, 400), response.content
    if response.status_code == 200:
        body = response.json()
        assert body["summary"]["rows"] == len(body["rows"])
    assert_nothing_half_written()
