"""Plain data for the protocol engine: enums shared with models and serializers, inputs and outputs.

Nothing here touches the ORM, the clock or settings. The string values are the ones docs/rules.md
and the HTTP contract use, so they go on the wire unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
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


class Verdict(StrEnum):
    ALLOWED = "allowed"
    BLOCKED = "blocked"


class Reason(StrEnum):
    """Codes of docs/rules.md §7 (in the table's order), then the enrollment refusals."""

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
    # Enrollment refusals (docs/api.md), also used when treatment would start below the threshold.
    ANC_NOT_RECENT = "anc_not_recent"
    ANC_BELOW_THRESHOLD = "anc_below_threshold"
    # Refusals of a pharmacist's emergency supply (engine/emergency.py).
    EMERGENCY_SUPPLY_NOT_NEEDED = "emergency_supply_not_needed"
    EMERGENCY_SUPPLY_NOT_AVAILABLE = "emergency_supply_not_available"
    EMERGENCY_SUPPLY_BAND_NOT_NORMAL = "emergency_supply_band_not_normal"
    EMERGENCY_SUPPLY_ALREADY_USED = "emergency_supply_already_used"
    EMERGENCY_SUPPLY_DAYS_EXCEED_LIMIT = "emergency_supply_days_exceed_limit"
    EMERGENCY_SUPPLY_ANC_TOO_OLD = "emergency_supply_anc_too_old"
    EMERGENCY_SUPPLY_AFTER_EPISODE = "emergency_supply_after_episode"
    EMERGENCY_SUPPLY_OFF_CLOZAPINE = "emergency_supply_off_clozapine"
    EMERGENCY_SUPPLY_LAST_DOSE_UNKNOWN = "emergency_supply_last_dose_unknown"
    EMERGENCY_SUPPLY_CONFIRMATION_PENDING = "emergency_supply_confirmation_pending"
    EMERGENCY_SUPPLY_CONSULT_PENDING = "emergency_supply_consult_pending"


REASON_ORDER: dict[Reason, int] = {reason: index for index, reason in enumerate(Reason)}


def choices(enum_cls: type[StrEnum]) -> list[tuple[str, str]]:
    """(value, label) pairs for a model or serializer field."""
    return [(member.value, member.value.replace("_", " ")) for member in enum_cls]


# --- inputs -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BloodCount:
    """One stored lab result as the engine is given it: an ANC (`value_per_ul`), a WBC
    (`wbc_per_ul`), or both when the caller already holds them as one set.

    The engine groups results into draws itself (docs/rules.md §9.3): results with the same draw
    instant, or the same laboratory and accession, are one draw, and the worse value of each
    count is the draw's. `recorded_at` is when the system stored the result: a result counts for
    decisions from then at the latest (§9.6), and what was on record when an authorization was
    written is what it answers (§9.5). None means "known when drawn" (tests, imports).
    """

    result_id: int
    value_per_ul: int | None
    drawn_at: datetime
    wbc_per_ul: int | None = None
    accession: str = ""
    lab: str = ""
    recorded_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class EnrollmentRecord:
    effective_date: date
    seq: int = 0
    # When it was recorded: orders same-date enrollments and treatment events.
    recorded_at: datetime | None = None
    # The protocol the patient was (re-)enrolled under; "" means the patient's protocol.
    protocol: str = ""


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
    # When the prescriber recorded it: it answers what was on record then (docs/rules.md §9.5).
    recorded_at: datetime | None = None

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
    # A pharmacist's emergency supply (docs/rules.md §10).
    emergency: bool = False


@dataclass(frozen=True, slots=True)
class SuppliedElsewhereRecord:
    """A period in which the patient was supplied outside this system (an inpatient stay,
    another pharmacy system), first and last day inclusive (docs/rules.md §9.14)."""

    record_id: int
    starts_on: date
    ends_on: date


@dataclass(frozen=True, slots=True)
class ConsultAcknowledgementRecord:
    """The prescriber arranged (or decided on) the hematology consult of the episode that opened
    at `episode_opened_at`."""

    episode_opened_at: datetime
    acknowledged_at: datetime


@dataclass(frozen=True, slots=True)
class ReviewAcknowledgementRecord:
    """The prescriber reviewed the conflicts named by `keys` (see `Conflict.key`)."""

    acknowledged_at: datetime
    keys: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PatientHistory:
    """Everything the engine may know of one patient. `zone` is the clinic's time zone."""

    population: Population
    protocol: str
    zone: tzinfo
    readings: tuple[BloodCount, ...] = ()
    enrollments: tuple[EnrollmentRecord, ...] = ()
    treatment_events: tuple[TreatmentEventRecord, ...] = ()
    authorizations: tuple[AuthorizationRecord, ...] = ()
    dispenses: tuple[DispenseRecord, ...] = ()
    step_downs: tuple[StepDownRecord, ...] = ()
    limit_overrides: tuple[LimitOverrideRecord, ...] = ()
    supplied_elsewhere: tuple[SuppliedElsewhereRecord, ...] = ()
    consult_acknowledgements: tuple[ConsultAcknowledgementRecord, ...] = ()
    review_acknowledgements: tuple[ReviewAcknowledgementRecord, ...] = ()


# --- the replayed state ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LatestCount:
    """The latest complete draw the rules read (its ANC, and its WBC where the protocol reads
    it): the result a decision's currency, an enrollment and a start are judged on."""

    result_id: int
    value_per_ul: int | None
    drawn_at: datetime
    drawn_on: date
    wbc_per_ul: int | None = None
    # When the draw was on record (None: when drawn).
    known_at: datetime | None = None


def _slot_setters(kind: type, names: tuple[str, ...]) -> tuple[Callable[[Any, Any], None], ...]:
    return tuple(kind.__dict__[name].__set__ for name in names)


_new = object.__new__
_READING_SET = _slot_setters(
    BloodCount,
    ("result_id", "value_per_ul", "drawn_at", "wbc_per_ul", "accession", "lab", "recorded_at"),
)
_LATEST_SET = _slot_setters(
    LatestCount, ("result_id", "value_per_ul", "drawn_at", "drawn_on", "wbc_per_ul", "known_at")
)


def reading_of(
    result_id: int,
    value_per_ul: int | None,
    drawn_at: datetime,
    wbc_per_ul: int | None,
    accession: str,
    lab: str,
    recorded_at: datetime | None,
) -> BloodCount:
    """`BloodCount(...)` with every field given: the same value, made at half the cost (a
    frozen dataclass's constructor sets each field through `object.__setattr__`; the rebuild
    makes one for every stored result, and the replay one for every draw)."""
    reading = _new(BloodCount)
    r0, r1, r2, r3, r4, r5, r6 = _READING_SET
    r0(reading, result_id)
    r1(reading, value_per_ul)
    r2(reading, drawn_at)
    r3(reading, wbc_per_ul)
    r4(reading, accession)
    r5(reading, lab)
    r6(reading, recorded_at)
    return reading


def latest_of(
    result_id: int,
    value_per_ul: int | None,
    drawn_at: datetime,
    drawn_on: date,
    wbc_per_ul: int | None,
    known_at: datetime | None,
) -> LatestCount:
    """`LatestCount(...)` with every field given, as `reading_of` makes an `BloodCount` (the
    replay makes one for every complete draw)."""
    latest = _new(LatestCount)
    l0, l1, l2, l3, l4, l5 = _LATEST_SET
    l0(latest, result_id)
    l1(latest, value_per_ul)
    l2(latest, drawn_at)
    l3(latest, drawn_on)
    l4(latest, wbc_per_ul)
    l5(latest, known_at)
    return latest


@dataclass(frozen=True, slots=True)
class Episode:
    """A run of draws below the normal threshold, from the first low one to recovery."""

    worst: Band
    opened_at: datetime
    confirmation_deadline: datetime
    confirmation_pending: bool
    caused_interruption: bool
    rechallenge_flag_before: bool
    # Consecutive draws in a row that meet the protocol's recovery (uk-cpms red: two greens).
    recovering: int = 0
    # The band of the draw that opened it (a severe first result keeps its interruption even
    # when a normal repeat leaves it unconfirmed, docs/rules.md §9.4).
    first_band: Band | None = None
    # Per draw in the episode: when it was on record and its band's severity, so that an
    # authorization answers the episode as it stood when the authorization was written (§9.5).
    known: tuple[tuple[datetime, int], ...] = ()
    # The rechallenge "since" in force before this episode (restored if it is unconfirmed).
    rechallenge_since_before: datetime | None = None


@dataclass(frozen=True, slots=True)
class AuthorizationScope:
    """What a continuation authorization answers (docs/rules.md §9.5): the episode open on its
    first day, and no band worse than `cap` (a protocol's severity), the episode's worst band as
    it was on record when the authorization was written. `episode_opened_at` None: it found no
    episode and covers nothing."""

    authorization_id: int
    episode_opened_at: datetime | None
    cap: int
    # When the authorization was on record: later-filed draws of the episode do not raise `cap`.
    known_at: datetime


@dataclass(frozen=True, slots=True)
class Conflict:
    """A recorded clinician act that later data would have made refusable (docs/rules.md §9.1):
    the act stands, and the prescriber is asked to review it. `key` identifies the act and the
    result it conflicts with, so a review acknowledges exactly what was seen."""

    code: str
    message: str
    key: str
    on: date

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message, "on": self.on.isoformat()}


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
    latest: LatestCount | None
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
    # The BEN baseline (docs/rules.md §9.8): the last two ANCs before the current course's first
    # dose; `baseline_fresh` counts those drawn in the current course (a course that ended in a
    # lapse or discontinuation never lends its values to the next one's count).
    baseline: tuple[int, ...] = ()
    baseline_fresh: int = 0
    course_dosed: bool = False
    # An episode a normal repeat left unconfirmed, kept until its 24 hours are over: a later low
    # result within them confirms it after all (docs/rules.md §1).
    refuted: Episode | None = None
    # An enrollment whose labs are judged once its day's results are all in (§9.1).
    enrollment_check: tuple[date, int] | None = None
    # When the severe result that made a rechallenge necessary was on record: a rechallenge
    # authorization written before it does not answer it (docs/rules.md §9.5).
    rechallenge_since: datetime | None = None
    scopes: tuple[AuthorizationScope, ...] = ()
    # Rechallenge authorizations a resume (or start) has used: each lifts one episode.
    used_authorizations: tuple[int, ...] = ()
    # The first day after the latest period supplied elsewhere (docs/rules.md §9.14).
    elsewhere_until: date | None = None
    # The episode (its first low draw) whose hematology consult is still flagged after the
    # episode closed, until the prescriber acknowledges it (docs/rules.md §9.4).
    consult_pending: datetime | None = None
    consults_acknowledged: tuple[datetime, ...] = ()
    conflicts: tuple[Conflict, ...] = ()
    reviewed: tuple[str, ...] = ()
    # The draw time of an incomplete result set newer than `latest` (it does not count, §9.9),
    # and the worst band such sets showed: one count alone may still worsen the band.
    incomplete_at: datetime | None = None
    incomplete_band: Band | None = None
    # The replay's sort key of the last item applied (local date, rank, instant, precedence,
    # id): one more item that sorts after it may be applied to this snapshot alone.
    last_key: tuple[date, int, datetime, int, int] | None = None

    def baseline_per_ul(self) -> float | None:
        if not self.baseline:
            return None
        return sum(self.baseline) / len(self.baseline)

    def __copy__(self) -> Snapshot:
        # A shallow copy, as copy.copy makes one, without its generic reduce machinery: the
        # engine copies a snapshot for every projection and every step it applies alone.
        return type(self)(*[getattr(self, name) for name in _SNAPSHOT_FIELDS])


