"""Fixtures for the reports' tests (the oversight app): the clock is frozen at
tests.conftest.NOW. `dispense_world` is in tests/conftest.py."""

import pytest


@pytest.fixture(autouse=True)
def _frozen_clock(clock):
    return clock


def csv_rows(response):
    import csv
    import io

    assert response["Content-Type"].startswith("text/csv"), response["Content-Type"]
    return list(csv.DictReader(io.StringIO(response.content.decode())))
