"""The clinic's calendar: plumbing that reads Django settings alone, so that every app, the
lowest included, can ask for the zone its dates are local dates in (docs/rules.md §3)."""

from __future__ import annotations

from datetime import tzinfo
from zoneinfo import ZoneInfo

from django.conf import settings


def clinic_zone() -> tzinfo:
    """The clinic's calendar (docs/rules.md §3): dates are local dates in settings.TIME_ZONE."""
    return ZoneInfo(settings.TIME_ZONE)
