"""A pharmacist reaches a patient only by last name and date of birth, by id and date of
birth, or from its own pharmacy's lists (its dispenses, hence its worklist): walking the
sequential ids reads nobody's name, birth date or ANC. A patient found by name and date of
birth opens by id for the rest of that sign-in (the token or the session), and the lookup is in
the audit trail.

The dispensing decision and the dispense keep taking the id alone (the API contract's clients
do: an eligibility check names no one, and each is an audited decision); with
`date_of_birth` given the id must match it. CLOZREMS_PHARMACIST_DECISION_BY_ID=0 makes them
follow the reach rule too."""

from __future__ import annotations

from datetime import timedelta

import pytest

from audit.models import Action, AuditEntry
from patients.auth import api_token_create
from tests import factories
from tests.conftest import TODAY


@pytest.fixture
def patient(alice, clock):
    start = TODAY - timedelta(days=20)
    return factories.enrolled_patient(
        actor=alice,
        start=start,
        draws=factories.weekly_draws(start, TODAY - timedelta(days=2)),
        last_name="Quill",
    )


def detail(client, patient_id, **params):
    return client.get(f"/api/v1/patients/{patient_id}/", params)


def test_walking_the_ids_reads_nobody(api, client, phil, patient, alice):
    others = [
        factories.enrolled_patient(actor=alice, start=TODAY - timedelta(days=5)).pk
        for _ in range(3)
    ]
    unknown = detail(api(phil), 999_999)
    pharmacist = api(phil)
    for pk in [patient.pk, *others]:
        answer = detail(pharmacist, pk)
        assert (answer.status_code, answer.content) == (404, unknown.content)
    client.force_login(phil)
    assert client.get(f"/counter/patients/{patient.pk}/").status_code == 404
    by_id = client.get("/counter/", {"patient_id": patient.pk})
    assert (
        "Give the date of birth" in by_id.content.decode() and "Quill" not in by_id.content.decode()
    )


def test_a_lookup_by_name_and_birth_date_opens_the_id_for_that_sign_in_only(api, phil, patient):
    client = api(phil)
    found = client.get("/api/v1/patients/", {"last_name": "quill", "date_of_birth": "1985-06-15"})
    assert [p["id"] for p in found.json()["results"]] == [patient.pk]
    assert detail(client, patient.pk).status_code == 200
    # Another sign-in of the same pharmacist has not found the patient.
    other_sign_in = api()
    other_sign_in.credentials(
        HTTP_AUTHORIZATION=f"Token {api_token_create(user=phil, otp_verified=False)}"
    )
    assert detail(other_sign_in, patient.pk).status_code == 404
    [lookup] = AuditEntry.objects.filter(action=Action.PATIENT_LOOKUP)
    assert lookup.actor_username == "phil" and lookup.output["patient_ids"] == [patient.pk]


def test_an_id_with_the_right_birth_date_opens_and_a_wrong_one_is_unknown(api, phil, patient):
    client = api(phil)
    unknown = detail(client, 999_999)
    wrong = detail(client, patient.pk, date_of_birth="1985-06-16")
    assert (wrong.status_code, wrong.content) == (404, unknown.content)
    assert detail(client, patient.pk, date_of_birth="1985-06-15").status_code == 200
    assert detail(client, patient.pk).status_code == 200  # found: open for this sign-in
    assert detail(client, patient.pk, date_of_birth="15/06/1985").status_code == 400


def test_a_patient_dispensed_at_the_pharmacy_opens_from_its_lists(api, phil, patient, client):
    from pharmacy.services import dispense_record

    dispense_record(patient=patient, pharmacy=phil.pharmacy, actor=phil, days_supply=7)
    assert detail(api(phil), patient.pk).status_code == 200
    client.force_login(phil)
    assert client.get(f"/counter/patients/{patient.pk}/").status_code == 200
    # Another pharmacy's pharmacist has not dispensed to the patient.
    other = factories.PharmacistUserFactory.create(username="olga")
    assert detail(api(other), patient.pk).status_code == 404


def test_the_counter_search_opens_the_patients_it_finds(client, phil, patient):
    client.force_login(phil)
    found = client.get("/counter/", {"patient_id": patient.pk, "date_of_birth": "1985-06-15"})
    assert found.status_code == 302 and found["Location"] == f"/counter/patients/{patient.pk}/"
    assert client.get(f"/counter/patients/{patient.pk}/").status_code == 200
    client.logout()
    client.force_login(phil)  # a new session: found again before it opens
    assert client.get(f"/counter/patients/{patient.pk}/").status_code == 404


def test_the_decision_takes_the_id_alone_and_checks_a_birth_date_given(api, phil, patient):
    client = api(phil)
    url = f"/api/v1/patients/{patient.pk}/eligibility/"
    decision = client.get(url)
    assert decision.status_code == 200 and "last_name" not in decision.json()
    check = AuditEntry.objects.filter(action=Action.ELIGIBILITY_CHECK).latest("seq")
    assert (check.actor_username, check.patient_id) == ("phil", patient.pk)
    assert client.get(url, {"date_of_birth": "1985-06-15"}).status_code == 200
    assert client.get(url, {"date_of_birth": "2001-01-01"}).status_code == 404


def test_a_dispense_with_a_wrong_birth_date_is_for_no_patient(api, phil, patient):
    body = {"patient": patient.pk, "pharmacy": phil.pharmacy_id, "days_supply": 7}
    wrong = api(phil).post(
        "/api/v1/dispenses/", {**body, "date_of_birth": "2001-01-01"}, format="json"
    )
    assert wrong.status_code == 422
    assert [r["code"] for r in wrong.json()["reasons"]] == ["patient_not_enrolled"]
    right = api(phil).post(
        "/api/v1/dispenses/", {**body, "date_of_birth": "1985-06-15"}, format="json"
    )
    assert right.status_code == 201


def test_a_deployment_may_hold_decisions_to_the_reach_rule_too(api, phil, patient, settings):
    settings.CLOZREMS_PHARMACIST_DECISION_BY_ID = False
    client = api(phil)
    url = f"/api/v1/patients/{patient.pk}/eligibility/"
    assert client.get(url).status_code == 404
    body = {"patient": patient.pk, "pharmacy": phil.pharmacy_id, "days_supply": 7}
    assert client.post("/api/v1/dispenses/", body, format="json").status_code == 422
    client.get("/api/v1/patients/", {"last_name": "Quill", "date_of_birth": "1985-06-15"})
    assert client.get(url).status_code == 200
    assert client.post("/api/v1/dispenses/", body, format="json").status_code == 201
