"""Scheduled scans as Celery tasks: each is a one-liner over a service, safe to run twice.

A scan fans out as a group of chunk tasks (patient id ranges), so several workers share a scan
of a million patients; a worker killed mid-chunk leaves its message unacknowledged (acks_late),
and the chunk runs again: the unique reminder key makes that harmless.
"""

from __future__ import annotations

from datetime import datetime

from celery import group, shared_task
from django.conf import settings
from django.utils import timezone

from monitoring import reminders


def _now(now_iso: str | None) -> datetime:
    return datetime.fromisoformat(now_iso) if now_iso else timezone.now()


@shared_task(acks_late=True)
def scan_chunk(kind: str, lo: int, hi: int, now_iso: str) -> int:
    return reminders.SCANS[kind](lo=lo, hi=hi, now=_now(now_iso))


@shared_task
def scan(kind: str, now_iso: str | None = None) -> int:
    """Fan one scan out over id ranges; returns the number of chunks queued. Records the run
    (notifications/schedule.py catches up a daily run that never reached a worker)."""
    from notifications.schedule import run_record

    run_record(f"scan.{kind}")
    now = _now(now_iso).isoformat()
    ranges = reminders.scan_ranges(chunk=settings.CLOZREMS_SCAN_CHUNK)
    if ranges:
        group(scan_chunk.s(kind, lo, hi, now) for lo, hi in ranges).apply_async()
    return len(ranges)


@shared_task(acks_late=True)
def scan_expiries(now_iso: str | None = None) -> int:
    from notifications.schedule import run_record

    run_record("scan.expiries")
    return reminders.expiries_scan(now=_now(now_iso))


@shared_task(acks_late=True)
def confirmation_requested(patient_id: int) -> int:
    return reminders.confirmation_requested(patient_id=patient_id, now=timezone.now())
