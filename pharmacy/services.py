"""The dispensing decision and recorded dispenses (rules.md §7)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from clozrems.errors import FieldInvalid, RuleRefused, StateConflict
from monitoring.engine.core import local_date
from monitoring.engine.types import Assessment, Decision, DecisionContext, Reason
from monitoring.presenters import decision_payload
from monitoring.selectors import clinic_zone, is_future
from monitoring.services import monitoring_state_refresh, patient_assessment
from patients.models import Patient, User
from pharmacy.models import Dispense, Pharmacy

_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def dispensing_decision(
    *, patient: Patient, pharmacy: Pharmacy, as_of: datetime, days_supply: int | None = None
) -> Assessment:
    """The decision for a supply as of `as_of`; reads the stored state (patient must be loaded
    with `prescriber` and `monitoring`), never writes."""
    day = local_date(as_of, clinic_zone())
    context = DecisionContext(
        prescriber_certified=patient.prescriber.is_certified_on(day),
        pharmacy_certified=pharmacy.is_certified_on(day),
        days_supply=days_supply,
    )
    return patient_assessment(patient=patient, as_of=as_of, context=context)


def _authorization_code() -> str:
    return "CLZ-" + "".join(secrets.choice(_CODE_ALPHABET) for _ in range(10))


@dataclass(frozen=True)
class DispenseOutcome:
    dispense: Dispense
    payload: dict[str, Any]
    replayed: bool


def _replay(existing: Dispense, patient_id: int, days_supply: int) -> DispenseOutcome:
    if existing.patient_id != patient_id or existing.days_supply != days_supply:
        raise StateConflict(
            "This Idempotency-Key was used for a different dispense.", "idempotency_key_reused"
        )
    return DispenseOutcome(existing, dispense_payload(existing), replayed=True)


def dispense_payload(dispense: Dispense) -> dict[str, Any]:
    return {
        "id": dispense.pk,
        "authorization_code": dispense.authorization_code,
        "patient": str(dispense.patient_id),
        "pharmacy": dispense.pharmacy_id,
        "days_supply": dispense.days_supply,
        "dispensed_at": dispense.dispensed_at.isoformat(),
        "decision": dispense.decision,
    }


def dispense_record(
    *,
    patient: Patient | None,
    pharmacy: Pharmacy,
    actor: User,
    days_supply: int,
    idempotency_key: str = "",
    dispensed_at: datetime | None = None,
) -> DispenseOutcome:
    """Record a supply if the rules allow it now (or at `dispensed_at`, for imported history).

    The patient row is locked while the decision is re-checked, so two pharmacists at once
    cannot both dispense past the rules; a replayed Idempotency-Key returns the first answer.
    """
    now = timezone.now()
    if patient is None:
        raise RuleRefused(
            "dispense_blocked", "The patient is not enrolled.", (Reason.PATIENT_NOT_ENROLLED,)
        )
    if dispensed_at is not None and is_future(dispensed_at, now):
        raise FieldInvalid("dispensed_at", "A dispense may not be dated in the future.")
    key = idempotency_key.strip()
    if key:
        existing = Dispense.objects.filter(pharmacy=pharmacy, idempotency_key=key).first()
        if existing is not None:
            return _replay(existing, patient.pk, days_supply)
    try:
        with transaction.atomic():
            # Lock the patient row first, then read its state in a query of its own: under READ
            # COMMITTED a locking read that joins the state would see the state as it was before
            # a concurrent dispense committed, and both would pass.
            lock = Patient.objects.select_for_update(of=("self",)).filter(pk=patient.pk)
            list(lock.values_list("pk", flat=True))
            locked = Patient.objects.select_related("prescriber", "monitoring").get(pk=patient.pk)
            if key:
                existing = Dispense.objects.filter(pharmacy=pharmacy, idempotency_key=key).first()
                if existing is not None:
                    return _replay(existing, patient.pk, days_supply)
            as_of = dispensed_at or now
            assessment = dispensing_decision(
                patient=locked, pharmacy=pharmacy, as_of=as_of, days_supply=days_supply
            )
            payload = decision_payload(locked.pk, assessment, pharmacy_id=pharmacy.pk)
            if assessment.decision != Decision.ALLOWED:
                raise RuleRefused(
                    "dispense_blocked",
                    "The rules do not allow this supply now.",
                    [item.code for item in assessment.reasons],
                ).with_decision(payload)
            dispense = Dispense.objects.create(
                patient=locked,
                pharmacy=pharmacy,
                days_supply=days_supply,
                dispensed_at=as_of,
                authorization_code=_authorization_code(),
                idempotency_key=key,
                decision=payload,
                recorded_by=actor,
            )
            monitoring_state_refresh(patient=locked, now=now)
    except IntegrityError:
        # The same key committed by a concurrent request: answer with that one.
        existing = Dispense.objects.filter(pharmacy=pharmacy, idempotency_key=key).first()
        if key and existing is not None:
            return _replay(existing, patient.pk, days_supply)
        raise
    return DispenseOutcome(dispense, dispense_payload(dispense), replayed=False)
