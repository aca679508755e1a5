"""Writes around the feeds: a patient's lab identifiers, and an administrator's resolution of a
quarantined result (attach it to a patient, fix its unit) or its dismissal."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone

from clozrems.errors import FieldInvalid, StateConflict
from monitoring.feeds.ingest import CORRECTED, FINAL, PRELIMINARY, Refusal, derived_anc
from monitoring.models import (
    QuarantinedResult,
    QuarantineStatus,
    ResultSource,
    ResultStatus,
)
from monitoring.services import RecordedResult, anc_result_record
from patients.models import Patient, PatientIdentifier, User

_STATUS = {
    FINAL: ResultStatus.FINAL,
    CORRECTED: ResultStatus.CORRECTED,
    PRELIMINARY: ResultStatus.PRELIMINARY,
}


def patient_identifier_add(
    *, patient: Patient, actor: User, issuer: str, value: str
) -> PatientIdentifier:
    """Record the identifier a lab knows the patient by (one patient per issuer and value)."""
    issuer, value = issuer.strip(), value.strip()
    if not issuer:
        raise FieldInvalid("issuer", "Name the system that issued the identifier.")
    if not value:
        raise FieldInvalid("value", "The identifier is empty.")
    try:
        with transaction.atomic():
            return PatientIdentifier.objects.create(
                patient=patient, issuer=issuer, value=value, recorded_by=actor
            )
    except IntegrityError:
        raise StateConflict(
            f"{issuer}|{value} is already recorded for a patient.", "identifier_in_use"
        ) from None


@dataclass(frozen=True)
class Resolution:
    entry: QuarantinedResult
    recorded: RecordedResult


def quarantine_resolve(
    *,
    entry: QuarantinedResult,
    actor: User,
    patient: Patient | None = None,
    unit: str | None = None,
    drawn_at: datetime | None = None,
    result_status: str | None = None,
    note: str = "",
) -> Resolution:
    """File a held result on a patient through the same service as manual entry. The
    administrator names the patient (unless the feed matched one), and may give the unit, the
    draw time or the status where the feed's was missing or unknown; the value is never
    changed. A refusal leaves the entry open."""
    with transaction.atomic():
        entry = QuarantinedResult.objects.select_for_update().get(pk=entry.pk)
        if entry.status != QuarantineStatus.OPEN:
            raise StateConflict(f"This quarantined result is already {entry.status}.")
        target = patient or entry.patient
        if target is None:
            raise FieldInvalid("patient", "Name the patient this result belongs to.")
        status = _status(entry, result_status)
        when = entry.drawn_at or drawn_at
        if when is None:
            raise FieldInvalid("drawn_at", "The lab sent no draw time; give it.")
        value, used_unit, derivation = _value(entry, unit)
        recorded = anc_result_record(
            patient=target,
            actor=actor,
            drawn_at=when,
            value=value,
            unit=used_unit,
            accession=entry.accession,
            lab=entry.lab,
            source=ResultSource(entry.message.channel),
            status=status,
            derivation=derivation,
            analyte=entry.analyte,
        )
        entry.status = QuarantineStatus.RESOLVED
        entry.result = recorded.result
        entry.patient = target
        entry.resolved_by = actor
        entry.resolved_at = timezone.now()
        entry.resolution_note = (note.strip() or "filed on the patient")[:500]
        entry.save(
            update_fields=[
                "status",
                "result",
                "patient",
                "resolved_by",
                "resolved_at",
                "resolution_note",
            ]
        )
    return Resolution(entry, recorded)


def _status(entry: QuarantinedResult, override: str | None) -> str:
    if entry.result_status in _STATUS:
        if override and _STATUS.get(override, override) != _STATUS[entry.result_status]:
            raise FieldInvalid("result_status", "The lab's status is kept; it was readable.")
        return _STATUS[entry.result_status]
    if override not in _STATUS:
        raise FieldInvalid(
            "result_status",
            f"The lab sent status {entry.result_status!r}; say final, corrected or preliminary.",
        )
    return _STATUS[override]


def _value(entry: QuarantinedResult, unit: str | None) -> tuple[Decimal, str, dict | None]:
    if entry.derivation.get("wbc") and not entry.value:
        try:
            anc, wbc_per_ul = derived_anc(entry.derivation, wbc_unit=unit)
        except Refusal as refusal:
            raise FieldInvalid("unit", refusal.detail) from None
        derivation = dict(entry.derivation)
        derivation["wbc"] = {**derivation["wbc"], "per_ul": wbc_per_ul}
        if unit:
            derivation["wbc_unit_fixed_to"] = unit
        return Decimal(anc), "/uL", derivation
    try:
        value = Decimal(entry.value.strip())
    except ArithmeticError:
        raise FieldInvalid(
            "value", f"The lab's value {entry.value!r} is not a number; dismiss it."
        ) from None
    if not value.is_finite():
        raise FieldInvalid("value", f"The lab's value {entry.value!r} is not a number.")
    return value, (unit or entry.unit), (entry.derivation or None)


def quarantine_dismiss(*, entry: QuarantinedResult, actor: User, reason: str) -> QuarantinedResult:
    """Close a held result without filing it (a test sample, a patient not ours), with why."""
    if not reason.strip():
        raise FieldInvalid("reason", "Say why the result is dismissed.")
    with transaction.atomic():
        entry = QuarantinedResult.objects.select_for_update().get(pk=entry.pk)
        if entry.status != QuarantineStatus.OPEN:
            raise StateConflict(f"This quarantined result is already {entry.status}.")
        entry.status = QuarantineStatus.DISMISSED
        entry.resolved_by = actor
        entry.resolved_at = timezone.now()
        entry.resolution_note = reason.strip()[:500]
        entry.save(update_fields=["status", "resolved_by", "resolved_at", "resolution_note"])
    return entry
