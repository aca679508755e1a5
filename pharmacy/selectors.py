"""Reads for pharmacies: the worklist of patients whose draw is due before the next pickup."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db.models import Max, OuterRef, Subquery

from clozrems.zones import clinic_zone
from engine import assess
from engine.codec import snapshot_from_json
from engine.types import EnrollmentStatus, TreatmentStatus
from monitoring.models import MonitoringState
from patients.models import Dispense, Pharmacy, User


def pharmacy_worklist(
    *, pharmacy: Pharmacy, now: datetime, recent_days: int = 60, due_within_days: int = 0
) -> list[dict[str, Any]]:
    """One query: stored states whose next draw is due by the horizon, of patients dispensed at
    this pharmacy in the last `recent_days`; each re-projected to now, most overdue first."""
    zone = clinic_zone()
    today = now.astimezone(zone).date()
    horizon = today + timedelta(days=due_within_days)
    last_here = (
        Dispense.objects.filter(patient_id=OuterRef("patient_id"), pharmacy=pharmacy)
        .values("patient_id")
        .annotate(last=Max("dispensed_at"))
        .values("last")
    )
    rows = (
        MonitoringState.objects.filter(
            enrollment_status=EnrollmentStatus.ENROLLED, next_draw_due__lte=horizon
        )
        .annotate(last_dispensed_at=Subquery(last_here))
        .filter(last_dispensed_at__gte=now - timedelta(days=recent_days))
        .values(
            "patient_id",
            "snapshot",
            "last_dispensed_at",
            "patient__first_name",
            "patient__last_name",
            "patient__date_of_birth",
        )
    )
    entries = []
    for row in rows:
        picture = assess(snapshot_from_json(row["snapshot"]), now, zone)
        due = picture.next_draw_due
        if due is None or due > horizon or picture.enrollment_status != EnrollmentStatus.ENROLLED:
            continue
        if picture.treatment_status == TreatmentStatus.NOT_STARTED:
            continue  # no routine draw is due before the first dose
        latest = picture.latest_anc
        entries.append(
            {
                "patient": row["patient_id"],
                "first_name": row["patient__first_name"],
                "last_name": row["patient__last_name"],
                "date_of_birth": row["patient__date_of_birth"],
                "next_draw_due": due,
                "days_overdue": max(0, (today - due).days),
                "monitoring_frequency": picture.monitoring_frequency.value
                if picture.monitoring_frequency
                else None,
                "latest_anc_drawn_at": latest.drawn_at if latest else None,
                "last_dispensed_at": row["last_dispensed_at"],
            }
        )
    entries.sort(key=lambda e: (e["next_draw_due"], e["patient"]))
    return entries


def pharmacy_named(user: User, pharmacy_id: int) -> Pharmacy | None:
    """The pharmacy `pharmacy_id`: the user's own as loaded with its sign-in (the token's query
    reads it; no second query on the counter's path), else read."""
    if pharmacy_id == user.pharmacy_id and "pharmacy" in user._state.fields_cache:
        return user.pharmacy
    return Pharmacy.objects.filter(pk=pharmacy_id).first()
