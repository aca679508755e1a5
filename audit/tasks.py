"""The sealer as a periodic task (declared in notifications/schedule.py)."""

from __future__ import annotations

from celery import shared_task

from audit.services import audit_seal as audit_seal_service


@shared_task(name="audit.tasks.audit_seal")
def audit_seal() -> int:
    return audit_seal_service().sealed
