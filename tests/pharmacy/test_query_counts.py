"""The dispensing decision costs a constant number of SQL queries, whatever the history length
(style.md: the stored monitoring state means a decision reads one row, not the history)."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from patients.models import Dispense
from tests import factories
from tests.conftest import TODAY


def _statements(captured):
    """The SQL a request sends, without the savepoints the test's own transaction adds (a
    request served outside a test begins and commits a transaction instead)."""
    return [
        q["sql"]
        for q in captured.captured_queries
        if not q["sql"].upper().startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))
    ]


def _queries(call):
    with CaptureQueriesContext(connection) as captured:
        response = call()
    return len(_statements(captured)), response


@pytest.fixture
def histories(alice):
    short = factories.bulk_history(actor=alice, prescriber=alice.prescriber, results=5, today=TODAY)
    long = factories.bulk_history(
        actor=alice, prescriber=alice.prescriber, results=500, today=TODAY
    )
    return short, long


def test_the_bulk_histories_are_what_they_claim(histories):
    short, long = histories

    assert short.anc_results.count() == 5
    assert long.anc_results.count() == 500


@pytest.mark.parametrize(
    "as_of",
    # the last result was drawn yesterday at 09:00; 08:00 is before it, so the stored snapshot
    # cannot be used and the history is replayed
    [None, factories.at(TODAY - timedelta(days=1), 8).isoformat()],
    ids=["now-from-the-stored-state", "in-the-past-by-replay"],
)
def test_the_eligibility_decision_uses_the_same_queries_for_5_and_500_results(
    api, phil, histories, as_of
):
    client = api(phil)
    query = {"as_of": as_of} if as_of else {}

    counts = []
    for patient in histories:
        url = f"/api/v1/patients/{patient.pk}/eligibility/"
        client.get(url, query)  # warm up: token and session lookups are cached per client
        count, response = _queries(lambda url=url: client.get(url, query))
        assert response.status_code == 200
        assert response.json()["decision"] == "allowed", response.json()
        counts.append(count)

    short, long = counts
    assert short == long
    if as_of is None:
        # The counter's path: the token with its user and pharmacy, the patient with its
        # stored state and dose facts, and the decision's audit entry.
        assert short == 3
    # A sane bound too, so a constant but large cost is noticed: the replay reads one query per
    # history table (results, enrollments, events, authorizations, dispenses, periods supplied
    # elsewhere, consult and review acknowledgements) on top of the stored-state path.
    assert short <= 15


def test_the_histories_get_the_routine_frequency_of_their_length(api, phil, histories):
    short, long = histories
    client = api(phil)

    frequencies = [
        client.get(f"/api/v1/patients/{p.pk}/eligibility/").json()["monitoring_frequency"]
        for p in (short, long)
    ]

    assert frequencies == ["weekly", "monthly"]


def test_recording_a_dispense_uses_the_same_queries_for_5_and_500_results(
    api, phil, pharmacy, histories
):
    client = api(phil)
    client.get("/api/v1/dispenses/")  # warm up the client

    counts = []
    for patient in histories:
        body = {"patient": patient.pk, "pharmacy": pharmacy.pk, "days_supply": 7}
        count, response = _queries(
            lambda body=body: client.post("/api/v1/dispenses/", body, format="json")
        )
        assert response.status_code == 201, response.json()
        counts.append(count)

    assert counts[0] == counts[1]
    # The token, the patient (visibility), its row lock, the patient with its state and dose
    # facts read after the lock, the dispense, the dose facts, the state, the audit entry.
    assert counts[0] <= 8
    assert Dispense.objects.count() == 2
