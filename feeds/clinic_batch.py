"""A clinician's batch of results (the clinic's grid, or a CSV it uploaded and previewed), filed
through the feed path: the batch is kept as one CSV feed message before anything is read, each
row is one report that `report_ingest` matches, checks and files, and what cannot be filed is
held in the quarantine with the row and its reason; nothing typed is lost.

Where a clinician's batch differs from a lab's file (readings chosen, the safer for the patient):
- A row names one of the clinician's own patients (the grid's choice, or the preview's match on
  last name and date of birth among them). It is never matched against other prescribers'
  patients: a row that names none of the clinician's is held (`unmatched`), never filed to a
  patient found elsewhere.
- The values were typed by a person, not sent by a lab: each is stored as a manual entry
  (`source` manual), so the manual-entry guards hold (docs/rules.md §8: whole cells, an
  unusual count stored only when the row is confirmed) and the person who entered it may void
  it. A row those rules refuse is not quarantined: it is the typist's to fix, and comes back
  with the rule's message (kept too, in the message's per-row results).
- A value that is not a number, an unknown unit, a missing draw time, or no patient: held in the
  quarantine, as a lab's would be.
- Patients are locked in id order (the rows are applied in that order), as a feed chunk does.

Should the batch fail half-way (a fault, not a refusal) it is kept `failed` and the feed retry
reads it as a CSV file: without a lab account a row matched by name alone is held, so a retry
never files a row to a patient; an administrator files held rows from the quarantine.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from clozrems.errors import FieldInvalid
from feeds.codes import ANALYTE_LOINC, Analyte
from feeds.csv_batch import _date, csv_instant
from feeds.ingest import (
    FINAL,
    REFERENCE,
    Filer,
    ItemOutcome,
    LabObservation,
    LabReport,
    PatientIdentity,
    Refusal,
    _Candidate,
    feed_message_process,
)
from feeds.models import FeedMessage, QuarantineReason
from monitoring.models import LabResult, ResultSource
from monitoring.services import RecordedResult, anc_result_record
from patients.models import Patient, User

HEADER = ["row", "patient_id", "last_name", "date_of_birth", "code", "value", "unit", "drawn_at"]


@dataclass(frozen=True)
class BatchRow:
    """One row as typed or read from the file: text, checked by the feed path."""

    patient_id: int | None
    drawn_at: str
    value: str
    unit: str
    last_name: str = ""
    date_of_birth: str = ""
    confirm_unusual: bool = False


@dataclass(frozen=True)
class RowOutcome:
    row: int  # 1-based, in the batch's order
    outcome: str  # stored, duplicate, quarantined, refused
    detail: str
    patient: Patient | None = None
    result: LabResult | None = None
    quarantine_id: int | None = None
    reason: str = ""
    field: str = ""  # the field a refused row's rule names

    @property
    def filed(self) -> bool:
        return self.outcome in ("stored", "duplicate")


@dataclass(frozen=True)
class BatchFiled:
    message: FeedMessage
    rows: list[RowOutcome]


class _EntryRefused(Refusal):
    """A manual-entry rule refused the row: returned to the typist, not held."""

    def __init__(self, error: FieldInvalid) -> None:
        super().__init__(QuarantineReason.IMPLAUSIBLE, error.message)
        self.field = error.field


class _ClinicFiler(Filer):
    """Matches among the clinician's own patients only; stores as manual entry (with the row's
    confirmation); holds what the feed path cannot file, hands back what entry rules refuse.
    `report_ingest` matches each report before storing its results: the row in hand is the
    one last matched."""

    def __init__(self, *, mine: dict[int, Patient], rows: dict[int, BatchRow]) -> None:
        self.mine = mine
        self.rows = rows  # keyed by id() of each report's identity
        self.current: BatchRow | None = None
        self.refused: dict[str, str] = {}  # reference -> field

    def match(self, *, identity: PatientIdentity) -> tuple[Patient, str]:
        self.current = self.rows.get(id(identity))
        patient = self.mine.get(identity.patient_id or 0)
        if patient is None:
            named = identity.last_name.strip() or "no name"
            born = identity.date_of_birth or "no date of birth"
            raise Refusal(
                QuarantineReason.UNMATCHED,
                f"no patient of this clinician matches ({named}, born {born})",
            )
        return patient, REFERENCE

    def record(self, **record: Any) -> RecordedResult:
        row = self.current
        record["source"] = ResultSource.MANUAL
        try:
            return anc_result_record(
                **record, confirm_unusual=bool(row is not None and row.confirm_unusual)
            )
        except FieldInvalid as error:
            raise _EntryRefused(error) from None

    def quarantine(
        self,
        *,
        report: LabReport,
        message: FeedMessage,
        candidate: _Candidate,
        refusal: Refusal,
        patient: Patient | None,
    ) -> ItemOutcome:
        if isinstance(refusal, _EntryRefused):
            self.refused[candidate.reference] = refusal.field
            return ItemOutcome(candidate.reference, "refused", refusal.detail, reason=refusal.field)
        return super().quarantine(
            report=report, message=message, candidate=candidate, refusal=refusal, patient=patient
        )


def clinic_batch_file(
    *, rows: Sequence[BatchRow], actor: User, mine: dict[int, Patient]
) -> BatchFiled:
    """File a clinician's rows as one kept CSV feed message; each row's outcome, in order.
    `mine`: the clinician's patients by id (patients.selectors.patient_list_visible)."""
    numbered = list(enumerate(rows, start=1))
    raw = _raw(numbered)
    code = ANALYTE_LOINC[Analyte.ANC]
    reports: list[tuple[int, LabReport]] = []
    by_identity: dict[int, BatchRow] = {}
    for number, row in numbered:
        identity = PatientIdentity(
            last_name=row.last_name,
            date_of_birth=_date(row.date_of_birth),
            patient_id=row.patient_id,
        )
        by_identity[id(identity)] = row
        observation = LabObservation(
            codes=[(code, "LN")],
            value=row.value,
            unit=row.unit,
            status=FINAL,
            reference=f"row {number}",
            drawn_at=csv_instant(row.drawn_at),
        )
        reports.append((number, LabReport("", "", identity, [observation])))
    # Patients locked in id order, as a feed chunk does; unmatched rows last.
    reports.sort(key=lambda item: (item[1].identity.patient_id or 1 << 62, item[0]))
    filer = _ClinicFiler(mine=mine, rows=by_identity)
    processed = feed_message_process(
        channel=ResultSource.CSV,
        raw=raw,
        actor=actor,
        parse=lambda: ("", "", [report for _, report in reports]),
        account=None,
        filer=filer,
    )
    by_reference = {item.reference: item for item in processed.items}
    outcomes = []
    for number, row in numbered:
        item = by_reference.get(f"row {number}")
        patient = mine.get(row.patient_id or 0)
        if item is None:  # the whole message failed and is kept for the retry
            outcomes.append(RowOutcome(number, processed.message.outcome, processed.message.detail))
            continue
        outcomes.append(
            RowOutcome(
                number,
                item.outcome,
                item.detail,
                patient=patient,
                result=item.stored,
                quarantine_id=item.quarantine_id,
                reason=item.reason if item.outcome == "quarantined" else "",
                field=filer.refused.get(item.reference, ""),
            )
        )
    return BatchFiled(processed.message, outcomes)


def _raw(numbered: list[tuple[int, BatchRow]]) -> str:
    """The batch as a CSV file, kept as received (the feed message's raw)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(HEADER)
    code = ANALYTE_LOINC[Analyte.ANC]
    for number, row in numbered:
        writer.writerow(
            [
                number,
                row.patient_id or "",
                row.last_name,
                row.date_of_birth,
                code,
                row.value,
                row.unit,
                row.drawn_at,
            ]
        )
    return buffer.getvalue()
