"""Writes around the feeds: a patient's lab identifiers, the local-code table, and an
administrator's resolution of a quarantined result (attach it to a patient, fix its unit) or its
dismissal. Each writes its audit entry in its own transaction."""

from __future__ import annotations

import re
import ssl
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.context import acting_as
from audit.models import Action
from audit.services import audit_record
from clozrems.errors import FieldInvalid, StateConflict
from feeds.codes import LOINC_ANALYTES, MAPPED_ONLY_ANALYTES
from feeds.ingest import (
    CORRECTED,
    FINAL,
    PRELIMINARY,
    Refusal,
    derived_anc,
    feed_result_record,
)
from feeds.mllp import certificate_fingerprint, networks
from feeds.models import (
    LabAccount,
    LabCertificate,
    LabCodeMapping,
    PatientIdentifier,
    QuarantinedResult,
    QuarantineReason,
    QuarantineStatus,
)
from monitoring.models import ResultSource, ResultStatus
from monitoring.services import RecordedResult
from patients.models import Patient, Prescriber, Role, User

_STATUS = {
    FINAL: ResultStatus.FINAL,
    CORRECTED: ResultStatus.CORRECTED,
    PRELIMINARY: ResultStatus.PRELIMINARY,
}


def patient_identifier_add(
    *, patient: Patient, actor: User, issuer: str, value: str
) -> PatientIdentifier:
    """Record the identifier a lab knows the patient by: one patient per issuer and value among
    the prescriber's own patients (a conflict there is a 409 the prescriber can see through).
    Another prescriber's patient with the same identifier neither blocks the write nor shows in
    the answer; the audit entry counts such patients for the administrators, and the lab's
    results sent with it are held as ambiguous (ingest.patient_match) until one resolves them."""
    issuer, value = issuer.strip(), value.strip()
    if not issuer:
        raise FieldInvalid("issuer", "Name the system that issued the identifier.")
    if not value:
        raise FieldInvalid("value", "The identifier is empty.")
    try:
        with transaction.atomic(), acting_as(actor):
            # One writer per prescriber at a time, so two of its patients cannot both get it.
            Prescriber.objects.select_for_update().filter(pk=patient.prescriber_id).first()
            same = PatientIdentifier.objects.filter(issuer=issuer, value=value)
            if same.filter(patient=patient).exists():
                raise StateConflict(
                    f"{issuer}|{value} is already recorded for this patient.", "identifier_in_use"
                )
            mine = same.filter(patient__prescriber_id=patient.prescriber_id).first()
            if mine is not None:
                raise StateConflict(
                    f"{issuer}|{value} is already recorded for another of your patients "
                    f"(id {mine.patient_id}).",
                    "identifier_in_use",
                )
            identifier = PatientIdentifier.objects.create(
                patient=patient, issuer=issuer, value=value, recorded_by=actor
            )
            audit_record(
                action=Action.PATIENT_IDENTIFIER_ADD,
                actor=actor,
                object_type="patient_identifier",
                object_id=identifier.pk,
                patient_id=patient.pk,
                inputs={"issuer": issuer, "value": value},
                output={
                    "other_prescribers_patients_with_it": same.exclude(pk=identifier.pk).count()
                },
            )
            return identifier
    except IntegrityError:
        raise StateConflict(
            f"{issuer}|{value} is already recorded for this patient.", "identifier_in_use"
        ) from None


def patient_identifier_remove(*, identifier: PatientIdentifier, actor: User) -> None:
    """Remove an identifier recorded in error (it names no clinical record; the audit trail
    keeps what it was)."""
    with transaction.atomic(), acting_as(actor):
        audit_record(
            action=Action.PATIENT_IDENTIFIER_REMOVE,
            actor=actor,
            object_type="patient_identifier",
            object_id=identifier.pk,
            patient_id=identifier.patient_id,
            inputs={"issuer": identifier.issuer, "value": identifier.value},
        )
        identifier.delete()


