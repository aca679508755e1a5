"""Fixtures for the security tests (the fuzzing tally is printed by tests/conftest.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.conftest import TODAY
from tests.factories import enrolled_patient, weekly_draws


@pytest.fixture
def active_world(alice, phil, clock):
    """A patient with a history, so that generated ids sometimes name a real record."""
    start = TODAY - timedelta(days=40)
    return enrolled_patient(
        actor=alice, start=start, draws=weekly_draws(start, TODAY - timedelta(days=2))
    )
