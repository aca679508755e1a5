"""Reminder tasks: one-liners over clinical.reminders, safe to run twice (unique keys)."""

from __future__ import annotations

from datetime import datetime

from celery import group, shared_task
from django.conf import settings
from django.utils import timezone

from clinical import reminders


def _now(now_iso: str | None) -> datetime:
    return datetime.fromisoformat(now_iso) if now_iso else timezone.now()


@shared_task(acks_late=True)
def level_alert(level_id: int) -> int:
    return reminders.level_alert(level_id=level_id)


@shared_task(acks_late=True)
def level_prompt(kind: str, object_id: int) -> int:
    return reminders.level_prompt(kind=kind, object_id=object_id)


@shared_task(acks_late=True)
def myocarditis_prompt(entry_id: int) -> int:
    return reminders.myocarditis_prompt(entry_id=entry_id)


@shared_task(acks_late=True)
def plan_scan_chunk(lo: int, hi: int, now_iso: str) -> int:
    return reminders.plan_scan(lo=lo, hi=hi, now=_now(now_iso))


@shared_task
def plan_scan(now_iso: str | None = None) -> int:
    """The plan's daily scan, fanned out over patient id ranges; returns the chunks queued."""
    from notifications.schedule import run_record

    run_record("scan.plan")
    now = _now(now_iso).isoformat()
    ranges = reminders.plan_ranges(chunk=settings.CLOZREMS_SCAN_CHUNK)
    if ranges:
        group(plan_scan_chunk.s(lo, hi, now) for lo, hi in ranges).apply_async()
    return len(ranges)
