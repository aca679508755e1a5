"""The sealer as a periodic task (declared in notifications/schedule.py)."""

from __future__ import annotations

from celery import shared_task

from audit.services import audit_seal as audit_seal_service


@shared_task(name="audit.tasks.audit_seal")
def audit_seal() -> int:
    # A run still sealing holds the lock: this one leaves the work to it (the next minute's
    # run takes what is left) rather than holding a worker while it waits.
    return audit_seal_service(wait=False).sealed


@shared_task(name="audit.tasks.partitions_ensure")
def partitions_ensure() -> int:
    """The monthly partitions of the results and the audit trail, kept MONTHS_AHEAD months
    ahead (audit/partitions.py); the partitions this run created."""
    from django.db import connection, transaction
    from django.utils import timezone

    from audit.partitions import partitions_ensure as ensure

    with transaction.atomic():
        report = ensure(connection, now=timezone.now())
    return sum(1 for *_rest, outcome in report if outcome == "created")
