"""The reasons a decision or a refusal gives, and what lifts each block, in each protocol's own
words: what its draw is called, how many baselines a BEN patient needs, how recent the labs at
enrollment must be. Every sentence is written once here; the numbers and words come from the
protocol module (engine/protocols/), never from the caller (docs/rules.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from types import MappingProxyType

from engine.protocols import get_protocol
from engine.protocols.base import ProtocolRules
from engine.types import Reason

_NUMBERS = {1: "one", 2: "two", 3: "three", 4: "four"}

_REASON_TEMPLATES: dict[Reason, str] = {
    Reason.PATIENT_NOT_ENROLLED: "The patient is not enrolled (pending, or re-enrollment needed).",
    Reason.PRESCRIBER_NOT_CERTIFIED: "The responsible prescriber is not active and certified.",
    Reason.PHARMACY_NOT_CERTIFIED: "The dispensing pharmacy is not active and certified.",
    Reason.NO_ANC_ON_FILE: "There is no {draw} result on file for this patient.",
    Reason.ANC_NOT_CURRENT: "The latest {draw} is older than the monitoring frequency allows.",
    Reason.BASELINE_INCOMPLETE: "A BEN patient needs {baselines} before the first dose.",
    Reason.TREATMENT_INTERRUPTED: (
        "Treatment is interrupted and no prescriber authorization is in force."
    ),
    Reason.TREATMENT_DISCONTINUED: "Treatment has been discontinued.",
    Reason.RECHALLENGE_NOT_AUTHORIZED: (
        "After severe neutropenia, treatment needs a prescriber's rechallenge authorization."
    ),
    Reason.DAYS_SUPPLY_EXCEEDS_LIMIT: (
        "The requested supply is longer than the largest supply allowed now."
    ),
    Reason.ANC_NOT_RECENT: "No {draw} was drawn in the {lab_days} days before the enrollment date.",
    Reason.ANC_BELOW_THRESHOLD: "The latest {draw} is below the threshold this step requires.",
    Reason.EMERGENCY_SUPPLY_NOT_NEEDED: (
        "The rules allow a regular supply now; an emergency supply is not needed."
    ),
    Reason.EMERGENCY_SUPPLY_NOT_AVAILABLE: (
        "An emergency supply is possible only when the sole block is a {draw} that is not "
        "current, for an enrolled patient on active treatment."
    ),
    Reason.EMERGENCY_SUPPLY_BAND_NOT_NORMAL: (
        "No emergency supply while the band is not normal or a low-count episode is open."
    ),
    Reason.EMERGENCY_SUPPLY_CONFIRMATION_PENDING: (
        "No emergency supply while a repeat that confirms a low result is pending."
    ),
    Reason.EMERGENCY_SUPPLY_CONSULT_PENDING: (
        "No emergency supply while a {consult} consult is pending (not yet acknowledged)."
    ),
    Reason.EMERGENCY_SUPPLY_ALREADY_USED: (
        "An emergency supply was already made since the latest {draw}; a new {draw} is needed."
    ),
    Reason.EMERGENCY_SUPPLY_DAYS_EXCEED_LIMIT: (
        "The requested days' supply is longer than the emergency supply allows."
    ),
    Reason.EMERGENCY_SUPPLY_ANC_TOO_OLD: (
        "The latest {draw} is too long past its window for an emergency supply; a new "
        "{draw} is needed first."
    ),
    Reason.EMERGENCY_SUPPLY_AFTER_EPISODE: (
        "No emergency supply in the weeks of closer monitoring that follow a low-count episode."
    ),
    Reason.EMERGENCY_SUPPLY_OFF_CLOZAPINE: (
        "The last recorded supply ran out too long ago: after this long off clozapine the dose "
        "must be re-titrated, which is the prescriber's decision."
    ),
    Reason.EMERGENCY_SUPPLY_LAST_DOSE_UNKNOWN: (
        "No supply is recorded here: the pharmacist must confirm when the patient's last dose "
        "was taken."
    ),
}

# What would lift each block, in plain words for the counter.
_REMEDY_TEMPLATES: dict[Reason, str] = {
    Reason.PATIENT_NOT_ENROLLED: "The prescriber must enroll (or re-enroll) the patient.",
    Reason.PRESCRIBER_NOT_CERTIFIED: "The prescriber's certification must be renewed.",
    Reason.PHARMACY_NOT_CERTIFIED: "Your pharmacy's certification must be renewed.",
    Reason.NO_ANC_ON_FILE: "A blood draw ({draw}) must be done and its result entered.",
    Reason.ANC_NOT_CURRENT: "A new blood draw is needed; ask the prescriber or the lab.",
    Reason.BASELINE_INCOMPLETE: "The patient needs {baselines} before the first dose.",
    Reason.TREATMENT_INTERRUPTED: (
        "The prescriber must resume treatment or record a continuation authorization."
    ),
    Reason.TREATMENT_DISCONTINUED: "Treatment was stopped; the prescriber must re-enroll.",
    Reason.RECHALLENGE_NOT_AUTHORIZED: "The prescriber must record a rechallenge authorization.",
    Reason.DAYS_SUPPLY_EXCEEDS_LIMIT: "Dispense no more than the days shown as allowed.",
}


def protocol_words(rules: ProtocolRules) -> dict[str, str]:
    """The protocol's words the sentences are filled with."""
    count = rules.ben_baselines_required
    plural = "" if count == 1 else "s"
    return {
        "draw": rules.draw_name,
        "consult": rules.consult_name,
        "baselines": f"{_NUMBERS.get(count, str(count))} baseline {rules.draw_name}{plural}",
        "lab_days": str(rules.enrollment_lab_days),
    }


@cache
def reason_messages(protocol: str) -> Mapping[Reason, str]:
    """Every reason's sentence for this protocol."""
    words = protocol_words(get_protocol(protocol))
    return MappingProxyType(
        {code: text.format(**words) for code, text in _REASON_TEMPLATES.items()}
    )


@cache
def reason_remedies(protocol: str) -> Mapping[Reason, str]:
    """What lifts each block, for this protocol (blocks with no remedy to give are absent)."""
    words = protocol_words(get_protocol(protocol))
    return MappingProxyType(
        {code: text.format(**words) for code, text in _REMEDY_TEMPLATES.items()}
    )


def reason_message(code: Reason, protocol: str) -> str:
    return reason_messages(protocol)[code]


def repeat_due_caution(protocol: str, by: str) -> str:
    """The counter's caution when a first low result's repeat is due (it does not block a
    supply): the protocol's hours and draw, and when (`by`, as the clinic reads it)."""
    rules = get_protocol(protocol)
    return (
        f"A {rules.confirmation_hours}-hour repeat {rules.draw_name} is due by {by}: "
        "remind the patient to have it drawn."
    )
