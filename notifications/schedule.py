"""The periodic tasks, declared once, in code. `manage.py sync_periodic_tasks` (and every
migrate) writes them into django-celery-beat's tables: missing ones are created; with --reset
the code's definition overwrites edits made in production."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

TIME_OF_DAY = "clinic's local time (settings.TIME_ZONE)"


@dataclass(frozen=True)
class Periodic:
    name: str
    task: str
    args: tuple[Any, ...] = ()
    every_minutes: int | None = None
    at_hour: int | None = None
    at_minute: int = 0
    description: str = ""


PERIODIC_TASKS: tuple[Periodic, ...] = (
    Periodic(
        "draws: due and overdue",
        "monitoring.tasks.scan",
        ("draws",),
        at_hour=7,
        description="Due-today and overdue ANC draw reminders; escalation to administrators.",
    ),
    Periodic(
        "confirmations: 24-hour repeats",
        "monitoring.tasks.scan",
        ("confirmations",),
        every_minutes=5,
        description="Urgent reminder when a 24-hour repeat ANC is missed.",
    ),
    Periodic(
        "consults: hematology",
        "monitoring.tasks.scan",
        ("consults",),
        at_hour=8,
        description="Daily hematology-consult reminder until acknowledged.",
    ),
    Periodic(
        "lapses: 30-day interruption",
        "monitoring.tasks.scan",
        ("lapses",),
        at_hour=6,
        at_minute=30,
        description="Marks 30-day lapses (re-enrollment) and warns on day 23.",
    ),
    Periodic(
        "feeds: retry failed lab messages",
        "monitoring.tasks.feeds_retry",
        every_minutes=10,
        description="Lab feed messages whose processing failed are processed again.",
    ),
    Periodic(
        "expiries: certifications and authorizations",
        "monitoring.tasks.scan_expiries",
        at_hour=6,
        at_minute=45,
        description="Warnings 14 days before an expiry.",
    ),
    Periodic(
        "plan: other checks and re-titration",
        "clinical.tasks.plan_scan",
        at_hour=7,
        at_minute=15,
        description="Monitoring-plan checks due and overdue (ECG, weight, glucose, lipids...) "
        "and re-titration warnings when a supply ran out 48 hours ago.",
    ),
    Periodic(
        "audit: seal the trail",
        "audit.tasks.audit_seal",
        every_minutes=1,
        description="Chains and keys the audit entries written since the last run and signs a "
        "checkpoint of the chain's head (docs/audit.md).",
    ),
    Periodic(
        "notifications: deliver e-mail",
        "notifications.tasks.deliver_pending",
        every_minutes=1,
        description="Sends pending e-mail reminders; retries with backoff.",
    ),
)


def sync_periodic_tasks(*, reset: bool = False) -> list[str]:
    """Create the missing periodic tasks (and, with reset, overwrite the others)."""
    from django.conf import settings
    from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

    changed = []
    for periodic in PERIODIC_TASKS:
        schedule: dict[str, Any] = {"interval": None, "crontab": None}
        if periodic.every_minutes is not None:
            schedule["interval"], _ = IntervalSchedule.objects.get_or_create(
                every=periodic.every_minutes, period=IntervalSchedule.MINUTES
            )
        else:
            schedule["crontab"], _ = CrontabSchedule.objects.get_or_create(
                minute=str(periodic.at_minute),
                hour=str(periodic.at_hour),
                day_of_week="*",
                day_of_month="*",
                month_of_year="*",
                timezone=settings.TIME_ZONE,
            )
        values = {
            "task": periodic.task,
            "args": json.dumps(list(periodic.args)),
            "description": periodic.description,
            **schedule,
        }
        existing = PeriodicTask.objects.filter(name=periodic.name).first()
        if existing is None:
            PeriodicTask.objects.create(name=periodic.name, **values)
            changed.append(f"created {periodic.name}")
        elif reset:
            for field, value in values.items():
                setattr(existing, field, value)
            existing.enabled = True
            existing.save()
            changed.append(f"reset {periodic.name}")
    return changed


def create_missing_periodic_tasks(**kwargs: Any) -> None:
    """post_migrate hook: the versioned defaults appear on a fresh database."""
    from django.db import connection

    if "django_celery_beat_periodictask" in connection.introspection.table_names():
        sync_periodic_tasks()
