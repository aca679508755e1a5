"""Fixtures for the security tests, and the fuzzing tally printed at the end of the run."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.conftest import TODAY
from tests.factories import enrolled_patient, weekly_draws

FUZZ_STATS: dict[str, Any] = {"requests": 0, "statuses": {}}


@pytest.fixture
def active_world(alice, phil, clock):
    """A patient with a history, so that generated ids sometimes name a real record."""
    start = TODAY - timedelta(days=40)
    return enrolled_patient(
        actor=alice, start=start, draws=weekly_draws(start, TODAY - timedelta(days=2))
    )


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if FUZZ_STATS["requests"]:
        statuses = ", ".join(f"{k}: {v}" for k, v in sorted(FUZZ_STATS["statuses"].items()))
        terminalreporter.write_line(
            f"schemathesis: {FUZZ_STATS['requests']} requests in this process ({statuses})"
        )
