"""The periodic tasks, declared once, in code, each under a stable key. `manage.py
sync_periodic_tasks` (and every migrate) writes them into django-celery-beat's tables and
remembers, per key, the row it wrote (`ScheduledTask`): a missing one is created once; an
administrator's edits are kept, a rename included (the row stays linked, so nothing is
doubled); a row an administrator deleted stays deleted (the empty link says so) until
`--reset`, which also overwrites edits with the code's definition.

The daily scans also catch up: each records when it last started (`ScanRun`), and
`scans_catch_up` (every 10 minutes) runs any whose schedule says a run was due since then
(beat sent it while the broker was away, say). Every scan is idempotent, so a late run is
safe and a run too many changes nothing."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

logger = logging.getLogger(__name__)

TIME_OF_DAY = "clinic's local time (settings.TIME_ZONE)"


@dataclass(frozen=True)
class Periodic:
    key: str  # stable: what the code and the database know the task by
    name: str  # the display name an administrator sees (and may change)
    task: str
    args: tuple[Any, ...] = ()
    every_minutes: int | None = None
    at_hour: int | None = None
    at_minute: int = 0
    description: str = ""

    @property
    def daily(self) -> bool:
        return self.at_hour is not None


PERIODIC_TASKS: tuple[Periodic, ...] = (
    Periodic(
        "scan.draws",
        "draws: due and overdue",
        "monitoring.tasks.scan",
        ("draws",),
        at_hour=7,
        description="Due-today and overdue draw reminders (in the words of each patient's "
        "protocol); escalation to administrators.",
    ),
    Periodic(
        "scan.confirmations",
        "confirmations: repeats of a low result",
        "monitoring.tasks.scan",
        ("confirmations",),
        every_minutes=5,
        description="The repeat a first low result needs (within the hours of the patient's "
        "protocol): the request if it was not sent, and an urgent reminder when it is missed.",
    ),
    Periodic(
        "scan.consults",
        "consults: the specialist's review",
        "monitoring.tasks.scan",
        ("consults",),
        at_hour=8,
        description="Daily reminder of the specialist consult a low count calls for (the "
        "haematologist or hematologist the patient's protocol names) until acknowledged.",
    ),
    Periodic(
        "scan.lapses",
        "lapses: treatment interruption",
        "monitoring.tasks.scan",
        ("lapses",),
        at_hour=6,
        at_minute=30,
        description="Marks lapses (an interruption longer than the patient's protocol allows: "
        "re-enrollment) and warns CLOZREMS_LAPSE_WARNING_DAYS before.",
    ),
    Periodic(
        "feeds.retry",
        "feeds: retry failed lab messages",
        # The feeds app's task, under the name it was first registered with (feeds/tasks.py).
        "monitoring.tasks.feeds_retry",
        every_minutes=10,
        description="Lab feed messages whose processing failed are processed again.",
    ),
    Periodic(
        "scan.expiries",
        "expiries: certifications and authorizations",
        "monitoring.tasks.scan_expiries",
        at_hour=6,
        at_minute=45,
        description="Warnings 14 days before an expiry.",
    ),
    Periodic(
        "scan.plan",
        "plan: other checks and re-titration",
        "clinical.tasks.plan_scan",
        at_hour=7,
        at_minute=15,
        description="Monitoring-plan checks due and overdue (ECG, weight, glucose, lipids...) "
        "and re-titration warnings when a supply ran out 48 hours ago.",
    ),
    Periodic(
        "audit.seal",
        "audit: seal the trail",
        "audit.tasks.audit_seal",
        every_minutes=1,
        description="Chains and keys the audit entries written since the last run and signs a "
        "checkpoint of the chain's head (docs/audit.md).",
    ),
    Periodic(
        "db.partitions",
        "database: monthly partitions ahead",
        "audit.tasks.partitions_ensure",
        # Every six hours rather than daily: a missed run is simply the next one (the daily
        # scans' catch-up is for scans), and a run that finds the months there costs a few
        # catalogue lookups.
        every_minutes=360,
        description="Creates the coming months' partitions of the lab results and the audit "
        "trail on PostgreSQL (docs/scaling.md); nothing on SQLite.",
    ),
    Periodic(
        "notifications.deliver",
        "notifications: deliver e-mail",
        "notifications.tasks.deliver_pending",
        every_minutes=1,
        description="Sends pending e-mail reminders; retries with backoff.",
    ),
    Periodic(
        "notifications.digests",
        "notifications: daily digests",
        "notifications.tasks.digests",
        every_minutes=5,
        description="Each recipient's daily digest of non-urgent reminders, once their digest "
        "time has passed.",
    ),
    Periodic(
        "queue.catch_up",
        "queue: work the broker lost",
        "notifications.tasks.pending_catch_up",
        every_minutes=1,
        description="Alerts and other work queued by a write whose message never reached a "
        "worker (broker down or hung).",
    ),
    Periodic(
        "scans.catch_up",
        "scans: catch up missed daily runs",
        "notifications.tasks.scans_catch_up",
        every_minutes=10,
        description="Runs a daily scan whose scheduled run never reached a worker.",
    ),
)

DECLARED = {periodic.key: periodic for periodic in PERIODIC_TASKS}


def _values(periodic: Periodic) -> dict[str, Any]:
    from django.conf import settings
    from django_celery_beat.models import CrontabSchedule, IntervalSchedule

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
    return {
        "task": periodic.task,
        "args": json.dumps(list(periodic.args)),
        "description": periodic.description,
        **schedule,
    }


def _adopt(periodic: Periodic) -> Any:
    """A beat row written before rows were linked by key: by its name, else (renamed) by its
    task and arguments, if no other key has it."""
    from django_celery_beat.models import PeriodicTask

    free = PeriodicTask.objects.filter(declared__isnull=True)
    return (
        free.filter(name=periodic.name).first()
        or free.filter(task=periodic.task, args=json.dumps(list(periodic.args))).first()
    )


def _free_name(name: str, own_pk: int | None = None) -> str:
    from django_celery_beat.models import PeriodicTask

    taken = PeriodicTask.objects.filter(name=name).exclude(pk=own_pk).exists()
    return f"{name} (clozrems default)" if taken else name


def sync_periodic_tasks(*, reset: bool = False) -> list[str]:
    """Create the declared tasks never written before; with `reset`, also recreate deleted
    ones and overwrite edited ones. Returns what changed, and what was left deleted."""
    from django.db import transaction
    from django_celery_beat.models import PeriodicTask

    from notifications.models import ScheduledTask

    changed = []
    with transaction.atomic():
        for periodic in PERIODIC_TASKS:
            link = ScheduledTask.objects.select_for_update().filter(key=periodic.key).first()
            if link is None:
                task = _adopt(periodic)
                if task is None:
                    task = PeriodicTask.objects.create(
                        name=_free_name(periodic.name), **_values(periodic)
                    )
                    changed.append(f"created {periodic.name}")
                ScheduledTask.objects.create(key=periodic.key, periodic_task=task)
                continue
            if link.periodic_task is None:
                if not reset:
                    changed.append(
                        f"left deleted {periodic.name} (an administrator deleted it; "
                        "sync_periodic_tasks --reset restores it)"
                    )
                    continue
                link.periodic_task = PeriodicTask.objects.create(
                    name=_free_name(periodic.name), **_values(periodic)
                )
                link.save(update_fields=["periodic_task"])
                changed.append(f"recreated {periodic.name}")
            elif reset:
                existing = link.periodic_task
                for field, value in _values(periodic).items():
                    setattr(existing, field, value)
                existing.name = _free_name(periodic.name, existing.pk)
                existing.enabled = True
                existing.save()
                changed.append(f"reset {periodic.name}")
    return changed


def create_missing_periodic_tasks(**kwargs: Any) -> None:
    """post_migrate hook: the versioned defaults appear on a fresh database; nothing an
    administrator renamed or deleted is doubled or brought back."""
    from django.db import connection

    tables = connection.introspection.table_names()
    if {"django_celery_beat_periodictask", "notifications_scheduledtask"} <= set(tables):
        for line in sync_periodic_tasks():
            if line.startswith("left deleted"):
                logger.warning("periodic task %s", line)


# --- catching up the daily scans -------------------------------------------------------------


def run_record(key: str, *, now: datetime | None = None) -> None:
    """A scan (by its declared key) has started in a worker now."""
    from django.utils import timezone

    from notifications.models import ScanRun

    ScanRun.objects.update_or_create(key=key, defaults={"last_run_at": now or timezone.now()})


def daily_runs_catch_up(*, now: datetime) -> list[str]:
    """Queue each enabled daily scan whose schedule had a run due after the one it last
    started (or in the last day, if it never ran); returns the keys queued."""
    from clozrems.queue import enqueue, task_named
    from notifications.models import ScanRun, ScheduledTask

    last = dict(ScanRun.objects.values_list("key", "last_run_at"))
    links = {
        link.key: link.periodic_task
        for link in ScheduledTask.objects.select_related("periodic_task__crontab")
    }
    queued = []
    for periodic in PERIODIC_TASKS:
        task = links.get(periodic.key)
        if not periodic.daily or task is None or not task.enabled or task.crontab is None:
            continue
        since = last.get(periodic.key) or now - timedelta(days=1)
        if not _due_since(task.crontab.schedule, since, now):
            continue
        if enqueue(task_named(periodic.task), *periodic.args):
            queued.append(periodic.key)
    return queued


def _due_since(schedule: Any, since: datetime, now: datetime) -> bool:
    """Whether `schedule` (a crontab) had a run due in (since, now]."""
    last, delta, _ = schedule.remaining_delta(since)
    return bool(last + delta <= now)