# --- outputs --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReasonItem:
    code: Reason
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code.value, "message": self.message}


class WarningCode(StrEnum):
    """Information that never blocks a supply (docs/api.md `warnings`)."""

    CONFIRMATION_OVERDUE = "confirmation_overdue"
    REVIEW_NEEDED = "review_needed"
    RETITRATION_NEEDED = "retitration_needed"
    INCOMPLETE_RESULT = "incomplete_result"


@dataclass(frozen=True, slots=True)
class Notice:
    code: WarningCode
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
    latest_anc: LatestCount | None
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
    decision: Verdict
    max_days_supply: int
    reasons: tuple[ReasonItem, ...]
    protocol_version: str = ""
    # The longer routine interval the schedule offers and the prescriber has not confirmed yet.
    step_down_offered: Frequency | None = None
    # The band limits in force (/µL) when a per-patient override applies, else None.
    limits: tuple[tuple[str, int], ...] | None = None
    warnings: tuple[Notice, ...] = ()
    # Recorded acts that later data conflict with, not yet reviewed (docs/rules.md §9.1).
    review_needed: tuple[Conflict, ...] = ()
    # The last day of the closer monitoring after an episode, and whether supply is tracked here.
    weekly_until: date | None = None
    has_dispenses: bool = False
    elsewhere_until: date | None = None
    # The authorizations in force that actually answer the patient's state now.
    applying: tuple[int, ...] = ()

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
    kind = type(value)
    # The exact types a snapshot holds first (a rebuild encodes every patient's snapshot);
    # anything else - a subclass, an enum - as the general rules below say.
    if kind in _PLAIN:
        return value
    if kind is datetime or kind is date:
        return value.isoformat()
    if kind in _ENUMS:
        return value.value
    if kind is tuple or kind is list:
        return [as_jsonable(v) for v in value]
    names = _DATACLASS_FIELDS.get(kind)
    if names is not None:
        return {name: as_jsonable(getattr(value, name)) for name in names}
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, tuple | list):
        return [as_jsonable(v) for v in value]
    if hasattr(value, "__dataclass_fields__"):
        return {name: as_jsonable(getattr(value, name)) for name in value.__dataclass_fields__}
    return value


_SNAPSHOT_FIELDS: tuple[str, ...] = tuple(Snapshot.__dataclass_fields__)
_PLAIN: frozenset[type] = frozenset({type(None), int, str, bool, float})
_ENUMS: frozenset[type] = frozenset(
    {Population, Band, Frequency, EnrollmentStatus, TreatmentStatus, AuthorizationKind}
)
# The field names of the dataclasses a snapshot is made of, in their order.
_DATACLASS_FIELDS: dict[type, tuple[str, ...]] = {
    kind: tuple(kind.__dataclass_fields__)
    for kind in (
        Snapshot,
        LatestCount,
        Episode,
        AuthorizationRecord,
        AuthorizationScope,
        LimitOverrideRecord,
        Conflict,
    )
}
