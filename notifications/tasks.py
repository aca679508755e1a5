"""Delivery, digest and catch-up tasks: thin, safe to run twice (each send is claimed first,
each digest and reminder has a unique key, each pending task is marked done with its work)."""

from __future__ import annotations

from celery import shared_task
from celery.app.task import Task
from django.utils import timezone

from notifications.models import Notification, Status
from notifications.services import (
    DeliveryFailed,
    backoff,
    notification_deliver,
    notifications_deliver_due,
)


@shared_task(bind=True, max_retries=5, acks_late=True)
def deliver(self: Task, notification_id: int) -> str:
    try:
        status = notification_deliver(notification_id=notification_id)
    except DeliveryFailed as error:
        wait = backoff(self.request.retries + 1).total_seconds()
        raise self.retry(exc=error, countdown=wait) from error
    if status == Status.PENDING:
        # Woken before the row's backoff ran out: come back when it has.
        due = (
            Notification.objects.filter(pk=notification_id)
            .values_list("next_attempt_at", flat=True)
            .first()
        )
        wait = max(1.0, (due - timezone.now()).total_seconds()) if due else 1.0
        raise self.retry(countdown=wait)
    return status


@shared_task(acks_late=True)
def deliver_pending() -> int:
    """Send every claimable e-mail reminder (run by beat every minute and after new ones)."""
    return notifications_deliver_due(now=timezone.now())


@shared_task(acks_late=True)
def digests() -> int:
    """Build the daily digests that are due (beat, every 5 minutes)."""
    from notifications.digests import digests_build

    return digests_build()


@shared_task(acks_late=True)
def run_pending(pending_id: int) -> bool:
    """Do one piece of work a transaction queued (notifications.outbox.enqueue_on_commit)."""
    from notifications.outbox import pending_task_run

    return pending_task_run(pending_id)


@shared_task(acks_late=True)
def pending_catch_up() -> int:
    """Do the queued work whose message was lost with the broker (beat, every minute)."""
    from notifications.outbox import pending_tasks_catch_up

    return pending_tasks_catch_up(now=timezone.now())


@shared_task(acks_late=True)
def scans_catch_up() -> list[str]:
    """Run a daily scan whose scheduled run never reached a worker (beat, every 10 minutes)."""
    from notifications.schedule import daily_runs_catch_up

    return daily_runs_catch_up(now=timezone.now())
