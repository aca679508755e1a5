"""Reads: a patient's history as the engine's plain data, and the monitoring state."""

from __future__ import annotations

from datetime import datetime, tzinfo
from zoneinfo import ZoneInfo

from django.conf import settings

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
from monitoring.models import AncResult, ResultStatus
from patients.models import Authorization, EnrollmentEvent, Patient, TreatmentEvent
from pharmacy.models import Dispense


def clinic_zone() -> tzinfo:
    """The clinic's calendar (rules.md §3): dates are local dates in settings.TIME_ZONE."""
    return ZoneInfo(settings.TIME_ZONE)


def patient_history(*, patient: Patient) -> PatientHistory:
    """The whole history in five queries, whatever its length."""
    readings = tuple(
        AncReading(r["id"], r["value_per_ul"], r["drawn_at"])
        for r in AncResult.objects.filter(patient=patient, superseded=False)
        .exclude(status=ResultStatus.ENTERED_IN_ERROR)
        .values("id", "value_per_ul", "drawn_at")
    )
    enrollments = tuple(
        EnrollmentRecord(e["effective_date"], e["id"], e["created_at"])
        for e in EnrollmentEvent.objects.filter(patient=patient).values(
            "id", "effective_date", "created_at"
        )
    )
    events = tuple(
        TreatmentEventRecord(
            TreatmentEventKind(t["kind"]), t["effective_date"], t["id"], t["created_at"]
        )
        for t in TreatmentEvent.objects.filter(patient=patient).values(
            "id", "kind", "effective_date", "created_at"
        )
    )
    authorizations = tuple(
        AuthorizationRecord(a["id"], AuthorizationKind(a["kind"]), a["starts_on"], a["expires_on"])
        for a in Authorization.objects.filter(patient=patient).values(
            "id", "kind", "starts_on", "expires_on"
        )
    )
    dispenses = tuple(
        DispenseRecord(d["id"], d["dispensed_at"], d["days_supply"])
        for d in Dispense.objects.filter(patient=patient).values(
            "id", "dispensed_at", "days_supply"
        )
    )
    return PatientHistory(
        population=Population(patient.population),
        protocol=patient.protocol,
        zone=clinic_zone(),
        readings=readings,
        enrollments=enrollments,
        treatment_events=events,
        authorizations=authorizations,
        dispenses=dispenses,
    )


def is_future(moment: datetime, now: datetime, *, skew_minutes: int = 5) -> bool:
    from datetime import timedelta

    return moment > now + timedelta(minutes=skew_minutes)