def lab_code_mapping_save(
    *, mapping: LabCodeMapping, actor: User, created: bool, confirmed: bool = False
) -> LabCodeMapping:
    """Create or change what a local code means: a LOINC code the rules read, or (for one lab)
    a meaning LOINC has no trusted code for, `segmented_neutrophil_percent`, which counts only
    when the administrator confirms it (`confirmed`), since it adds to the band percent."""
    mapping.lab, mapping.local_code = mapping.lab.strip(), mapping.local_code.strip()
    mapping.loinc, mapping.analyte = mapping.loinc.strip(), mapping.analyte.strip()
    if not mapping.local_code:
        raise FieldInvalid("local_code", "The local code is empty.")
    if mapping.loinc:
        if mapping.loinc not in LOINC_ANALYTES:
            known = ", ".join(LOINC_ANALYTES)
            raise FieldInvalid("loinc", f"Map to one of the LOINC codes the rules read: {known}.")
        if mapping.analyte and mapping.analyte != LOINC_ANALYTES[mapping.loinc]:
            raise FieldInvalid("analyte", f"LOINC {mapping.loinc} already says what it counts.")
        mapping.analyte = LOINC_ANALYTES[mapping.loinc].value
        mapping.confirmed_by, mapping.confirmed_at = None, None
    else:
        meanings = ", ".join(sorted(MAPPED_ONLY_ANALYTES))
        if mapping.analyte not in MAPPED_ONLY_ANALYTES:
            raise FieldInvalid(
                "loinc", f"Give the LOINC code, or an analyte without one ({meanings})."
            )
        if not mapping.lab:
            raise FieldInvalid(
                "lab", "A mapping by meaning is for one lab: name the lab that sends the code."
            )
        if not confirmed:
            raise FieldInvalid(
                "confirmed",
                f"Confirm that {mapping.lab}'s code {mapping.local_code} is segmented neutrophils "
                "per 100 leukocytes and that the lab reports band neutrophils separately "
                '("confirmed": true).',
            )
        mapping.confirmed_by, mapping.confirmed_at = actor, timezone.now()
    try:
        with transaction.atomic(), acting_as(actor):
            mapping.save()
            audit_record(
                action=Action.LAB_CODE_MAPPING_SAVE,
                actor=actor,
                object_type="lab_code_mapping",
                object_id=mapping.pk,
                inputs={
                    "lab": mapping.lab,
                    "local_code": mapping.local_code,
                    "loinc": mapping.loinc,
                    "analyte": mapping.analyte,
                    "confirmed": mapping.confirmed_at is not None,
                    "created": created,
                },
            )
    except IntegrityError:
        raise StateConflict(
            f"{mapping.lab or 'every lab'}: {mapping.local_code} is already mapped.",
            "mapping_exists",
        ) from None
    return mapping


def lab_code_mapping_remove(*, mapping: LabCodeMapping, actor: User) -> None:
    with transaction.atomic(), acting_as(actor):
        audit_record(
            action=Action.LAB_CODE_MAPPING_REMOVE,
            actor=actor,
            object_type="lab_code_mapping",
            object_id=mapping.pk,
            inputs={
                "lab": mapping.lab,
                "local_code": mapping.local_code,
                "loinc": mapping.loinc,
                "analyte": mapping.analyte,
            },
        )
        mapping.delete()


