"""A counter decision as the API and the counter page show it: one presenter for both (the
decision's fields are described in docs/api.md)."""

from __future__ import annotations

from typing import Any

from engine.emergency import EmergencyOption
from engine.types import Reason, ReasonItem
from engine.wording import reason_message
from monitoring.presenters import decision_payload
from pharmacy.decisions import CounterDecision


def emergency_field(option: EmergencyOption | None) -> dict[str, Any] | None:
    if option is None or not option.available:
        return None
    return {
        "available": True,
        "max_days_supply": option.max_days_supply,
        "needs_last_dose_confirmation": option.needs_last_dose_confirmation,
    }


def emergency_withheld(option: EmergencyOption | None, protocol: str) -> list[dict[str, str]]:
    """Each condition that withholds the emergency supply (none when it is offered, not needed
    or not asked about), in the patient's protocol's words."""
    if option is None or option.available:
        return []
    if option.refusals == (Reason.EMERGENCY_SUPPLY_NOT_NEEDED,):
        return []
    return [ReasonItem(code, reason_message(code, protocol)).as_dict() for code in option.refusals]


def decision_body(decision: CounterDecision, patient_id: int) -> dict[str, Any]:
    """The dispensing decision's fields: the engine's picture and decision, the emergency
    supply, and the re-titration information."""
    protocol = decision.assessment.protocol
    body = decision_payload(patient_id, decision.assessment, pharmacy_id=decision.pharmacy_id)
    body["emergency_supply"] = emergency_field(decision.emergency)
    body["emergency_supply_withheld"] = emergency_withheld(decision.emergency, protocol)
    body["retitration_warning"] = decision.retitration_warning
    return body
