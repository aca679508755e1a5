"""Delivery tasks: thin, safe to run twice (each send is claimed first)."""

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
