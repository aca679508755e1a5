"""The pharmacist's emergency supply (docs/rules.md §10): when it is offered, and for how many
days. Pure.

It bridges a short gap when only the lab is late. Offered only when every condition holds; when
one fails, the option names it (its refusal code), so the counter can say why:
- the decision is blocked by `anc_not_current` alone (a requested supply longer than allowed is
  tolerated: the emergency supply has its own limit), for an enrolled patient on active
  treatment, under a protocol that has an emergency supply at all;
- the latest ANC is in the normal band and no older than its window + the protocol's grace days;
- no episode is open, the patient is not in the closer monitoring that follows an episode, and
  no confirmation or consult is pending;
- the supply recorded here (or a period supplied elsewhere) ran out no more than the protocol's
  hours ago - after that the dose must be re-titrated, which is the prescriber's call; for a
  patient with no supply recorded here, the pharmacist confirms the last dose was that recent;
- no emergency supply was made since that ANC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from engine.core import (
    days_on_hand,
    local_date,
    start_of_day,
    supply_allowance,
    utc,
)
from engine.protocols import get_protocol
from engine.types import (
    REASON_ORDER,
    Assessment,
    EnrollmentStatus,
    Reason,
    TreatmentStatus,
    Verdict,
)


@dataclass(frozen=True, slots=True)
class EmergencyOption:
    max_days_supply: int
    refusals: tuple[Reason, ...]
    # No supply is recorded here: the pharmacist must confirm that the last dose was recent.
    needs_last_dose_confirmation: bool = False

    @property
    def available(self) -> bool:
        return not self.refusals


def assessment_allowance(assessment: Assessment, zone: tzinfo) -> int:
    """The days the frequency's largest supply still allows, after the supply on hand."""
    rules = get_protocol(assessment.protocol)
    day = local_date(assessment.as_of, zone)
    on_hand = days_on_hand(assessment.supply_until, day)
    return supply_allowance(rules, assessment.monitoring_frequency, on_hand)


def _ran_out_at(assessment: Assessment, zone: tzinfo) -> datetime | None:
    """When the supply recorded for the patient (here or elsewhere) ran out, if any is."""
    ends = [
        d
        for d in (
            assessment.supply_until if assessment.has_dispenses else None,
            assessment.elsewhere_until,
        )
        if d is not None
    ]
    if not ends:
        return None
    return utc(start_of_day(max(ends), zone))


def emergency_option(
    assessment: Assessment,
    zone: tzinfo,
    *,
    used_since_latest_anc: bool,
    last_dose_confirmed: bool | None = None,
) -> EmergencyOption:
    """Whether an emergency supply is offered for this decision. `last_dose_confirmed`: the
    pharmacist's word that the patient took a dose within the protocol's hours (asked only when
    no supply is recorded for the patient); None when not asked yet."""
    rules = get_protocol(assessment.protocol)
    codes = {item.code for item in assessment.reasons}
    if assessment.decision == Verdict.ALLOWED:
        return EmergencyOption(0, (Reason.EMERGENCY_SUPPLY_NOT_NEEDED,))
    day = local_date(assessment.as_of, zone)
    allowance = assessment_allowance(assessment, zone)
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
    if assessment.band != rules.normal_band:
        refusals.add(Reason.EMERGENCY_SUPPLY_BAND_NOT_NORMAL)
    if assessment.confirmation_due is not None:
        refusals.add(Reason.EMERGENCY_SUPPLY_CONFIRMATION_PENDING)
    if assessment.hematology_consult:
        refusals.add(Reason.EMERGENCY_SUPPLY_CONSULT_PENDING)
    if assessment.weekly_until is not None and day <= assessment.weekly_until:
        refusals.add(Reason.EMERGENCY_SUPPLY_AFTER_EPISODE)
    if assessment.current_until is not None and day > assessment.current_until + timedelta(
        days=rules.emergency_anc_grace_days
    ):
        refusals.add(Reason.EMERGENCY_SUPPLY_ANC_TOO_OLD)
    ran_out = _ran_out_at(assessment, zone)
    needs_confirmation = False
    if ran_out is not None:
        if utc(assessment.as_of) - ran_out > timedelta(hours=rules.emergency_last_dose_hours):
            refusals.add(Reason.EMERGENCY_SUPPLY_OFF_CLOZAPINE)
    elif last_dose_confirmed is False:
        refusals.add(Reason.EMERGENCY_SUPPLY_OFF_CLOZAPINE)
    elif last_dose_confirmed is None:
        needs_confirmation = True
    if used_since_latest_anc:
        refusals.add(Reason.EMERGENCY_SUPPLY_ALREADY_USED)
    if refusals:
        ordered = tuple(sorted(refusals, key=REASON_ORDER.__getitem__))
        return EmergencyOption(0, ordered, needs_confirmation)
    return EmergencyOption(
        min(rules.emergency_supply_max_days, allowance),
        (),
        needs_last_dose_confirmation=needs_confirmation,
    )
