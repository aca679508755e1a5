"""The dispensing decision, recorded dispenses and emergency supplies (docs/rules.md §7)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from audit.context import ACTOR_CONFIG_SQL, acting_as, actor_config_params
from audit.models import Action, Outcome
from audit.services import audit_record, audit_refusals
from clinical.dose_facts import dose_facts_note_supply, stored_facts
from clinical.selectors import retitration_warning
from clozrems.errors import FieldInvalid, RuleRefused, StateConflict
from clozrems.zones import clinic_zone
from engine.core import local_date
from engine.emergency import EmergencyOption
from engine.types import (
    DispenseRecord,
    Reason,
    Verdict,
)
from monitoring.selectors import is_future
from monitoring.services import monitoring_state_advance, stored_snapshot
from patients.models import Dispense, EmergencyReason, Patient, Pharmacy, Role, User
from pharmacy.decisions import (
    CounterDecision,
    counter_decision,
    counter_decision_from_json,
    counter_decision_to_json,
    decision_output,
    dispensing_decision,
    emergency_supply_option,
    patient_decision_inputs,
)
from pharmacy.presenters import decision_body, emergency_field

_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def eligibility_check(
    *,
    patient: Patient,
    pharmacy: Pharmacy,
    actor: User,
    as_of: datetime,
    days_supply: int | None = None,
) -> CounterDecision:
    """The counter's decision, and its audit entry: every eligibility check is a dispensing
    decision an inspector may ask about."""
    decision = counter_decision(
        patient=patient, pharmacy=pharmacy, as_of=as_of, days_supply=days_supply
    )
    assessment = decision.assessment
    audit_record(
        action=Action.ELIGIBILITY_CHECK,
        actor=actor,
        outcome=Outcome.ALLOWED if assessment.decision == Verdict.ALLOWED else Outcome.BLOCKED,
        object_type="patient",
        object_id=patient.pk,
        patient_id=patient.pk,
        inputs=patient_decision_inputs(patient, pharmacy, assessment, days_supply),
        output={
            **decision_output(assessment),
            "emergency_supply": emergency_field(decision.emergency),
            "retitration_warning": decision.retitration_warning,
        },
    )
    return decision


def _authorization_code() -> str:
    return "CLZ-" + "".join(secrets.choice(_CODE_ALPHABET) for _ in range(10))


@dataclass(frozen=True)
class DispenseOutcome:
    dispense: Dispense
    payload: dict[str, Any]
    replayed: bool


@dataclass(frozen=True)
class EmergencyRequest:
    reason: str
    remark: str = ""
    # For a patient with no supply recorded here: the pharmacist's word that the last dose was
    # taken within the protocol's hours (docs/rules.md §10). None: not said.
    last_dose_confirmed: bool | None = None


def _replay(
    existing: Dispense, patient_id: int, days_supply: int, emergency: EmergencyRequest | None
) -> DispenseOutcome:
    reason = emergency.reason if emergency else ""
    if (
        existing.patient_id != patient_id
        or existing.days_supply != days_supply
        or existing.emergency_reason != reason
    ):
        raise StateConflict(
            "This Idempotency-Key was used for a different dispense.", "idempotency_key_reused"
        )
    return DispenseOutcome(existing, dispense_payload(existing), replayed=True)


def dispense_decision(dispense: Dispense) -> CounterDecision | None:
    """The decision the supply was made under (None: a dispense recorded before decisions were
    kept in the engine's terms, or imported without one)."""
    return counter_decision_from_json(dispense.decided) if dispense.decided else None


def dispense_decision_body(dispense: Dispense) -> dict[str, Any] | None:
    """The decision a dispense was made under, as the eligibility check shows it (an older
    dispense: the body it was answered with)."""
    decided = dispense_decision(dispense)
    if decided is None:
        return dispense.decision_as_answered
    return decision_body(decided, dispense.patient_id)


def dispense_payload(dispense: Dispense) -> dict[str, Any]:
    decision = dispense_decision_body(dispense)
    return {
        "id": dispense.pk,
        "authorization_code": dispense.authorization_code,
        "patient": str(dispense.patient_id),
        "pharmacy": dispense.pharmacy_id,
        "days_supply": dispense.days_supply,
        "dispensed_at": dispense.dispensed_at.isoformat(),
        "decision": decision,
        "emergency": emergency_payload(dispense),
        # As the decision found it before this supply (null: none needed, or an older dispense).
        "retitration_warning": (decision or {}).get("retitration_warning"),
    }


def emergency_payload(dispense: Dispense) -> dict[str, Any] | None:
    if not dispense.emergency_reason:
        return None
    return {
        "reason": dispense.emergency_reason,
        "remark": dispense.emergency_remark,
        "reviewed_at": dispense.reviewed_at.isoformat() if dispense.reviewed_at else None,
        "reviewed_by": dispense.reviewed_by_id,
        "review_note": dispense.review_note,
    }


def _emergency_refusal(
    option: EmergencyOption, days_supply: int, protocol: str
) -> RuleRefused | None:
    """Why an emergency supply of `days_supply` is refused (docs/rules.md §10), or None."""
    if option.available and option.needs_last_dose_confirmation:
        return RuleRefused(
            "emergency_supply_refused",
            "No supply is recorded here: confirm that the patient's last dose was "
            "recent (last_dose_confirmed).",
            (Reason.EMERGENCY_SUPPLY_LAST_DOSE_UNKNOWN,),
            protocol=protocol,
        )
    if not option.available:
        return RuleRefused(
            "emergency_supply_refused",
            "An emergency supply is not allowed for this patient now.",
            option.refusals,
            protocol=protocol,
        )
    if days_supply > option.max_days_supply:
        return RuleRefused(
            "emergency_supply_refused",
            f"An emergency supply is at most {option.max_days_supply} days.",
            (Reason.EMERGENCY_SUPPLY_DAYS_EXCEED_LIMIT,),
            protocol=protocol,
        )
    return None


def _emergency_validate(actor: User, emergency: EmergencyRequest) -> EmergencyRequest:
    if actor.role != Role.PHARMACIST:
        # A clinical judgment at the counter: pharmacists only, administrators included.
        raise PermissionDenied("Only a pharmacist may make an emergency supply.")
    if emergency.reason not in EmergencyReason.values:
        raise FieldInvalid("emergency", f"reason is one of {', '.join(EmergencyReason.values)}.")
    remark = emergency.remark.strip()
    if emergency.reason == EmergencyReason.OTHER and not remark:
        raise FieldInvalid("emergency", 'A remark is required when the reason is "other".')
    return EmergencyRequest(emergency.reason, remark, emergency.last_dose_confirmed)


def dispense_record(
    *,
    patient: Patient | None,
    pharmacy: Pharmacy,
    actor: User,
    days_supply: int,
    idempotency_key: str = "",
    dispensed_at: datetime | None = None,
    emergency: EmergencyRequest | None = None,
) -> DispenseOutcome:
    """Record a supply if the rules allow it now (or at `dispensed_at`, for imported history),
    or, with `emergency`, a pharmacist's emergency supply where only a stale ANC blocks it.

    The patient row is locked while the decision is re-checked, so two pharmacists at once
    cannot both dispense past the rules; a replayed Idempotency-Key returns the first answer
    (and writes nothing, not even an audit entry). Every attempt, allowed or blocked, writes
    one audit entry.
    """
    now = timezone.now()
    action = Action.EMERGENCY_SUPPLY_RECORD if emergency else Action.DISPENSE_RECORD
    if emergency is not None:
        emergency = _emergency_validate(actor, emergency)
    request = {
        "days_supply_requested": days_supply,
        "pharmacy_id": pharmacy.pk,
        "idempotency_key": idempotency_key.strip(),
        "emergency": None if emergency is None else vars(emergency),
    }
    if patient is None:
        with audit_refusals(
            action=action,
            actor=actor,
            object_type="patient",
            inputs=request,
            outcome=Outcome.BLOCKED,
        ):
            raise RuleRefused(
                "emergency_supply_refused" if emergency else "dispense_blocked",
                "The patient is not enrolled.",
                (Reason.PATIENT_NOT_ENROLLED,),
            )
    if dispensed_at is not None and is_future(dispensed_at, now):
        raise FieldInvalid("dispensed_at", "A dispense may not be dated in the future.")
    key = idempotency_key.strip()
    if key:
        existing = Dispense.objects.filter(pharmacy=pharmacy, idempotency_key=key).first()
        if existing is not None:
            return _replay(existing, patient.pk, days_supply, emergency)
    try:
        with (
            audit_refusals(
                action=action,
                actor=actor,
                object_type="patient",
                object_id=patient.pk,
                patient_id=patient.pk,
                inputs=request,
                outcome=Outcome.BLOCKED,
            ) as audit_inputs,
            transaction.atomic(),
        ):
            # Lock the patient row first, then read its state in a query of its own: under READ
            # COMMITTED a locking read that joins the state would see the state as it was before
            # a concurrent dispense committed, and both would pass.
            _lock_acting_as(patient.pk, actor)
            locked = Patient.objects.select_related("prescriber", "monitoring", "dose_facts").get(
                pk=patient.pk
            )
            if key:
                existing = Dispense.objects.filter(pharmacy=pharmacy, idempotency_key=key).first()
                if existing is not None:
                    return _replay(existing, patient.pk, days_supply, emergency)
            as_of = dispensed_at or now
            assessment = dispensing_decision(
                patient=locked, pharmacy=pharmacy, as_of=as_of, days_supply=days_supply
            )
            # Information for the pharmacist, never a block (clinical.doses): read from the
            # dose facts loaded with the patient, before this supply is noted in them.
            warning = retitration_warning(patient=locked, now=as_of)
            audit_inputs.update(patient_decision_inputs(locked, pharmacy, assessment, days_supply))
            option = None
            if emergency is None:
                if assessment.decision != Verdict.ALLOWED:
                    option = emergency_supply_option(patient_id=locked.pk, assessment=assessment)
                    refused = CounterDecision(assessment, option, warning, pharmacy.pk)
                    raise RuleRefused(
                        "dispense_blocked",
                        "The rules do not allow this supply now.",
                        [item.code for item in assessment.reasons],
                        protocol=assessment.protocol,
                    ).with_decision(decision_body(refused, locked.pk))
            else:
                option = emergency_supply_option(
                    patient_id=locked.pk,
                    assessment=assessment,
                    last_dose_confirmed=emergency.last_dose_confirmed,
                )
                refusal = _emergency_refusal(option, days_supply, assessment.protocol)
                if refusal is not None:
                    refused = CounterDecision(assessment, option, warning, pharmacy.pk)
                    raise refusal.with_decision(decision_body(refused, locked.pk))
            decided = CounterDecision(assessment, option, warning, pharmacy.pk)
            # The actor was named with the lock; the transaction ends with this block.
            with acting_as(actor, preset=True, last=True):
                dispense = Dispense.objects.create(
                    patient=locked,
                    pharmacy=pharmacy,
                    days_supply=days_supply,
                    dispensed_at=as_of,
                    authorization_code=_authorization_code(),
                    idempotency_key=key,
                    decided=counter_decision_to_json(decided),
                    recorded_by=actor,
                    emergency_reason=emergency.reason if emergency else "",
                    emergency_remark=emergency.remark if emergency else "",
                )
                dose_facts_note_supply(
                    patient_id=locked.pk,
                    stored=stored_facts(locked),
                    dispensed_at=dispense.dispensed_at,
                    days_supply=dispense.days_supply,
                )
                monitoring_state_advance(
                    patient=locked,
                    item=DispenseRecord(
                        dispense.pk, dispense.dispensed_at, dispense.days_supply, bool(emergency)
                    ),
                    now=now,
                    # read after the lock, with the decision
                    stored=stored_snapshot(locked),
                )
                if emergency is not None:
                    _prescriber_notify(dispense, locked)
                audit_record(
                    action=action,
                    actor=actor,
                    outcome=Outcome.ALLOWED,
                    object_type="dispense",
                    object_id=dispense.pk,
                    patient_id=locked.pk,
                    inputs=audit_inputs,
                    output={
                        **decision_output(assessment),
                        "dispense_id": dispense.pk,
                        "days_supply": days_supply,
                        "authorization_code": dispense.authorization_code,
                        "emergency_supply": emergency_field(option),
                        "retitration_warning": warning,
                    },
                )
    except IntegrityError:
        # The same key committed by a concurrent request: answer with that one.
        existing = Dispense.objects.filter(pharmacy=pharmacy, idempotency_key=key).first()
        if key and existing is not None:
            return _replay(existing, patient.pk, days_supply, emergency)
        raise
    return DispenseOutcome(dispense, dispense_payload(dispense), replayed=False)


# The patient's row lock, naming the actor for the field-history triggers in the same statement
# (PostgreSQL; audit.context.acting_as(preset=True)). Constant text: the parameters are bound.
_LOCK_ACTING_AS_SQL = (
    "SELECT " + ACTOR_CONFIG_SQL + " FROM patients_patient WHERE id = %s FOR UPDATE"  # noqa: S608  # nosec B608
)


def _lock_acting_as(patient_id: int, actor: User) -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_LOCK_ACTING_AS_SQL, [*actor_config_params(actor.pk), patient_id])
        return
    # SQLite: one writer at a time anyway; the triggers read the actor from the context.
    lock = Patient.objects.select_for_update(of=("self",)).filter(pk=patient_id)
    list(lock.values_list("pk", flat=True))


