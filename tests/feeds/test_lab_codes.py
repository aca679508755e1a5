"""Every LOINC code of docs/rules.md §8 through each channel (HL7 v2, FHIR, CSV): the absolute
counts are ANCs, WBC with a neutrophil percent derives one, band neutrophils never stand for the
neutrophil count, segmented + band percentages derive an ANC only through a confirmed local
mapping, and a code the rules do not read is held."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal

import pytest

from feeds.models import FeedMessage, LabCodeMapping, QuarantinedResult
from monitoring.models import LabResult
from tests.feeds.conftest import LAB, message, msh, obr, obx, pid

CHANNELS = ["hl7", "fhir", "csv"]
DRAWN = "2026-05-19T08:00:00-04:00"


def _hl7(observations):
    segments = [msh(), pid(), obr("ACC1", "202605190800-0400")]
    for n, (code, value, unit) in enumerate(observations, start=1):
        system = "L" if code.isalpha() else "LN"
        segments.append(obx(n, code=f"{code}^{code}^{system}", value=value, unit=unit))
    return "/api/v1/feeds/hl7/", message(*segments).encode(), "text/plain"


def _fhir(observations):
    entries = []
    for code, value, unit in observations:
        system = "urn:acmelab:codes" if code.isalpha() else "http://loinc.org"
        entries.append(
            {
                "resource": {
                    "resourceType": "Observation",
                    "status": "final",
                    "identifier": [{"value": "ACC1", "assigner": {"display": LAB}}],
                    "code": {"coding": [{"system": system, "code": code}]},
                    "subject": {"identifier": {"system": LAB, "value": "M1001"}},
                    "effectiveDateTime": DRAWN,
                    "valueQuantity": {"value": float(value), "unit": unit},
                },
                "request": {"method": "POST", "url": "Observation"},
            }
        )
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": entries}
    return "/fhir", json.dumps(bundle).encode(), "application/fhir+json"


def _csv(observations):
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["lab", "accession", "mrn", "drawn_at", "code", "value", "unit", "status"])
    for code, value, unit in observations:
        writer.writerow([LAB, "ACC1", "M1001", DRAWN, code, value, unit, "F"])
    return "/api/v1/feeds/csv/", buffer.getvalue().encode(), "text/csv"


BUILD = {"hl7": _hl7, "fhir": _fhir, "csv": _csv}


@pytest.fixture
def send(api, lab_user):
    client = api(lab_user)

    def post(channel: str, observations: list[tuple[str, str, str]]) -> None:
        url, body, content_type = BUILD[channel](observations)
        response = client.post(url, data=body, content_type=content_type)
        assert response.status_code == 200, response.content
        assert FeedMessage.objects.filter(channel=channel).exists()

    return post


def _ancs():
    return list(LabResult.objects.filter(analyte="anc").exclude(source="manual"))


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("code", ["751-8", "753-4", "26499-4"])
def test_each_absolute_neutrophil_code_is_an_anc(send, ann, channel, code):
    send(channel, [(code, "2.1", "10*3/uL")])
    [anc] = _ancs()
    assert (anc.value_per_ul, anc.derived, anc.patient) == (2100, False, ann)


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize(
    ("wbc", "percent"), [("6690-2", "770-8"), ("804-5", "23761-0"), ("26464-8", "26511-6")]
)
def test_each_wbc_and_neutrophil_percent_code_derives_the_anc(send, ann, channel, wbc, percent):
    send(channel, [(wbc, "5.0", "10*3/uL"), (percent, "41", "%")])
    [anc] = _ancs()
    assert (anc.value_per_ul, anc.derived) == (2050, True)
    kept = anc.derivation["neutrophil_percent"]
    assert (Decimal(kept["value"]), kept["unit"]) == (Decimal(41), "%")


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("band", ["764-1", "26508-2", "35332-6"])
def test_a_band_percent_with_a_wbc_never_derives_an_anc(send, ann, channel, band):
    send(channel, [("6690-2", "5.0", "10*3/uL"), (band, "40", "%")])
    assert _ancs() == []
    assert not QuarantinedResult.objects.exists()


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("band", ["763-3", "26507-4"])
def test_a_band_count_is_never_read_as_the_neutrophil_count(send, ann, channel, band):
    send(channel, [(band, "2.1", "10*3/uL")])
    assert _ancs() == []


@pytest.mark.parametrize("channel", CHANNELS)
def test_bands_next_to_the_neutrophil_percent_are_left_out_of_the_derivation(send, ann, channel):
    send(
        channel,
        [
            ("6690-2", "5.0", "10*3/uL"),
            ("26508-2", "10", "%"),
            ("770-8", "30", "%"),
            ("26507-4", "0.5", "10*3/uL"),
        ],
    )
    [anc] = _ancs()
    assert anc.value_per_ul == 1500  # 5000 x 30 %, never 5000 x 10 % or the band count


def _segmented_mapping(api, admin, *, confirmed):
    return api(admin).post(
        "/api/v1/feeds/code-mappings/",
        {
            "lab": LAB,
            "local_code": "SEG",
            "analyte": "segmented_neutrophil_percent",
            "description": "Segmented neutrophils %",
            **({"confirmed": True} if confirmed else {}),
        },
        format="json",
    )


def test_a_segmented_percent_mapping_must_be_confirmed_and_name_its_lab(api, admin, aud):
    refused = _segmented_mapping(api, admin, confirmed=False)
    assert refused.status_code == 400 and "confirmed" in refused.json()
    assert not LabCodeMapping.objects.exists()
    for_every_lab = api(admin).post(
        "/api/v1/feeds/code-mappings/",
        {"local_code": "SEG", "analyte": "segmented_neutrophil_percent", "confirmed": True},
        format="json",
    )
    assert for_every_lab.status_code == 400 and "lab" in for_every_lab.json()
    made = _segmented_mapping(api, admin, confirmed=True)
    assert made.status_code == 201, made.content
    body = made.json()
    assert (body["analyte"], body["loinc"], body["confirmed_by"]) == (
        "segmented_neutrophil_percent",
        "",
        admin.pk,
    )
    assert _segmented_mapping(api, aud, confirmed=True).status_code == 403


@pytest.mark.parametrize("channel", CHANNELS)
def test_segmented_plus_band_percent_derive_the_anc_through_a_confirmed_mapping(
    api, admin, send, ann, channel
):
    draw = [("6690-2", "5.0", "10*3/uL"), ("SEG", "40", "%"), ("26508-2", "10", "%")]
    assert _segmented_mapping(api, admin, confirmed=True).status_code == 201
    send(channel, draw)
    [anc] = _ancs()
    assert (anc.value_per_ul, anc.derived) == (2500, True)  # 5000 x (40 + 10) %
    assert Decimal(anc.derivation["segmented_percent"]["value"]) == 40
    assert Decimal(anc.derivation["band_percent"]["value"]) == 10


@pytest.mark.parametrize("channel", CHANNELS)
def test_an_unconfirmed_segmented_mapping_is_not_read(send, ann, channel):
    LabCodeMapping.objects.create(lab=LAB, local_code="SEG", analyte="segmented_neutrophil_percent")
    send(channel, [("6690-2", "5.0", "10*3/uL"), ("SEG", "40", "%"), ("26508-2", "10", "%")])
    assert _ancs() == []


@pytest.mark.parametrize("channel", CHANNELS)
def test_segmented_without_band_percent_derives_nothing(api, admin, send, ann, channel):
    assert _segmented_mapping(api, admin, confirmed=True).status_code == 201
    send(channel, [("6690-2", "5.0", "10*3/uL"), ("SEG", "40", "%")])
    assert _ancs() == []


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("code", ["769-0", "NEUTX"])
def test_a_code_the_rules_do_not_read_is_held_never_guessed(send, ann, channel, code):
    send(channel, [(code, "2.1", "10*3/uL")])
    assert _ancs() == []
    assert QuarantinedResult.objects.get().reason == "unknown_code"
