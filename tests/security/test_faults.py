"""Faults: the broker down, the database down, a failing feed message. (A worker killed
mid-task: tests/scheduler/test_delivery.py, the lease tests; a feed message that fails is kept
and retried: tests/feeds/test_quarantine.py.)"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from django.db import OperationalError

from monitoring.models import AncResult, MonitoringState
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
    assert AncResult.objects.filter(patient=weekly, value_per_ul=900).exists()
    # The message for the 24-hour repeat was lost with the broker; the scan that runs every
    # five minutes finds the pending repeat and stores the reminder once the broker is back.
    broker_down.conf.task_always_eager = True
    from monitoring import reminders

    stored = reminders.confirmations_scan(lo=0, hi=10**9, now=NOW + timedelta(hours=25))
    assert stored >= 1
    assert Notification.objects.filter(subject_key=f"patient:{weekly.pk}").exists()


def test_with_the_database_down_requests_fail_fast_with_503(api, alice, weekly, monkeypatch):
    from django.db.backends.base.base import BaseDatabaseWrapper

    client = api(alice)

    def refuse(self, *args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(BaseDatabaseWrapper, "ensure_connection", refuse)
    monkeypatch.setattr(BaseDatabaseWrapper, "_cursor", refuse)
    started = time.monotonic()
    response = client.get(f"/api/v1/patients/{weekly.pk}/")
    assert time.monotonic() - started < 5
    assert response.status_code == 503
    assert response.json()["code"] == "database_unavailable"
    assert response["Retry-After"] == "30"
    health = client.get("/health/")
    monkeypatch.undo()  # before the test database is rolled back
    assert health.status_code == 503 and "database" in health.content.decode()


def test_an_id_or_filter_no_column_can_hold_is_a_400_not_a_500(api, alice, client, weekly):
    huge = "9" * 30
    assert api(alice).get(f"/api/v1/patients/{weekly.pk}/anc-results/{huge}/").status_code in (
        400,
        404,
    )
    assert api(alice).get("/api/v1/patients/?prescriber=-5.5e%2B49").status_code == 400
    client.force_login(alice)
    assert client.get(f"/clinic/patients/{huge}/").status_code in (400, 404)
