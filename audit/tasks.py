"""The sealer as a periodic task (declared in notifications/schedule.py)."""

from __future__ import annotations

from celery import shared_task

from audit.services import audit_seal as audit_seal_service


@shared_task(name="audit.tasks.audit_seal")
def audit_seal() -> int:
    # A run still sealing holds the lock: this one leaves the work to it (the next minute's
    # run takes what is left) rather than holding a worker while it waits.
    return audit_seal_service(wait=False).sealed
