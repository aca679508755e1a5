"""Small helpers shared by the scheduler tests: run a scan the way beat does, and read the
reminders it stored."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.db.models import QuerySet

from monitoring.tasks import scan, scan_expiries
from notifications.models import Notification
from patients.models import Patient, User
from tests.factories import at

# The columns that make a reminder one occasion for one recipient (the unique key).
OCCASION = ("recipient_key", "channel", "kind", "subject_key", "key_date", "occurrence")


def run_scan(kind: str) -> None:
    """What beat enqueues (notifications/schedule.py), run eagerly at the frozen time."""
    if kind == "expiries":
        scan_expiries.delay()
    else:
        scan.delay(kind)


def run_scan_on(clock: Any, kind: str, day: date, hour: int = 7, minute: int = 0) -> None:
    """Move the frozen clock to `hour:minute` clinic time on `day`, then run the scan."""
    clock.move_to(at(day, hour, minute))
    run_scan(kind)


def user_key(user: User) -> str:
    return f"user:{user.pk}"


def subject_of(patient: Patient) -> str:
    return f"patient:{patient.pk}"


def reminders(**filters: Any) -> QuerySet[Notification]:
    return Notification.objects.filter(**filters)


def recipients(**filters: Any) -> set[str]:
    return set(reminders(**filters).values_list("recipient_key", flat=True))


def occasions(**filters: Any) -> list[tuple[Any, ...]]:
    """Every stored reminder as its unique key plus id, sorted: equal lists mean equal rows."""
    return sorted(reminders(**filters).values_list("id", *OCCASION))
