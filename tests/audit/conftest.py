"""Fixtures for the audit trail's tests: the clock is frozen at tests.conftest.NOW. The dispenses
the trail's and the reports' tests share (`dispense_world`) are in tests/conftest.py."""

from datetime import timedelta

import pytest
from django.db import connection

from audit.models import AuditEntry
from tests import factories
from tests.conftest import TODAY


@pytest.fixture(autouse=True)
def _frozen_clock(clock):
    return clock


@pytest.fixture
def stale_patient(alice):
    """Enrolled and started 20 days ago, weekly, normal band, the latest ANC 13 days ago: the
    only block is `anc_not_current` (a weekly result is current for 7 days)."""
    start = TODAY - timedelta(days=20)
    return factories.enrolled_patient(
        actor=alice,
        start=start,
        draws=[(TODAY - timedelta(days=13), 2100)],
        last_name="Stale",
    )


def entries_after(entry_id):
    """The entries written after the one with this id, in the order they were written (the
    request path leaves them unsealed: `seq` is the sealer's, docs/audit.md)."""
    return list(AuditEntry.objects.filter(id__gt=entry_id).order_by("id"))


def head():
    """The id of the newest entry written so far (0 for none)."""
    last = AuditEntry.objects.order_by("-id").values_list("id", flat=True).first()
    return last or 0


def needs_postgresql():
    if connection.vendor != "postgresql":
        pytest.skip(
            f"needs PostgreSQL: this checks PostgreSQL's triggers, and the database is "
            f"{connection.vendor} (set DATABASE_URL=postgres://...)"
        )
