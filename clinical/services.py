"""Writes for levels, smoking status, interacting medication, dose entries and the monitoring
plan. Each service owns its transaction, writes one audit entry in it, and queues the
prescriber's reminder on commit."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from audit.context import acting_as
from audit.models import Action
from audit.services import audit_record
from clinical import plan
from clinical.dose_facts import dose_facts_note_last_dose
from clinical.levels import RECENT_CHANGE_DAYS, LevelInput, RecentChange, Smoking, interpret
from clinical.models import (
    DoseEntry,
    DoseEntryKind,
    InteractingDrug,
    LevelIndication,
    LevelIndicationReason,
    LevelResult,
    MedicationEvent,
    MedicationEventKind,
    NicotineSource,
    PlanEntry,
    SmokingStatus,
    SmokingStatusChange,
)
from clinical.selectors import (
    level_context,
    level_history,
    local_today,
    prior_level,
    smoking_status_on,
)
from clinical.units import Analyte, LevelUnitError, looks_like_mg_per_l, to_ng_ml
from clozrems.errors import FieldInvalid, StateConflict
from clozrems.zones import clinic_zone
from engine.protocols import get_protocol
from monitoring.selectors import is_future
from notifications.outbox import enqueue_on_commit
from patients.models import Patient, User


def _lock(patient: Patient) -> None:
    Patient.objects.select_for_update(of=("self",)).filter(pk=patient.pk).first()


# Clozapine was first marketed in 1972: no level, dose or event of it is older than that, and
# a time before 1900 is a typing error (and has no clean UTC offset in the clinic's zone).
EARLIEST_YEAR = 1970


def _not_future(field: str, moment: datetime, now: datetime) -> None:
    if timezone.is_naive(moment):
        raise FieldInvalid(field, "Give the time with a UTC offset.")
    if is_future(moment, now):
        raise FieldInvalid(field, "The time is in the future.")
    if moment.year < EARLIEST_YEAR:
        raise FieldInvalid(field, f"The time is before {EARLIEST_YEAR}; check the year.")


def _day_not_future(field: str, day: date, now: datetime) -> None:
    if day > local_today(now):
        raise FieldInvalid(field, "The date is in the future.")
    if day.year < EARLIEST_YEAR:
        raise FieldInvalid(field, f"The date is before {EARLIEST_YEAR}; check the year.")


def _queue(task_name: str, *args: Any) -> None:
    """The prescriber's reminder, queued the one way every write queues work (kept in the
    transaction, sent after commit, caught up if the broker lost it: notifications/outbox.py)."""
    from clinical import tasks

    enqueue_on_commit(getattr(tasks, task_name), *args)


def level_input(*, context: dict[str, Any], **values: Any) -> LevelInput:
    """The pure interpretation's input, with the history's facts at the draw (`context`, as
    clinical.selectors.level_context gives it and the level row keeps it)."""
    changes = tuple(
        RecentChange(
            c["description"],
            date.fromisoformat(c["on"]),
            c["days_before"],
            c.get("settle_days", RECENT_CHANGE_DAYS),
        )
        for c in context.get("recent_changes", [])
    )
    gap = context.get("gap_hours")
    return LevelInput(
        **values,
        recent_changes=changes,
        gap_hours=None if gap is None else Decimal(gap),
        adherence_doubt_noted=bool(context.get("adherence_doubt_noted", False)),
        doses_known=bool(context.get("doses_known", False)),
    )


def level_result_record(
    *,
    patient: Patient,
    actor: User,
    sampled_at: datetime,
    clozapine: Decimal,
    unit: str,
    norclozapine: Decimal | None = None,
    last_dose_at: datetime | None = None,
    last_dose_mg: Decimal | None = None,
    daily_dose_mg: Decimal | None = None,
    dose_stable_days: int | None = None,
    dose_stable: bool | None = None,
    smoking: str | None = None,
    serious_infection: bool = False,
    lab: str = "",
    accession: str = "",
    note: str = "",
    unit_confirmed: bool = False,
    now: datetime | None = None,
) -> LevelResult:
    """Store one clozapine level with its interpretation; an unexpected one (high, undetectable,
    a large change in level or ratio, strong inhibition, an infection) reminds the prescriber
    at once (urgently when high or undetectable). A value that looks like mg/L sent as ng/mL
    is refused until `unit_confirmed`."""
    now = now or timezone.now()
    _not_future("sampled_at", sampled_at, now)
    for name, value in (("clozapine", clozapine), ("norclozapine", norclozapine)):
        if value is not None and not unit_confirmed and looks_like_mg_per_l(value, unit):
            raise FieldInvalid(
                name,
                f"{value} {unit.strip()} looks like a value in mg/L ({value * 1000} ng/mL): "
                "check the unit; resend with unit mg/L, or with unit_confirmed true if "
                f"{value} {unit.strip()} is right.",
            )
    if last_dose_at is not None:
        _not_future("last_dose_at", last_dose_at, now)
        if last_dose_at > sampled_at:
            raise FieldInvalid("last_dose_at", "The last dose is after the sample was drawn.")
    try:
        clozapine_ng_ml = to_ng_ml(clozapine, unit, Analyte.CLOZAPINE, field="clozapine")
        norclozapine_ng_ml = (
            None
            if norclozapine is None
            else to_ng_ml(norclozapine, unit, Analyte.NORCLOZAPINE, field="norclozapine")
        )
    except LevelUnitError as error:
        raise FieldInvalid(error.field, error.message) from None
    for name, dose in (("last_dose_mg", last_dose_mg), ("daily_dose_mg", daily_dose_mg)):
        if dose is not None and not (Decimal(0) < dose <= Decimal(2000)):
            raise FieldInvalid(name, "A dose is more than 0 and at most 2000 mg.")
    with transaction.atomic(), acting_as(actor):
        _lock(patient)
        day = sampled_at.astimezone(clinic_zone()).date()
        status = Smoking(smoking) if smoking else smoking_status_on(patient_id=patient.pk, day=day)
        earlier = [prior_level(x) for x in level_history(patient_id=patient.pk)]
        context = level_context(
            patient_id=patient.pk, sampled_at=sampled_at, last_dose_at=last_dose_at
        )
        reading = interpret(
            level_input(
                sampled_at=sampled_at,
                clozapine_ng_ml=clozapine_ng_ml,
                norclozapine_ng_ml=norclozapine_ng_ml,
                last_dose_at=last_dose_at,
                daily_dose_mg=daily_dose_mg,
                dose_stable_days=dose_stable_days,
                dose_stable=dose_stable,
                smoking=status,
                serious_infection=serious_infection,
                context=context,
                retitration_after_hours=get_protocol(patient.protocol).retitration_after_hours,
            ),
            earlier,
        )
        level = LevelResult.objects.create(
            patient=patient,
            sampled_at=sampled_at,
            clozapine_value=clozapine,
            norclozapine_value=norclozapine,
            unit=unit.strip(),
            clozapine_ng_ml=clozapine_ng_ml,
            norclozapine_ng_ml=norclozapine_ng_ml,
            metabolic_ratio=reading.ratio,
            last_dose_at=last_dose_at,
            last_dose_mg=last_dose_mg,
            daily_dose_mg=daily_dose_mg,
            dose_stable_days=dose_stable_days,
            dose_stable=dose_stable,
            smoking=status.value,
            serious_infection=serious_infection,
            context=context,
            lab=lab.strip(),
            accession=accession.strip(),
            note=note.strip(),
            valid_trough=reading.valid_trough,
            interpretation={
                **reading.as_dict(),
                "unexpected": reading.unexpected,
                "urgent": reading.urgent,
            },
            recorded_by=actor,
        )
        audit_record(
            action=Action.LEVEL_RESULT_RECORD,
            actor=actor,
            object_type="level_result",
            object_id=level.pk,
            patient_id=patient.pk,
            inputs={
                "sampled_at": sampled_at,
                "clozapine": clozapine,
                "norclozapine": norclozapine,
                "unit": level.unit,
                "last_dose_at": last_dose_at,
                "daily_dose_mg": daily_dose_mg,
                "dose_stable_days": dose_stable_days,
                "dose_stable": dose_stable,
                "smoking": status.value,
                "serious_infection": serious_infection,
                "unit_confirmed": unit_confirmed,
                "earlier_levels": len(earlier),
                "context": context,
            },
            output={
                "clozapine_ng_ml": clozapine_ng_ml,
                "norclozapine_ng_ml": norclozapine_ng_ml,
                "metabolic_ratio": reading.ratio,
                "valid_trough": reading.valid_trough,
                "adherence_doubt": reading.adherence_doubt,
                "flags": reading.codes,
            },
        )
        if reading.unexpected:
            _queue("level_alert", level.pk)
    return level


def smoking_status_record(
    *,
    patient: Patient,
    actor: User,
    status: str,
    effective_on: date,
    cigarettes_per_day: int | None = None,
    context: str = "",
    nicotine: str = "",
    now: datetime | None = None,
) -> SmokingStatusChange:
    """Record a change in smoking status (e.g. on a hospital admission, or seen at the
    counter); the prescriber is reminded to check a level. Nicotine replacement or vaping is
    recorded as non-smoker with its `nicotine` source (no smoke: it counts as stopping)."""
    now = now or timezone.now()
    if status not in (SmokingStatus.SMOKER, SmokingStatus.NON_SMOKER):
        raise FieldInvalid("status", "A change is to smoker or non_smoker.")
    if nicotine not in NicotineSource.values:
        raise FieldInvalid(
            "nicotine", "The nicotine source is vaping, nicotine_replacement or empty."
        )
    if nicotine and status != SmokingStatus.NON_SMOKER:
        raise FieldInvalid(
            "nicotine", "Vaping or nicotine replacement without tobacco is status non_smoker."
        )
    _day_not_future("effective_on", effective_on, now)
    with transaction.atomic(), acting_as(actor):
        _lock(patient)
        before = smoking_status_on(patient_id=patient.pk, day=effective_on)
        if before.value == status:
            raise StateConflict(
                f"The patient is already recorded as {status} on that date.", "no_change"
            )
        change = SmokingStatusChange.objects.create(
            patient=patient,
            status=status,
            previous_status=before.value,
            nicotine=nicotine,
            effective_on=effective_on,
            cigarettes_per_day=cigarettes_per_day,
            context=context.strip(),
            recorded_by=actor,
        )
        audit_record(
            action=Action.SMOKING_STATUS_RECORD,
            actor=actor,
            object_type="smoking_status_change",
            object_id=change.pk,
            patient_id=patient.pk,
            inputs={
                "status": status,
                "effective_on": effective_on,
                "cigarettes_per_day": cigarettes_per_day,
                "context": change.context,
                "nicotine": nicotine,
            },
            output={"previous_status": before.value, "level_suggested": True},
        )
        _queue("level_prompt", "smoking", change.pk)
    return change


def medication_event_record(
    *,
    patient: Patient,
    actor: User,
    drug: InteractingDrug,
    kind: str,
    effective_on: date,
    note: str = "",
    now: datetime | None = None,
) -> MedicationEvent:
    """A start or stop of an interacting medication; either changes clozapine levels, so the
    prescriber is reminded to check one."""
    now = now or timezone.now()
    if kind not in MedicationEventKind.values:
        raise FieldInvalid("kind", "The kind is start or stop.")
    if not drug.active:
        raise FieldInvalid("drug", "This medication is no longer on the interacting list.")
    _day_not_future("effective_on", effective_on, now)
    with transaction.atomic(), acting_as(actor):
        _lock(patient)
        event = MedicationEvent.objects.create(
            patient=patient,
            drug=drug,
            kind=kind,
            effective_on=effective_on,
            note=note.strip(),
            recorded_by=actor,
        )
        audit_record(
            action=Action.MEDICATION_EVENT_RECORD,
            actor=actor,
            object_type="medication_event",
            object_id=event.pk,
            patient_id=patient.pk,
            inputs={
                "drug": drug.name,
                "effect": drug.effect,
                "kind": kind,
                "effective_on": effective_on,
            },
            output={"level_suggested": True},
        )
        _queue("level_prompt", "medication", event.pk)
    return event


def dose_entry_record(
    *,
    patient: Patient,
    actor: User,
    kind: str,
    effective_at: datetime,
    daily_dose_mg: Decimal | None = None,
    note: str = "",
    now: datetime | None = None,
) -> DoseEntry:
    """A prescriber's dose change, or the patient's reported last dose taken."""
    now = now or timezone.now()
    if kind not in DoseEntryKind.values:
        raise FieldInvalid("kind", "The kind is dose_change or last_dose_taken.")
    _not_future("effective_at", effective_at, now)
    if kind == DoseEntryKind.DOSE_CHANGE and daily_dose_mg is None:
        raise FieldInvalid("daily_dose_mg", "A dose change needs the new daily dose.")
    if daily_dose_mg is not None and not (Decimal(0) <= daily_dose_mg <= Decimal(2000)):
        raise FieldInvalid("daily_dose_mg", "A daily dose is between 0 and 2000 mg.")
    with transaction.atomic(), acting_as(actor):
        _lock(patient)
        entry = DoseEntry.objects.create(
            patient=patient,
            kind=kind,
            effective_at=effective_at,
            daily_dose_mg=daily_dose_mg,
            note=note.strip(),
            recorded_by=actor,
        )
        if kind == DoseEntryKind.LAST_DOSE_TAKEN:
            dose_facts_note_last_dose(patient_id=patient.pk, reported_at=effective_at)
        audit_record(
            action=Action.DOSE_ENTRY_RECORD,
            actor=actor,
            object_type="dose_entry",
            object_id=entry.pk,
            patient_id=patient.pk,
            inputs={"kind": kind, "effective_at": effective_at, "daily_dose_mg": daily_dose_mg},
            output={},
        )
    return entry


def plan_answers_clean(definition: plan.PlanItem, answers: dict[str, Any]) -> dict[str, Any]:
    """The item's answers checked against its definition: 400 naming `answers.<name>` and the
    rule for a missing, unknown, mistyped or out-of-range one."""
    known = {a.name for a in definition.answers}
    unknown = sorted(set(answers) - known)
    if unknown:
        expected = ", ".join(sorted(known)) or "none"
        raise FieldInvalid(
            f"answers.{unknown[0]}",
            f"Not an answer of {definition.code}; its answers are: {expected}.",
        )
    clean: dict[str, Any] = {}
    for spec in definition.answers:
        field = f"answers.{spec.name}"
        raw = answers.get(spec.name)
        if raw is None:
            if spec.required:
                raise FieldInvalid(field, f"{spec.label} is required for {definition.code}.")
            continue
        if spec.kind == "bool":
            if not isinstance(raw, bool):
                raise FieldInvalid(field, f"{spec.label} is true or false.")
            clean[spec.name] = raw
            continue
        if isinstance(raw, bool):
            raise FieldInvalid(field, f"{spec.label} is a number.")
        try:
            number = Decimal(str(raw))
        except (ArithmeticError, ValueError):
            raise FieldInvalid(field, f"{spec.label} is a number.") from None
        if not number.is_finite():
            raise FieldInvalid(field, f"{spec.label} is a number.")
        if spec.kind == "int" and number != number.to_integral_value():
            raise FieldInvalid(field, f"{spec.label} is a whole number.")
        if (spec.low is not None and number < spec.low) or (
            spec.high is not None and number > spec.high
        ):
            raise FieldInvalid(
                field,
                f"{spec.label} is between {spec.low} and {spec.high} {spec.unit}".strip() + ".",
            )
        clean[spec.name] = int(number) if spec.kind == "int" else str(number)
    return clean


def plan_entry_record(
    *,
    patient: Patient,
    actor: User,
    item: str,
    done_on: date,
    value: str = "",
    unit: str = "",
    symptoms: bool | None = None,
    answers: dict[str, Any] | None = None,
    note: str = "",
    now: datetime | None = None,
) -> PlanEntry:
    """A check of the patient's plan done, with its answers; what they mean (the item's
    findings) is stored with it, an urgent finding reminds the prescriber at once, and a
    positive pregnancy check notes a reason for a level."""
    now = now or timezone.now()
    definition = plan.plan_item(patient.protocol, item)
    if definition is None:
        known = ", ".join(i.code for i in plan.plan_for(patient.protocol))
        raise FieldInvalid("item", f"Unknown plan item {item!r}; this plan has: {known}.")
    if definition.done_by_level:
        raise FieldInvalid(
            "item", f"{definition.label} is done by recording the level itself (levels/)."
        )
    if definition.sexes and patient.sex not in definition.sexes:
        raise FieldInvalid("item", f"{definition.label} does not apply to this patient.")
    _day_not_future("done_on", done_on, now)
    if definition.checklist and symptoms is None:
        raise FieldInvalid("symptoms", f"{definition.question} Answer true or false.")
    clean = plan_answers_clean(definition, dict(answers or {}))
    with transaction.atomic(), acting_as(actor):
        _lock(patient)
        earlier = [
            e.answers
            for e in PlanEntry.objects.filter(patient=patient, item=item).order_by("done_on", "id")
        ]
        findings = (
            definition.assess({**clean, "symptoms": symptoms}, earlier) if definition.assess else []
        )
        needs_action = any(f.needs_action for f in findings)
        entry = PlanEntry.objects.create(
            patient=patient,
            item=item,
            done_on=done_on,
            value=value.strip(),
            unit=unit.strip(),
            symptoms=symptoms,
            answers=clean,
            finding={"findings": [f.as_dict() for f in findings]},
            needs_action=needs_action,
            note=note.strip(),
            recorded_by=actor,
        )
        prompt = plan_entry_prompt(entry)
        indication = None
        if item == "pregnancy" and clean.get("pregnant"):
            indication = LevelIndication.objects.create(
                patient=patient,
                reason=LevelIndicationReason.PREGNANCY,
                noted_on=done_on,
                note="pregnancy check",
                recorded_by=actor,
            )
        audit_record(
            action=Action.PLAN_ENTRY_RECORD,
            actor=actor,
            object_type="plan_entry",
            object_id=entry.pk,
            patient_id=patient.pk,
            inputs={
                "item": item,
                "done_on": done_on,
                "value": entry.value,
                "symptoms": symptoms,
                "answers": clean,
            },
            output={
                "prompt": prompt,
                "findings": [f.code for f in findings],
                "needs_action": needs_action,
                "level_indication_id": indication.pk if indication else None,
            },
        )
        if any(f.severity == "urgent" for f in findings):
            _queue("myocarditis_prompt", entry.pk)
    return entry


def plan_entry_prompt(entry: PlanEntry) -> str:
    """What the entry's findings say (empty when nothing was found)."""
    findings = (entry.finding or {}).get("findings", [])
    return " ".join(f["message"] for f in findings)