# Reasons that put the patient itself in doubt: resolving them must name the patient.
IDENTITY_REASONS = frozenset(
    {
        QuarantineReason.UNMATCHED,
        QuarantineReason.AMBIGUOUS,
        QuarantineReason.IDENTITY_MISMATCH,
        QuarantineReason.DEMOGRAPHIC_MATCH,
    }
)


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
    """File a held result on a patient through the same path as the feed. The administrator
    names the patient (unless the feed matched one by an identifier and held the result for
    another reason), and may give the unit, the draw time or the status where the feed's was
    missing or unknown; the value is never changed. A refusal leaves the entry open."""
    with transaction.atomic(), acting_as(actor):
        entry = QuarantinedResult.objects.select_for_update().get(pk=entry.pk)
        if entry.status != QuarantineStatus.OPEN:
            raise StateConflict(f"This quarantined result is already {entry.status}.")
        if patient is None and entry.reason in IDENTITY_REASONS:
            # The feed's patient is the one in doubt: filing on it by default is the mistake.
            raise FieldInvalid(
                "patient",
                "Name the patient this result belongs to: it was held because its patient "
                f"is in doubt ({entry.reason}).",
            )
        target = patient or entry.patient
        if target is None:
            raise FieldInvalid("patient", "Name the patient this result belongs to.")
        status = _status(entry, result_status)
        when = entry.drawn_at or drawn_at
        if when is None:
            raise FieldInvalid("drawn_at", "The lab sent no draw time; give it.")
        value, used_unit, derivation = _value(entry, unit)
        recorded = feed_result_record(
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
        audit_record(
            action=Action.QUARANTINE_RESOLVE,
            actor=actor,
            object_type="quarantined_result",
            object_id=entry.pk,
            patient_id=target.pk,
            inputs={
                "reason": entry.reason,
                "detail": entry.detail,
                "message": entry.message_id,
                "as_received": {"value": entry.value, "unit": entry.unit},
                "unit": unit,
                "drawn_at": drawn_at,
                "result_status": result_status,
                "note": entry.resolution_note,
            },
            output={"result": recorded.result.pk, "created": recorded.created},
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
    with transaction.atomic(), acting_as(actor):
        entry = QuarantinedResult.objects.select_for_update().get(pk=entry.pk)
        if entry.status != QuarantineStatus.OPEN:
            raise StateConflict(f"This quarantined result is already {entry.status}.")
        entry.status = QuarantineStatus.DISMISSED
        entry.resolved_by = actor
        entry.resolved_at = timezone.now()
        entry.resolution_note = reason.strip()[:500]
        entry.save(update_fields=["status", "resolved_by", "resolved_at", "resolution_note"])
        audit_record(
            action=Action.QUARANTINE_DISMISS,
            actor=actor,
            object_type="quarantined_result",
            object_id=entry.pk,
            patient_id=entry.patient_id,
            inputs={"reason": entry.reason, "message": entry.message_id, "why": reason.strip()},
        )
    return entry


def lab_account_save(*, account: LabAccount, actor: User, created: bool) -> LabAccount:
    """Create or change a lab interface account's settings: the lab it speaks for, whether it
    may file on a last name + date of birth match, and its own sender networks."""
    account.lab = account.lab.strip()
    if not account.lab:
        raise FieldInvalid("lab", "Name the lab this account speaks for.")
    if account.user.role != Role.LAB:
        raise FieldInvalid("user", "A lab account belongs to a user of role lab.")
    account.allowed_networks = ", ".join(account.allowed_networks.replace(",", " ").split())
    try:
        networks(account.allowed_networks)
    except ValueError as error:
        raise FieldInvalid("allowed_networks", f"Not an address or network: {error}.") from None
    try:
        with transaction.atomic(), acting_as(actor):
            account.save()
            audit_record(
                action=Action.LAB_ACCOUNT_SAVE,
                actor=actor,
                object_type="lab_account",
                object_id=account.pk,
                inputs={
                    "user": account.user_id,
                    "lab": account.lab,
                    "allow_demographic_match": account.allow_demographic_match,
                    "allowed_networks": account.allowed_networks,
                    "created": created,
                },
            )
    except IntegrityError:
        raise StateConflict("This user already has a lab account.", "lab_account_exists") from None
    return account


def lab_certificate_save(
    *, certificate: LabCertificate, actor: User, created: bool, pem: str = ""
) -> LabCertificate:
    """Register (or change, or deactivate) a lab's TLS client certificate: by its SHA-256
    fingerprint (given, or computed from the PEM), or by its subject."""
    if pem.strip():
        try:
            der = ssl.PEM_cert_to_DER_cert(pem.strip())
        except ValueError:
            raise FieldInvalid(
                "pem", "Not a PEM certificate (-----BEGIN CERTIFICATE-----)."
            ) from None
        certificate.fingerprint_sha256 = certificate_fingerprint(der)
    fingerprint = certificate.fingerprint_sha256.replace(":", "").strip().lower()
    if fingerprint and not re.fullmatch(r"[0-9a-f]{64}", fingerprint):
        raise FieldInvalid("fingerprint_sha256", "A SHA-256 fingerprint is 64 hex digits.")
    certificate.fingerprint_sha256 = fingerprint
    certificate.subject = certificate.subject.strip()
    if not (certificate.fingerprint_sha256 or certificate.subject):
        raise FieldInvalid(
            "fingerprint_sha256", "Give the certificate, its fingerprint or subject."
        )
    try:
        with transaction.atomic(), acting_as(actor):
            certificate.save()
            audit_record(
                action=Action.LAB_CERTIFICATE_SAVE,
                actor=actor,
                object_type="lab_certificate",
                object_id=certificate.pk,
                inputs={
                    "account": certificate.account_id,
                    "lab": certificate.account.lab,
                    "fingerprint_sha256": certificate.fingerprint_sha256,
                    "subject": certificate.subject,
                    "active": certificate.active,
                    "note": certificate.note,
                    "created": created,
                },
            )
    except IntegrityError:
        raise StateConflict(
            "This certificate is already registered.", "certificate_registered"
        ) from None
    return certificate