def _prescriber_notify(dispense: Dispense, patient: Patient) -> None:
    from engine import get_protocol
    from notifications.messages import patient_label
    from notifications.models import Kind
    from notifications.services import Occasion, notifications_create, recipients_for_prescribers

    label = patient_label(patient.pk, patient.first_name, patient.last_name)
    draw = get_protocol(patient.protocol).draw_name
    reason = dispense.emergency_reason
    opening = (
        f"A pharmacist made an emergency supply of {dispense.days_supply} day(s) for {label} "
        f"because the {draw} was not current (reason: {reason}"
    )
    closing = f"). Arrange a {draw} draw now: the next supply needs a current result."
    remark = f'; the pharmacist noted: "{dispense.emergency_remark}"'
    body = opening + (remark if dispense.emergency_remark else "") + closing
    body_without_remark = (
        opening
        + closing
        + (
            " The pharmacist's remark is on the dispense record in clozrems."
            if dispense.emergency_remark
            else ""
        )
    )
    occasion = Occasion(
        kind=Kind.EMERGENCY_SUPPLY,
        subject_key=f"dispense:{dispense.pk}",
        key_date=local_date(dispense.dispensed_at, clinic_zone()),
        subject=f"Emergency supply of {dispense.days_supply} day(s) for {label}",
        body=body,
        patient_id=patient.pk,
        # E-mail carries no free text: the pharmacist's remark could name someone. It is read
        # in the app and on the dispense record.
        email_body=body_without_remark,
    )
    recipients = recipients_for_prescribers([patient.prescriber_id]).get(patient.prescriber_id, [])
    notifications_create(occasions=[(occasion, recipients)])


