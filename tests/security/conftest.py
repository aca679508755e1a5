"""Fixtures for the security tests, and the fuzzing tally printed at the end of the run."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.conftest import TODAY
from tests.factories import enrolled_patient, weekly_draws

# persona -> status -> requests, gathered from each fuzz test's report (xdist sends reports,
# with their user properties, to the controlling process).
FUZZ_STATS: dict[str, dict[int, int]] = {}


@pytest.fixture
def active_world(alice, phil, clock):
    """A patient with a history, so that generated ids sometimes name a real record."""
    start = TODAY - timedelta(days=40)
    return enrolled_patient(
        actor=alice, start=start, draws=weekly_draws(start, TODAY - timedelta(days=2))
    )


def pytest_runtest_logreport(report: Any) -> None:
    if report.when != "call":
        return
    for name, value in report.user_properties:
        if name == "fuzz":
            tally = FUZZ_STATS.setdefault(value["persona"], {})
            for status, count in value["statuses"].items():
                tally[int(status)] = tally.get(int(status), 0) + count


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not FUZZ_STATS:
        return
    total = sum(sum(t.values()) for t in FUZZ_STATS.values())
    terminalreporter.write_line(f"schemathesis: {total} requests")
    for persona, tally in sorted(FUZZ_STATS.items()):
        statuses = ", ".join(f"{k}: {v}" for k, v in sorted(tally.items()))
        terminalreporter.write_line(f"  {persona}: {sum(tally.values())} requests ({statuses})")
