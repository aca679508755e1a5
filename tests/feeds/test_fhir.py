"""FHIR R4 Observations: POST one, POST a batch or transaction Bundle, GET them back."""

from __future__ import annotations

import copy

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.observation import Observation

from feeds.models import FeedMessage, QuarantinedResult
from monitoring.models import LabResult
from tests.feeds.conftest import LAB

FHIR = "application/fhir+json"


def observation(
    *,
    code: str = "751-8",
    value: float = 2.1,
    unit: str = "10*3/uL",
    status: str = "final",
    accession: str = "F-1",
    subject: dict | None = None,
    effective: str = "2026-05-19T08:00:00-04:00",
) -> dict:
    return {
        "resourceType": "Observation",
        "status": status,
        "identifier": [
            {"system": "urn:acme:accession", "value": accession, "assigner": {"display": LAB}}
        ],
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        "subject": subject or {"identifier": {"system": LAB, "value": "M1001"}},
        "effectiveDateTime": effective,
        "valueQuantity": {
            "value": value,
            "unit": unit,
            "system": "http://unitsofmeasure.org",
            "code": unit,
        },
    }


@pytest.fixture
def fhir(api, lab_user):
    client = api(lab_user)

    def post(path: str, body: dict):
        return client.post(path, data=body, format="json", HTTP_ACCEPT=FHIR)

    return post


def test_an_observation_is_stored_and_answered_as_fhir(fhir, ann):
    response = fhir("/fhir/Observation", observation())
    assert response.status_code == 201, response.content
    assert response["Content-Type"].startswith(FHIR)
    stored = Observation.model_validate(response.json())
    assert stored.valueQuantity is not None and stored.valueQuantity.value == 2100
    result = LabResult.objects.get(accession="F-1")
    assert (result.patient, result.lab, result.source, result.value_per_ul) == (
        ann,
        LAB,
        "fhir",
        2100,
    )
    assert fhir("/fhir/Observation", observation()).status_code == 200  # a repeat
    assert LabResult.objects.filter(accession="F-1").count() == 1


def test_a_subject_reference_to_our_patient_id_matches(fhir, ann):
    body = observation(subject={"reference": f"Patient/{ann.pk}"})
    assert fhir("/fhir/Observation", body).status_code == 201
    assert LabResult.objects.get(accession="F-1").patient == ann


def test_an_invalid_observation_is_a_400_operation_outcome_kept_and_files_nothing(fhir, ann):
    body = observation()
    body["valueQuantity"]["value"] = "lots"
    response = fhir("/fhir/Observation", body)
    assert response.status_code == 400
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["severity"] == "error"
    assert "valueQuantity" in outcome["issue"][0]["diagnostics"]
    for broken in (
        {"resourceType": "Patient"},
        [1, 2],
        {"resourceType": "Observation", "status": "final"},
    ):
        assert fhir("/fhir/Observation", broken).status_code == 400
    assert not LabResult.objects.filter(source="fhir").exists()
    # Each refused body is kept as received, with why.
    kept = list(FeedMessage.objects.order_by("id"))
    assert [m.outcome for m in kept] == ["rejected"] * 4
    assert "valueQuantity" in kept[0].detail and '"lots"' in kept[0].raw


def test_a_body_that_is_not_json_is_a_400_operation_outcome(api, lab_user):
    response = api(lab_user).post("/fhir/Observation", data=b"{not json", content_type=FHIR)
    assert response.status_code == 400
    assert response.json()["resourceType"] == "OperationOutcome"
    assert FeedMessage.objects.get().raw == "{not json"


def test_an_unmatched_subject_is_accepted_into_quarantine_202(fhir, ann):
    body = observation(subject={"identifier": {"system": LAB, "value": "NOPE"}})
    response = fhir("/fhir/Observation", body)
    assert response.status_code == 202
    assert response.json()["issue"][0]["severity"] == "warning"
    assert QuarantinedResult.objects.get().reason == "unmatched_patient"


def test_amended_replaces_and_preliminary_is_kept_out_of_decisions(fhir, ann):
    fhir("/fhir/Observation", observation(value=0.9, status="preliminary"))
    assert LabResult.objects.get(accession="F-1").status == "preliminary"
    fhir("/fhir/Observation", observation(value=1.9))
    response = fhir("/fhir/Observation", observation(value=2.0, status="amended"))
    assert response.status_code == 201
    current = LabResult.objects.get(accession="F-1", superseded=False)
    assert current.status == "corrected" and current.value_per_ul == 2000


