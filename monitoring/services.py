"""Writes for lab results and the stored monitoring state."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.context import acting_as
from audit.models import Action
from audit.services import audit_record
from clozrems.errors import FieldInvalid, StateConflict
from clozrems.queue import enqueue_on_commit
from monitoring.engine import assess, replay, step_down_refusal
from monitoring.engine.codec import snapshot_from_json, snapshot_to_json
from monitoring.engine.core import local_date
from monitoring.engine.types import Assessment, DecisionContext, Frequency, Snapshot
from monitoring.models import (
    AncResult,
    ConsultAcknowledgement,
    MonitoringState,
    ResultAnalyte,
    ResultSource,
    ResultStatus,
    StepDownConfirmation,
)
from monitoring.selectors import clinic_zone, is_future, patient_histories, patient_history
from monitoring.units import UnitError, to_per_ul
from patients.models import Patient, User


def monitoring_state_compute(*, patient: Patient, now: datetime | None = None) -> MonitoringState:
    """The state row the history implies, unsaved: the replayed snapshot and its projection."""
    now = now or timezone.now()
    return monitoring_state_from(
        patient=patient, snapshot=replay(patient_history(patient=patient)), now=now
    )


def monitoring_state_from(
    *, patient: Patient, snapshot: Snapshot, now: datetime
) -> MonitoringState:
    """The state row for a replayed snapshot, unsaved: the snapshot and its projection to now."""
    assessment = assess(snapshot, max(now, snapshot.high_water or now), clinic_zone())
    latest = assessment.latest_anc
    return MonitoringState(
        patient=patient,
        snapshot=snapshot_to_json(snapshot),
        high_water=snapshot.high_water,
        computed_at=now,
        protocol=snapshot.protocol,
        enrollment_status=assessment.enrollment_status.value,
        treatment_status=assessment.treatment_status.value,
        band=assessment.band.value if assessment.band else None,
        monitoring_frequency=assessment.monitoring_frequency.value
        if assessment.monitoring_frequency
        else None,
        latest_anc_per_ul=latest.value_per_ul if latest else None,
        latest_drawn_at=latest.drawn_at if latest else None,
        next_draw_due=assessment.next_draw_due,
        current_until=assessment.current_until,
        confirmation_due=assessment.confirmation_due,
        hematology_consult=assessment.hematology_consult,
        episode_opened_at=snapshot.episode.opened_at if snapshot.episode else None,
        lapse_on=assessment.lapse_on,
        lapsed_on=assessment.lapsed_on,
        protocol_version=assessment.protocol_version,
        latest_wbc_per_ul=latest.wbc_per_ul if latest else None,
        step_down_offered=assessment.step_down_offered.value
        if assessment.step_down_offered
        else None,
    )


STATE_COLUMNS = [
    "snapshot",
    "high_water",
    "computed_at",
    "protocol",
    "enrollment_status",
    "treatment_status",
    "band",
    "monitoring_frequency",
    "latest_anc_per_ul",
    "latest_drawn_at",
    "next_draw_due",
    "current_until",
    "confirmation_due",
    "hematology_consult",
    "episode_opened_at",
    "lapse_on",
    "lapsed_on",
    "protocol_version",
    "latest_wbc_per_ul",
    "step_down_offered",
]


def monitoring_state_refresh(*, patient: Patient, now: datetime | None = None) -> MonitoringState:
    """Rewrite the patient's stored state from its history; call inside the writing transaction."""
    state = monitoring_state_compute(patient=patient, now=now)
    columns = {name: getattr(state, name) for name in STATE_COLUMNS}
    # The caller holds the patient's row lock, so no other writer can create the row between
    # the update and the insert (update_or_create would add a savepoint and a SELECT).
    if not MonitoringState.objects.filter(patient=patient).update(**columns):
        state.save(force_insert=True)
    Patient.objects.filter(pk=patient.pk).update(
        enrollment_status=state.enrollment_status, treatment_status=state.treatment_status
    )
    patient.enrollment_status = state.enrollment_status
    patient.treatment_status = state.treatment_status
    return state


REBUILD_COMPARED = ("snapshot", "high_water", "protocol", "protocol_version")


