"""The stored dose facts (clinical.models.DoseFacts): written with each dispense and each
reported last dose, read by the dispensing decision with the patient's row, rebuilt from the
history. The re-titration reading itself is clinical.doses (docs/rules.md, "Re-titration").

Every writer holds the patient's row lock (the dispense and dose-entry services take it), so a
read-then-write here never races another writer of the same patient.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ObjectDoesNotExist

from clinical.doses import DoseTracking, dose_tracking_of
from clinical.models import DoseEntry, DoseEntryKind, DoseFacts


@dataclass(frozen=True)
class Facts:
    last_dispensed_at: datetime | None = None
    supply_runs_out_at: datetime | None = None
    last_dose_reported_at: datetime | None = None


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)


def stored_facts(patient: object) -> DoseFacts | None:
    """The patient's stored facts, when the patient was loaded with them (select_related
    "dose_facts"); None when it has none."""
    try:
        return patient.dose_facts  # type: ignore[attr-defined]
    except ObjectDoesNotExist:
        return None


def _write(patient_id: int, stored: DoseFacts | None, facts: Facts) -> None:
    """One statement: an UPDATE of the row read under the lock, or the first INSERT."""
    values = {
        "last_dispensed_at": facts.last_dispensed_at,
        "supply_runs_out_at": facts.supply_runs_out_at,
        "last_dose_reported_at": facts.last_dose_reported_at,
    }
    if stored is None:
        DoseFacts.objects.create(patient_id=patient_id, **values)
    else:
        DoseFacts.objects.filter(pk=patient_id).update(**values)


def dose_facts_note_supply(
    *, patient_id: int, stored: DoseFacts | None, dispensed_at: datetime, days_supply: int
) -> None:
    """A dispense was recorded (in the caller's transaction, under the patient's lock);
    `stored` is the row read after the lock (None: none yet)."""
    ends = dispensed_at + timedelta(days=days_supply)
    _write(
        patient_id,
        stored,
        Facts(
            _later(stored.last_dispensed_at if stored else None, dispensed_at),
            _later(stored.supply_runs_out_at if stored else None, ends),
            stored.last_dose_reported_at if stored else None,
        ),
    )


def dose_facts_note_last_dose(*, patient_id: int, reported_at: datetime) -> None:
    """The patient's reported last dose was recorded (caller's transaction, patient locked)."""
    stored = DoseFacts.objects.filter(pk=patient_id).first()
    _write(
        patient_id,
        stored,
        Facts(
            stored.last_dispensed_at if stored else None,
            stored.supply_runs_out_at if stored else None,
            _later(stored.last_dose_reported_at if stored else None, reported_at),
        ),
    )


def tracking_from_facts(
    stored: DoseFacts | None, now: datetime, *, after_hours: int
) -> DoseTracking | None:
    """The dose tracking at `now` from the stored facts, or None when they cannot answer for
    `now` (a dispense or report after it: a decision asked about the past reads the history)."""
    if stored is None:
        return dose_tracking_of(None, None, None, now, after_hours=after_hours)
    for at in (stored.last_dispensed_at, stored.last_dose_reported_at):
        if at is not None and at > now:
            return None
    return dose_tracking_of(
        stored.last_dispensed_at,
        stored.supply_runs_out_at,
        stored.last_dose_reported_at,
        now,
        after_hours=after_hours,
    )


def _scope(patient_ids: Iterable[int] | None, lo: int | None, hi: int | None) -> dict[str, Any]:
    if patient_ids is not None:
        return {"patient_id__in": list(patient_ids)}
    return {"patient_id__gte": lo, "patient_id__lt": hi}


def facts_from_history(
    patient_ids: Iterable[int] | None = None, *, lo: int | None = None, hi: int | None = None
) -> dict[int, Facts]:
    """The facts as the history gives them, for `patient_ids` or the ids in [lo, hi) (two
    queries for all the patients)."""
    from monitoring.selectors import instant_parser, instant_text_of
    from patients.models import Dispense

    where = _scope(patient_ids, lo, hi)
    # The instants as text, read by `datetime.fromisoformat` (monitoring.selectors.instant_text_of).
    parse = instant_parser()
    dispensed: dict[int, datetime] = {}
    ends: dict[int, datetime] = {}
    rows = (
        Dispense.objects.filter(**where)
        .order_by()
        .annotate(_at=instant_text_of("dispensed_at"))
        .values_list("patient_id", "_at", "days_supply")
    )
    for patient_id, text, days in rows.iterator(chunk_size=5000):
        at = parse(text)
        dispensed[patient_id] = _later(dispensed.get(patient_id), at) or at
        end = at + timedelta(days=days)
        ends[patient_id] = _later(ends.get(patient_id), end) or end
    reported: dict[int, datetime] = {}
    reports = (
        DoseEntry.objects.filter(kind=DoseEntryKind.LAST_DOSE_TAKEN, **where)
        .order_by()
        .annotate(_at=instant_text_of("effective_at"))
        .values_list("patient_id", "_at")
    )
    for patient_id, text in reports.iterator(chunk_size=5000):
        at = parse(text)
        reported[patient_id] = _later(reported.get(patient_id), at) or at
    return {
        pid: Facts(dispensed.get(pid), ends.get(pid), reported.get(pid))
        for pid in set(dispensed) | set(reported)
    }


def _stored(where: dict[str, Any]) -> dict[int, Facts]:
    # The instants as text, read by `datetime.fromisoformat` (monitoring.selectors.instant_text_of).
    from monitoring.selectors import instant_parser, instant_text_of

    parse = instant_parser()
    rows = (
        DoseFacts.objects.filter(**where)
        .annotate(
            _a=instant_text_of("last_dispensed_at"),
            _b=instant_text_of("supply_runs_out_at"),
            _c=instant_text_of("last_dose_reported_at"),
        )
        .values_list("patient_id", "_a", "_b", "_c")
    )
    return {
        pid: Facts(
            None if a is None else parse(a),
            None if b is None else parse(b),
            None if c is None else parse(c),
        )
        for pid, a, b, c in rows
    }


def dose_facts_check(
    patient_ids: Iterable[int] | None = None, *, lo: int | None = None, hi: int | None = None
) -> list[int]:
    """The patients (of `patient_ids`, or with ids in [lo, hi)) whose stored facts differ from
    the history's (none stored = all empty). Three queries."""
    where = _scope(patient_ids, lo, hi)
    expected = facts_from_history(patient_ids, lo=lo, hi=hi)
    stored = _stored(where)
    empty = Facts()
    return sorted(
        pid
        for pid in set(expected) | set(stored)
        if expected.get(pid, empty) != stored.get(pid, empty)
    )


def dose_facts_rebuild(
    patient_ids: Iterable[int] | None = None, *, lo: int | None = None, hi: int | None = None
) -> list[int]:
    """Rewrite the stored facts (of `patient_ids`, or ids in [lo, hi)) from the history; the
    patients whose facts were wrong."""
    ids = None if patient_ids is None else list(patient_ids)
    wrong = dose_facts_check(ids, lo=lo, hi=hi)
    if not wrong:
        return []
    expected = facts_from_history(wrong)
    DoseFacts.objects.filter(pk__in=wrong).delete()
    DoseFacts.objects.bulk_create(
        DoseFacts(
            patient_id=pid,
            last_dispensed_at=f.last_dispensed_at,
            supply_runs_out_at=f.supply_runs_out_at,
            last_dose_reported_at=f.last_dose_reported_at,
        )
        for pid, f in expected.items()
    )
    return wrong
