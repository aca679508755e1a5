"""Reads: a patient's history as the engine's plain data, and the monitoring state."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, tzinfo
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection
from django.db.models import CharField, F
from django.db.models.functions import Cast

from monitoring.engine.types import (
    AncReading,
    AuthorizationKind,
    AuthorizationRecord,
    DispenseRecord,
    EnrollmentRecord,
    PatientHistory,
    Population,
    TreatmentEventKind,
    TreatmentEventRecord,
)
from monitoring.models import DECISIVE_STATUSES, AncResult
from patients.models import Authorization, EnrollmentEvent, Patient, TreatmentEvent
from pharmacy.models import Dispense


def clinic_zone() -> tzinfo:
    """The clinic's calendar (rules.md §3): dates are local dates in settings.TIME_ZONE."""
    return ZoneInfo(settings.TIME_ZONE)


def patient_history(*, patient: Patient) -> PatientHistory:
    """The whole history in five queries, whatever its length."""
    return patient_histories(patients=[patient])[patient.pk]


def patient_histories(*, patients: Sequence[Patient]) -> dict[int, PatientHistory]:
    """The histories of many patients in five queries (one per table), for set-based work such
    as the rebuild; each patient's items grouped in Python."""
    ids = [p.pk for p in patients]
    readings: dict[int, list[AncReading]] = defaultdict(list)
    results = AncResult.objects.filter(
        patient_id__in=ids, superseded=False, status__in=DECISIVE_STATUSES
    )
    for r in results.annotate(_instant=_instant_of("drawn_at")).values_list(
        "patient_id", "id", "value_per_ul", "_instant"
    ):
        readings[r[0]].append(AncReading(r[1], r[2], _instant(r[3])))
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
