"""`manage.py audit_verify`: prove the audit chain intact against its signed checkpoints, or name
the first bad entry and exit 1. Entries not sealed yet are reported, not judged."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from audit.selectors import ChainReport, audit_chain_verify


def _unsealed(report: ChainReport) -> str:
    if not report.unsealed:
        return ""
    return (
        f" {report.unsealed} entries not yet sealed (the oldest: id {report.oldest_unsealed_id}, "
        f"written {report.oldest_unsealed_at:%Y-%m-%d %H:%M:%S %Z}); "
        "`manage.py audit_seal` seals them."
    )


class Command(BaseCommand):
    help = (
        "Verify the audit trail: its HMAC chain and its signed checkpoints (table and file); "
        "exits 1 naming the first bad entry."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        report = audit_chain_verify()
        for note in report.notes:
            self.stderr.write(f"note: {note}")
        if not report.intact:
            where = (
                "audit trail broken"
                if report.broken_seq is None
                else f"audit chain broken at entry #{report.broken_seq}"
                + ("" if report.broken_id is None else f" (id {report.broken_id})")
            )
            raise CommandError(
                f"{where}: {report.problem}; {report.checked} entries before it are intact."
                + _unsealed(report),
                returncode=1,
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"audit chain intact: {report.checked} entries, "
                f"{report.checkpoints} checkpoints agree."
            )
            + _unsealed(report)
        )
