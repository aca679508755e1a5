"""Delivery tasks: thin, safe to run twice (each send is claimed first)."""

from __future__ import annotations

from celery import shared_task
from celery.app.task import Task

from notifications.services import DeliveryFailed, notification_deliver, notifications_deliverable


@shared_task(bind=True, max_retries=5, acks_late=True)
def deliver(self: Task, notification_id: int) -> str:
    try:
        return notification_deliver(notification_id=notification_id)
    except DeliveryFailed as error:
        raise self.retry(exc=error, countdown=min(3600, 30 * 2**self.request.retries)) from error


@shared_task(acks_late=True)
def deliver_pending() -> int:
    """Send every claimable e-mail reminder (run by beat every minute and after new ones)."""
    from django.utils import timezone

    sent = 0
    for notification_id in notifications_deliverable(now=timezone.now()):
        try:
            notification_deliver(notification_id=notification_id)
            sent += 1
        except DeliveryFailed:
            continue  # recorded on the row; retried after its backoff
    return sent
