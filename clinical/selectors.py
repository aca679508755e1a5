"""Reads for levels, the monitoring plan and dose tracking: gather plain data, ask the pure
modules (clinical.levels, clinical.plan, clinical.doses)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from django.db.models import IntegerField, Max, Min, Q, Value

from clinical import messages as say
from clinical import plan
from clinical.dose_facts import stored_facts, tracking_from_facts
from clinical.doses import DoseTracking, SupplyRecord, dose_tracking, longest_gap_hours
from clinical.levels import (
    ADHERENCE_WINDOW,
    INDUCTION_CHANGE_DAYS,
    RECENT_CHANGE_DAYS,
    AdequateTrial,
    DoseSpan,
    PriorLevel,
    Smoking,
    adequate_trial,
)
from clinical.models import (
    DoseEntry,
    DoseEntryKind,
    DrugAdvice,
    DrugEffect,
    LevelIndication,
    LevelIndicationReason,
    LevelResult,
    MedicationEvent,
    MedicationEventKind,
    PlanEntry,
    SmokingStatusChange,
)
from clozrems.zones import clinic_zone
from engine.protocols import get_protocol
from engine.types import TreatmentEventKind
from patients.models import Dispense, Patient, TreatmentEvent


def local_today(now: datetime) -> date:
    return now.astimezone(clinic_zone()).date()


def local_time_text(moment: datetime) -> str:
    """A time as the clinic reads it: local, the date and the time apart, the zone named
    ("2026-11-29 08:00 EST")."""
    return moment.astimezone(clinic_zone()).strftime("%Y-%m-%d %H:%M %Z")


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


def level_context(
    *, patient_id: int, sampled_at: datetime, last_dose_at: datetime | None
) -> dict[str, Any]:
    """What the history says at a draw, for clinical.levels: the changes in smoking status or
    interacting medication in the week before it, and the longest time without clozapine in
    that week (the dispenses, the reported last doses, and the level's own last dose)."""
    zone = clinic_zone()
    day = sampled_at.astimezone(zone).date()
    since = day - timedelta(days=INDUCTION_CHANGE_DAYS - 1)
    changes: list[dict[str, Any]] = []
    for change in SmokingStatusChange.objects.filter(
        patient_id=patient_id, effective_on__gte=since, effective_on__lte=day
    ).order_by("effective_on", "id"):
        stopped = change.status == Smoking.NON_SMOKER
        changes.append(
            {
                "description": f"Smoking {'stopped' if stopped else 'started'}",
                "on": change.effective_on.isoformat(),
                "days_before": (day - change.effective_on).days,
                # Stopping: the induction wears off over about two weeks.
                "settle_days": INDUCTION_CHANGE_DAYS if stopped else RECENT_CHANGE_DAYS,
            }
        )
    for event in (
        MedicationEvent.objects.filter(
            patient_id=patient_id, effective_on__gte=since, effective_on__lte=day
        )
        .select_related("drug")
        .order_by("effective_on", "id")
    ):
        verb = "started" if event.kind == MedicationEventKind.START else "stopped"
        changes.append(
            {
                "description": f"{event.drug.name} ({event.drug.effect}) {verb}",
                "on": event.effective_on.isoformat(),
                "days_before": (day - event.effective_on).days,
                "settle_days": INDUCTION_CHANGE_DAYS
                if event.drug.effect == DrugEffect.INDUCER
                else RECENT_CHANGE_DAYS,
            }
        )
    supplies = [
        SupplyRecord(at, days)
        for at, days in Dispense.objects.filter(
            patient_id=patient_id,
            dispensed_at__lte=sampled_at,
            dispensed_at__gt=sampled_at - SUPPLY_LOOKBACK,
        ).values_list("dispensed_at", "days_supply")
    ]
    reports = list(
        DoseEntry.objects.filter(
            patient_id=patient_id,
            kind=DoseEntryKind.LAST_DOSE_TAKEN,
            effective_at__lte=sampled_at,
            effective_at__gt=sampled_at - SUPPLY_LOOKBACK,
        ).values_list("effective_at", flat=True)
    )
    if last_dose_at is not None:
        reports.append(last_dose_at)
    gap = longest_gap_hours(supplies, reports, sampled_at - ADHERENCE_WINDOW, sampled_at)
    # A doubt about adherence noted since the last level drawn before this one (a noted doubt
    # asks for a level; this may be it, and it is read with the doubt).
    previous = (
        LevelResult.objects.filter(patient_id=patient_id, sampled_at__lt=sampled_at)
        .order_by("-sampled_at")
        .values_list("sampled_at", flat=True)
        .first()
    )
    noted = LevelIndication.objects.filter(
        patient_id=patient_id,
        reason=LevelIndicationReason.ADHERENCE_DOUBT,
        noted_on__lte=day,
    )
    if previous is not None:
        noted = noted.filter(noted_on__gte=previous.astimezone(zone).date())
    return {
        "recent_changes": changes,
        "gap_hours": None if gap is None else str(gap),
        "adherence_doubt_noted": noted.exists(),
        # A supply recorded before the week began: the gap judges all of it.
        "doses_known": any(s.dispensed_at <= sampled_at - ADHERENCE_WINDOW for s in supplies),
    }


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


# Days after a change before a trough level reflects it: the settling times of clinical.levels
# (a week after an inhibitor's start or stop or smoking starting; two weeks after an inducer's
# start or stop or smoking stopping, as induction builds or wears off).


def _settled_trough_since(levels: Sequence[LevelResult], day: date) -> bool:
    zone = clinic_zone()
    return any(x.valid_trough and x.sampled_at.astimezone(zone).date() >= day for x in levels)


def _level_since(levels: Sequence[LevelResult], day: date) -> bool:
    zone = clinic_zone()
    return any(x.sampled_at.astimezone(zone).date() >= day for x in levels)


def _prompt(kind: str, on: date, message: say.Message, text: str, **more: Any) -> dict[str, Any]:
    return {
        "kind": kind,
        "code": message.code,
        "on": on.isoformat(),
        "message": text,
        "source": message.source,
        **more,
    }


def level_prompts(
    *, patient_id: int, levels: Sequence[LevelResult] | None = None
) -> list[dict[str, Any]]:
    """What calls for a level: each smoking change and interacting-medication start or stop
    until a valid steady-state trough is drawn once it has settled (a week; two for an inducer or
    smoking stopping),
    and each noted indication (poor response, side effects, adherence, infection, pregnancy)
    until a level is drawn after it (for adherence any level; otherwise a valid trough)."""
    levels = level_history(patient_id=patient_id) if levels is None else levels
    prompts: list[dict[str, Any]] = []
    pending = say.LEVEL_STEADY_STATE_PENDING.text
    changes = SmokingStatusChange.objects.filter(patient_id=patient_id)
    for change in changes.order_by("effective_on", "id"):
        stopped = change.status == Smoking.NON_SMOKER
        wait = INDUCTION_CHANGE_DAYS if stopped else RECENT_CHANGE_DAYS
        settled = change.effective_on + timedelta(days=wait)
        if _settled_trough_since(levels, settled):
            continue
        message = smoking_message(change)
        prompts.append(
            _prompt(
                "smoking_status_change",
                change.effective_on,
                message,
                smoking_prompt(change),
                level_from=settled.isoformat(),
                pending=pending,
            )
        )
    medications = MedicationEvent.objects.filter(patient_id=patient_id).select_related("drug")
    for event in medications.order_by("effective_on", "id"):
        wait = (
            INDUCTION_CHANGE_DAYS if event.drug.effect == DrugEffect.INDUCER else RECENT_CHANGE_DAYS
        )
        settled = event.effective_on + timedelta(days=wait)
        if _settled_trough_since(levels, settled):
            continue
        prompts.append(
            _prompt(
                "interacting_medication",
                event.effective_on,
                medication_message(event),
                medication_prompt(event),
                level_from=settled.isoformat(),
                pending=pending,
            )
        )
    indications = LevelIndication.objects.filter(patient_id=patient_id)
    for noted in indications.order_by("noted_on", "id"):
        answered = (
            _level_since(levels, noted.noted_on)
            if noted.reason == LevelIndicationReason.ADHERENCE_DOUBT
            else _settled_trough_since(levels, noted.noted_on)
        )
        if answered:
            continue
        message = INDICATION_MESSAGES[LevelIndicationReason(noted.reason)]
        prompts.append(
            _prompt(
                "indication",
                noted.noted_on,
                message,
                message.say(on=noted.noted_on.isoformat()),
                reason=noted.reason,
                level_from=noted.noted_on.isoformat(),
            )
        )
    return sorted(prompts, key=lambda p: p["on"])


INDICATION_MESSAGES = {
    LevelIndicationReason.POOR_RESPONSE: say.INDICATION_POOR_RESPONSE,
    LevelIndicationReason.SIDE_EFFECTS: say.INDICATION_SIDE_EFFECTS,
    LevelIndicationReason.ADHERENCE_DOUBT: say.INDICATION_ADHERENCE_DOUBT,
    LevelIndicationReason.INFECTION: say.INDICATION_INFECTION,
    LevelIndicationReason.PREGNANCY: say.INDICATION_PREGNANCY,
}


def smoking_message(change: SmokingStatusChange) -> say.Message:
    if change.previous_status == Smoking.UNKNOWN:
        return say.SMOKING_FIRST_RECORD
    if change.status == Smoking.NON_SMOKER:
        return say.SMOKING_STOPPED
    return say.SMOKING_STARTED


def smoking_prompt(change: SmokingStatusChange, *, with_context: bool = True) -> str:
    parts = []
    if change.nicotine:
        parts.append("now " + change.get_nicotine_display().lower())
    if change.context and with_context:
        parts.append(change.context)
    context = f" ({'; '.join(parts)})" if parts else ""
    return smoking_message(change).say(
        on=change.effective_on.isoformat(),
        context=context,
        status=change.status.replace("_", "-"),
    )


def medication_message(event: MedicationEvent) -> say.Message:
    drug = event.drug
    if event.kind == MedicationEventKind.STOP:
        return say.INDUCER_STOPPED if drug.effect == DrugEffect.INDUCER else say.INHIBITOR_STOPPED
    if drug.advice == DrugAdvice.AVOID_MARROW_RISK:
        return say.MARROW_RISK_INDUCER_STARTED
    if drug.advice == DrugAdvice.AVOID_OR_REDUCE:
        return say.STRONG_INHIBITOR_STARTED
    if drug.effect == DrugEffect.INDUCER and drug.strong:
        return say.STRONG_INDUCER_STARTED
    if drug.effect == DrugEffect.INDUCER:
        return say.INDUCER_STARTED
    return say.INHIBITOR_STARTED


def medication_prompt(event: MedicationEvent) -> str:
    drug = event.drug
    return medication_message(event).say(
        drug=drug.name,
        enzyme=drug.enzyme,
        on=event.effective_on.isoformat(),
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
        # The clinic's local time, readable ("2026-11-29 08:00 EST"): the page shows this.
        "sampled_at_local": local_time_text(level.sampled_at),
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
    prompts = level_prompts(patient_id=patient.pk, levels=levels)
    if latest is not None and since is not None and latest.interpretation.get("unexpected"):
        prompts.append(
            _prompt(
                "unexpected_level",
                since,
                say.UNEXPECTED_LEVEL_RECHECK,
                say.UNEXPECTED_LEVEL_RECHECK.text,
            )
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
        "dose_tracking": patient_dose_tracking(
            patient_id=patient.pk, protocol=patient.protocol, now=now
        ).as_dict(),
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


def patient_dose_tracking(*, patient_id: int, protocol: str, now: datetime) -> DoseTracking:
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
        after_hours=get_protocol(protocol).retitration_after_hours,
    )


def retitration_warning(*, patient: Patient, now: datetime) -> dict[str, Any] | None:
    """The dispensing decision's `retitration_warning` (information, never a block): from the
    stored dose facts when the patient was loaded with them (select_related "dose_facts") and
    they answer for `now`, else from the dispenses and reports (one query)."""
    tracking = None
    if "dose_facts" in patient._state.fields_cache:
        after_hours = get_protocol(patient.protocol).retitration_after_hours
        tracking = tracking_from_facts(stored_facts(patient), now, after_hours=after_hours)
    if tracking is None:
        tracking = patient_dose_tracking(patient_id=patient.pk, protocol=patient.protocol, now=now)
    return tracking.warning()


# --- the monitoring plan --------------------------------------------------------------------


def treatment_starts(patient_ids: Iterable[int]) -> dict[int, date]:
    """The first `start` treatment event of each patient: day 0 of the plan."""
    return {pid: first for pid, (first, _) in treatment_anchors(patient_ids).items()}


def treatment_anchors(patient_ids: Iterable[int]) -> dict[int, tuple[date, date]]:
    """Each started patient's first start and latest start or resume (one query): the plan's
    day 0, and the myocarditis watch's (it restarts with treatment)."""
    kinds = [TreatmentEventKind.START, TreatmentEventKind.RESUME]
    rows = (
        TreatmentEvent.objects.filter(patient_id__in=list(patient_ids), kind__in=kinds)
        .values("patient_id")
        .annotate(
            first=Min("effective_date", filter=Q(kind=TreatmentEventKind.START)),
            latest=Max("effective_date"),
        )
    )
    return {
        row["patient_id"]: (row["first"], max(row["latest"], row["first"]))
        for row in rows
        if row["first"] is not None
    }


def plan_done(patient_ids: Iterable[int]) -> dict[int, dict[str, list[plan.Done]]]:
    """Each patient's plan entries per item, oldest first, with the valid steady-state trough
    levels as the `clozapine_level` item's (two queries for all the patients)."""
    ids = list(patient_ids)
    done: dict[int, dict[str, list[plan.Done]]] = defaultdict(lambda: defaultdict(list))
    rows = (
        PlanEntry.objects.filter(patient_id__in=ids)
        .order_by("done_on", "id")
        .values_list("patient_id", "item", "done_on", "needs_action")
    )
    for patient_id, item, done_on, needs_action in rows:
        done[patient_id][item].append(plan.Done(done_on, needs_action))
    zone = clinic_zone()
    levels = (
        LevelResult.objects.filter(patient_id__in=ids, valid_trough=True)
        .order_by("sampled_at")
        .values_list("patient_id", "sampled_at")
    )
    for patient_id, sampled_at in levels:
        done[patient_id][LEVEL_ITEM].append(plan.Done(sampled_at.astimezone(zone).date()))
    return done


# The plan item a valid trough level does (clinical/plans/common.py, `done_by_level`).
LEVEL_ITEM = "clozapine_level"


def patient_plan(*, patient: Patient, now: datetime) -> list[plan.ItemState]:
    anchors = treatment_anchors([patient.pk])
    done = plan_done([patient.pk])
    first, latest = anchors.get(patient.pk, (None, None))
    return plan.plan_state(
        patient.protocol,
        first,
        done.get(patient.pk, {}),
        local_today(now),
        latest_start=latest,
        sex=patient.sex,
    )


def plan_counts(*, patients: Sequence[Patient], now: datetime) -> dict[int, dict[str, int]]:
    """Per patient, how many plan checks are due, overdue and need action (three queries for
    all)."""
    ids = [p.pk for p in patients]
    anchors = treatment_anchors(ids)
    done = plan_done(ids)
    today = local_today(now)
    counts = {}
    for patient in patients:
        first, latest = anchors.get(patient.pk, (None, None))
        states = plan.plan_state(
            patient.protocol,
            first,
            done.get(patient.pk, {}),
            today,
            latest_start=latest,
            sex=patient.sex,
        )
        counts[patient.pk] = {
            "due": sum(1 for s in states if s.status == plan.PlanStatus.DUE),
            "overdue": sum(1 for s in states if s.status == plan.PlanStatus.OVERDUE),
            "action_needed": sum(1 for s in states if s.status == plan.PlanStatus.ACTION_NEEDED),
        }
    return counts


def patient_clinical(*, patient: Patient, now: datetime) -> dict[str, Any]:
    """The patient page's section: the levels summary and the plan's checks."""
    return {
        "levels": patient_levels_summary(patient=patient, now=now),
        "plan": [state.as_dict() for state in patient_plan(patient=patient, now=now)],
    }
