"""`manage.py audit_seal`: seal every committed unsealed audit entry now (what the periodic task
`audit.tasks.audit_seal` does every minute)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from audit.services import audit_seal


class Command(BaseCommand):
    help = "Chain and key the audit entries written since the last seal; write a checkpoint."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=None, help="entries per transaction")

    def handle(self, *args: Any, **options: Any) -> None:
        report = audit_seal(batch_size=options["batch_size"])
        self.stdout.write(
            self.style.SUCCESS(
                f"sealed {report.sealed} entries; the chain's head is #{report.head_seq}."
            )
        )
