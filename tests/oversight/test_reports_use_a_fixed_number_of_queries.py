"""Every report is set-based: adding patients, results and dispenses (rows in every report)
does not add queries."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from patients.models import Patient
from tests import factories
from tests.conftest import TODAY

REPORTS = [
    "/api/v1/reports/dispenses/",
    "/api/v1/reports/overrides/",
    "/api/v1/reports/overdue/",
    "/api/v1/reports/low-anc-episodes/",
    "/api/v1/reports/enrollment-gaps/",
    "/api/v1/reports/compliance/",
]


def _more_rows(api, alice, bob, phil, pharmacy):
    start = TODAY - timedelta(days=20)
    for prescriber_user in (alice, bob):
        stale = factories.enrolled_patient(
            actor=prescriber_user, start=start, draws=[(TODAY - timedelta(days=13), 2100)]
        )
        made = api(phil).post(
            "/api/v1/dispenses/",
            {
                "patient": stale.pk,
                "pharmacy": pharmacy.pk,
                "days_supply": 4,
                "emergency": {"reason": "weather", "last_dose_confirmed": True},
            },
            format="json",
        )
        assert made.status_code == 201, made.json()
        low = factories.enrolled_patient(
            actor=prescriber_user,
            start=start,
            population="ben",
            baselines=(1800, 1900),
            draws=[(TODAY - timedelta(days=3), 800)],
        )
        Patient.objects.filter(pk=low.pk).update(ben_documented_at=None)


@pytest.mark.parametrize("url", REPORTS)
def test_the_query_count_does_not_grow(api, aud, alice, bob, phil, pharmacy, dispense_world, url):
    client = api(aud)
    client.get(url, {"format": "csv"})

    def measure():
        with CaptureQueriesContext(connection) as captured:
            response = client.get(url, {"format": "csv"})
            assert response.status_code == 200
        return len(captured), response.content

    queries, before = measure()
    _more_rows(api, alice, bob, phil, pharmacy)
    more_queries, after = measure()

    assert len(after) > len(before)  # the report did grow (rows, or counts in its rows)
    assert more_queries == queries
