"""The transactional outbox: queueing work from a write, and it never breaks the request.

`enqueue_on_commit(task, *args)` writes a `PendingTask` row in the caller's transaction and,
once that transaction has committed, queues a message carrying only the row's id. The worker
does the work and marks the row done in one transaction. If the broker is down (or hung: every
broker call is bounded in time by the transport options in settings), the request still
answers, the row stays open, and `pending_catch_up` (beat, every minute) does the work once a
worker runs again. Every task queued this way is safe to run twice (the reminders' unique
keys), so a message that does arrive late changes nothing.

`outbox=False` skips the row for work a periodic task already redoes by itself (e-mail
delivery: beat's every-minute `deliver_pending`).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from clozrems.queue import enqueue, task_named

logger = logging.getLogger(__name__)

# A task that failed this many times is left for an administrator (admin: pending tasks).
MAX_ATTEMPTS = 10


def enqueue_on_commit(task: Any, *args: Any, outbox: bool = True) -> None:
    """Queue `task(*args)` once the transaction has committed (the task must see what it
    wrote); with `outbox`, kept in the database until a worker has done it."""
    if not outbox:
        transaction.on_commit(lambda: enqueue(task, *args))
        return
    from notifications.models import PendingTask
    from notifications.tasks import run_pending

    pending = PendingTask.objects.create(task=task.name, args=list(args), created_at=timezone.now())
    what = f"{task.name}{args} (pending task {pending.pk})"
    transaction.on_commit(lambda: enqueue(run_pending, pending.pk, what=what))


def enqueue_many_on_commit(task: Any, calls: list[tuple[Any, ...]]) -> None:
    """`enqueue_on_commit(task, *args)` for each of `calls`, the outbox rows in one INSERT."""
    if not calls:
        return
    from notifications.models import PendingTask
    from notifications.tasks import run_pending

    now = timezone.now()
    rows = PendingTask.objects.bulk_create(
        [PendingTask(task=task.name, args=list(args), created_at=now) for args in calls]
    )
    for pending, args in zip(rows, calls, strict=True):
        what = f"{task.name}{args} (pending task {pending.pk})"
        transaction.on_commit(
            lambda pk=pending.pk, what=what: enqueue(run_pending, pk, what=what)  # type: ignore[misc]
        )


def pending_task_run(pending_id: int) -> bool:
    """Do one pending task if it is still open and no other worker holds it; True when done
    here. The work and the row's `done_at` commit together."""
    from notifications.models import PendingTask

    with transaction.atomic():
        pending = (
            PendingTask.objects.select_for_update(skip_locked=True)
            .filter(pk=pending_id, done_at__isnull=True)
            .first()
        )
        if pending is None:
            return False
        try:
            with transaction.atomic():
                task_named(pending.task).run(*pending.args)
        except Exception as error:  # recorded; the catch-up tries again, up to MAX_ATTEMPTS
            PendingTask.objects.filter(pk=pending_id).update(
                attempts=F("attempts") + 1, last_error=f"{error.__class__.__name__}: {error}"[:2000]
            )
            logger.exception("pending task %s%s failed", pending.task, tuple(pending.args))
            return False
        PendingTask.objects.filter(pk=pending_id).update(
            done_at=timezone.now(), attempts=F("attempts") + 1, last_error=""
        )
    return True


def pending_tasks_catch_up(*, now: datetime, limit: int = 500) -> int:
    """Do the open pending tasks older than CLOZREMS_QUEUE_CATCH_UP_SECONDS (younger ones are
    left to their own message; older ones lost it); returns how many were done here."""
    from notifications.models import PendingTask

    older_than = now - timedelta(seconds=settings.CLOZREMS_QUEUE_CATCH_UP_SECONDS)
    ids = list(
        PendingTask.objects.filter(
            done_at__isnull=True, created_at__lte=older_than, attempts__lt=MAX_ATTEMPTS
        )
        .order_by("created_at", "id")
        .values_list("pk", flat=True)[:limit]
    )
    return sum(pending_task_run(pending_id) for pending_id in ids)