def emergency_supply_review(*, dispense: Dispense, actor: User, note: str = "") -> Dispense:
    """An administrator marks an emergency supply reviewed (once)."""
    if not actor.is_admin:
        raise PermissionDenied("Only an administrator reviews emergency supplies.")
    with transaction.atomic(), acting_as(actor):
        locked = Dispense.objects.select_for_update().get(pk=dispense.pk)
        if not locked.emergency_reason:
            raise StateConflict("This dispense is not an emergency supply.", "not_emergency")
        if locked.reviewed_at is not None:
            raise StateConflict("This emergency supply is already reviewed.", "already_reviewed")
        locked.reviewed_at = timezone.now()
        locked.reviewed_by = actor
        locked.review_note = note.strip()
        locked.save(update_fields=["reviewed_at", "reviewed_by", "review_note"])
        audit_record(
            action=Action.EMERGENCY_SUPPLY_REVIEW,
            actor=actor,
            object_type="dispense",
            object_id=locked.pk,
            patient_id=locked.patient_id,
            inputs={"note": locked.review_note},
            output={"reviewed_at": locked.reviewed_at},
        )
    return locked


DIRECTORY_FIELDS = (
    "name",
    "ncpdp_id",
    "active",
    "certified",
    "certified_on",
    "certification_expires_on",
)


def pharmacy_save(*, actor: User, pharmacy: Pharmacy | None, data: dict[str, Any]) -> Pharmacy:
    """Create or change a pharmacy (its certification above all), with its audit entry."""
    with transaction.atomic(), acting_as(actor):
        before = {f: getattr(pharmacy, f) for f in DIRECTORY_FIELDS} if pharmacy else {}
        target = pharmacy or Pharmacy()
        for name, value in data.items():
            setattr(target, name, value)
        target.save()
        after = {f: getattr(target, f) for f in DIRECTORY_FIELDS}
        changed = {
            f: [before.get(f), after[f]] for f in DIRECTORY_FIELDS if before.get(f) != after[f]
        }
        audit_record(
            action=Action.PHARMACY_UPDATE if pharmacy else Action.PHARMACY_CREATE,
            actor=actor,
            object_type="pharmacy",
            object_id=target.pk,
            inputs=data,
            output={"changed": changed},
        )
    return target