def monitoring_states_rebuild(
    *, patients: Sequence[Patient], now: datetime, check: bool = False
) -> dict[int, list[str]]:
    """Replay these patients' histories (five queries for all of them) and, unless `check`,
    write their states in one upsert. Returns, per patient whose stored state differed from
    its history, the columns that differed ("missing" when there was no row)."""
    histories = patient_histories(patients=patients)
    fresh = [
        monitoring_state_from(patient=p, snapshot=replay(histories[p.pk]), now=now)
        for p in patients
    ]
    stored = {
        row[0]: row[1:]
        for row in MonitoringState.objects.filter(patient__in=patients).values_list(
            "patient_id", "snapshot", "high_water", "protocol", "protocol_version"
        )
    }
    differing: dict[int, list[str]] = {}
    for state in fresh:
        old = stored.get(state.patient_id)
        new = (state.snapshot, state.high_water, state.protocol, state.protocol_version)
        if old is None:
            differing[state.patient_id] = ["missing"]
        elif old != new:
            differing[state.patient_id] = [
                name for name, a, b in zip(REBUILD_COMPARED, old, new, strict=True) if a != b
            ]
    if check:
        return differing
    MonitoringState.objects.bulk_create(
        fresh,
        update_conflicts=True,
        unique_fields=["patient"],
        update_fields=STATE_COLUMNS,
        batch_size=1000,
    )
    moved = []
    for patient, state in zip(patients, fresh, strict=True):
        if (patient.enrollment_status, patient.treatment_status) != (
            state.enrollment_status,
            state.treatment_status,
        ):
            patient.enrollment_status = state.enrollment_status
            patient.treatment_status = state.treatment_status
            moved.append(patient)
    Patient.objects.bulk_update(moved, ["enrollment_status", "treatment_status"], batch_size=1000)
    return differing


def stored_snapshot(patient: Patient) -> Snapshot | None:
    """The stored snapshot, if the patient's monitoring row was loaded or exists."""
    try:
        state = patient.monitoring
    except MonitoringState.DoesNotExist:
        return None
    return snapshot_from_json(state.snapshot)


def patient_assessment(
    *, patient: Patient, as_of: datetime, context: DecisionContext | None = None
) -> Assessment:
    """The patient's picture (and decision) as of `as_of`.

    From the stored snapshot when nothing in it is later than `as_of` (a constant, small number
    of queries); otherwise by replaying the history effective at `as_of`.
    """
    zone = clinic_zone()
    snapshot = stored_snapshot(patient)
    if snapshot is None or (snapshot.high_water is not None and snapshot.high_water > as_of):
        snapshot = replay(patient_history(patient=patient), until=as_of)
    return assess(snapshot, as_of, zone, context)


def patient_monitoring(*, patient: Patient, as_of: datetime | None = None) -> Assessment:
    """The patient's picture for its record (api.md `monitoring`): the decision's fields with
    the rules' reasons, judged without a pharmacy or a requested supply. Needs `prescriber`."""
    as_of = as_of or timezone.now()
    day = local_date(as_of, clinic_zone())
    context = DecisionContext(prescriber_certified=patient.prescriber.is_certified_on(day))
    return patient_assessment(patient=patient, as_of=as_of, context=context)


def patient_monitoring_reload(patient_pk: int) -> Assessment:
    """`patient_monitoring` for a patient just written, read afresh."""
    fresh = Patient.objects.select_related("prescriber", "monitoring").get(pk=patient_pk)
    return patient_monitoring(patient=fresh)


@dataclass(frozen=True)
class RecordedResult:
    result: AncResult
    created: bool
    # True when a preliminary result arrived after the final one it precedes: kept out.
    stale: bool = False


