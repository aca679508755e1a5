"""Import a file of lab results: CSV (see feeds/csv_batch.py) or HL7 v2 messages."""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from clozrems.errors import FieldInvalid
from feeds.chunks import CHUNK_SIZE
from feeds.csv_batch import csv_ingest
from feeds.hl7v2 import hl7_messages_ingest, split_messages
from feeds.mllp import feed_user

HL7_STARTS = ("MSH", "FHS", "BHS", "\x0b")


def _advance(bar: Any, rows: int) -> None:
    bar.update(rows)


class Command(BaseCommand):
    help = "Import lab results from a CSV file or a file of HL7 v2 messages, row by row."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--format", choices=["auto", "csv", "hl7"], default="auto")
        parser.add_argument("--user", default="import-labs", help="the lab account to record as")
        parser.add_argument(
            "--results", type=Path, help="write the per-row (or per-message) results to this CSV"
        )
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        try:
            text = path.read_text(encoding="utf-8-sig", errors="replace")
        except OSError as error:
            raise CommandError(f"cannot read {path}: {error}") from None
        kind = options["format"]
        if kind == "auto":
            kind = "hl7" if text.lstrip().startswith(HL7_STARTS) else "csv"
        actor = feed_user(options["user"])
        quiet = options["no_progress"] or not sys.stderr.isatty()
        if kind == "hl7":
            rows = self._hl7(text, actor, quiet)
        else:
            rows = self._csv(text, actor, quiet)
        counts: dict[str, int] = {}
        for row in rows:
            counts[row["outcome"]] = counts.get(row["outcome"], 0) + 1
        target = options.get("results")
        if target:
            with target.open("w", newline="") as out:
                writer = csv.DictWriter(out, fieldnames=list(rows[0]) if rows else ["outcome"])
                writer.writeheader()
                writer.writerows(rows)
        else:
            for row in rows:
                if row["outcome"] not in ("stored", "replaced", "accepted"):
                    self.stdout.write(" ".join(f"{k}={v}" for k, v in row.items() if v != ""))
        unit = "messages" if kind == "hl7" else "rows"
        summary = ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items()))
        self.stdout.write(f"{len(rows)} {unit}: {summary or 'nothing to import'}")

    def _csv(self, text: str, actor: Any, quiet: bool) -> list[dict[str, Any]]:
        total = max(0, len(text.splitlines()) - 1)
        with tqdm(total=total, unit="row", disable=quiet) as bar:
            try:
                outcome = csv_ingest(text=text, actor=actor, progress=lambda n: _advance(bar, n))
            except FieldInvalid as error:
                raise CommandError(error.message) from None
        return [
            {
                "row": r.row,
                "outcome": r.outcome,
                "reason": r.reason or "",
                "detail": r.detail,
                "result": r.result or "",
                "quarantine": r.quarantine or "",
            }
            for r in outcome.rows
        ]

    def _hl7(self, text: str, actor: Any, quiet: bool) -> list[dict[str, Any]]:
        from feeds.codes import CodeBook

        codes = CodeBook.load()
        rows = []
        messages = split_messages(text)
        with tqdm(total=len(messages), unit="msg", disable=quiet) as bar:
            # A chunk of messages at a time (feeds/chunks.py).
            for lo in range(0, len(messages), CHUNK_SIZE):
                answers = hl7_messages_ingest(
                    messages=messages[lo : lo + CHUNK_SIZE], actor=actor, codes=codes
                )
                for number, answer in enumerate(answers, start=lo + 1):
                    rows.append(
                        {
                            "message": number,
                            "control_id": answer.outcome.message.control_id,
                            "ack": answer.code,
                            "outcome": answer.outcome.message.outcome,
                            "detail": answer.outcome.message.detail,
                        }
                    )
                _advance(bar, len(answers))
        return rows
