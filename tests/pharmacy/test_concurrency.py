"""Concurrent dispenses for one patient (PostgreSQL only: SQLite serialises every writer).

dispense_record locks the patient row while it re-checks the decision, so supply on hand
(protocol reading 6 in engine/protocols/us_label_2015.py: a 7-day supply dispensed
today leaves 6 days on hand after today) refuses every 7-day supply after the first.
"""

import threading
from datetime import timedelta

import pytest
from django.db import close_old_connections, connection

from clozrems.errors import RuleRefused
from engine.types import Reason
from patients.models import Dispense, Patient
from pharmacy.services import dispense_record
from tests import factories
from tests.conftest import TODAY

THREADS = 16

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _needs_postgresql(db):
    if connection.vendor != "postgresql":
        pytest.skip(
            f"needs PostgreSQL: row locks are what this tests, and the database is "
            f"{connection.vendor} (set DATABASE_URL=postgres://...)"
        )


@pytest.fixture
def patient(alice):
    start = TODAY - timedelta(days=20)
    return factories.enrolled_patient(
        actor=alice, start=start, draws=factories.weekly_draws(start, TODAY - timedelta(days=2))
    )


def _race(patient, pharmacy, actor, keys):
    """Call dispense_record from one thread per key, all released at once."""
    barrier = threading.Barrier(len(keys))
    outcomes: list = [None] * len(keys)

    def worker(index, key):
        try:
            barrier.wait(timeout=10)
            fresh = Patient.objects.select_related("prescriber", "monitoring").get(pk=patient.pk)
            outcome = dispense_record(
                patient=fresh, pharmacy=pharmacy, actor=actor, days_supply=7, idempotency_key=key
            )
            outcomes[index] = ("ok", outcome.dispense.pk, outcome.replayed)
        except RuleRefused as refused:
            outcomes[index] = ("refused", [Reason(r).value for r in refused.reasons], None)
        except Exception as error:  # reported by the assertions below
            outcomes[index] = ("error", repr(error), None)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=worker, args=(i, k)) for i, k in enumerate(keys)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    return outcomes


def test_concurrent_dispenses_with_different_keys_record_exactly_one(patient, pharmacy, phil):
    outcomes = _race(patient, pharmacy, phil, [f"rx-{i}" for i in range(THREADS)])

    recorded = [o for o in outcomes if o[0] == "ok"]
    refused = [o for o in outcomes if o[0] == "refused"]
    assert len(recorded) == 1, outcomes
    assert len(refused) == THREADS - 1, outcomes
    assert all("days_supply_exceeds_limit" in reasons for _, reasons, _ in refused), outcomes
    assert Dispense.objects.filter(patient=patient).count() == 1


def test_concurrent_dispenses_with_the_same_key_record_one_and_answer_alike(
    patient, pharmacy, phil
):
    outcomes = _race(patient, pharmacy, phil, ["rx-same"] * THREADS)

    assert all(o[0] == "ok" for o in outcomes), outcomes
    assert len({dispense_id for _, dispense_id, _ in outcomes}) == 1
    assert sum(1 for _, _, replayed in outcomes if not replayed) == 1
    assert Dispense.objects.filter(patient=patient).count() == 1


def test_many_simultaneous_http_dispenses_with_mixed_keys_record_only_what_the_rules_allow(
    patient, pharmacy, phil
):
    """24 requests at once through the API: 12 with distinct Idempotency-Keys, 12 sharing one.
    The rules allow one 7-day supply: exactly one dispense is recorded; the shared key's
    requests all get the same answer; nothing else is written; no request hangs."""
    from rest_framework.test import APIClient

    from patients.auth import api_token_create

    token = api_token_create(user=phil, otp_verified=False)
    keys = [f"http-{i}" for i in range(12)] + ["http-shared"] * 12
    barrier = threading.Barrier(len(keys))
    answers: list = [None] * len(keys)

    def worker(index: int, key: str) -> None:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}", HTTP_IDEMPOTENCY_KEY=key)
        try:
            barrier.wait(timeout=10)
            response = client.post(
                "/api/v1/dispenses/",
                {"patient": patient.pk, "pharmacy": pharmacy.pk, "days_supply": 7},
                format="json",
            )
            body = response.json()
            answers[index] = (key, response.status_code, body.get("id"), body.get("code"))
        except Exception as error:  # reported by the assertions below
            answers[index] = (key, "error", repr(error), None)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=worker, args=(i, k)) for i, k in enumerate(keys)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a request never finished"
    statuses = [a[1] for a in answers]
    assert set(statuses) <= {200, 201, 422}, answers
    assert Dispense.objects.filter(patient=patient).count() == 1, answers
    recorded = Dispense.objects.get(patient=patient)
    shared = {(a[1], a[2]) for a in answers if a[0] == "http-shared"}
    assert len(shared) == 1, shared  # the shared key's requests all got one answer
    winners = [a for a in answers if a[1] in (200, 201)]
    assert {a[2] for a in winners} == {recorded.pk}, answers
    print(
        f"concurrent dispenses: {len(keys)} requests, {statuses.count(201)} created, "
        f"{statuses.count(200)} replayed, {statuses.count(422)} refused, 1 recorded"
    )
