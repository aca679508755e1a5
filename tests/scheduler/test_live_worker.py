"""A real Celery worker process, on Redis (REDIS_URL) and on RabbitMQ (127.0.0.1:5672,
guest/guest, or CLOZREMS_TEST_AMQP_URL), against this test run's PostgreSQL database: it consumes
tasks the app enqueued after a committed transaction, their effect shows in the database, and a
task that fails is retried.

Needs PostgreSQL (the worker is another process, so the database must be shared) and the broker;
CI's second run has all three (CI=true makes a missing broker a failure, not a skip). Elsewhere
it skips and says why.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from datetime import date
from functools import partial
from pathlib import Path

import pytest
from django.db import connection, transaction
from kombu import Producer

from notifications.models import Channel, Kind, Notification, Status
from notifications.tasks import deliver

pytestmark = [pytest.mark.redis, pytest.mark.postgres]

REPO = Path(__file__).resolve().parents[2]


AMQP_URL = os.environ.get("CLOZREMS_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")


def _amqp_answers(url: str) -> bool:
    from kombu import Connection

    try:
        with Connection(url, connect_timeout=2) as broker:
            broker.ensure_connection(max_retries=1)
        return True
    except Exception:  # noqa: BLE001 - any failure means "not here"
        return False


def _services_or_skip(broker: str) -> str:
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: the worker is another process sharing the database")
    if broker == "redis":
        redis_url = os.environ.get("REDIS_URL", "")
        if not redis_url:
            pytest.skip("needs Redis: set REDIS_URL (CI sets redis://127.0.0.1:6379/0)")
        return redis_url
    if not _amqp_answers(AMQP_URL):
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but no RabbitMQ answers at {AMQP_URL}")
        pytest.skip(f"needs RabbitMQ at {AMQP_URL} (set CLOZREMS_TEST_AMQP_URL)")
    return AMQP_URL


def _database_url() -> str:
    db = connection.settings_dict
    user = db.get("USER") or ""
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{db['NAME']}"


def _wait_for(predicate, *, seconds: float, what: str, log: Path) -> None:
    # Polling another process's effect, bounded; not a timing assertion.
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    pytest.fail(f"{what} did not happen within {seconds} s; worker log:\n{log.read_text()[-4000:]}")


def _notification(subject: str) -> Notification:
    return Notification.objects.create(
        kind=Kind.DRAW_DUE,
        channel=Channel.EMAIL,
        recipient_key=f"email:{uuid.uuid4().hex}@example.org",
        address="prescriber@example.org",
        subject_key="patient:0",
        key_date=date(2026, 5, 20),
        subject=subject,
        body="live worker test",
    )


@pytest.mark.parametrize("broker", ["redis", "rabbitmq"])
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_delivers_after_commit_and_retries_a_failed_send(tmp_path, broker):
    broker_url = _services_or_skip(broker)
    from clozrems.celery import app

    queue = f"live-test-{uuid.uuid4().hex[:8]}"
    marker = tmp_path / "fail-once"
    marker.write_text("1")
    sent_log = tmp_path / "sent.jsonl"
    worker_log = tmp_path / "worker.log"
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "CELERY_BROKER_URL": broker_url,
        "EMAIL_BACKEND": "tests.scheduler.flaky_email.FlakyFileBackend",
        "CLOZREMS_TEST_FLAKY_MARKER": str(marker),
        "CLOZREMS_TEST_SENT_LOG": str(sent_log),
        "CLOZREMS_NOTIFICATION_BACKOFF_SECONDS": "1",
    }
    worker = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "clozrems",
            "worker",
            "--pool=solo",
            "--queues",
            queue,
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--loglevel",
            "INFO",
        ],
        cwd=REPO,
        env=env,
        stdout=worker_log.open("w"),
        stderr=subprocess.STDOUT,
    )
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = False  # this one test goes through the broker for real
    try:
        # Published on this broker's own connection (whichever the app's default is).
        with app.connection_for_write(broker_url) as broker_connection:
            producer = Producer(broker_connection)
            with transaction.atomic():
                steady = _notification("steady reminder")
                flaky = _notification("[flaky] reminder")
                for notification in (steady, flaky):
                    transaction.on_commit(
                        partial(
                            deliver.apply_async,
                            (notification.pk,),
                            queue=queue,
                            producer=producer,
                        )
                    )

        def sent(pk: int) -> bool:
            return Notification.objects.get(pk=pk).status == Status.SENT

        _wait_for(lambda: sent(steady.pk), seconds=60, what="the first delivery", log=worker_log)
        _wait_for(lambda: sent(flaky.pk), seconds=60, what="the retried delivery", log=worker_log)
    finally:
        app.conf.task_always_eager = eager
        worker.terminate()
        worker.wait(timeout=30)

    steady.refresh_from_db()
    flaky.refresh_from_db()
    assert (steady.attempts, steady.last_error) == (1, "")
    assert flaky.attempts == 2, "the failed send was tried again"
    assert flaky.last_error == ""
    assert not marker.exists(), "the backend really failed once"
    subjects = [json.loads(line)["subject"] for line in sent_log.read_text().splitlines()]
    assert sorted(subjects) == ["[flaky] reminder", "steady reminder"]
    assert "Retry in" in worker_log.read_text()
