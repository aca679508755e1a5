"""Faults: the broker down, the database down, a failing feed message. (A worker killed
mid-task: tests/scheduler/test_delivery.py, the lease tests; a feed message that fails is kept
and retried: tests/feeds/test_quarantine.py.)"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest

from monitoring.models import LabResult, MonitoringState
from notifications.models import Notification
from tests.conftest import NOW, TODAY
from tests.factories import enrolled_patient, weekly_draws


@pytest.fixture
def broker_down(settings):
    """Celery as in production (not eager), pointed at a port where nothing listens."""
    from clozrems.celery import app

    conf: Any = app.conf
    amqp: Any = app.amqp
    saved = (conf.task_always_eager, conf.broker_url, app._pool, amqp._producer_pool)  # type: ignore[attr-defined]
    conf.task_always_eager = False
    conf.broker_url = "redis://127.0.0.1:9/0"
    # Fresh connection and producer pools for the dead address; the process's own are put
    # back afterwards, untouched.
    app._pool = None  # type: ignore[attr-defined]
    amqp._producer_pool = None
    yield app
    conf.task_always_eager, conf.broker_url = saved[0], saved[1]
    app._pool, amqp._producer_pool = saved[2], saved[3]  # type: ignore[attr-defined]


@pytest.fixture
def weekly(alice, clock):
    start = TODAY - timedelta(days=40)
    return enrolled_patient(
        actor=alice, start=start, draws=weekly_draws(start, TODAY - timedelta(days=2))
    )


def test_with_the_broker_down_the_api_still_records_and_decides_and_nothing_is_lost(
    api, alice, phil, pharmacy, weekly, broker_down, django_capture_on_commit_callbacks, caplog
):
    started = time.monotonic()
    with django_capture_on_commit_callbacks(execute=True):
        response = api(alice).post(
            f"/api/v1/patients/{weekly.pk}/anc-results/",
            {"drawn_at": (NOW - timedelta(hours=1)).isoformat(), "value": 900, "unit": "/uL"},
            format="json",
        )
    elapsed = time.monotonic() - started
    assert response.status_code == 201, response.content
    # The message really went to the dead broker, and was given up on.
    assert "could not queue monitoring.tasks.confirmation_requested" in caplog.text
    assert elapsed < 20, f"the request waited {elapsed:.1f}s for the broker"
    assert MonitoringState.objects.get(patient=weekly).confirmation_due is not None
    decision = api(phil).get(f"/api/v1/patients/{weekly.pk}/eligibility/?pharmacy={pharmacy.pk}")
    assert decision.status_code == 200 and decision.json()["decision"] == "blocked"
    assert LabResult.objects.filter(patient=weekly, value_per_ul=900).exists()
    # The message for the 24-hour repeat was lost with the broker; the scan that runs every
    # five minutes finds the pending repeat and stores the reminder once the broker is back.
    broker_down.conf.task_always_eager = True
    from monitoring import reminders

    stored = reminders.confirmations_scan(lo=0, hi=10**9, now=NOW + timedelta(hours=25))
    assert stored >= 1
    assert Notification.objects.filter(subject_key=f"patient:{weekly.pk}").exists()


DATABASE_DOWN_SCRIPT = """
import json, os, time
import django
django.setup()
from django.test import Client
client = Client(HTTP_AUTHORIZATION="Token 0123456789abcdef0123456789abcdef01234567")
out = {}
for path in ("/api/v1/patients/1/", "/health/", "/login/"):
    started = time.monotonic()
    response = client.get(path)
    out[path] = [response.status_code, round(time.monotonic() - started, 2),
                 response.content.decode()[:300], response.get("Retry-After")]
print(json.dumps(out))
"""


def test_with_the_database_down_requests_fail_fast_with_503(tmp_path):
    """A real process whose database address answers nothing (a closed port)."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL",)}
    env.update(
        DATABASE_URL="postgres://postgres@127.0.0.1:9/nowhere",
        DJANGO_SETTINGS_MODULE="clozrems.settings",
        DATABASE_CONNECT_TIMEOUT="3",
    )
    result = subprocess.run(  # noqa: S603 - our own code
        [sys.executable, "-c", DATABASE_DOWN_SCRIPT],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    answers = json.loads(result.stdout.strip().splitlines()[-1])
    status, seconds, body, retry_after = answers["/api/v1/patients/1/"]
    assert status == 503 and "database_unavailable" in body and retry_after == "30"
    assert seconds < 10, f"the API waited {seconds}s for the database"
    status, seconds, body, _ = answers["/health/"]
    assert status == 503 and "database" in body and seconds < 10
    status, _, body, _ = answers["/login/"]
    assert status in (200, 503)  # the login page needs no database until someone signs in


def test_an_id_or_filter_no_column_can_hold_is_a_400_not_a_500(api, alice, client, weekly):
    huge = "9" * 30
    assert api(alice).get(f"/api/v1/patients/{weekly.pk}/anc-results/{huge}/").status_code in (
        400,
        404,
    )
    # SQLite cannot hold the number (400); PostgreSQL compares it and finds nothing (200).
    assert api(alice).get("/api/v1/patients/?prescriber=-5.5e%2B49").status_code in (200, 400)
    client.force_login(alice)
    assert client.get(f"/clinic/patients/{huge}/").status_code in (400, 404)
