"""Real Celery worker and beat processes for the live tests, on the Redis at REDIS_URL and this
test run's PostgreSQL database, each on a queue of its own (CLOZREMS_TASK_QUEUE), so parallel
test runs sharing a Redis never take each other's messages.

Needs PostgreSQL (the processes share the database with the test) and Redis; CI's second run
has both. Elsewhere the tests skip and say why."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

REPO = Path(__file__).resolve().parents[2]


def services_or_skip() -> str:
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: the worker and beat are processes sharing the database")
    redis_url = os.environ.get("REDIS_URL", "")
    if not redis_url:
        pytest.skip("needs Redis: set REDIS_URL (CI sets redis://127.0.0.1:6379/0)")
    return redis_url


def database_url() -> str:
    db = connection.settings_dict
    user = db.get("USER") or ""
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{db['NAME']}"


class Stack:
    """The environment the processes share, and the processes started so far."""

    def __init__(self, tmp_path: Path, redis_url: str, **env: str) -> None:
        self.tmp_path = tmp_path
        self.queue = f"live-{uuid.uuid4().hex[:10]}"
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url(),
            "REDIS_URL": redis_url,
            "CLOZREMS_TASK_QUEUE": self.queue,
            **env,
        }
        self.processes: dict[str, tuple[subprocess.Popen[bytes], Path]] = {}

    def start(self, name: str, *arguments: str, **env: str) -> subprocess.Popen[bytes]:
        log = self.tmp_path / f"{name}.log"
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            [sys.executable, "-m", "celery", "-A", "clozrems", *arguments, "--loglevel", "INFO"],
            cwd=REPO,
            env={**self.env, **env},
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
        )
        self.processes[name] = (process, log)
        return process

    def worker(self, name: str = "worker", **env: str) -> subprocess.Popen[bytes]:
        return self.start(
            name,
            "worker",
            "--pool=solo",
            "--hostname",
            f"{name}-{self.queue}@%h",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            **env,
        )

    def beat(self, name: str = "beat") -> subprocess.Popen[bytes]:
        return self.start(
            name,
            "beat",
            "--pidfile",
            str(self.tmp_path / f"{name}.pid"),
            "--max-interval",
            "1",
        )

    def stop(self, name: str) -> None:
        process, _ = self.processes[name]
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)

    def kill(self, name: str) -> None:
        """SIGKILL: nothing after it runs in the process (no cleanup, no acknowledgement)."""
        process, _ = self.processes[name]
        process.kill()
        process.wait(timeout=30)

    def logs(self) -> str:
        return "\n".join(
            f"--- {name} ---\n{log.read_text()[-3000:]}"
            for name, (_, log) in self.processes.items()
        )

    def log(self, name: str) -> str:
        return self.processes[name][1].read_text()

    def wait_for(self, predicate: Callable[[], Any], *, seconds: float, what: str) -> Any:
        # Polling other processes' effect, bounded; not a timing assertion.
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(0.25)
        pytest.fail(f"{what} did not happen within {seconds} s\n{self.logs()}")

    def close(self) -> None:
        for name, (process, _) in self.processes.items():
            if process.poll() is None:
                self.stop(name)


@contextmanager
def stack(tmp_path: Path, **env: str) -> Iterator[Stack]:
    running = Stack(tmp_path, services_or_skip(), **env)
    try:
        yield running
    finally:
        running.close()


def declared_task(key: str) -> Any:
    """The beat row written for a declared key (notifications/schedule.py)."""
    from notifications.models import ScheduledTask

    task: Any = ScheduledTask.objects.get(key=key).periodic_task
    assert task is not None, f"{key} was deleted"
    return task


def only_these_periodic_tasks(seconds: dict[str, int]) -> None:
    """Beat runs only the declared tasks named (by key), each every N seconds; the others are
    disabled. (The daily ones keep their crontab unless named.)"""
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    PeriodicTask.objects.update(enabled=False)
    for key, every in seconds.items():
        task = declared_task(key)
        task.interval, _ = IntervalSchedule.objects.get_or_create(
            every=every, period=IntervalSchedule.SECONDS
        )
        task.crontab = None
        task.enabled = True
        task.save()


def beat_missed(key: str, *, minutes_ago: int = 10) -> None:
    """A daily scan whose run beat sent `minutes_ago` at its scheduled time and the broker lost:
    its crontab is that minute, beat's own record says it ran then, and its last real run
    (ScanRun) was the day before."""
    from django.conf import settings
    from django.utils import timezone
    from django_celery_beat.models import CrontabSchedule

    from clozrems.zones import clinic_zone
    from notifications.models import ScanRun

    now = timezone.now()
    scheduled = (now - timedelta(minutes=minutes_ago)).astimezone(clinic_zone())
    task = declared_task(key)
    task.crontab, _ = CrontabSchedule.objects.get_or_create(
        minute=str(scheduled.minute),
        hour=str(scheduled.hour),
        day_of_week="*",
        day_of_month="*",
        month_of_year="*",
        timezone=settings.TIME_ZONE,
    )
    task.interval = None
    task.enabled = True
    task.last_run_at = scheduled
    task.save()
    ScanRun.objects.update_or_create(
        key=key, defaults={"last_run_at": scheduled - timedelta(days=1)}
    )


@contextmanager
def hung_port() -> Iterator[int]:
    """A listening socket nobody accepts from: the kernel completes the connection, and then
    nothing is ever answered."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(64)
        yield int(server.getsockname()[1])


@contextmanager
def broker_at(url: str) -> Iterator[Any]:
    """Celery as in production (not eager), publishing to `url`; the process's own connection
    and producer pools are put back afterwards, untouched."""
    from clozrems.broker import transport_options
    from clozrems.celery import app

    conf: Any = app.conf
    amqp: Any = app.amqp
    saved = (conf.task_always_eager, conf.broker_url, app._pool, amqp._producer_pool)  # type: ignore[attr-defined]
    saved_options = conf.broker_transport_options
    conf.task_always_eager = False
    conf.broker_url = url
    # The socket bounds belong to the broker's scheme: a Redis broker reached from a run
    # configured for none (or for RabbitMQ) still times out rather than waiting for ever.
    conf.broker_transport_options = transport_options(url)
    app._pool = None  # type: ignore[attr-defined]
    amqp._producer_pool = None
    try:
        yield app
    finally:
        conf.task_always_eager, conf.broker_url = saved[0], saved[1]
        conf.broker_transport_options = saved_options
        app._pool, amqp._producer_pool = saved[2], saved[3]  # type: ignore[attr-defined]
