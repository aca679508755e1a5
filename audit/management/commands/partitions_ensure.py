"""`manage.py partitions_ensure [--months N]`: create the monthly partitions of the lab results
and the audit entries for the current month and the N after it (what the periodic task
`audit.tasks.partitions_ensure` does; audit/partitions.py, docs/scaling.md). Idempotent.
SQLite keeps plain tables: nothing to do there."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction
from django.utils import timezone

from audit.partitions import MONTHS_AHEAD, partitions_ensure


class Command(BaseCommand):
    help = "Create the monthly partitions of the results and the audit trail ahead of time."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--months",
            type=int,
            default=MONTHS_AHEAD,
            help=f"months after the current one (default {MONTHS_AHEAD})",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        months = options["months"]
        if months < 0 or months > 120:
            raise CommandError("--months: a number of months from 0 to 120")
        if connection.vendor != "postgresql":
            self.stdout.write(f"{connection.vendor}: plain tables, no partitions to create.")
            return
        with transaction.atomic():
            report = partitions_ensure(connection, now=timezone.now(), months=months)
        for table, month, outcome in report:
            line = f"{table} {month:%Y-%m}: {outcome}"
            if outcome == "default":
                line += " (the default partition holds rows of that month; they stay there)"
            self.stdout.write(line)
        created = sum(1 for *_rest, outcome in report if outcome == "created")
        self.stdout.write(self.style.SUCCESS(f"{created} partitions created."))
