"""Plain data for the protocol engine: enums shared with models and serializers, inputs and outputs.

Nothing here touches the ORM, the clock or settings. The string values are the ones rules.md
and api.md use, so they go on the wire unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from enum import StrEnum
from typing import Any


class Population(StrEnum):
    GENERAL = "general"
    BEN = "ben"


class Band(StrEnum):
    NORMAL = "normal"
    MILD = "mild"
    MODERATE = "moderate"
    SEVERE = "severe"
    BEN_NEUTROPENIA = "ben_neutropenia"
    # uk-cpms traffic lights
    GREEN = "green"
    AMBER = "amber"
    RED = "red"


class Frequency(StrEnum):
    DAILY = "daily"
    THREE_TIMES_WEEKLY = "three_times_weekly"
    WEEKLY = "weekly"
    EVERY_2_WEEKS = "every_2_weeks"
    MONTHLY = "monthly"
    # uk-cpms
    TWICE_WEEKLY = "twice_weekly"
    EVERY_4_WEEKS = "every_4_weeks"


class EnrollmentStatus(StrEnum):
    PENDING = "pending"
    ENROLLED = "enrolled"
    REENROLLMENT_REQUIRED = "reenrollment_required"
    DISCONTINUED = "discontinued"


class TreatmentStatus(StrEnum):
    NOT_STARTED = "not_started"
    ACTIVE = "active"
    INTERRUPTED = "interrupted"
    DISCONTINUED = "discontinued"


class TreatmentEventKind(StrEnum):
    START = "start"
    INTERRUPT = "interrupt"
    RESUME = "resume"
    DISCONTINUE = "discontinue"


class AuthorizationKind(StrEnum):
    CONTINUATION = "continuation"
    RECHALLENGE = "rechallenge"


class Decision(StrEnum):
    ALLOWED = "allowed"
    BLOCKED = "blocked"


class Reason(StrEnum):
    """Codes of rules.md §7 (in the table's order), then the enrollment refusals of api.md."""

    PATIENT_NOT_ENROLLED = "patient_not_enrolled"
    PRESCRIBER_NOT_CERTIFIED = "prescriber_not_certified"
    PHARMACY_NOT_CERTIFIED = "pharmacy_not_certified"
    NO_ANC_ON_FILE = "no_anc_on_file"
    ANC_NOT_CURRENT = "anc_not_current"
    BASELINE_INCOMPLETE = "baseline_incomplete"
    TREATMENT_INTERRUPTED = "treatment_interrupted"
    TREATMENT_DISCONTINUED = "treatment_discontinued"
    RECHALLENGE_NOT_AUTHORIZED = "rechallenge_not_authorized"
    DAYS_SUPPLY_EXCEEDS_LIMIT = "days_supply_exceeds_limit"
    # Enrollment refusals (api.md), also used when treatment would start below the threshold.
    ANC_NOT_RECENT = "anc_not_recent"
    ANC_BELOW_THRESHOLD = "anc_below_threshold"
    # Refusals of a pharmacist's emergency supply (monitoring/engine/emergency.py).
    EMERGENCY_SUPPLY_NOT_NEEDED = "emergency_supply_not_needed"
    EMERGENCY_SUPPLY_NOT_AVAILABLE = "emergency_supply_not_available"
    EMERGENCY_SUPPLY_BAND_NOT_NORMAL = "emergency_supply_band_not_normal"
    EMERGENCY_SUPPLY_ALREADY_USED = "emergency_supply_already_used"
    EMERGENCY_SUPPLY_DAYS_EXCEED_LIMIT = "emergency_supply_days_exceed_limit"


REASON_MESSAGES: dict[Reason, str] = {
    Reason.PATIENT_NOT_ENROLLED: "The patient is not enrolled (pending, or re-enrollment needed).",
    Reason.PRESCRIBER_NOT_CERTIFIED: "The responsible prescriber is not active and certified.",
    Reason.PHARMACY_NOT_CERTIFIED: "The dispensing pharmacy is not active and certified.",
    Reason.NO_ANC_ON_FILE: "There is no ANC result on file for this patient.",
    Reason.ANC_NOT_CURRENT: "The latest ANC is older than the monitoring frequency allows.",
    Reason.BASELINE_INCOMPLETE: "A BEN patient needs two baseline ANCs before the first dose.",
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
    Reason.ANC_NOT_RECENT: "No ANC was drawn in the 30 days before the enrollment date.",
    Reason.ANC_BELOW_THRESHOLD: "The latest ANC is below the threshold this step requires.",
    Reason.EMERGENCY_SUPPLY_NOT_NEEDED: (
        "The rules allow a regular supply now; an emergency supply is not needed."
    ),
    Reason.EMERGENCY_SUPPLY_NOT_AVAILABLE: (
        "An emergency supply is possible only when the sole block is an ANC that is not "
        "current, for an enrolled patient on active treatment."
    ),
    Reason.EMERGENCY_SUPPLY_BAND_NOT_NORMAL: (
        "No emergency supply while the ANC band is not normal, an episode is open, or a "
        "confirmation or hematology consult is pending."
    ),
    Reason.EMERGENCY_SUPPLY_ALREADY_USED: (
        "An emergency supply was already made since the latest ANC; a new ANC is needed."
    ),
    Reason.EMERGENCY_SUPPLY_DAYS_EXCEED_LIMIT: (
        "The requested days' supply is longer than the emergency supply allows."
    ),
}

REASON_ORDER: dict[Reason, int] = {reason: index for index, reason in enumerate(Reason)}


def choices(enum_cls: type[StrEnum]) -> list[tuple[str, str]]:
    """(value, label) pairs for a model or serializer field."""
    return [(member.value, member.value.replace("_", " ")) for member in enum_cls]


# --- inputs -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AncReading:
    """One usable result set (final or corrected, not voided, not superseded) of one draw.

    `value_per_ul` is the absolute neutrophil count; `wbc_per_ul` the white cell count of the
    same draw, given only to protocols that read it (`ProtocolRules.analytes`). Either may be
    missing from a set: the protocol decides what an incomplete set means (`band_of` None: it
    says nothing). A protocol that reads the ANC alone is only ever given sets with an ANC.
    """

    result_id: int
    value_per_ul: int | None
    drawn_at: datetime
    wbc_per_ul: int | None = None


@dataclass(frozen=True, slots=True)
class EnrollmentRecord:
    effective_date: date
    seq: int = 0
    # When it was recorded: orders same-date enrollments and treatment events.
    recorded_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class TreatmentEventRecord:
    kind: TreatmentEventKind
    effective_date: date
    seq: int = 0
    recorded_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class AuthorizationRecord:
    authorization_id: int
    kind: AuthorizationKind
    starts_on: date
    expires_on: date

    def in_force_on(self, day: date) -> bool:
        return self.starts_on <= day <= self.expires_on


@dataclass(frozen=True, slots=True)
class StepDownRecord:
    """A prescriber's confirmation of the longer routine interval the schedule offers."""

    frequency: Frequency
    effective_date: date
    seq: int = 0
    recorded_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class LimitOverrideRecord:
    """Per-patient band limits agreed with a haematologist (e.g. uk-cpms for a BEN patient),
    in force from `effective_on`; `limits` pairs a protocol's limit names with values /µL."""

    override_id: int
    effective_on: date
    limits: tuple[tuple[str, int], ...]


@dataclass(frozen=True, slots=True)
class DispenseRecord:
    dispense_id: int
    dispensed_at: datetime
    days_supply: int


@dataclass(frozen=True, slots=True)
class PatientHistory:
    """Everything the engine may know of one patient. `zone` is the clinic's time zone."""

    population: Population
    protocol: str
    zone: tzinfo
    readings: tuple[AncReading, ...] = ()
    enrollments: tuple[EnrollmentRecord, ...] = ()
    treatment_events: tuple[TreatmentEventRecord, ...] = ()
    authorizations: tuple[AuthorizationRecord, ...] = ()
    dispenses: tuple[DispenseRecord, ...] = ()
    step_downs: tuple[StepDownRecord, ...] = ()
    limit_overrides: tuple[LimitOverrideRecord, ...] = ()


# --- the replayed state ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LatestAnc:
    """The latest result set the rules read (its ANC, and its WBC where the protocol reads it)."""

    result_id: int
    value_per_ul: int | None
    drawn_at: datetime
    drawn_on: date
    wbc_per_ul: int | None = None


@dataclass(frozen=True, slots=True)
class Episode:
    """A run of results below the normal threshold, from the first low one to recovery."""

    worst: Band
    opened_at: datetime
    confirmation_deadline: datetime
    confirmation_pending: bool
    caused_interruption: bool
    rechallenge_flag_before: bool
    # Consecutive results in a row that meet the protocol's recovery (uk-cpms red: two greens).
    recovering: int = 0


@dataclass(slots=True)
class Snapshot:
    """The patient's state right after the last item of its history (`high_water`).

    Projecting it to any `as_of` at or after `high_water` gives the same answer as replaying the
    history up to `as_of`; this is what the stored monitoring state holds. A value: the engine
    changes only the snapshots it is building (replay) or has copied (projection).
    """

    protocol: str
    population: Population
    high_water: datetime | None
    enrollment_status: EnrollmentStatus
    enrolled_on: date | None
    treatment_status: TreatmentStatus
    clock_started_on: date | None
    first_dose_on: date | None
    interrupted_by_prescriber_on: date | None
    interrupted_by_neutropenia_on: date | None
    lapsed_on: date | None
    has_dispenses: bool
    supply_until: date | None
    latest: LatestAnc | None
    baseline_sum: int
    baseline_count: int
    episode: Episode | None
    weekly_until: date | None
    needs_rechallenge: bool
    authorizations: tuple[AuthorizationRecord, ...]
    notes: tuple[str, ...] = field(default=())
    # A prescriber-confirmed routine interval (protocols whose step-downs need one), valid for
    # the treatment clock that started on `confirmed_for_clock` only.
    confirmed_routine: Frequency | None = None
    confirmed_for_clock: date | None = None
    limit_overrides: tuple[LimitOverrideRecord, ...] = ()

    def baseline_per_ul(self) -> float | None:
        if self.baseline_count == 0:
            return None
        return self.baseline_sum / self.baseline_count


# --- outputs --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReasonItem:
    code: Reason
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code.value, "message": self.message}


