"""The outside clinical scenarios (tests/outside/scenarios.py) against a live server.

An independent clinical tester's 122 messy histories - late, simultaneous, partial and switched
data, authorizations and their scope, lapses, emergency supplies, permutations of the same
writes - each recorded over HTTP the way a clinic records it and checked against the rule book
(docs/rules.md). The scenarios use the real clock (their dates are relative to today), so the
server does too. See tests/outside/README.md to run them against any server.
"""

from __future__ import annotations

import importlib
import io
from contextlib import redirect_stdout

import pytest

ADMIN = "tadmin"
ADMIN_PASSWORD = "Tester-pass-2026!"  # noqa: S105 - a throwaway administrator of the test DB


@pytest.mark.django_db(transaction=True)
def test_every_outside_scenario_gets_the_answer_the_rules_give(live_server, settings, monkeypatch):
    from patients.models import User

    settings.CLOZREMS_RATE_LIMITS = False
    User.objects.create_superuser(ADMIN, "tadmin@example.org", ADMIN_PASSWORD)
    monkeypatch.setenv("CLOZREMS_URL", live_server.url)
    monkeypatch.setenv("CLOZREMS_ADMIN", ADMIN)
    monkeypatch.setenv("CLOZREMS_ADMIN_PASS", ADMIN_PASSWORD)
    harness = importlib.reload(importlib.import_module("tests.outside.harness"))
    scenarios = importlib.reload(importlib.import_module("tests.outside.scenarios"))
    assert harness.BASE == live_server.url

    report = io.StringIO()
    with redirect_stdout(report):
        failed = scenarios.run(None, None)

    summary = report.getvalue().strip().splitlines()[-1]
    assert failed == 0, report.getvalue()[-20000:]
    assert "0 failing" in summary and summary.startswith("122 scenarios"), summary