def level_indication_record(
    *,
    patient: Patient,
    actor: User,
    reason: str,
    noted_on: date,
    note: str = "",
    now: datetime | None = None,
) -> LevelIndication:
    """A reason to check a level (poor response, side effects, doubtful adherence, infection,
    pregnancy), noted at the clinic or the counter; it prompts a level until one is drawn."""
    now = now or timezone.now()
    if reason not in LevelIndicationReason.values:
        raise FieldInvalid(
            "reason", f"The reason is one of {', '.join(LevelIndicationReason.values)}."
        )
    _day_not_future("noted_on", noted_on, now)
    with transaction.atomic(), acting_as(actor):
        _lock(patient)
        noted = LevelIndication.objects.create(
            patient=patient, reason=reason, noted_on=noted_on, note=note.strip(), recorded_by=actor
        )
        audit_record(
            action=Action.LEVEL_INDICATION_RECORD,
            actor=actor,
            object_type="level_indication",
            object_id=noted.pk,
            patient_id=patient.pk,
            inputs={"reason": reason, "noted_on": noted_on, "note": noted.note},
            output={"level_suggested": True},
        )
        _queue("level_prompt", "indication", noted.pk)
    return noted


def interacting_drug_save(
    *, actor: User, drug: InteractingDrug | None, data: dict[str, Any]
) -> InteractingDrug:
    """Add to or edit the interacting-medication list (administrators)."""
    fields = ("name", "effect", "enzyme", "strong", "note", "active")
    with transaction.atomic(), acting_as(actor):
        before = {f: getattr(drug, f) for f in fields} if drug is not None else {}
        target = drug or InteractingDrug()
        for name in fields:
            if name in data:
                setattr(target, name, data[name])
        target.full_clean()
        target.save()
        after = {f: getattr(target, f) for f in fields}
        audit_record(
            action=Action.INTERACTING_DRUG_SAVE,
            actor=actor,
            object_type="interacting_drug",
            object_id=target.pk,
            inputs={k: v for k, v in data.items() if k in fields},
            output={
                "changed": {
                    f: [before.get(f), after[f]] for f in fields if before.get(f) != after[f]
                }
            },
        )
    return target


