"""A lab account learns nothing of our patients from the answers to what it sends: a result held
for an unknown identifier, a birth date or name that differs from the identifier's patient, a
name and birth date match, an ambiguous one, or a draw before the patient's birth, is answered
alike ("held for review" and a reference), in the HL7 ACK, the CSV rows and the FHIR
OperationOutcome. Administrators read the reasons in the quarantine."""

from __future__ import annotations

import json
import re

import pytest

from feeds.models import QuarantinedResult
from monitoring.models import LabResult
from tests.feeds.conftest import LAB, message, msh, obr, obx, pid

# (PID-3, PID-5, PID-7, OBR-7): an unknown MRN is the baseline every other case must look like.
CASES = {
    "unknown identifier": ("Z999^^^ACMELAB", "NOBODY^NEMO", "19700101", "202605190800-0400"),
    "identifier, other birth date": ("M1001^^^ACMELAB", "O'BRIEN^ANN", "19850616", ""),
    "identifier, other name": ("M1001^^^ACMELAB", "SMITH^ANN", "19850615", ""),
    "name and birth date of a patient": ("", "O'BRIEN^ANN", "19850615", ""),
    "name and birth date of nobody": ("", "O'BRIEN^ANN", "19850614", ""),
    "name and birth date of two patients": ("", "TWIN^T", "19850615", ""),
    "drawn before the patient's birth": ("M1001^^^ACMELAB", "", "", "198001010800-0400"),
    "drawn before an unknown patient's birth": ("Z999^^^ACMELAB", "", "", "198001010800-0400"),
}


def _normal(text: str) -> str:
    """The answer with our own reference numbers taken out (they differ by design)."""
    text = re.sub(r'"(quarantine|message)": \d+', r'"\1": #', text)
    return re.sub(r"\b(Q|M|ACK)\d+\b", r"\1#", text)


@pytest.fixture
def patients(ann, twins):
    return ann, twins


def _hl7_answer(client, case: str) -> str:
    mrn, name, dob, drawn = CASES[case]
    text = message(msh(), pid(mrn, name, dob), obr("ACC1", drawn or "202605190800-0400"), obx(1))
    response = client.post("/api/v1/feeds/hl7/", data=text.encode(), content_type="text/plain")
    assert response.status_code == 200
    [answer] = response.json()["messages"]
    msa = answer["ack"].split("\r")[1]
    shown = {k: v for k, v in answer.items() if k not in ("message", "ack")}
    return _normal(msa + json.dumps(shown, sort_keys=True))


def _csv_answer(client, case: str) -> str:
    mrn, name, dob, drawn = CASES[case]
    last = name.split("^")[0]
    birth = f"{dob[:4]}-{dob[4:6]}-{dob[6:]}" if dob else ""
    when = "1980-01-01T08:00:00-05:00" if drawn.startswith("1980") else "2026-05-19T08:00:00-04:00"
    text = (
        "lab,accession,mrn,last_name,date_of_birth,drawn_at,code,value,unit\n"
        f"{LAB},C1,{mrn.split('^')[0]},{last},{birth},{when},751-8,2.1,10*3/uL\n"
    )
    response = client.post("/api/v1/feeds/csv/", data=text.encode(), content_type="text/csv")
    assert response.status_code == 200
    return _normal(json.dumps(response.json(), sort_keys=True))


def _fhir_answer(client, case: str) -> str:
    mrn, name, dob, drawn = CASES[case]
    body = {
        "resourceType": "Observation",
        "status": "final",
        "identifier": [{"value": "F1", "assigner": {"display": LAB}}],
        "code": {"coding": [{"system": "http://loinc.org", "code": "751-8"}]},
        "subject": {"identifier": {"system": LAB, "value": mrn.split("^")[0]}},
        "effectiveDateTime": "1980-01-01T08:00:00-05:00"
        if drawn.startswith("1980")
        else "2026-05-19T08:00:00-04:00",
        "valueQuantity": {"value": 2.1, "unit": "10*3/uL"},
    }
    response = client.post("/fhir/Observation", data=body, format="json")
    return _normal(f"{response.status_code} " + json.dumps(response.json(), sort_keys=True))


ANSWER = {"hl7": _hl7_answer, "csv": _csv_answer, "fhir": _fhir_answer}
BASELINE = {"hl7": "unknown identifier", "csv": "unknown identifier", "fhir": "unknown identifier"}


# A FHIR subject names a patient by identifier (or our id), never by name and birth date, so
# only the cases of an identifier and a draw time apply to it.
FHIR_CASES = ("drawn before the patient's birth", "drawn before an unknown patient's birth")


@pytest.mark.parametrize(
    ("channel", "case"),
    [
        (channel, case)
        for channel in ("hl7", "csv", "fhir")
        for case in CASES
        if case != "unknown identifier" and (channel != "fhir" or case in FHIR_CASES)
    ],
)
def test_a_held_result_is_answered_alike_whoever_our_patients_are(
    api, lab_user, patients, channel, case
):
    client = api(lab_user)
    baseline = ANSWER[channel](client, BASELINE[channel])
    QuarantinedResult.objects.all().update(status="dismissed")  # a resend is not "held once"
    answer = ANSWER[channel](client, case)
    assert answer == baseline
    assert "held for review" in answer
    for revealing in ("1985", "O'Brien", "differs", "more than one", "birth", "patient"):
        assert revealing.casefold() not in answer.casefold(), revealing
    assert not LabResult.objects.exclude(source="manual").exists()
    # The administrators still learn why.
    assert QuarantinedResult.objects.filter(status="open").get().detail
