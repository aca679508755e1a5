"""Fixtures for the HTTP tests: the clock is frozen at tests.conftest.NOW for every test here."""

from datetime import timedelta

import pytest

from tests import factories
from tests.conftest import TODAY


@pytest.fixture(autouse=True)
def _frozen_clock(clock):
    return clock


@pytest.fixture
def pending_patient(alice):
    """Alice's patient, not yet enrolled, with a normal ANC drawn 5 days ago."""
    patient = factories.PatientFactory.create(
        actor=alice, prescriber=alice.prescriber, last_name="Waiting"
    )
    factories.record_anc(patient, alice, TODAY - timedelta(days=5), 2300)
    return patient