def test_a_transaction_bundle_derives_an_anc_from_wbc_and_percent(fhir, ann):
    wbc = observation(code="6690-2", value=4.4, accession="W-1")
    percent = observation(code="770-8", value=25, unit="%", accession="P-1")
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": wbc, "request": {"method": "POST", "url": "Observation"}},
            {"resource": percent, "request": {"method": "POST", "url": "Observation"}},
        ],
    }
    response = fhir("/fhir", bundle)
    assert response.status_code == 200, response.content
    answer = Bundle.model_validate(response.json())
    assert answer.type == "transaction-response"
    result = LabResult.objects.get(source="fhir")
    assert result.value_per_ul == 1100 and result.derived and result.accession == "W-1+P-1"


def test_a_transaction_with_one_invalid_entry_writes_nothing(fhir, ann):
    broken = observation(accession="F-2")
    del broken["code"]
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"resource": observation()}, {"resource": broken}],
    }
    response = fhir("/fhir", bundle)
    assert response.status_code == 400
    assert "entry[1]" in response.json()["issue"][0]["expression"][0]
    assert not LabResult.objects.filter(source="fhir").exists()


def test_a_batch_bundle_answers_entry_by_entry(fhir, ann):
    broken = observation(accession="F-2")
    del broken["code"]
    bundle = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {"resource": observation()},
            {"resource": broken},
            {"resource": observation(accession="F-3", unit="furlongs")},
        ],
    }
    response = fhir("/fhir", bundle)
    assert response.status_code == 200
    statuses = [e["response"]["status"] for e in response.json()["entry"]]
    assert statuses == ["201", "400", "202"]
    assert LabResult.objects.filter(source="fhir").count() == 1
    assert QuarantinedResult.objects.get().reason == "unknown_unit"


def test_a_bundle_of_another_type_is_refused(fhir, ann):
    response = fhir("/fhir", {"resourceType": "Bundle", "type": "collection", "entry": []})
    assert response.status_code == 400


def test_export_lists_a_patients_results_as_a_searchset(api, alice, bob, lab_user, fhir, ann):
    fhir("/fhir/Observation", observation())
    response = api(alice).get(f"/fhir/Observation?patient={ann.pk}&code=http://loinc.org|751-8")
    assert response.status_code == 200
    bundle = Bundle.model_validate(response.json())
    assert bundle.type == "searchset"
    values = [e["resource"]["valueQuantity"]["value"] for e in response.json()["entry"]]
    assert (
        2100 in values
        and bundle.total == len(values) == ann.anc_results.filter(superseded=False).count()
    )
    # Another prescriber's patient: an empty searchset, nothing revealed.
    other = api(bob).get(f"/fhir/Observation?patient={ann.pk}")
    assert other.json()["total"] == 0
    assert api(alice).get(f"/fhir/Observation?patient={ann.pk}&code=718-7").json()["total"] == 0
    assert api(alice).get("/fhir/Observation").status_code == 400


def test_fhir_access_by_role(api, alice, phil, aud, ann):
    body = observation()
    assert api().post("/fhir/Observation", data=body, format="json").status_code == 401
    for user in (alice, phil, aud):
        response = api(user).post("/fhir/Observation", data=body, format="json")
        assert response.status_code == 403
        assert response.json()["resourceType"] == "OperationOutcome"
    assert api(phil).get(f"/fhir/Observation?patient={ann.pk}").status_code == 403
    assert api(aud).get(f"/fhir/Observation?patient={ann.pk}").status_code == 200
    assert not FeedMessage.objects.exists()


def test_the_export_round_trips_through_the_import(api, alice, fhir, ann):
    fhir("/fhir/Observation", observation())
    exported = api(alice).get(f"/fhir/Observation?patient={ann.pk}").json()["entry"][0]["resource"]
    again = copy.deepcopy(exported)
    del again["id"]
    response = fhir("/fhir/Observation", again)
    assert response.status_code in (200, 201)
    assert LabResult.objects.filter(accession="F-1", superseded=False).count() == 1
