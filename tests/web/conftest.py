"""Page fixtures: a pharmacy counter scene and a prescriber's clinic."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests import factories
from tests.conftest import TODAY


@pytest.fixture
def allowed_patient(alice, clock):
    """Weekly draws up to yesterday: a pharmacy may dispense 7 days."""
    start = TODAY - timedelta(days=50)
    return factories.enrolled_patient(
        actor=alice,
        start=start,
        draws=factories.weekly_draws(start, TODAY - timedelta(days=1)),
        last_name="Allowed",
        first_name="Alma",
    )


@pytest.fixture
def stale_patient(alice, clock):
    """The last draw is 12 days old: blocked, ANC not current (and within the emergency
    supply's reach: a weekly window of 7 days plus 7)."""
    start = TODAY - timedelta(days=61)
    return factories.enrolled_patient(
        actor=alice,
        start=start,
        draws=factories.weekly_draws(start, TODAY - timedelta(days=12)),
        last_name="Stale",
        first_name="Stan",
    )


@pytest.fixture
def bobs_patient(bob, clock):
    start = TODAY - timedelta(days=30)
    return factories.enrolled_patient(actor=bob, start=start, last_name="Bobson", first_name="Bea")
