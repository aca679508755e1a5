"""uk-cpms: lab feeds for a uk-cpms patient. The WBC the lab sends is stored next to the ANC of
the same draw, so the patient gets complete result sets from HL7, CSV and FHIR alike; a
us-label-2015 patient's WBC is still used only to derive an ANC (tests/feeds/test_hl7_messages)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from feeds.models import PatientIdentifier
from monitoring.acts import patient_enroll, treatment_event_record
from monitoring.models import LabResult, MonitoringState
from monitoring.services import anc_result_record
from tests import factories
from tests.conftest import NOW, TODAY
from tests.feeds.conftest import LAB, PERCENT, WBC, message, msh, obr, obx, pid

HL7 = "/api/v1/feeds/hl7/"
CSV = "/api/v1/feeds/csv/"


@pytest.fixture
def kim(alice, clock):
    """A uk-cpms patient started 20 days ago on a green set; ACMELAB knows her as M1001."""
    patient = factories.PatientFactory.create(
        actor=alice,
        prescriber=alice.prescriber,
        protocol="uk-cpms",
        last_name="O'Brien",
        first_name="Kim",
    )
    start = TODAY - timedelta(days=20)
    for analyte, value in (("anc", "2.5"), ("wbc", "5.0")):
        anc_result_record(
            patient=patient,
            actor=alice,
            drawn_at=factories.at(start, 8),
            value=Decimal(value),
            unit="10*9/L",
            analyte=analyte,
        )
    patient_enroll(patient=patient, actor=alice, effective_date=start)
    treatment_event_record(
        patient=patient, actor=alice, kind="start", effective_date=start, reason="first dose"
    )
    PatientIdentifier.objects.create(patient=patient, issuer=LAB, value="M1001", recorded_by=alice)
    return patient


@pytest.fixture
def post(api, lab_user):
    client = api(lab_user)

    def send(url: str, text: str, content_type: str):
        response = client.post(url, data=text.encode(), content_type=content_type)
        assert response.status_code == 200, response.content
        return response.json()

    return send


def _state(patient):
    return MonitoringState.objects.get(patient=patient)


def test_an_hl7_cbc_gives_a_uk_patient_a_complete_set_and_its_traffic_light(post, kim):
    text = message(
        msh(),
        pid(),
        obr("ACC9"),
        obx(1, code=WBC, value="3.2"),
        obx(2, value="2.4"),
    )
    answer = post(HL7, text, "x-application/hl7-v2+er7")["messages"][0]

    assert answer["ack_code"] == "AA"
    assert {r["reference"]: r["outcome"] for r in answer["results"]} == {
        "OBX 1": "stored",
        "OBX 2": "stored",
    }
    stored = dict(LabResult.objects.filter(accession="ACC9").values_list("analyte", "value_per_ul"))
    assert stored == {"anc": 2400, "wbc": 3200}
    state = _state(kim)
    assert (state.band, state.monitoring_frequency) == ("amber", "twice_weekly")  # WBC 3.2
    assert state.latest_wbc_per_ul == 3200


def test_a_derived_anc_and_its_wbc_make_one_set(post, kim):
    text = message(
        msh(),
        pid(),
        obr("ACC10"),
        obx(1, code=WBC, value="5.0"),
        obx(2, code=PERCENT, value="50", unit="%"),
    )
    post(HL7, text, "x-application/hl7-v2+er7")

    rows = LabResult.objects.filter(accession="ACC10")
    assert sorted(rows.values_list("analyte", "value_per_ul", "derived")) == [
        ("anc", 2500, True),
        ("wbc", 5000, False),
    ]
    state = _state(kim)
    assert state.band == "green" and state.latest_wbc_per_ul == 5000


def test_a_wbc_sent_alone_is_stored_and_a_red_one_stops_treatment(post, kim):
    text = message(msh(), pid(), obr("ACC11"), obx(1, code=WBC, value="2.9"))
    answer = post(HL7, text, "x-application/hl7-v2+er7")["messages"][0]

    assert answer["results"][0]["outcome"] == "stored"
    state = _state(kim)
    assert (state.band, state.treatment_status) == ("red", "interrupted")


def test_a_csv_batch_gives_a_uk_patient_complete_sets(post, kim):
    drawn = (NOW - timedelta(hours=4)).isoformat()
    text = "\n".join(
        [
            "lab,accession,mrn,last_name,date_of_birth,drawn_at,code,value,unit,status",
            f"{LAB},C7,M1001,,,{drawn},751-8,2.1,10*9/L,F",
            f"{LAB},C7,M1001,,,{drawn},6690-2,3.6,10*9/L,F",
        ]
    )
    body = post(CSV, text + "\n", "text/csv")

    assert body["summary"]["stored"] == 2
    state = _state(kim)
    assert state.band == "green" and state.latest_anc_per_ul == 2100
    assert state.latest_wbc_per_ul == 3600


def test_one_green_set_sent_twice_without_an_accession_is_one_draw_not_two_greens(post, kim):
    """A red set, then one green set retransmitted (no accession, a new control id): the store
    holds that green draw once, so it cannot count as two consecutive greens."""
    red = message(msh("R0"), pid(), obr("RED1", "202605180800-0400"), obx(1, code=WBC, value="2.5"))
    post(HL7, red, "x-application/hl7-v2+er7")
    green = "OBR|1|||57021-8^CBC^LN|||202605190800-0400"
    copies = [
        message(msh(control), pid(), green, obx(1, code=WBC, value="5.0"), obx(2, value="2.5"))
        for control in ("G1", "G2")
    ]
    post(HL7, copies[0], "x-application/hl7-v2+er7")
    once = _state(kim).snapshot
    answer = post(HL7, copies[1], "x-application/hl7-v2+er7")["messages"][0]

    assert [r["outcome"] for r in answer["results"]] == ["duplicate", "duplicate"]
    greens = LabResult.objects.filter(patient=kim, source="hl7", accession="")
    assert sorted(greens.values_list("analyte", flat=True)) == ["anc", "wbc"]
    assert _state(kim).snapshot == once
    assert _state(kim).band == "red"
