"""Reads for levels, the monitoring plan and dose tracking: gather plain data, ask the pure
modules (clinical.levels, clinical.plan, clinical.doses)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from django.db.models import IntegerField, Min, Value

from clinical import plan
from clinical.dose_facts import stored_facts, tracking_from_facts
from clinical.doses import DoseTracking, SupplyRecord, dose_tracking
from clinical.levels import AdequateTrial, DoseSpan, PriorLevel, Smoking, adequate_trial
from clinical.models import (
    DoseEntry,
    DoseEntryKind,
    LevelResult,
    MedicationEvent,
    MedicationEventKind,
    PlanEntry,
    SmokingStatusChange,
)
from monitoring.engine.types import TreatmentEventKind
from monitoring.selectors import clinic_zone
from patients.models import Patient, TreatmentEvent
from pharmacy.models import Dispense


def local_today(now: datetime) -> date:
    return now.astimezone(clinic_zone()).date()


# --- levels ---------------------------------------------------------------------------------


def prior_level(level: LevelResult) -> PriorLevel:
    return PriorLevel(
        sampled_at=level.sampled_at,
        clozapine_ng_ml=level.clozapine_ng_ml,
        ratio=level.metabolic_ratio,
        daily_dose_mg=level.daily_dose_mg,
        valid_trough=level.valid_trough,
    )


def level_history(*, patient_id: int) -> list[LevelResult]:
    return list(LevelResult.objects.filter(patient_id=patient_id).order_by("sampled_at", "id"))


def smoking_status_on(*, patient_id: int, day: date) -> Smoking:
    latest = (
        SmokingStatusChange.objects.filter(patient_id=patient_id, effective_on__lte=day)
        .order_by("-effective_on", "-id")
        .values_list("status", flat=True)
        .first()
    )
    return Smoking(latest) if latest else Smoking.UNKNOWN


def dose_spans(*, patient_id: int) -> list[DoseSpan]:
    """The daily-dose history: the prescriber's dose changes, oldest first."""
    zone = clinic_zone()
    spans = [
        DoseSpan(e.effective_at.astimezone(zone).date(), e.daily_dose_mg)
        for e in DoseEntry.objects.filter(
            patient_id=patient_id, kind=DoseEntryKind.DOSE_CHANGE, daily_dose_mg__isnull=False
        )
        if e.daily_dose_mg is not None
    ]
    return sorted(spans, key=lambda s: s.since)


def patient_adequate_trial(
    *, patient_id: int, now: datetime, levels: Sequence[LevelResult] | None = None
) -> AdequateTrial:
    levels = level_history(patient_id=patient_id) if levels is None else levels
    return adequate_trial(
        [prior_level(x) for x in levels],
        dose_spans(patient_id=patient_id),
        local_today(now),
        clinic_zone(),
    )


def level_prompts(*, patient_id: int, since: date | None) -> list[dict[str, Any]]:
    """Events after the last level (or ever, with no level) that call for a new one."""
    prompts: list[dict[str, Any]] = []
    changes = SmokingStatusChange.objects.filter(patient_id=patient_id)
    medications = MedicationEvent.objects.filter(patient_id=patient_id).select_related("drug")
    if since is not None:
        changes = changes.filter(effective_on__gte=since)
        medications = medications.filter(effective_on__gte=since)
    for change in changes.order_by("effective_on", "id"):
        prompts.append(
            {
                "kind": "smoking_status_change",
                "on": change.effective_on.isoformat(),
                "message": smoking_prompt(change),
            }
        )
    for event in medications.order_by("effective_on", "id"):
        prompts.append(
            {
                "kind": "interacting_medication",
                "on": event.effective_on.isoformat(),
                "message": medication_prompt(event),
            }
        )
    return sorted(prompts, key=lambda p: p["on"])


def smoking_prompt(change: SmokingStatusChange, *, with_context: bool = True) -> str:
    context = f" ({change.context})" if change.context and with_context else ""
    status = change.status.replace("_", "-")
    return (
        f"Smoking status changed to {status} on {change.effective_on.isoformat()}{context}: "
        "smoking induces CYP1A2, so clozapine levels can rise sharply on stopping and fall on "
        "starting. Check a trough level once the change has settled (5 to 7 days)."
    )


def medication_prompt(event: MedicationEvent) -> str:
    drug = event.drug
    verb = "started" if event.kind == MedicationEventKind.START else "stopped"
    strength = "strong " if drug.strong else ""
    if drug.effect == "inhibitor":
        effect = "raises clozapine levels" if verb == "started" else "lets levels fall"
    else:
        effect = "lowers clozapine levels" if verb == "started" else "lets levels rise"
    return (
        f"{drug.name} ({strength}{drug.enzyme} {drug.effect}) {verb} on "
        f"{event.effective_on.isoformat()}: it {effect}. Check a trough level at steady state "
        "(5 to 7 days)."
    )


def level_payload(level: LevelResult) -> dict[str, Any]:
    return {
        "id": level.pk,
        "sampled_at": level.sampled_at.isoformat(),
        "clozapine_ng_ml": str(level.clozapine_ng_ml),
        "norclozapine_ng_ml": None
        if level.norclozapine_ng_ml is None
        else str(level.norclozapine_ng_ml),
        "metabolic_ratio": None if level.metabolic_ratio is None else str(level.metabolic_ratio),
        "valid_trough": level.valid_trough,
        "interpretation": level.interpretation,
    }


