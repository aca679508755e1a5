"""Run the scheduler's scans now instead of waiting for beat (all of them, or those named).

With a worker running (REDIS_URL set) the chunks are queued for it; without one they run here.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from monitoring import reminders, tasks

ALL = [*reminders.SCAN_KINDS, "expiries"]


class Command(BaseCommand):
    help = "Run scheduler scans now: draws, confirmations, consults, lapses, expiries."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("kinds", nargs="*", help=f"any of {', '.join(ALL)} (default: all)")

    def handle(self, *args: Any, kinds: list[str], **options: Any) -> None:
        unknown = sorted(set(kinds) - set(ALL))
        if unknown:
            raise CommandError(f"unknown scan(s) {', '.join(unknown)}; known: {', '.join(ALL)}")
        for kind in kinds or ALL:
            if kind == "expiries":
                tasks.scan_expiries.delay()
                self.stdout.write("expiries: queued")
            else:
                chunks = tasks.scan(kind)
                self.stdout.write(f"{kind}: {chunks} chunk(s) queued")
