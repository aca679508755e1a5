"""CSV batches of lab results: one row per observation, as a lab's export or a spreadsheet gives
them. Rows of one order (same lab, accession and patient) are applied together, so a WBC row
and a neutrophil-percent row make a derived ANC; each group is one kept feed message.

Columns (header row, names case-insensitive, order free):
- required: `code` (LOINC, or a local code mapped by an administrator), `value`, `unit`,
  `drawn_at` (ISO 8601; without an offset it is read in the clinic's time zone);
- the patient: `mrn` (with `mrn_issuer`, default the lab) and/or `last_name` + `date_of_birth`;
- optional: `lab`, `accession`, `status` (F/C/P/X or final/corrected/preliminary/cancelled,
  default final), `code_system`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import dateparse, timezone

from clozrems.errors import FieldInvalid
from feeds.codes import CodeBook
from feeds.ingest import (
    CANCELLED,
    CORRECTED,
    FINAL,
    PRELIMINARY,
    LabObservation,
    LabReport,
    MessageOutcome,
    PatientIdentity,
    feed_message_process,
    lab_account_of,
    message_keep_refused,
)
from feeds.models import FeedBatch, FeedMessage, FeedMessageOutcome
from monitoring.models import ResultSource
from patients.models import User

REQUIRED = ("code", "value", "unit", "drawn_at")
_STATUSES = {
    "f": FINAL,
    "final": FINAL,
    "c": CORRECTED,
    "corrected": CORRECTED,
    "p": PRELIMINARY,
    "preliminary": PRELIMINARY,
    "x": CANCELLED,
    "cancelled": CANCELLED,
}


@dataclass
class RowResult:
    row: int  # the line in the file (the header is line 1)
    outcome: str
    detail: str = ""
    result: int | None = None
    quarantine: int | None = None
    reason: str | None = None

    # What the lab is told (a held row: its reference, never why it was held).
    lab_detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        held = self.outcome == "quarantined"
        return {
            "row": self.row,
            "outcome": self.outcome,
            "detail": self.lab_detail or self.detail,
            "result": self.result,
            "quarantine": self.quarantine,
            "reason": None if held else self.reason,
        }


@dataclass
class BatchOutcome:
    rows: list[RowResult] = field(default_factory=list)

    def summary(self) -> dict[str, int]:
        counts: dict[str, int] = {"rows": len(self.rows)}
        for row in self.rows:
            counts[row.outcome] = counts.get(row.outcome, 0) + 1
        return counts


def csv_header(text: str) -> list[str]:
    """The normalized header, or 400 naming what is missing."""
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [name.strip().lower() for name in next(reader, [])]
    except csv.Error as error:
        raise FieldInvalid("file", f"The CSV cannot be read: {error}.") from None
    missing = [name for name in REQUIRED if name not in header]
    if missing:
        raise FieldInvalid(
            "file", f"The CSV header lacks {', '.join(missing)}; it needs {', '.join(REQUIRED)}."
        )
    if not {"mrn", "last_name"} & set(header):
        raise FieldInvalid("file", "The CSV header needs mrn, or last_name and date_of_birth.")
    return header


def csv_read(
    text: str, *, actor: User | None = None
) -> tuple[list[str], list[list[tuple[int, dict[str, str]]]]]:
    """(header, groups of rows) of a CSV batch, or 400 naming what is wrong. Read whole first:
    an unreadable line refuses the batch before anything of it is applied. With `actor`, a
    refused file is kept (as a rejected message) before the refusal is raised."""
    try:
        header = csv_header(text)
        try:
            groups = list(_groups(text, header))
        except csv.Error as error:
            raise FieldInvalid("file", f"The CSV cannot be read: {error}.") from None
        if not groups:
            raise FieldInvalid("file", "The CSV holds no result rows under its header.")
    except FieldInvalid as error:
        if actor is not None:
            message_keep_refused(
                channel=ResultSource.CSV, raw=text, actor=actor, detail=error.message
            )
        raise
    return header, groups


def csv_ingest(
    *,
    text: str,
    actor: User,
    codes: CodeBook | None = None,
    progress: Callable[[int], None] | None = None,
) -> BatchOutcome:
    """Apply every row; each order (group of rows) in its own transaction."""
    header, groups = csv_read(text, actor=actor)
    return csv_apply(header=header, groups=groups, actor=actor, codes=codes, progress=progress)


def csv_apply(
    *,
    header: list[str],
    groups: list[list[tuple[int, dict[str, str]]]],
    actor: User,
    codes: CodeBook | None = None,
    progress: Callable[[int], None] | None = None,
    batch: FeedBatch | None = None,
    done: frozenset[int] = frozenset(),
) -> BatchOutcome:
    """Apply each group as one kept message; with `batch`, group i is its message at position i
    and the positions in `done` (already kept) are skipped."""
    codes = codes or CodeBook.load()
    account = lab_account_of(actor)
    outcome = BatchOutcome()
    for position, rows in enumerate(groups):
        if position in done:
            continue
        raw = _raw(header, rows)
        report = _report(rows)
        processed = feed_message_process(
            channel=ResultSource.CSV,
            raw=raw,
            actor=actor,
            parse=lambda report=report: ("", report.lab, [report]),  # type: ignore[misc]
            codes=codes,
            account=account,
            batch=batch,
            position=None if batch is None else position,
        )
        results = _row_results(rows, processed)
        # The message keeps what each of its rows became, as the lab was told.
        FeedMessage.objects.filter(pk=processed.message.pk).update(
            results=[r.as_dict() for r in results]
        )
        outcome.rows += results
        if progress is not None:
            progress(len(rows))
    outcome.rows.sort(key=lambda r: r.row)
    return outcome


def _row_results(
    rows: list[tuple[int, dict[str, str]]], processed: MessageOutcome
) -> list[RowResult]:
    numbers = [number for number, _ in rows]
    if not processed.items:  # the whole group was refused, or failed and was kept for retry
        message = processed.message
        shown = (
            f"processing failed; the message is kept and retried (reference M{message.pk})"
            if message.outcome == FeedMessageOutcome.FAILED
            else message.detail
        )
        return [RowResult(n, message.outcome, message.detail, lab_detail=shown) for n in numbers]
    by_row: dict[int, RowResult] = {}
    for item in processed.items:
        for reference in item.reference.split(" + "):
            number = int(reference.removeprefix("row "))
            by_row[number] = RowResult(
                number,
                item.outcome,
                item.detail,
                item.result_id,
                item.quarantine_id,
                item.reason or None,
                lab_detail=item.lab_detail,
            )
    return [by_row[n] for n in numbers if n in by_row]


def _groups(text: str, header: list[str]) -> Iterator[list[tuple[int, dict[str, str]]]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    next(reader, None)
    groups: dict[tuple[str, ...], list[tuple[int, dict[str, str]]]] = {}
    for values in reader:
        number = reader.line_num
        if not any(v.strip() for v in values):
            continue
        row = {
            name: (values[i].strip() if i < len(values) else "") for i, name in enumerate(header)
        }
        key = (
            row.get("lab", ""),
            row.get("accession", "") or f"line {number}",
            row.get("mrn", ""),
            row.get("mrn_issuer", ""),
            row.get("last_name", "").casefold(),
            row.get("date_of_birth", ""),
        )
        if not row.get("accession"):
            # Without an accession only rows of one draw of one patient belong together.
            key = (*key[:1], row.get("drawn_at", ""), *key[2:])
        groups.setdefault(key, []).append((number, row))
    yield from groups.values()


def _raw(header: list[str], rows: list[tuple[int, dict[str, str]]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for _, row in rows:
        writer.writerow([row.get(name, "") for name in header])
    return buffer.getvalue()


def _report(rows: list[tuple[int, dict[str, str]]]) -> LabReport:
    first = rows[0][1]
    lab = first.get("lab", "")
    identifiers = []
    if first.get("mrn"):
        # No issuer: the sending lab's own number (filled in by the feed path).
        identifiers.append((first.get("mrn_issuer", ""), first["mrn"]))
    identity = PatientIdentity(
        identifiers=identifiers,
        last_name=first.get("last_name", ""),
        date_of_birth=_date(first.get("date_of_birth", "")),
    )
    observations = [
        LabObservation(
            codes=[(row.get("code", ""), row.get("code_system", ""))],
            value=row.get("value", ""),
            unit=row.get("unit", ""),
            status=_STATUSES.get(
                (row.get("status") or "final").lower(), f"unsupported:{row.get('status')}"
            ),
            reference=f"row {number}",
            drawn_at=csv_instant(row.get("drawn_at", "")),
            accession=row.get("accession", ""),
        )
        for number, row in rows
    ]
    return LabReport(lab, first.get("accession", ""), identity, observations)


def csv_instant(text: str) -> datetime | None:
    """ISO 8601; no offset: the clinic's time zone; a date alone: 00:00 there."""
    text = text.strip()
    zone = ZoneInfo(settings.TIME_ZONE)
    try:
        moment = dateparse.parse_datetime(text)
        if moment is None:
            day = dateparse.parse_date(text)
            if day is None:
                return None
            moment = datetime.combine(day, time())
    except ValueError:
        return None
    return moment if timezone.is_aware(moment) else timezone.make_aware(moment, zone)


def _date(text: str) -> date | None:
    try:
        return dateparse.parse_date(text.strip())
    except ValueError:
        return None