def anc_result_record(
    *,
    patient: Patient,
    actor: User,
    drawn_at: datetime,
    value: Decimal,
    unit: str,
    accession: str = "",
    lab: str = "",
    source: str = ResultSource.MANUAL,
    status: str = ResultStatus.FINAL,
    derivation: dict[str, Any] | None = None,
    now: datetime | None = None,
    analyte: str = ResultAnalyte.ANC,
) -> RecordedResult:
    """Store one ANC (rules.md §8) and re-run the rules. The same result delivered again (same
    lab, accession and analyte, whatever the channel) is stored once; a corrected result, or a
    final one after its preliminary, replaces the one before it, which stays in the history.
    `derivation` holds the WBC and neutrophil percent an ANC was computed from. `analyte`
    "wbc" stores a white cell count (issue 9), by the same rules."""
    now = now or timezone.now()
    try:
        per_ul = to_per_ul(value, unit)
    except UnitError as error:
        raise FieldInvalid(error.field, error.message) from None
    if timezone.is_naive(drawn_at):
        raise FieldInvalid("drawn_at", "Give the draw time with a UTC offset.")
    if is_future(drawn_at, now):
        raise FieldInvalid("drawn_at", "The draw time is in the future.")
    if local_date(drawn_at, clinic_zone()) < patient.date_of_birth:
        raise FieldInvalid("drawn_at", "The draw time is before the patient's date of birth.")
    if analyte not in ResultAnalyte.values:
        raise FieldInvalid("analyte", f"Known analytes: {', '.join(ResultAnalyte.values)}.")
    if status not in (ResultStatus.FINAL, ResultStatus.CORRECTED, ResultStatus.PRELIMINARY):
        raise FieldInvalid("status", "A new result is final, corrected or preliminary.")
    accession = accession.strip()
    lab = lab.strip()

    with transaction.atomic(), acting_as(actor):
        Patient.objects.select_for_update(of=("self",)).filter(pk=patient.pk).first()
        previous = None
        if accession:
            same_accession = AncResult.objects.select_for_update().filter(
                lab=lab, analyte=analyte, accession=accession, superseded=False
            )
            if not lab:
                # Entered by hand (no lab named): the accession belongs to the patient. Among
                # the prescriber's own patients it names one of them (a 409 it can see
                # through); another prescriber's patient with it neither blocks the entry nor
                # shows in the answer.
                if (
                    AncResult.objects.filter(
                        lab="",
                        analyte=analyte,
                        accession=accession,
                        superseded=False,
                        patient__prescriber_id=patient.prescriber_id,
                    )
                    .exclude(patient=patient)
                    .exists()
                ):
                    raise StateConflict(
                        "This accession is already recorded for another of your patients.",
                        "accession_in_use",
                    )
                same_accession = same_accession.filter(patient=patient)
            previous = same_accession.first()
        if previous is not None:
            if previous.patient_id != patient.pk:
                raise StateConflict(
                    "This accession is already recorded for another patient.", "accession_in_use"
                )
            same = previous.value_per_ul == per_ul and previous.drawn_at == drawn_at
            if same and status == previous.status:
                return RecordedResult(previous, created=False)
            if (
                same
                and previous.status == ResultStatus.ENTERED_IN_ERROR
                and (status != ResultStatus.CORRECTED)
            ):
                # The lab sent again what was voided here: it stays void.
                return RecordedResult(previous, created=False)
            if status == ResultStatus.PRELIMINARY and previous.status != ResultStatus.PRELIMINARY:
                return RecordedResult(previous, created=False, stale=True)
            if status != ResultStatus.CORRECTED and previous.status != ResultStatus.PRELIMINARY:
                raise StateConflict(
                    "A result with this accession exists with other values; send it with "
                    '"status": "corrected" to replace it.',
                    "accession_conflict",
                )
        result = AncResult(
            patient=patient,
            analyte=analyte,
            value=value,
            unit=unit.strip(),
            value_per_ul=per_ul,
            drawn_at=drawn_at,
            accession=accession,
            lab=lab,
            source=source,
            status=status,
            recorded_by=actor,
            corrects=previous,
            derived=bool(derivation),
            derivation=derivation or {},
        )
        try:
            with transaction.atomic():
                if previous is not None:
                    # Free the accession first: the unique constraint covers current results.
                    AncResult.objects.filter(pk=previous.pk).update(superseded=True)
                result.save()
        except IntegrityError:
            raise StateConflict(
                "A result with this accession was recorded at the same moment; retry.",
                "accession_conflict",
            ) from None
        inputs = {
            "value": value,
            "unit": result.unit,
            "drawn_at": drawn_at,
            "accession": accession,
            "lab": lab,
            "source": source,
            "status": status,
            "derivation": derivation or None,
            "corrects": None
            if previous is None
            else {"id": previous.pk, "value_per_ul": previous.value_per_ul},
        }
        if status == ResultStatus.PRELIMINARY and (
            previous is None or previous.status == ResultStatus.PRELIMINARY
        ):
            # Stored, but nothing the rules read has changed: no state to rewrite.
            audit_record(
                action=Action.ANC_RESULT_RECORD,
                actor=actor,
                object_type="anc_result",
                object_id=result.pk,
                patient_id=patient.pk,
                inputs=inputs,
                output={"value_per_ul": per_ul, "used_for_decisions": False},
            )
            return RecordedResult(result, created=True)
        before = (
            MonitoringState.objects.filter(patient=patient)
            .values_list("confirmation_due", flat=True)
            .first()
        )
        state = monitoring_state_refresh(patient=patient, now=now)
        audit_record(
            action=Action.ANC_RESULT_CORRECT if previous is not None else Action.ANC_RESULT_RECORD,
            actor=actor,
            object_type="anc_result",
            object_id=result.pk,
            patient_id=patient.pk,
            inputs=inputs,
            output={
                "value_per_ul": per_ul,
                "protocol": state.protocol,
                "band": state.band,
                "monitoring_frequency": state.monitoring_frequency,
                "next_draw_due": state.next_draw_due,
                "confirmation_due": state.confirmation_due,
            },
        )
        if state.confirmation_due is not None and state.confirmation_due != before:
            # rules.md §1: a first low result asks for a repeat within 24 hours, at once.
            from monitoring.tasks import confirmation_requested

            patient_pk = patient.pk
            enqueue_on_commit(confirmation_requested, patient_pk)
    return RecordedResult(result, created=True)


