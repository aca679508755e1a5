"""A fluent, immutable builder of engine histories, and the few helpers every engine test uses.

Every call returns a new builder, so a test can branch one history into two. Dates given where a
datetime is needed mean that local date at 09:00 (readings, dispenses) in the clinic's zone;
decisions given a date are made at 12:00 local time. Nothing here reads the clock.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta

from engine import Refusal, enrollment_refusal, evaluate
from engine.types import (
    Assessment,
    AuthorizationKind,
    AuthorizationRecord,
    BloodCount,
    ConsultAcknowledgementRecord,
    DecisionContext,
    DispenseRecord,
    EnrollmentRecord,
    Frequency,
    LimitOverrideRecord,
    PatientHistory,
    Population,
    ReviewAcknowledgementRecord,
    StepDownRecord,
    SuppliedElsewhereRecord,
    TreatmentEventKind,
    TreatmentEventRecord,
)

ZONE = ZoneInfo("America/New_York")
UTC = ZoneInfo("UTC")
PROTOCOL = "us-label-2015"

# A Monday well away from any DST change; most scenarios count days from it.
START = date(2024, 1, 8)

Moment = date | datetime


def day(offset: int, base: date = START) -> date:
    """The local date `offset` days after `base`."""
    return base + timedelta(days=offset)


def months(count: int, base: date = START) -> date:
    """The local date `count` calendar months after `base`."""
    return base + relativedelta(months=count)


def at(on: date, hour: int = 9, minute: int = 0) -> datetime:
    """A timezone-aware local time on `on` in the clinic's zone."""
    return datetime(on.year, on.month, on.day, hour, minute, tzinfo=ZONE)


def _moment(when: Moment, hour: int) -> datetime:
    if isinstance(when, datetime):
        if when.tzinfo is None:
            raise ValueError("datetimes given to the engine must be timezone-aware")
        return when
    return at(when, hour)


