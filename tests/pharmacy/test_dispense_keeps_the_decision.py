"""A dispense keeps the decision it was made under in the engine's terms
(pharmacy.decisions.CounterDecision in `Dispense.decided`), never the HTTP answer's body; the
presenter renders it on every read, so the answer, its replay and the dispense's own record show
the decision the eligibility check gave at that instant. Dispenses recorded before keep the body
they were answered with (`decision_as_answered`)."""

import json
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine import evaluate
from engine.emergency import emergency_option
from patients.models import Dispense
from pharmacy.decisions import (
    CounterDecision,
    counter_decision_from_json,
    counter_decision_to_json,
    dispense_verdict,
)
from pharmacy.presenters import decision_body
from tests.conftest import NOW
from tests.engine.builders import ZONE
from tests.engine.test_engine_properties import PROPERTY_SETTINGS, PROTOCOLS, cases, contexts

URL = "/api/v1/dispenses/"


@pytest.mark.parametrize("protocol", PROTOCOLS)
@PROPERTY_SETTINGS
@given(
    data=st.data(),
    context=contexts,
    used=st.booleans(),
    confirmed=st.sampled_from([None, True, False]),
    asked=st.booleans(),
)
def test_a_stored_decision_reads_back_exactly(protocol, data, context, used, confirmed, asked):
    history, as_of = data.draw(cases(protocol))
    assessment = evaluate(history, as_of, context)
    option = (
        emergency_option(
            assessment, ZONE, used_since_latest_anc=used, last_dose_confirmed=confirmed
        )
        if asked
        else None
    )
    decided = CounterDecision(assessment, option, None, 7)

    stored = json.loads(json.dumps(counter_decision_to_json(decided)))
    back = counter_decision_from_json(stored)

    assert back == decided
    assert decision_body(back, 42) == decision_body(decided, 42)


def test_the_dispense_answer_is_the_decision_the_check_gave(api, phil, pharmacy, active_patient):
    client = api(phil)
    check = client.get(f"/api/v1/patients/{active_patient.pk}/eligibility/", {"days_supply": 7})
    body = {"patient": active_patient.pk, "pharmacy": pharmacy.pk, "days_supply": 7}

    made = client.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY="rx-kept")
    replayed = client.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY="rx-kept")
    read = client.get(f"{URL}{made.json()['id']}/")

    assert made.status_code == 201 and replayed.status_code == 201
    assert made.json()["decision"] == check.json()
    assert replayed.json() == made.json()
    assert read.json()["decision"] == check.json()
    dispense = Dispense.objects.get()
    assert dispense.decision_as_answered is None
    assert dispense.decided is not None
    # The engine's terms, not the answer's: no presentation-only field is stored.
    assert "emergency_supply_withheld" not in dispense.decided
    assert counter_decision_from_json(dispense.decided).assessment.max_days_supply == 7
    assert dispense_verdict(dispense).decision == "allowed"


def test_a_dispense_recorded_before_shows_the_body_it_was_answered_with(
    api, admin, pharmacy, active_patient
):
    answered = {"decision": "allowed", "max_days_supply": 7, "reasons": [{"code": "x"}]}
    old = Dispense.objects.create(
        patient=active_patient,
        pharmacy=pharmacy,
        days_supply=7,
        dispensed_at=NOW - timedelta(days=1),
        authorization_code="CLZ-OLDONE0001",
        decision_as_answered=answered,
        recorded_by=admin,
    )

    read = api(admin).get(f"{URL}{old.pk}/")

    assert read.status_code == 200
    assert read.json()["decision"] == answered
    verdict = dispense_verdict(old)
    assert (verdict.decision, verdict.reasons, verdict.max_days_supply) == ("allowed", ("x",), 7)