def anc_result_void(*, result: AncResult, actor: User, reason: str) -> AncResult:
    """Mark a result entered in error (never deleted) and re-run the rules."""
    if not reason.strip():
        raise FieldInvalid("reason", "Say why the result is void.")
    with transaction.atomic(), acting_as(actor):
        Patient.objects.select_for_update(of=("self",)).filter(pk=result.patient_id).first()
        result.refresh_from_db()
        if result.status == ResultStatus.ENTERED_IN_ERROR:
            raise StateConflict("The result is already void.")
        if result.superseded:
            raise StateConflict("The result was replaced by a correction; void the correction.")
        result.status = ResultStatus.ENTERED_IN_ERROR
        result.void_reason = reason.strip()
        result.save(update_fields=["status", "void_reason"])
        state = monitoring_state_refresh(patient=result.patient)
        audit_record(
            action=Action.ANC_RESULT_VOID,
            actor=actor,
            object_type="anc_result",
            object_id=result.pk,
            patient_id=result.patient_id,
            inputs={"reason": result.void_reason, "value_per_ul": result.value_per_ul},
            output={
                "status": result.status,
                "band": state.band,
                "monitoring_frequency": state.monitoring_frequency,
            },
        )
    return result


def consult_acknowledge(*, patient: Patient, actor: User, note: str = "") -> ConsultAcknowledgement:
    """Stop the daily consult reminder for the patient's open episode."""
    with transaction.atomic(), acting_as(actor):
        Patient.objects.select_for_update(of=("self",)).filter(pk=patient.pk).first()
        state = MonitoringState.objects.filter(patient=patient).first()
        if state is None or not state.hematology_consult or state.episode_opened_at is None:
            raise StateConflict("No hematology consult is flagged for this patient.")
        acknowledgement, created = ConsultAcknowledgement.objects.get_or_create(
            patient=patient,
            episode_opened_at=state.episode_opened_at,
            defaults={"acknowledged_by": actor, "note": note.strip()},
        )
        if not created:
            raise StateConflict("The consult for this episode is already acknowledged.")
        audit_record(
            action=Action.CONSULT_ACKNOWLEDGE,
            actor=actor,
            object_type="consult_acknowledgement",
            object_id=acknowledgement.pk,
            patient_id=patient.pk,
            inputs={"episode_opened_at": state.episode_opened_at, "note": acknowledgement.note},
            output={"band": state.band},
        )
    return acknowledgement


def step_down_confirm(
    *,
    patient: Patient,
    actor: User,
    frequency: str,
    effective_date: date | None = None,
    note: str = "",
) -> StepDownConfirmation:
    """The prescriber confirms the longer monitoring interval the schedule offers (issue 9,
    uk-cpms); refused (409) when that interval is not offered on the date."""
    today = local_date(timezone.now(), clinic_zone())
    effective_date = effective_date or today
    if effective_date > today:
        raise FieldInvalid("effective_date", "The date may not be in the future.")
    try:
        wanted = Frequency(frequency)
    except ValueError:
        raise FieldInvalid("frequency", "Unknown monitoring frequency.") from None
    with transaction.atomic(), acting_as(actor):
        Patient.objects.select_for_update(of=("self",)).filter(pk=patient.pk).first()
        patient.refresh_from_db(fields=["protocol"])
        refusal = step_down_refusal(patient_history(patient=patient), wanted, effective_date)
        if refusal is not None:
            raise StateConflict(refusal.message)
        confirmation = StepDownConfirmation.objects.create(
            patient=patient,
            frequency=wanted.value,
            effective_date=effective_date,
            note=note.strip(),
            confirmed_by=actor,
        )
        state = monitoring_state_refresh(patient=patient)
        audit_record(
            action=Action.STEP_DOWN_CONFIRM,
            actor=actor,
            object_type="step_down_confirmation",
            object_id=confirmation.pk,
            patient_id=patient.pk,
            inputs={
                "frequency": wanted.value,
                "effective_date": effective_date,
                "note": confirmation.note,
                "protocol": patient.protocol,
            },
            output={"monitoring_frequency": state.monitoring_frequency or None},
        )
    return confirmation
