"""Fixtures for the reports' tests (the oversight app): the clock is frozen at
tests.conftest.NOW. `dispense_world` is in tests/conftest.py."""

from datetime import timedelta

import pytest

from tests import factories
from tests.conftest import TODAY


@pytest.fixture(autouse=True)
def _frozen_clock(clock):
    return clock


@pytest.fixture
def active_patient(alice):
    """Enrolled and started 20 days ago, weekly 2100/µL, the latest 6 days ago: allowed now."""
    start = TODAY - timedelta(days=20)
    return factories.enrolled_patient(
        actor=alice,
        start=start,
        draws=factories.weekly_draws(start, TODAY - timedelta(days=2)),
        last_name="Active",
    )


def csv_rows(response):
    import csv
    import io

    assert response["Content-Type"].startswith("text/csv"), response["Content-Type"]
    return list(csv.DictReader(io.StringIO(response.content.decode())))