def patient_levels_summary(*, patient: Patient, now: datetime) -> dict[str, Any]:
    """What the prescriber's page and `levels/summary/` show: the last level with its
    interpretation, the adequate trial, the current smoking status, interacting medication,
    what calls for a new level, and the dose tracking."""
    levels = level_history(patient_id=patient.pk)
    latest = levels[-1] if levels else None
    today = local_today(now)
    since = latest.sampled_at.astimezone(clinic_zone()).date() if latest else None
    prompts = level_prompts(patient_id=patient.pk, since=since)
    if latest is not None and latest.interpretation.get("unexpected"):
        prompts.append(
            {
                "kind": "unexpected_level",
                "on": since.isoformat() if since else None,
                "message": "The last level was unexpected (see its flags): consider a recheck.",
            }
        )
    return {
        "latest": level_payload(latest) if latest else None,
        "levels_count": len(levels),
        "adequate_trial": patient_adequate_trial(
            patient_id=patient.pk, now=now, levels=levels
        ).as_dict(),
        "smoking_status": smoking_status_on(patient_id=patient.pk, day=today).value,
        "interacting_medications": active_interacting_medications(patient_id=patient.pk),
        "level_suggested": prompts,
        "dose_tracking": patient_dose_tracking(patient_id=patient.pk, now=now).as_dict(),
    }


def active_interacting_medications(*, patient_id: int) -> list[dict[str, Any]]:
    """Interacting drugs whose latest event for this patient is a start."""
    latest: dict[int, MedicationEvent] = {}
    events = MedicationEvent.objects.filter(patient_id=patient_id).select_related("drug")
    for event in events.order_by("effective_on", "id"):
        latest[event.drug_id] = event
    return [
        {
            "drug": e.drug.name,
            "effect": e.drug.effect,
            "enzyme": e.drug.enzyme,
            "since": e.effective_on.isoformat(),
        }
        for e in latest.values()
        if e.kind == MedicationEventKind.START
    ]


# --- dose tracking --------------------------------------------------------------------------

# Supplies longer ago than this cannot be the latest to run out (no supply is this long). Used
# by the daily scan; the decision reads the patient's whole (small) dispense list instead.
SUPPLY_LOOKBACK = timedelta(days=120)
# Marks a reported last dose among the rows of the union below (a supply has days >= 1).
_REPORT = -1


def patient_dose_tracking(*, patient_id: int, now: datetime) -> DoseTracking:
    """One query (the dispensing decision is a hot path with a query budget): the patient's
    dispenses and reported last doses, as one union."""
    supplies = (
        Dispense.objects.filter(patient_id=patient_id, dispensed_at__lte=now)
        .order_by()
        .values_list("dispensed_at", "days_supply")
    )
    reports = (
        DoseEntry.objects.filter(
            patient_id=patient_id, kind=DoseEntryKind.LAST_DOSE_TAKEN, effective_at__lte=now
        )
        .order_by()
        .annotate(marker=Value(_REPORT, output_field=IntegerField()))
        .values_list("effective_at", "marker")
    )
    rows = list(supplies.union(reports, all=True))
    return dose_tracking(
        [SupplyRecord(at, days) for at, days in rows if days != _REPORT],
        [at for at, days in rows if days == _REPORT],
        now,
    )


def retitration_warning(*, patient: Patient, now: datetime) -> dict[str, Any] | None:
    """The dispensing decision's `retitration_warning` (information, never a block): from the
    stored dose facts when the patient was loaded with them (select_related "dose_facts") and
    they answer for `now`, else from the dispenses and reports (one query)."""
    tracking = None
    if "dose_facts" in patient._state.fields_cache:
        tracking = tracking_from_facts(stored_facts(patient), now)
    if tracking is None:
        tracking = patient_dose_tracking(patient_id=patient.pk, now=now)
    return tracking.warning()


# --- the monitoring plan --------------------------------------------------------------------


def treatment_starts(patient_ids: Iterable[int]) -> dict[int, date]:
    """The first `start` treatment event of each patient: day 0 of the plan."""
    rows = (
        TreatmentEvent.objects.filter(
            patient_id__in=list(patient_ids), kind=TreatmentEventKind.START
        )
        .values("patient_id")
        .annotate(first=Min("effective_date"))
    )
    return {row["patient_id"]: row["first"] for row in rows}


def plan_done(patient_ids: Iterable[int]) -> dict[int, dict[str, list[date]]]:
    done: dict[int, dict[str, list[date]]] = defaultdict(lambda: defaultdict(list))
    rows = PlanEntry.objects.filter(patient_id__in=list(patient_ids)).values_list(
        "patient_id", "item", "done_on"
    )
    for patient_id, item, done_on in rows:
        done[patient_id][item].append(done_on)
    return done


def patient_plan(*, patient: Patient, now: datetime) -> list[plan.ItemState]:
    starts = treatment_starts([patient.pk])
    done = plan_done([patient.pk])
    return plan.plan_state(
        patient.protocol, starts.get(patient.pk), done.get(patient.pk, {}), local_today(now)
    )


def plan_counts(*, patients: Sequence[Patient], now: datetime) -> dict[int, dict[str, int]]:
    """Per patient, how many plan checks are due and overdue (two queries for all)."""
    ids = [p.pk for p in patients]
    starts = treatment_starts(ids)
    done = plan_done(ids)
    today = local_today(now)
    counts = {}
    for patient in patients:
        states = plan.plan_state(
            patient.protocol, starts.get(patient.pk), done.get(patient.pk, {}), today
        )
        counts[patient.pk] = {
            "due": sum(1 for s in states if s.status == plan.PlanStatus.DUE),
            "overdue": sum(1 for s in states if s.status == plan.PlanStatus.OVERDUE),
        }
    return counts


def patient_clinical(*, patient: Patient, now: datetime) -> dict[str, Any]:
    """The patient page's section: the levels summary and the plan's checks."""
    return {
        "levels": patient_levels_summary(patient=patient, now=now),
        "plan": [state.as_dict() for state in patient_plan(patient=patient, now=now)],
    }
