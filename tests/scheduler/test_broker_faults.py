"""The broker down (a real closed port) or hung (a real socket that accepts and never answers)
while a level, a smoking change, a myocarditis checklist and a first low ANC are recorded: each
request answers 201 without waiting long, the work it queued is kept (`PendingTask`, in the
same transaction), and once a worker runs again the catch-up does it: the urgent alerts go out
on their own, once. (A real worker doing that: tests/scheduler/test_live_reminders.py.)"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest

from notifications.models import Channel, Kind, Notification, PendingTask, Status
from notifications.tasks import pending_catch_up
from tests import factories
from tests.clinical.conftest import STARTED_DAYS_AGO
from tests.conftest import NOW, TODAY
from tests.scheduler.live import broker_at, hung_port
from tests.scheduler.smtp import SmtpServer

# Each request may spend a few bounded broker timeouts (settings: 2 s to connect, 2 s a read,
# two retries); well under what a hung broker cost before (a minute, then a 500).
BOUND_SECONDS = 20


@contextmanager
def broker(fault: str) -> Iterator[None]:
    if fault == "dead":
        with broker_at("redis://127.0.0.1:9/0"):
            yield
    else:
        with hung_port() as port, broker_at(f"redis://127.0.0.1:{port}/0"):
            yield


@pytest.fixture
def patient(alice, clock):
    """Alice's patient, started STARTED_DAYS_AGO, weekly normal draws."""
    start = TODAY - timedelta(days=STARTED_DAYS_AGO)
    return factories.enrolled_patient(
        actor=alice, start=start, draws=factories.weekly_draws(start, TODAY - timedelta(days=2))
    )


@pytest.fixture
def smtp(settings):
    with SmtpServer() as server:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", server.port
        settings.EMAIL_USE_TLS = False
        yield server


def _post(client, path, data):
    started = time.monotonic()
    response = client.post(path, data, format="json")
    return response, time.monotonic() - started


@pytest.mark.parametrize("fault", ["dead", "hung"])
def test_alerts_recorded_with_the_broker_away_answer_201_and_are_caught_up_once(
    fault, api, clock, alice, patient, smtp, caplog, django_capture_on_commit_callbacks
):
    client = api(alice)
    base = f"/api/v1/patients/{patient.pk}"
    writes = {
        "level": (
            f"{base}/levels/",
            {
                "sampled_at": (NOW - timedelta(hours=4)).isoformat(),
                "clozapine": "1100",
                "unit": "ng/mL",
                "last_dose_at": (NOW - timedelta(hours=16)).isoformat(),
            },
        ),
        "smoking": (
            f"{base}/smoking-status/",
            {"status": "non_smoker", "effective_on": str(TODAY), "context": "ward 7 admission"},
        ),
        "myocarditis": (
            f"{base}/plan/",
            {
                "item": "myocarditis_watch",
                "done_on": str(TODAY - timedelta(days=STARTED_DAYS_AGO - 7)),
                "symptoms": True,
            },
        ),
        "anc": (
            f"{base}/anc-results/",
            {"drawn_at": (NOW - timedelta(hours=1)).isoformat(), "value": 1200, "unit": "/uL"},
        ),
    }
    with broker(fault):
        for name, (path, data) in writes.items():
            with django_capture_on_commit_callbacks(execute=True):
                response, seconds = _post(client, path, data)
            assert response.status_code == 201, (name, response.content)
            assert seconds < BOUND_SECONDS, f"{name}: the request waited {seconds:.1f}s"

    assert caplog.text.count("could not queue") == 4
    assert PendingTask.objects.filter(done_at__isnull=True).count() == 4
    assert not Notification.objects.exists(), "nothing told yet: the messages were lost"
    assert smtp.messages() == []

    # The broker is back (eager here); beat's catch-up a minute later does the work, once.
    clock.move_to(NOW + timedelta(minutes=2))
    with django_capture_on_commit_callbacks(execute=True):
        assert pending_catch_up.delay().get() == 4
        assert pending_catch_up.delay().get() == 0

    assert not PendingTask.objects.filter(done_at__isnull=True).exists()
    sent = [m.subject for m in smtp.messages()]
    assert sum("High clozapine level" in s for s in sent) == 1
    assert sum("Possible myocarditis" in s for s in sent) == 1
    assert sum("Repeat ANC within 24 hours" in s for s in sent) == 1
    assert len(sent) == 3, "the smoking prompt is not urgent: it waits for the digest"
    prompt = Notification.objects.get(kind=Kind.LEVEL_SUGGESTED, channel=Channel.EMAIL)
    assert prompt.status == Status.HELD
    assert "ward 7" not in prompt.body, "e-mail carries no free text"


def test_a_pending_task_that_fails_is_kept_with_its_error_and_retried(
    clock, alice, patient, django_capture_on_commit_callbacks
):
    from clinical.tasks import level_alert
    from notifications.outbox import enqueue_on_commit

    with django_capture_on_commit_callbacks(execute=True):
        enqueue_on_commit(level_alert, 10**9)  # no such level: the task raises
    pending = PendingTask.objects.get()

    clock.move_to(NOW + timedelta(minutes=2))
    assert pending_catch_up.delay().get() == 0

    pending.refresh_from_db()
    assert pending.done_at is None and pending.attempts == 2  # once at once, once caught up
    assert "DoesNotExist" in pending.last_error