def level_interpretations_rebuild(*, check: bool = False) -> list[int]:
    """Re-interpret every stored level from the history (the stored interpretation is a cache:
    a level entered late, drawn before others, changes their comparison). Returns the ids whose
    stored interpretation differed; unless `check`, rewrites them."""
    differing: list[int] = []
    levels = LevelResult.objects.annotate(protocol=F("patient__protocol")).order_by(
        "patient_id", "sampled_at", "id"
    )
    earlier: list[Any] = []
    patient_id = None
    for level in levels.iterator(chunk_size=2000):
        if level.patient_id != patient_id:
            patient_id, earlier = level.patient_id, []
        reading = interpret(
            level_input(
                sampled_at=level.sampled_at,
                clozapine_ng_ml=level.clozapine_ng_ml,
                norclozapine_ng_ml=level.norclozapine_ng_ml,
                last_dose_at=level.last_dose_at,
                daily_dose_mg=level.daily_dose_mg,
                dose_stable_days=level.dose_stable_days,
                dose_stable=level.dose_stable,
                smoking=Smoking(level.smoking),
                serious_infection=level.serious_infection,
                context=level.context or {},
                retitration_after_hours=get_protocol(level.protocol).retitration_after_hours,
            ),
            earlier,
        )
        earlier.append(prior_level(level))
        fresh = {**reading.as_dict(), "unexpected": reading.unexpected, "urgent": reading.urgent}
        if (fresh, reading.valid_trough, reading.ratio) != (
            level.interpretation,
            level.valid_trough,
            level.metabolic_ratio,
        ):
            differing.append(level.pk)
            if not check:
                LevelResult.objects.filter(pk=level.pk).update(
                    interpretation=fresh,
                    valid_trough=reading.valid_trough,
                    metabolic_ratio=reading.ratio,
                )
    return differing


