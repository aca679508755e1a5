"""`manage.py audit_verify`: prove the audit chain intact, or name the first broken entry and
exit non-zero."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from audit.selectors import audit_chain_verify


class Command(BaseCommand):
    help = "Verify the audit trail's hash chain; exits 1 at the first broken entry."

    def handle(self, *args: Any, **options: Any) -> None:
        report = audit_chain_verify()
        if not report.intact:
            raise CommandError(
                f"audit chain broken at entry #{report.broken_seq} (id {report.broken_id}): "
                f"{report.problem}; {report.checked} entries before it are intact.",
                returncode=1,
            )
        self.stdout.write(self.style.SUCCESS(f"audit chain intact: {report.checked} entries."))
