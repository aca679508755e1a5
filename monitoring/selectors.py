"""Reads: a patient's history as the engine's plain data, and the monitoring state."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, tzinfo
from typing import NamedTuple
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection
from django.db.models import CharField, F
from django.db.models.functions import Cast

from monitoring.engine.protocols import get_protocol
from monitoring.engine.types import (
    AncReading,
    AuthorizationKind,
    AuthorizationRecord,
    DispenseRecord,
    EnrollmentRecord,
    Frequency,
    LimitOverrideRecord,
    PatientHistory,
    Population,
    StepDownRecord,
    TreatmentEventKind,
    TreatmentEventRecord,
)
from monitoring.models import DECISIVE_STATUSES, AncResult, ResultAnalyte, StepDownConfirmation
from patients.models import (
    Authorization,
    EnrollmentEvent,
    LimitAgreement,
    Patient,
    TreatmentEvent,
)
from pharmacy.models import Dispense


def clinic_zone() -> tzinfo:
    """The clinic's calendar (rules.md §3): dates are local dates in settings.TIME_ZONE."""
    return ZoneInfo(settings.TIME_ZONE)


def patient_history(*, patient: Patient) -> PatientHistory:
    """The whole history in five queries, whatever its length."""
    return patient_histories(patients=[patient])[patient.pk]


class LabCount(NamedTuple):
    """One stored count (an ANC or a WBC) as the pairing reads it."""

    result_id: int
    value_per_ul: int
    drawn_at: datetime
    accession: str
    lab: str


def _same_specimen(anc: LabCount, wbc: LabCount) -> bool:
    """uk-cpms reading 1: the same draw instant, and the same accession (and lab) when both
    results carry one."""
    if anc.drawn_at != wbc.drawn_at:
        return False
    if anc.accession and wbc.accession:
        return (anc.accession, anc.lab) == (wbc.accession, wbc.lab)
    return True


def result_sets(ancs: Iterable[LabCount], wbcs: Iterable[LabCount]) -> list[AncReading]:
    """Each ANC with the WBC of its draw (if any), then each WBC left without an ANC: the
    result sets a protocol reading both counts is given (incomplete ones included)."""
    by_instant: dict[datetime, list[LabCount]] = defaultdict(list)
    for wbc in sorted(wbcs):
        by_instant[wbc.drawn_at].append(wbc)
    used: set[int] = set()
    sets: list[AncReading] = []
    for anc in sorted(ancs):
        partner = next(
            (
                w
                for w in by_instant.get(anc.drawn_at, ())
                if w.result_id not in used and _same_specimen(anc, w)
            ),
            None,
        )
        if partner is not None:
            used.add(partner.result_id)
        sets.append(
            AncReading(
                anc.result_id,
                anc.value_per_ul,
                anc.drawn_at,
                partner.value_per_ul if partner is not None else None,
            )
        )
    for group in by_instant.values():
        for wbc in group:
            if wbc.result_id not in used:
                sets.append(AncReading(wbc.result_id, None, wbc.drawn_at, wbc.value_per_ul))
    return sets


def patient_histories(*, patients: Sequence[Patient]) -> dict[int, PatientHistory]:
    """The histories of many patients in five queries (one per table), for set-based work such
    as the rebuild; each patient's items grouped in Python. Patients on a protocol with
    step-down confirmations or per-patient limits add one query for each of those."""
    ids = [p.pk for p in patients]
    rules = {p.pk: get_protocol(p.protocol) for p in patients}
    analytes = {a for r in rules.values() for a in r.analytes}
    counts: dict[int, dict[str, list[LabCount]]] = defaultdict(lambda: defaultdict(list))
    results = AncResult.objects.filter(
        patient_id__in=ids,
        superseded=False,
        status__in=DECISIVE_STATUSES,
        analyte__in=sorted(analytes),
    )
    for r in results.annotate(_instant=_instant_of("drawn_at")).values_list(
        "patient_id", "id", "value_per_ul", "_instant", "analyte", "accession", "lab"
    ):
        if r[4] in rules[r[0]].analytes:
            counts[r[0]][r[4]].append(LabCount(r[1], r[2], _instant(r[3]), r[5], r[6]))
    readings: dict[int, list[AncReading]] = {}
    for pk, by_analyte in counts.items():
        ancs = by_analyte.get(ResultAnalyte.ANC, [])
        if ResultAnalyte.WBC in rules[pk].analytes:
            readings[pk] = result_sets(ancs, by_analyte.get(ResultAnalyte.WBC, []))
        else:
            readings[pk] = [AncReading(c.result_id, c.value_per_ul, c.drawn_at) for c in ancs]
    enrollments: dict[int, list[EnrollmentRecord]] = defaultdict(list)
    for e in EnrollmentEvent.objects.filter(patient_id__in=ids).values_list(
        "patient_id", "effective_date", "id", "created_at"
    ):
        enrollments[e[0]].append(EnrollmentRecord(e[1], e[2], e[3]))
    events: dict[int, list[TreatmentEventRecord]] = defaultdict(list)
    for t in TreatmentEvent.objects.filter(patient_id__in=ids).values_list(
        "patient_id", "kind", "effective_date", "id", "created_at"
    ):
        events[t[0]].append(TreatmentEventRecord(TreatmentEventKind(t[1]), t[2], t[3], t[4]))
    authorizations: dict[int, list[AuthorizationRecord]] = defaultdict(list)
    for a in Authorization.objects.filter(patient_id__in=ids).values_list(
        "patient_id", "id", "kind", "starts_on", "expires_on"
    ):
        authorizations[a[0]].append(AuthorizationRecord(a[1], AuthorizationKind(a[2]), a[3], a[4]))
    dispenses: dict[int, list[DispenseRecord]] = defaultdict(list)
    for d in (
        Dispense.objects.filter(patient_id__in=ids)
        .annotate(_instant=_instant_of("dispensed_at"))
        .values_list("patient_id", "id", "_instant", "days_supply")
    ):
        dispenses[d[0]].append(DispenseRecord(d[1], _instant(d[2]), d[3]))
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
            readings=tuple(readings.get(p.pk, ())),
            enrollments=tuple(enrollments[p.pk]),
            treatment_events=tuple(events[p.pk]),
            authorizations=tuple(authorizations[p.pk]),
            dispenses=tuple(dispenses[p.pk]),
            step_downs=tuple(step_downs[p.pk]),
            limit_overrides=tuple(overrides[p.pk]),
        )
        for p in patients
    }


def _instant_of(field: str) -> Cast | F:
    """`field` for `_instant`. On PostgreSQL as UTC text: Django parses timestamptz with
    psycopg's pure-Python loader, a third of a rebuild's time; `datetime.fromisoformat` (C)
    reads the text exactly."""
    return Cast(field, CharField()) if connection.vendor == "postgresql" else F(field)


def _instant(value: datetime | str) -> datetime:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def is_future(moment: datetime, now: datetime, *, skew_minutes: int = 5) -> bool:
    from datetime import timedelta

    return moment > now + timedelta(minutes=skew_minutes)