def counter_observation_record(
    *, patient: Patient, actor: User, data: dict[str, Any]
) -> dict[str, Any]:
    """What a pharmacist sees at the counter, recorded by the service the clinic's own entry
    uses (so the same checks and the same audit entry): a reported last dose (and the
    re-titration warning it may bring), a smoking change, an interacting medication started or
    stopped, doubtful adherence."""
    from clinical.selectors import patient_dose_tracking

    kind = data["kind"]
    note = (data.get("note") or "").strip()
    if kind == "last_dose_reported":
        try:
            entry = dose_entry_record(
                patient=patient,
                actor=actor,
                kind=DoseEntryKind.LAST_DOSE_TAKEN,
                effective_at=data["last_dose_at"],
                note=note or "reported at the counter",
            )
        except FieldInvalid as error:
            # The counter's field is `last_dose_at`: name it as the caller sent it.
            raise FieldInvalid("last_dose_at", error.message) from None
        warning = patient_dose_tracking(
            patient_id=patient.pk, protocol=patient.protocol, now=timezone.now()
        ).warning()
        return {
            "kind": kind,
            "id": entry.pk,
            "retitration_warning": warning,
            "level_suggested": False,
        }
    if kind == "smoking_change":
        change = smoking_status_record(
            patient=patient,
            actor=actor,
            status=data["smoking_status"],
            effective_on=data["effective_on"],
            nicotine=data.get("nicotine") or "",
            context=note or "seen at the counter",
        )
        return {"kind": kind, "id": change.pk, "retitration_warning": None, "level_suggested": True}
    if kind == "interacting_drug":
        event = medication_event_record(
            patient=patient,
            actor=actor,
            drug=data["drug"],
            kind=data["change"],
            effective_on=data["effective_on"],
            note=note or "seen at the counter",
        )
        return {"kind": kind, "id": event.pk, "retitration_warning": None, "level_suggested": True}
    if kind == "adherence_doubt":
        noted = level_indication_record(
            patient=patient,
            actor=actor,
            reason=LevelIndicationReason.ADHERENCE_DOUBT,
            noted_on=data["effective_on"],
            note=note or "seen at the counter",
        )
        return {"kind": kind, "id": noted.pk, "retitration_warning": None, "level_suggested": True}
    raise FieldInvalid(
        "kind",
        "The kind is last_dose_reported, smoking_change, interacting_drug or adherence_doubt.",
    )
