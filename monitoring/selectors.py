"""Reads: a patient's history as the engine's plain data, and the monitoring state."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Protocol

from django.db import connection
from django.db.models import CharField, F
from django.db.models.functions import Cast

from clozrems.zones import clinic_zone
from engine.protocols import get_protocol
from engine.types import (
    AuthorizationKind,
    AuthorizationRecord,
    BloodCount,
    ConsultAcknowledgementRecord,
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
    reading_of,
)
from monitoring.models import (
    DECISIVE_STATUSES,
    ConsultAcknowledgement,
    LabResult,
    ResultAnalyte,
    ReviewAcknowledgement,
    StepDownConfirmation,
    SuppliedElsewhere,
)
from patients.models import (
    Authorization,
    Dispense,
    EnrollmentEvent,
    LimitAgreement,
    Patient,
    TreatmentEvent,
)


def patient_history(*, patient: Patient) -> PatientHistory:
    """The whole history in a fixed number of queries, whatever its length."""
    return patient_histories(patients=[patient])[patient.pk]


class HistoryOwner(Protocol):
    """What `patient_histories` reads of a patient: a `Patient`, or a row of its columns."""

    @property
    def pk(self) -> Any: ...
    @property
    def population(self) -> str: ...
    @property
    def protocol(self) -> str: ...


def patient_histories(
    *, patients: Sequence[HistoryOwner], within: tuple[int, int] | None = None
) -> dict[int, PatientHistory]:
    """The histories of many patients in a fixed number of queries (one per table), for
    set-based work such as the rebuild; each patient's items grouped in Python. Patients on a
    protocol with step-down confirmations or per-patient limits add one query for each of
    those. `within` (lo, hi): `patients` are every patient with an id in lo <= id < hi, so the
    rows are read by that range (one index range scan, no list of ids to send).

    Every usable count (ANC and WBC) is given as it was stored, with its accession, laboratory
    and recording time: the engine groups them into draws (docs/rules.md §9.3) and reads each
    draw under the protocol in force when it was drawn (§9.11)."""
    ids = [p.pk for p in patients]
    rules = {p.pk: get_protocol(p.protocol) for p in patients}
    mine: dict[str, Any] = (
        {"patient_id__in": ids}
        if within is None
        else {"patient_id__gte": within[0], "patient_id__lt": within[1]}
    )
    parse = instant_parser()
    readings: dict[int, list[BloodCount]] = defaultdict(list)
    # Each patient's results in the model's order (newest draw first), patient by patient: the
    # index on (patient, drawn_at) gives that order nearly sorted, where the model's order alone
    # sorts the whole chunk's results.
    results = LabResult.objects.filter(
        **mine, superseded=False, status__in=DECISIVE_STATUSES
    ).order_by("-patient_id", "-drawn_at", "-id")
    wbc_analyte = ResultAnalyte.WBC.value
    for patient_id, pk, value, drawn, analyte, accession, lab, recorded in results.annotate(
        _instant=instant_text_of("drawn_at"), _recorded=instant_text_of("created_at")
    ).values_list(
        "patient_id", "id", "value_per_ul", "_instant", "analyte", "accession", "lab", "_recorded"
    ):
        wbc = analyte == wbc_analyte
        readings[patient_id].append(
            reading_of(
                pk,
                None if wbc else value,
                parse(drawn),
                value if wbc else None,
                accession,
                lab,
                parse(recorded),
            )
        )
    enrollments: dict[int, list[EnrollmentRecord]] = defaultdict(list)
    for e in (
        EnrollmentEvent.objects.filter(**mine)
        .annotate(_recorded=instant_text_of("created_at"))
        .values_list("patient_id", "effective_date", "id", "_recorded", "protocol")
    ):
        enrollments[e[0]].append(EnrollmentRecord(e[1], e[2], parse(e[3]), e[4]))
    events: dict[int, list[TreatmentEventRecord]] = defaultdict(list)
    for t in (
        TreatmentEvent.objects.filter(**mine)
        .annotate(_recorded=instant_text_of("created_at"))
        .values_list("patient_id", "kind", "effective_date", "id", "_recorded")
    ):
        events[t[0]].append(TreatmentEventRecord(TreatmentEventKind(t[1]), t[2], t[3], parse(t[4])))
    authorizations: dict[int, list[AuthorizationRecord]] = defaultdict(list)
    for a in (
        Authorization.objects.filter(**mine)
        .annotate(_recorded=instant_text_of("created_at"))
        .values_list("patient_id", "id", "kind", "starts_on", "expires_on", "_recorded")
    ):
        authorizations[a[0]].append(
            AuthorizationRecord(a[1], AuthorizationKind(a[2]), a[3], a[4], parse(a[5]))
        )
    dispenses: dict[int, list[DispenseRecord]] = defaultdict(list)
    for d in (
        Dispense.objects.filter(**mine)
        .annotate(_instant=instant_text_of("dispensed_at"))
        .values_list("patient_id", "id", "_instant", "days_supply", "emergency_reason")
    ):
        dispenses[d[0]].append(DispenseRecord(d[1], parse(d[2]), d[3], bool(d[4])))
    elsewhere: dict[int, list[SuppliedElsewhereRecord]] = defaultdict(list)
    for x in SuppliedElsewhere.objects.filter(**mine).values_list(
        "patient_id", "id", "starts_on", "ends_on"
    ):
        elsewhere[x[0]].append(SuppliedElsewhereRecord(x[1], x[2], x[3]))
    consults: dict[int, list[ConsultAcknowledgementRecord]] = defaultdict(list)
    for c in ConsultAcknowledgement.objects.filter(**mine).values_list(
        "patient_id", "episode_opened_at", "acknowledged_at"
    ):
        consults[c[0]].append(ConsultAcknowledgementRecord(c[1], c[2]))
    reviews: dict[int, list[ReviewAcknowledgementRecord]] = defaultdict(list)
    for v in ReviewAcknowledgement.objects.filter(**mine).values_list(
        "patient_id", "acknowledged_at", "keys"
    ):
        reviews[v[0]].append(ReviewAcknowledgementRecord(v[1], tuple(str(k) for k in v[2])))
    step_downs: dict[int, list[StepDownRecord]] = defaultdict(list)
    stepping = [pk for pk, r in rules.items() if r.step_down_needs_confirmation]
    if stepping:
        for s in StepDownConfirmation.objects.filter(patient_id__in=stepping).values_list(
            "patient_id", "frequency", "effective_date", "id", "created_at"
        ):
            step_downs[s[0]].append(StepDownRecord(Frequency(s[1]), s[2], s[3], s[4]))
    overrides: dict[int, list[LimitOverrideRecord]] = defaultdict(list)
    limited = [pk for pk, r in rules.items() if r.overridable_limits]
    if limited:
        for o in LimitAgreement.objects.filter(patient_id__in=limited).values_list(
            "patient_id", "id", "agreed_on", "limits"
        ):
            agreed = tuple(sorted((str(k), int(v)) for k, v in o[3].items()))
            overrides[o[0]].append(LimitOverrideRecord(o[1], o[2], agreed))
    zone = clinic_zone()
    return {
        p.pk: PatientHistory(
            population=Population(p.population),
            protocol=p.protocol,
            zone=zone,
            readings=tuple(readings[p.pk]),
            enrollments=tuple(enrollments[p.pk]),
            treatment_events=tuple(events[p.pk]),
            authorizations=tuple(authorizations[p.pk]),
            dispenses=tuple(dispenses[p.pk]),
            step_downs=tuple(step_downs[p.pk]),
            limit_overrides=tuple(overrides[p.pk]),
            supplied_elsewhere=tuple(elsewhere[p.pk]),
            consult_acknowledgements=tuple(consults[p.pk]),
            review_acknowledgements=tuple(reviews[p.pk]),
        )
        for p in patients
    }


def instant_text_of(field: str) -> Cast | F:
    """`field` for `_instant`. On PostgreSQL as UTC text: Django parses timestamptz with
    psycopg's pure-Python loader, a third of a rebuild's time; `datetime.fromisoformat` (C)
    reads the text exactly."""
    return Cast(field, CharField()) if connection.vendor == "postgresql" else F(field)


def instant_from(value: datetime | str) -> datetime:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def instant_parser() -> Callable[[Any], datetime]:
    """What reads an `instant_text_of` column on this connection, bound once for many rows."""
    return datetime.fromisoformat if connection.vendor == "postgresql" else instant_from


def is_future(moment: datetime, now: datetime, *, skew_minutes: int = 5) -> bool:
    from datetime import timedelta

    return moment > now + timedelta(minutes=skew_minutes)
