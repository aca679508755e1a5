"""The pharmacist's emergency supply: when it is available, and for how many days. Pure.

The safe reading of the issue: available only when a decision is blocked *solely* because the
ANC is not current (`anc_not_current`, with `days_supply_exceeds_limit` tolerated only when it
comes from the requested days, not from supply already on hand), for an enrolled patient on
active treatment whose band is normal with no episode, confirmation or consult pending, and at
most once per ANC. Never for a low band, an uncertified prescriber or pharmacy, a patient not
enrolled, interrupted or discontinued.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import tzinfo

from monitoring.engine.core import local_date
from monitoring.engine.protocols import get_protocol
from monitoring.engine.types import (
    REASON_ORDER,
    Assessment,
    Decision,
    EnrollmentStatus,
    Reason,
    TreatmentStatus,
)


@dataclass(frozen=True, slots=True)
class EmergencyOption:
    max_days_supply: int
    refusals: tuple[Reason, ...]

    @property
    def available(self) -> bool:
        return not self.refusals


def supply_allowance(assessment: Assessment, zone: tzinfo) -> int:
    """The days the frequency's largest supply still allows, after the supply on hand."""
    frequency = assessment.monitoring_frequency
    if frequency is None:
        return 0
    rules = get_protocol(assessment.protocol)
    day = local_date(assessment.as_of, zone)
    on_hand_after_today = 0
    if assessment.supply_until is not None:
        on_hand_after_today = max(0, (assessment.supply_until - day).days - 1)
    return max(0, rules.max_supply_days[frequency] - on_hand_after_today)


def emergency_option(
    assessment: Assessment, zone: tzinfo, *, used_since_latest_anc: bool
) -> EmergencyOption:
    rules = get_protocol(assessment.protocol)
    codes = {item.code for item in assessment.reasons}
    if assessment.decision == Decision.ALLOWED:
        return EmergencyOption(0, (Reason.EMERGENCY_SUPPLY_NOT_NEEDED,))
    allowance = supply_allowance(assessment, zone)
    refusals = set(codes - {Reason.ANC_NOT_CURRENT, Reason.DAYS_SUPPLY_EXCEEDS_LIMIT})
    if allowance == 0:
        refusals.add(Reason.DAYS_SUPPLY_EXCEEDS_LIMIT)
    if (
        Reason.ANC_NOT_CURRENT not in codes
        or rules.emergency_supply_max_days <= 0
        or assessment.enrollment_status != EnrollmentStatus.ENROLLED
        or assessment.treatment_status != TreatmentStatus.ACTIVE
    ):
        refusals.add(Reason.EMERGENCY_SUPPLY_NOT_AVAILABLE)
    if (
        assessment.band != rules.normal_band
        or assessment.confirmation_due is not None
        or assessment.hematology_consult
    ):
        refusals.add(Reason.EMERGENCY_SUPPLY_BAND_NOT_NORMAL)
    if used_since_latest_anc:
        refusals.add(Reason.EMERGENCY_SUPPLY_ALREADY_USED)
    if refusals:
        return EmergencyOption(0, tuple(sorted(refusals, key=REASON_ORDER.__getitem__)))
    return EmergencyOption(min(rules.emergency_supply_max_days, allowance), ())
