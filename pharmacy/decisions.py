"""Deciding at the counter: the engine's dispensing decision for one patient, pharmacy and
instant, the emergency supply it opens or withholds, and the re-titration information beside it
(docs/rules.md §7 and §10). Nothing here writes: `pharmacy.services` audits a check and records
a dispense; `pharmacy.presenters` turns a decision into the API's and the counter page's fields.

A `CounterDecision` is domain data: a dispense keeps the one it was made under (`Dispense.decided`,
stored by `counter_decision_to_json`), and the presenter renders it again on every read, so the
stored record never depends on the shape of an HTTP answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter

from clinical.selectors import retitration_warning
from clozrems.zones import clinic_zone
from engine.core import local_date
from engine.emergency import EmergencyOption, emergency_option
from engine.protocols import get_protocol
from engine.types import Assessment, DecisionContext, Reason
from monitoring.presenters import result_inputs
from monitoring.services import patient_assessment
from patients.models import Dispense, Patient, Pharmacy


@dataclass(frozen=True)
class CounterDecision:
    """What the counter is told about one supply: the engine's assessment (with the decision),
    the emergency supply (None: not asked, as for an allowed dispense) and the re-titration
    information (never a block)."""

    assessment: Assessment
    emergency: EmergencyOption | None
    retitration_warning: dict[str, Any] | None
    pharmacy_id: int | None = None


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


def emergency_supply_option(
    *, patient_id: int, assessment: Assessment, last_dose_confirmed: bool | None = None
) -> EmergencyOption:
    """Whether a pharmacist's emergency supply is open for this decision (docs/rules.md §10).
    Queries the dispenses only when the decision is blocked for a stale ANC (the rare path)."""
    used = False
    codes = {item.code for item in assessment.reasons}
    if Reason.ANC_NOT_CURRENT in codes and assessment.latest_anc is not None:
        used = (
            Dispense.objects.filter(
                patient_id=patient_id,
                dispensed_at__gt=assessment.latest_anc.drawn_at,
                dispensed_at__lte=assessment.as_of,
            )
            .exclude(emergency_reason="")
            .exists()
        )
    return emergency_option(
        assessment,
        clinic_zone(),
        used_since_latest_anc=used,
        last_dose_confirmed=last_dose_confirmed,
    )


def counter_decision(
    *, patient: Patient, pharmacy: Pharmacy, as_of: datetime, days_supply: int | None = None
) -> CounterDecision:
    """The whole answer the counter needs, unaudited (`pharmacy.services.eligibility_check`
    audits it). The re-titration information is read from the dose facts loaded with the
    patient, so it describes the moment before any supply being recorded now."""
    assessment = dispensing_decision(
        patient=patient, pharmacy=pharmacy, as_of=as_of, days_supply=days_supply
    )
    return CounterDecision(
        assessment=assessment,
        emergency=emergency_supply_option(patient_id=patient.pk, assessment=assessment),
        retitration_warning=retitration_warning(patient=patient, now=as_of),
        pharmacy_id=pharmacy.pk,
    )


# --- what the audit trail keeps of a decision ------------------------------------------------


def decision_inputs(
    assessment: Assessment,
    *,
    days_supply: int | None,
    pharmacy_id: int | None,
    prescriber_certified: bool | None = None,
    pharmacy_certified: bool | None = None,
) -> dict[str, Any]:
    """What a dispensing decision used: the ANC it judged (id, value, draw time), the protocol
    and its version, the instant, the request, the certifications and authorizations."""
    return {
        "as_of": assessment.as_of,
        "protocol": assessment.protocol,
        "protocol_version": get_protocol(assessment.protocol).version,
        "latest_anc": result_inputs(assessment.latest_anc),
        "days_supply_requested": days_supply,
        "pharmacy_id": pharmacy_id,
        "prescriber_certified": prescriber_certified,
        "pharmacy_certified": pharmacy_certified,
        "authorization_ids": [a.authorization_id for a in assessment.authorizations],
        "supply_until": assessment.supply_until,
    }


def patient_decision_inputs(
    patient: Patient, pharmacy: Pharmacy, assessment: Assessment, days_supply: int | None
) -> dict[str, Any]:
    day = local_date(assessment.as_of, clinic_zone())
    return decision_inputs(
        assessment,
        days_supply=days_supply,
        pharmacy_id=pharmacy.pk,
        prescriber_certified=patient.prescriber.is_certified_on(day),
        pharmacy_certified=pharmacy.is_certified_on(day),
    )


def decision_output(assessment: Assessment) -> dict[str, Any]:
    return {
        "decision": assessment.decision.value,
        "reasons": assessment.reason_codes,
        "max_days_supply": assessment.max_days_supply,
        "band": assessment.band.value if assessment.band else None,
        "monitoring_frequency": assessment.monitoring_frequency.value
        if assessment.monitoring_frequency
        else None,
    }


# --- a dispense's decision, stored -----------------------------------------------------------

# The engine's types are plain dataclasses and enums; pydantic reads and writes them as JSON
# (dates as ISO 8601), exactly: `counter_decision_from_json(counter_decision_to_json(d)) == d`.
_STORED = TypeAdapter(CounterDecision)


def counter_decision_to_json(decision: CounterDecision) -> dict[str, Any]:
    return _STORED.dump_python(decision, mode="json")


def counter_decision_from_json(data: dict[str, Any]) -> CounterDecision:
    return _STORED.validate_python(data)


@dataclass(frozen=True)
class StoredVerdict:
    """The decision a dispense was recorded under, in brief: what the reports compare with the
    decision replayed as of the dispense. Empty fields: nothing was kept (an imported supply)."""

    decision: str | None
    reasons: tuple[str, ...]
    max_days_supply: int | None


def dispense_verdict(dispense: Dispense) -> StoredVerdict:
    if dispense.decided:
        a = counter_decision_from_json(dispense.decided).assessment
        return StoredVerdict(a.decision.value, tuple(a.reason_codes), a.max_days_supply)
    body = dispense.decision_as_answered or {}
    reasons = tuple(
        item.get("code", "") if isinstance(item, dict) else str(item)
        for item in body.get("reasons", [])
    )
    return StoredVerdict(body.get("decision"), reasons, body.get("max_days_supply"))
