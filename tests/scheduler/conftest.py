"""Fixtures for the scheduler tests.

Nothing here is autouse: tests/scheduler/test_live_worker.py shares this folder and runs a real
worker on a real clock, so each test asks for the frozen `clock` (tests/conftest.py) itself.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests import factories
from tests.conftest import TODAY
from tests.scheduler.helpers import user_key


@pytest.fixture
def alice_people(alice, designee, alice_prescriber) -> set[str]:
    """Who hears about Alice's patients: Alice and her designee in the app, and the
    prescriber's registered e-mail address."""
    return {user_key(alice), user_key(designee), f"email:{alice_prescriber.email.lower()}"}


@pytest.fixture
def admin_people(admin, root) -> set[str]:
    """The administrators (role admin, and a superuser without a role): in the app and by
    e-mail to their own addresses."""
    return {user_key(admin), user_key(root), f"email:{admin.email}", f"email:{root.email}"}


@pytest.fixture
def weekly_patient(alice, designee, clock):
    """Alice's patient, enrolled and started 20 days ago, weekly normal draws, the latest two
    days ago (next draw due in five days). Built with the clock frozen at NOW, after Alice's
    designee exists (so that reminders stored at once reach it)."""
    start = TODAY - timedelta(days=20)
    return factories.enrolled_patient(
        actor=alice,
        start=start,
        draws=factories.weekly_draws(start, TODAY - timedelta(days=2)),
        last_name="Weekly",
    )