@dataclass(frozen=True)
class HistoryBuilder:
    population: Population = Population.GENERAL
    readings: tuple[BloodCount, ...] = ()
    enrollments: tuple[EnrollmentRecord, ...] = ()
    treatment_events: tuple[TreatmentEventRecord, ...] = ()
    authorizations: tuple[AuthorizationRecord, ...] = ()
    dispenses: tuple[DispenseRecord, ...] = ()
    protocol: str = PROTOCOL
    step_downs: tuple[StepDownRecord, ...] = ()
    limit_overrides: tuple[LimitOverrideRecord, ...] = ()
    supplied_elsewhere: tuple[SuppliedElsewhereRecord, ...] = ()
    consult_acknowledgements: tuple[ConsultAcknowledgementRecord, ...] = ()
    review_acknowledgements: tuple[ReviewAcknowledgementRecord, ...] = ()

    # --- results ---------------------------------------------------------------------------

    def anc(
        self,
        value: int,
        when: Moment,
        hour: int = 9,
        *,
        accession: str = "",
        lab: str = "",
        recorded: datetime | None = None,
    ) -> HistoryBuilder:
        """An ANC; `recorded` is when the system stored it (default: when it was drawn)."""
        reading = BloodCount(
            len(self.readings) + 1,
            value,
            _moment(when, hour),
            None,
            accession,
            lab,
            recorded,
        )
        return replace(self, readings=(*self.readings, reading))

    def fbc(
        self,
        neutrophils: int | None,
        wbc: int | None,
        when: Moment,
        hour: int = 9,
        *,
        accession: str = "",
        lab: str = "",
        recorded: datetime | None = None,
    ) -> HistoryBuilder:
        """A result set of one draw (/µL): neutrophils and WBC, either may be missing."""
        reading = BloodCount(
            len(self.readings) + 1,
            neutrophils,
            _moment(when, hour),
            wbc,
            accession,
            lab,
            recorded,
        )
        return replace(self, readings=(*self.readings, reading))

    def wbc(
        self, value: int, when: Moment, hour: int = 9, *, accession: str = "", lab: str = ""
    ) -> HistoryBuilder:
        """A WBC stored on its own (a result of its own, as the store keeps it)."""
        return self.fbc(None, value, when, hour, accession=accession, lab=lab)

    # --- schedule and limits (protocols that have them) -------------------------------------

    def step_down(self, frequency: Frequency, on: date) -> HistoryBuilder:
        record = StepDownRecord(frequency, on, seq=len(self.step_downs) + 1)
        return replace(self, step_downs=(*self.step_downs, record))

    def limits(self, on: date, **values: int) -> HistoryBuilder:
        record = LimitOverrideRecord(
            len(self.limit_overrides) + 1, on, tuple(sorted(values.items()))
        )
        return replace(self, limit_overrides=(*self.limit_overrides, record))

    # --- enrollment and treatment events -----------------------------------------------------

    def enroll(self, on: date, protocol: str = "") -> HistoryBuilder:
        """(Re-)enroll under `protocol` (default: the builder's), as each enrollment records."""
        record = EnrollmentRecord(
            on, seq=len(self.enrollments) + 1, protocol=protocol or self.protocol
        )
        return replace(self, enrollments=(*self.enrollments, record))

    def elsewhere(self, starts_on: date, ends_on: date) -> HistoryBuilder:
        """A period supplied outside this system, first and last day inclusive."""
        record = SuppliedElsewhereRecord(len(self.supplied_elsewhere) + 1, starts_on, ends_on)
        return replace(self, supplied_elsewhere=(*self.supplied_elsewhere, record))

    def consult_acknowledged(self, episode_opened_at: datetime, at_: datetime) -> HistoryBuilder:
        record = ConsultAcknowledgementRecord(episode_opened_at, at_)
        return replace(self, consult_acknowledgements=(*self.consult_acknowledgements, record))

    def reviewed(self, keys: tuple[str, ...], at_: datetime) -> HistoryBuilder:
        record = ReviewAcknowledgementRecord(at_, keys)
        return replace(self, review_acknowledgements=(*self.review_acknowledgements, record))

    def _event(self, kind: TreatmentEventKind, on: date) -> HistoryBuilder:
        record = TreatmentEventRecord(kind, on, seq=len(self.treatment_events) + 1)
        return replace(self, treatment_events=(*self.treatment_events, record))

    def start(self, on: date) -> HistoryBuilder:
        return self._event(TreatmentEventKind.START, on)

    def interrupt(self, on: date) -> HistoryBuilder:
        return self._event(TreatmentEventKind.INTERRUPT, on)

    def resume(self, on: date) -> HistoryBuilder:
        return self._event(TreatmentEventKind.RESUME, on)

    def discontinue(self, on: date) -> HistoryBuilder:
        return self._event(TreatmentEventKind.DISCONTINUE, on)

    # --- authorizations and dispenses -------------------------------------------------------

    def _authorization(
        self,
        kind: AuthorizationKind,
        starts_on: date,
        expires_on: date,
        recorded_at: datetime | None = None,
    ) -> HistoryBuilder:
        # Recorded at 11:00 on its first day unless a test says otherwise: after the day's 09:00
        # draws, before its 12:00 decisions.
        record = AuthorizationRecord(
            len(self.authorizations) + 1,
            kind,
            starts_on,
            expires_on,
            recorded_at if recorded_at is not None else at(starts_on, 11),
        )
        return replace(self, authorizations=(*self.authorizations, record))

    def continuation(
        self, starts_on: date, expires_on: date, recorded_at: datetime | None = None
    ) -> HistoryBuilder:
        return self._authorization(
            AuthorizationKind.CONTINUATION, starts_on, expires_on, recorded_at
        )

    def rechallenge(
        self, starts_on: date, expires_on: date, recorded_at: datetime | None = None
    ) -> HistoryBuilder:
        return self._authorization(
            AuthorizationKind.RECHALLENGE, starts_on, expires_on, recorded_at
        )

    def dispense(
        self, when: Moment, days_supply: int, hour: int = 9, *, emergency: bool = False
    ) -> HistoryBuilder:
        record = DispenseRecord(
            len(self.dispenses) + 1, _moment(when, hour), days_supply, emergency
        )
        return replace(self, dispenses=(*self.dispenses, record))

    # --- output -------------------------------------------------------------------------------

    def build(self) -> PatientHistory:
        return PatientHistory(
            population=self.population,
            protocol=self.protocol,
            zone=ZONE,
            readings=self.readings,
            enrollments=self.enrollments,
            treatment_events=self.treatment_events,
            authorizations=self.authorizations,
            dispenses=self.dispenses,
            step_downs=self.step_downs,
            limit_overrides=self.limit_overrides,
            supplied_elsewhere=self.supplied_elsewhere,
            consult_acknowledgements=self.consult_acknowledgements,
            review_acknowledgements=self.review_acknowledgements,
        )


def general() -> HistoryBuilder:
    return HistoryBuilder(Population.GENERAL)


def ben() -> HistoryBuilder:
    return HistoryBuilder(Population.BEN)


def started_patient(
    population: Population = Population.GENERAL, on: date = START, anc: int = 2000
) -> HistoryBuilder:
    """Enrolled and started on `on` with a normal ANC drawn that morning (BEN: two baselines,
    the first a week earlier)."""
    builder = HistoryBuilder(population)
    if population == Population.BEN:
        builder = builder.anc(anc, day(-7, on))
    return builder.anc(anc, on, hour=8).enroll(on).start(on)


def monthly_patient(population: Population = Population.GENERAL) -> HistoryBuilder:
    """Started on START, so from months(12) (day 366) on its routine interval is monthly; the
    tests put its episodes around day 420."""
    return started_patient(population)


def decide(
    history: HistoryBuilder | PatientHistory,
    when: Moment,
    *,
    days_supply: int | None = None,
    prescriber_certified: bool = True,
    pharmacy_certified: bool | None = True,
) -> Assessment:
    """The engine's reference path, `evaluate`, with a full decision context."""
    built = history.build() if isinstance(history, HistoryBuilder) else history
    context = DecisionContext(
        prescriber_certified=prescriber_certified,
        pharmacy_certified=pharmacy_certified,
        days_supply=days_supply,
    )
    return evaluate(built, _moment(when, 12), context)


def enrollment_refusal_for(
    history: HistoryBuilder | PatientHistory, on: date, *, prescriber_certified: bool = True
) -> Refusal | None:
    """`enrollment_refusal` for a builder or a history."""
    built = history.build() if isinstance(history, HistoryBuilder) else history
    return enrollment_refusal(built, on, prescriber_certified=prescriber_certified)
