"""The processes `manage.py monitoring_rebuild --workers N` spawns.

A worker is a fresh interpreter (spawned, not forked: a fork copies the parent's threads' locks
and its database sockets, and a child stuck on one never returns). This module is what the
worker unpickles before Django is set up, so it imports nothing of Django at import time.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any


def start(settings_module: str, database: dict[str, Any]) -> None:
    """Set Django up in the worker, on the parent's database whatever its name (a test run's
    included)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", settings_module)
    import django

    django.setup()
    from django.conf import settings
    from django.db import connections

    for key, value in database.items():
        settings.DATABASES["default"][key] = value  # type: ignore[literal-required]
        connections["default"].settings_dict[key] = value


def rebuild(args: tuple[list[tuple[int, int]], str, bool]) -> tuple[int, dict[int, list[str]]]:
    """Rebuild (or check) these ranges of patient ids."""
    from monitoring.management.commands.monitoring_rebuild import rebuild_ranges

    ranges, now_iso, check = args
    return rebuild_ranges(ranges, datetime.fromisoformat(now_iso), check)
