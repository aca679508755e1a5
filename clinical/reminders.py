"""The prescriber's reminders for levels and the monitoring plan, through the notifications app
(one row per recipient and occasion; a unique key makes every call safe to run twice).

Their kinds are the notifications' own (`notifications.models.Kind`: levels, the plan and
re-titration), so digests and urgency read one list.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings

from clinical import plan
from clinical.doses import SupplyRecord, dose_tracking
from clinical.messages import SEED_LEVELS
from clinical.models import (
    DoseEntry,
    DoseEntryKind,
    LevelIndication,
    LevelIndicationReason,
    LevelResult,
    MedicationEvent,
    PlanEntry,
    SmokingStatusChange,
)
from clinical.selectors import (
    INDICATION_MESSAGES,
    SUPPLY_LOOKBACK,
    local_today,
    medication_prompt,
    plan_done,
    smoking_prompt,
    treatment_anchors,
)
from clinical.services import plan_entry_prompt
from engine.protocols import get_protocol
from engine.types import EnrollmentStatus, TreatmentStatus
from notifications.messages import patient_label, plan_backlog
from notifications.models import Kind
from notifications.services import Occasion, Recipient, notifications_create
from notifications.services import recipients_for_prescribers as _recipients
from patients.models import Dispense, Patient

# An overdue check is reminded on its first overdue day and weekly after.
OVERDUE_REPEAT_DAYS = 7


def _label(patient: Patient) -> str:
    return patient_label(patient.pk, patient.first_name, patient.last_name)


def _tell_prescriber(patient: Patient, occasions: list[Occasion]) -> int:
    people: list[Recipient] = _recipients([patient.prescriber_id]).get(patient.prescriber_id, [])
    return notifications_create(occasions=[(o, people) for o in occasions])


def level_alert(*, level_id: int) -> int:
    """An unexpected level: urgent when high (≥ 1000 ng/mL), otherwise a recheck prompt."""
    level = LevelResult.objects.select_related("patient").get(pk=level_id)
    reading = level.interpretation
    flags = [f for f in reading.get("flags", []) if f["severity"] in ("urgent", "warning")]
    urgent = bool(reading.get("urgent"))
    label = _label(level.patient)
    day = local_today(level.sampled_at)
    codes = {f["code"] for f in flags}
    if "high_level" in codes:
        subject = f"High clozapine level for {label}: {level.clozapine_ng_ml} ng/mL"
    elif "level_undetectable" in codes:
        subject = f"Undetectable clozapine level for {label}: check adherence"
    elif urgent:
        subject = f"Clozapine level needs attention for {label}"
    else:
        subject = f"Unexpected clozapine level for {label}"
    body = "\n".join(
        [
            f"Clozapine {level.clozapine_ng_ml} ng/mL drawn {day.isoformat()}.",
            *(f"- {f['message']}" for f in flags),
            f"Source: {SEED_LEVELS}.",
        ]
    )
    occasion = Occasion(
        Kind.LEVEL_HIGH if urgent else Kind.LEVEL_UNEXPECTED,
        f"level:{level.pk}",
        day,
        subject,
        body,
        level.patient_id,
        urgent=urgent,
    )
    return _tell_prescriber(level.patient, [occasion])


def level_prompt(*, kind: str, object_id: int) -> int:
    """A change that calls for a level: a smoking status change or an interacting medication."""
    email_body = None
    if kind == "smoking":
        change = SmokingStatusChange.objects.select_related("patient").get(pk=object_id)
        patient, day, message = change.patient, change.effective_on, smoking_prompt(change)
        if change.context:
            # The context is typed by a person: shown in the app, never e-mailed.
            email_body = smoking_prompt(change, with_context=False)
    elif kind == "indication":
        noted = LevelIndication.objects.select_related("patient").get(pk=object_id)
        patient, day = noted.patient, noted.noted_on
        message = INDICATION_MESSAGES[LevelIndicationReason(noted.reason)].say(
            on=noted.noted_on.isoformat()
        )
    else:
        event = MedicationEvent.objects.select_related("patient", "drug").get(pk=object_id)
        patient, day, message = event.patient, event.effective_on, medication_prompt(event)
    occasion = Occasion(
        Kind.LEVEL_SUGGESTED,
        f"{kind}:{object_id}",
        day,
        f"Clozapine level suggested for {_label(patient)}",
        message,
        patient.pk,
        email_body=email_body,
    )
    return _tell_prescriber(patient, [occasion])


def myocarditis_prompt(*, entry_id: int) -> int:
    """An urgent finding of a plan check (the myocarditis checklist or tests, the bowel check,
    fever, the QTc, a seizure, pregnancy): the prescriber is told at once."""
    entry = PlanEntry.objects.select_related("patient").get(pk=entry_id)
    message = plan_entry_prompt(entry)
    if not message:
        return 0
    definition = plan.plan_item(entry.patient.protocol, entry.item)
    label = definition.label if definition else entry.item
    subject = (
        f"Possible myocarditis for {_label(entry.patient)}"
        if entry.item in ("myocarditis_watch", "troponin_crp")
        else f"{label}: urgent finding for {_label(entry.patient)}"
    )
    occasion = Occasion(
        Kind.MYOCARDITIS_SYMPTOMS,
        f"plan_entry:{entry.pk}",
        entry.done_on,
        subject,
        message,
        entry.patient_id,
        urgent=True,
    )
    return _tell_prescriber(entry.patient, [occasion])


def plan_scan(*, lo: int, hi: int, now: datetime) -> int:
    """Daily, for a range of patient ids: each started, enrolled patient's plan checks that
    are due (once per due date) or overdue (first overdue day, then weekly; once overdue
    longer than CLOZREMS_PLAN_BACKLOG_DAYS, told once in the digest's summary), and a
    re-titration warning when the supply ran out 48 hours or more ago (once per run-out).
    Six queries per chunk whatever its size."""
    today = local_today(now)
    backlog_days = settings.CLOZREMS_PLAN_BACKLOG_DAYS
    patients = list(
        Patient.objects.filter(
            pk__gte=lo, pk__lt=hi, enrollment_status=EnrollmentStatus.ENROLLED
        ).exclude(treatment_status__in=[TreatmentStatus.NOT_STARTED, TreatmentStatus.DISCONTINUED])
    )
    ids = [p.pk for p in patients]
    anchors = treatment_anchors(ids)
    done = plan_done(ids)
    supplies: dict[int, list[tuple[datetime, int]]] = {}
    for patient_id, at, days in Dispense.objects.filter(
        patient_id__in=ids, dispensed_at__gt=now - SUPPLY_LOOKBACK, dispensed_at__lte=now
    ).values_list("patient_id", "dispensed_at", "days_supply"):
        supplies.setdefault(patient_id, []).append((at, days))
    reports: dict[int, list[datetime]] = {}
    for patient_id, at in DoseEntry.objects.filter(
        patient_id__in=ids, kind=DoseEntryKind.LAST_DOSE_TAKEN, effective_at__lte=now
    ).values_list("patient_id", "effective_at"):
        reports.setdefault(patient_id, []).append(at)
    found: list[tuple[int, Occasion]] = []
    for patient in patients:
        label = _label(patient)
        start_day, latest_start = anchors.get(patient.pk, (None, None))
        states = plan.plan_state(
            patient.protocol,
            start_day,
            done.get(patient.pk, {}),
            today,
            latest_start=latest_start,
            sex=patient.sex,
        )
        for state in states:
            if state.due_on is None:
                continue
            key = f"plan:{patient.pk}:{state.item.code}"
            if state.status == plan.PlanStatus.DUE:
                found.append(
                    (
                        patient.prescriber_id,
                        Occasion(
                            Kind.PLAN_ITEM_DUE,
                            key,
                            state.due_on,
                            f"{state.item.label} due for {label}",
                            f"{state.item.label} is due on {state.due_on.isoformat()}. "
                            f"{state.item.detail} (Source: {state.item.source}.)",
                            patient.pk,
                        ),
                    )
                )
            elif state.status == plan.PlanStatus.OVERDUE and state.days_overdue > backlog_days:
                # Long overdue (an imported history without its plan entries, say): told
                # once, summarised in the digest with the others, never one by one weekly.
                found.append(
                    (
                        patient.prescriber_id,
                        Occasion(
                            Kind.PLAN_ITEM_BACKLOG,
                            key,
                            state.due_on,
                            plan_backlog(state.item.label, label, backlog_days),
                            f"{state.item.label} was due on {state.due_on.isoformat()} "
                            f"({state.days_overdue} days ago). {state.item.detail} "
                            f"(Source: {state.item.source}.)",
                            patient.pk,
                        ),
                    )
                )
            elif state.status == plan.PlanStatus.OVERDUE:
                first = state.item.grace_days + 1
                week = (state.days_overdue - first) // OVERDUE_REPEAT_DAYS
                found.append(
                    (
                        patient.prescriber_id,
                        Occasion(
                            Kind.PLAN_ITEM_OVERDUE,
                            key,
                            state.due_on,
                            f"{state.item.label} overdue for {label}",
                            f"{state.item.label} was due on {state.due_on.isoformat()} "
                            f"({state.days_overdue} days ago). {state.item.detail} "
                            f"(Source: {state.item.source}.)",
                            patient.pk,
                            occurrence=max(0, week),
                        ),
                    )
                )
        tracking = dose_tracking(
            [SupplyRecord(at, days) for at, days in supplies.get(patient.pk, [])],
            reports.get(patient.pk, []),
            now,
            after_hours=get_protocol(patient.protocol).retitration_after_hours,
        )
        warning = tracking.warning()
        if warning is not None and tracking.without_since is not None:
            found.append(
                (
                    patient.prescriber_id,
                    Occasion(
                        Kind.RETITRATION_NEEDED,
                        f"retitration:{patient.pk}",
                        local_today(tracking.without_since),
                        f"Clozapine supply ran out for {label}: re-titration needed",
                        warning["message"] + f" (Source: {warning['source']}.)",
                        patient.pk,
                    ),
                )
            )
    recipients = _recipients(prescriber for prescriber, _ in found)
    return notifications_create(
        occasions=[(o, recipients.get(prescriber, [])) for prescriber, o in found]
    )


def plan_ranges(*, chunk: int) -> list[tuple[int, int]]:
    from django.db.models import Max, Min

    bounds = Patient.objects.aggregate(lo=Min("pk"), hi=Max("pk"))
    if bounds["lo"] is None:
        return []
    return [(lo, lo + chunk) for lo in range(bounds["lo"], bounds["hi"] + 1, chunk)]