@dataclass(frozen=True, slots=True)
class Assessment:
    """The monitoring picture (and, when asked, the dispensing decision) as of one instant."""

    as_of: datetime
    protocol: str
    population: Population
    enrollment_status: EnrollmentStatus
    treatment_status: TreatmentStatus
    band: Band | None
    monitoring_frequency: Frequency | None
    latest_anc: LatestAnc | None
    next_draw_due: date | None
    current_until: date | None
    confirmation_due: datetime | None
    hematology_consult: bool
    authorizations: tuple[AuthorizationRecord, ...]
    clock_started_on: date | None
    interrupted_since: date | None
    lapse_on: date | None
    # The date a 30-day interruption made re-enrollment necessary, when it has.
    lapsed_on: date | None
    needs_rechallenge: bool
    baseline_per_ul: float | None
    baseline_count: int
    supply_until: date | None
    decision: Decision
    max_days_supply: int
    reasons: tuple[ReasonItem, ...]
    protocol_version: str = ""
    # The longer routine interval the schedule offers and the prescriber has not confirmed yet.
    step_down_offered: Frequency | None = None
    # The band limits in force (/µL) when a per-patient override applies, else None.
    limits: tuple[tuple[str, int], ...] | None = None

    @property
    def reason_codes(self) -> list[str]:
        return [item.code.value for item in self.reasons]

    @property
    def authorization(self) -> AuthorizationRecord | None:
        """The authorization to show first: a continuation, else a rechallenge."""
        ordered = sorted(
            self.authorizations, key=lambda a: a.kind != AuthorizationKind.CONTINUATION
        )
        return ordered[0] if ordered else None


@dataclass(frozen=True, slots=True)
class DecisionContext:
    """Facts outside the patient's history that a dispensing decision needs."""

    prescriber_certified: bool
    pharmacy_certified: bool | None = None
    days_supply: int | None = None


def as_jsonable(value: Any) -> Any:
    """A snapshot (or part of it) as JSON-ready data; see codec.snapshot_from_json."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, tuple | list):
        return [as_jsonable(v) for v in value]
    if hasattr(value, "__dataclass_fields__"):
        return {name: as_jsonable(getattr(value, name)) for name in value.__dataclass_fields__}
    return value
