"""Reads for the pages: the prescriber's worklist and the chart's bands. Both ask the engine and
the protocol; no rule is repeated here."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.db.models import QuerySet

from clozrems.zones import clinic_zone
from engine import assess
from engine.codec import snapshot_from_json
from engine.protocols import get_protocol
from engine.types import (
    Assessment,
    BloodCount,
    EnrollmentStatus,
    Population,
    TreatmentStatus,
)
from monitoring.models import ConsultAcknowledgement
from patients.models import Patient

# The worklist's urgency order: a missed repeat of a low result or a consult first, then a
# patient who cannot be supplied until re-enrolled, overdue draws, today's, and this week's.
URGENCY = (
    ("confirmation", "Confirmation repeat due"),
    ("consult", "Specialist consult needed"),
    ("reenrollment", "Re-enrollment needed"),
    ("interrupted", "Treatment interrupted"),
    ("overdue", "Draw overdue"),
    ("today", "Draw due today"),
    ("week", "Draw due this week"),
    ("not_started", "Not started: no routine draw before the first dose"),
    ("discontinued", "Treatment discontinued"),
    ("later", "Up to date"),
)


@dataclass(frozen=True)
class WorklistRow:
    patient: Patient
    assessment: Assessment
    # Every need of the patient, most urgent first ("later" alone when there is none).
    needs: tuple[str, ...]
    days_overdue: int

    @property
    def urgency(self) -> str:
        return self.needs[0]

    @property
    def label(self) -> str:
        return dict(URGENCY)[self.urgency]

    @property
    def labels(self) -> list[tuple[str, str]]:
        return [(need, dict(URGENCY)[need]) for need in self.needs]


def _needs(a: Assessment, today: date, acknowledged: bool) -> tuple[tuple[str, ...], int]:
    """Every need at once: a repeat due does not hide a consult, nor a lapse an overdue draw."""
    due = a.next_draw_due
    needs: list[str] = []
    overdue = 0
    if a.confirmation_due is not None:
        needs.append("confirmation")
    if a.hematology_consult and not acknowledged:
        needs.append("consult")
    if a.enrollment_status in (EnrollmentStatus.REENROLLMENT_REQUIRED, EnrollmentStatus.PENDING):
        needs.append("reenrollment")
    if a.treatment_status == TreatmentStatus.INTERRUPTED:
        needs.append("interrupted")
    if (
        a.enrollment_status == EnrollmentStatus.DISCONTINUED
        or a.treatment_status == TreatmentStatus.DISCONTINUED
    ):
        needs.append("discontinued")
    elif a.treatment_status == TreatmentStatus.NOT_STARTED:
        # No routine draw is chased before the first dose (the reminders agree: the draws scan
        # skips these patients); the enrollment labs already stand.
        needs.append("not_started")
    elif a.enrollment_status == EnrollmentStatus.ENROLLED and due is not None:
        if due < today:
            needs.append("overdue")
            overdue = (today - due).days
        elif due == today:
            needs.append("today")
        elif due <= today + timedelta(days=7):
            needs.append("week")
    order = {key: index for index, (key, _) in enumerate(URGENCY)}
    needs.sort(key=order.__getitem__)
    return tuple(needs) or ("later",), overdue


def prescriber_worklist(
    *, patients: QuerySet[Patient], now: datetime
) -> tuple[list[WorklistRow], dict[str, int]]:
    """The visible patients' stored states projected to now, most urgent first, with counts per
    need (a patient counts under each of its needs). Two queries (patients with their states,
    acknowledged consults)."""
    zone = clinic_zone()
    today = now.astimezone(zone).date()
    rows = list(
        patients.select_related("monitoring", "prescriber").exclude(monitoring__isnull=True)
    )
    acknowledged = set(
        ConsultAcknowledgement.objects.filter(patient__in=[p.pk for p in rows]).values_list(
            "patient_id", "episode_opened_at"
        )
    )
    entries = []
    for patient in rows:
        snapshot = snapshot_from_json(patient.monitoring.snapshot)
        a = assess(snapshot, now, zone)
        episode = snapshot.episode.opened_at if snapshot.episode else None
        needs, overdue = _needs(a, today, (patient.pk, episode) in acknowledged)
        entries.append(WorklistRow(patient, a, needs, overdue))
    order = {key: index for index, (key, _) in enumerate(URGENCY)}
    entries.sort(
        key=lambda r: (
            order[r.urgency],
            -r.days_overdue,
            r.assessment.next_draw_due or date.max,
            r.patient.last_name,
        )
    )
    counts = {key: sum(1 for r in entries if key in r.needs) for key, _ in URGENCY}
    return entries, counts


def band_edges(
    protocol_name: str,
    population: str,
    baseline: Any = None,
    limits: Mapping[str, int] | None = None,
) -> list[tuple[int, str]]:
    """Where the protocol's band changes along the neutrophil axis, found by asking it (not by
    repeating its table): [(lowest value of the band, band), ...] from 0 upwards, for the
    chart's shading. A protocol that also reads the WBC is asked with a WBC that never limits,
    so the shading shows the neutrophils' own limits."""
    band_of = chart_band_of(protocol_name, population, baseline, limits or {})
    edges: list[tuple[int, str]] = []
    previous: str | None = None
    for value in range(0, 4001, 10):
        band = band_of(value)
        if band != previous:
            low = value
            if previous is not None:  # narrow the edge to the exact value
                low = next(v for v in range(value - 9, value + 1) if band_of(v) == band)
            edges.append((low, band))
            previous = band
    return edges


def chart_band_of(
    protocol_name: str, population: str, baseline: Any, limits: Mapping[str, int]
) -> Callable[[int], str]:
    """The band the protocol gives a neutrophil count (with a WBC that never limits)."""
    protocol = get_protocol(protocol_name)
    moment = datetime(2000, 1, 1, tzinfo=clinic_zone())

    def band_of(value: int) -> str:
        reading = BloodCount(0, value, moment, wbc_per_ul=NEVER_LIMITING_WBC)
        band = protocol.band_of(reading, Population(population), baseline, limits)
        return band.value if band is not None else "unknown"

    return band_of


# A white cell count no protocol would call low, for reading the neutrophils' limits alone.
NEVER_LIMITING_WBC = 100_000


def inbox_of(user: Any) -> QuerySet[Any]:
    """A user's delivered in-app reminders, newest first (as the API lists them)."""
    from notifications.models import Channel, Notification, Status

    return Notification.objects.filter(
        recipient=user, channel=Channel.IN_APP, status=Status.SENT
    ).order_by("-created_at", "-id")
