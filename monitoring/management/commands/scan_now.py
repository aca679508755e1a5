"""Run the scheduler's scans now instead of waiting for beat (all of them, or those named);
`digests` last, which puts each recipient's digest together now, whatever its set time.

With a worker running (REDIS_URL set) the chunks are queued for it; without one they run here.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from monitoring import reminders, tasks

ALL = [*reminders.SCAN_KINDS, "expiries", "digests"]


class Command(BaseCommand):
    help = "Run scheduler scans now: draws, confirmations, consults, lapses, expiries, digests."

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
            elif kind == "digests":
                from notifications.digests import digests_build

                self.stdout.write(f"digests: {digests_build(whatever_the_time=True)} stored")
            else:
                chunks = tasks.scan(kind)
                self.stdout.write(f"{kind}: {chunks} chunk(s) queued")
