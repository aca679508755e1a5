"""Writes for lab results and the stored monitoring state."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from audit.context import acting_as
from audit.models import Action
from audit.services import audit_record, audit_refusals
from clozrems.errors import FieldInvalid, NotPermitted, StateConflict
from engine import assess, get_protocol, replay, step_down_refusal
from engine.codec import snapshot_from_json, snapshot_to_json
from engine.core import HistoryItem, advance, local_date
from engine.protocols.base import manual_entry_concern
from engine.types import (
    Assessment,
    BloodCount,
    DecisionContext,
    EnrollmentStatus,
    Frequency,
    Population,
    Snapshot,
    TreatmentStatus,
)
from monitoring.models import (
    DECISIVE_STATUSES,
    ConsultAcknowledgement,
    LabResult,
    MonitoringState,
    ResultAnalyte,
    ResultSource,
    ResultStatus,
    ReviewAcknowledgement,
    StepDownConfirmation,
    SuppliedElsewhere,
)
from monitoring.selectors import (
    clinic_zone,
    instant_from,
    instant_text_of,
    is_future,
    patient_histories,
    patient_history,
)
from monitoring.units import UnitError, check_whole_cells, to_per_ul
from notifications.outbox import enqueue_on_commit
from patients.models import Patient, Role, User


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
    return MonitoringState(patient=patient, **monitoring_state_columns(snapshot=snapshot, now=now))


def monitoring_state_columns(
    *, snapshot: Snapshot, now: datetime, data: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The state row's columns (`STATE_COLUMNS`) for a replayed snapshot: the snapshot, as
    JSON (`data`, when the caller has encoded it already), and its projection to now."""
    assessment = assess(snapshot, max(now, snapshot.high_water or now), clinic_zone())
    latest = assessment.latest_anc
    return {
        "snapshot": snapshot_to_json(snapshot) if data is None else data,
        "high_water": snapshot.high_water,
        "computed_at": now,
        "protocol": snapshot.protocol,
        "enrollment_status": assessment.enrollment_status.value,
        "treatment_status": assessment.treatment_status.value,
        "band": assessment.band.value if assessment.band else None,
        "monitoring_frequency": assessment.monitoring_frequency.value
        if assessment.monitoring_frequency
        else None,
        "latest_anc_per_ul": latest.value_per_ul if latest else None,
        "latest_drawn_at": latest.drawn_at if latest else None,
        "next_draw_due": assessment.next_draw_due,
        "current_until": assessment.current_until,
        "confirmation_due": assessment.confirmation_due,
        "hematology_consult": assessment.hematology_consult,
        # The episode a consult acknowledgement names: the open one, or one whose consult is
        # still flagged after it closed (docs/rules.md §9.4).
        "episode_opened_at": snapshot.episode.opened_at
        if snapshot.episode
        else snapshot.consult_pending,
        "lapse_on": assessment.lapse_on,
        "lapsed_on": assessment.lapsed_on,
        "protocol_version": assessment.protocol_version,
        "latest_wbc_per_ul": latest.wbc_per_ul
        if latest and "wbc" in get_protocol(snapshot.protocol).analytes
        else None,
        "step_down_offered": assessment.step_down_offered.value
        if assessment.step_down_offered
        else None,
    }


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
    return _state_write(patient=patient, state=monitoring_state_compute(patient=patient, now=now))


def monitoring_state_advance(
    *,
    patient: Patient,
    item: HistoryItem,
    now: datetime | None = None,
    stored: Snapshot | None = None,
) -> MonitoringState:
    """The stored state with one new item of the patient's history applied: the engine's step
    on the stored snapshot when the item comes after everything in it (no history is read), else
    a rewrite from the whole history. Both give the same state (the engine's property tests, and
    `monitoring_rebuild --check`). Call inside the writing transaction, holding the patient's
    lock. `stored`: the snapshot as read after taking that lock, when the caller has it; else it
    is read here (a relation loaded before the lock may be stale)."""
    now = now or timezone.now()
    if stored is None:
        row = MonitoringState.objects.filter(patient=patient).values_list("snapshot", flat=True)
        data = row.first()
        stored = _decoded(data) if data is not None else None
    moved = (
        advance(stored, item, zone=clinic_zone(), patient_protocol=patient.protocol)
        if stored is not None
        else None
    )
    if moved is None:
        return monitoring_state_refresh(patient=patient, now=now)
    return _state_write(
        patient=patient, state=monitoring_state_from(patient=patient, snapshot=moved, now=now)
    )


def _decoded(data: dict[str, Any]) -> Snapshot | None:
    try:
        return snapshot_from_json(data)
    except (ValueError, KeyError, TypeError):
        return None


def _state_write(*, patient: Patient, state: MonitoringState) -> MonitoringState:
    if state.enrollment_status == EnrollmentStatus.REENROLLMENT_REQUIRED and state.lapsed_on:
        # A past-dated record made the lapse immediate: recorded as the lapses scan records it.
        lapses_record(patient_ids=[patient.pk], lapse_on=state.lapsed_on, actor=_acting_user())
    columns = {name: getattr(state, name) for name in STATE_COLUMNS}
    # The caller holds the patient's row lock, so no other writer can create the row between
    # the update and the insert (update_or_create would add a savepoint and a SELECT).
    if not MonitoringState.objects.filter(patient=patient).update(**columns):
        state.save(force_insert=True)
    if (patient.enrollment_status, patient.treatment_status) != (
        state.enrollment_status,
        state.treatment_status,
    ):
        Patient.objects.filter(pk=patient.pk).update(
            enrollment_status=state.enrollment_status, treatment_status=state.treatment_status
        )
    patient.enrollment_status = state.enrollment_status
    patient.treatment_status = state.treatment_status
    if Patient.monitoring.is_cached(patient):
        # Keep a loaded relation in step with the row, for the rest of the caller's request.
        patient.monitoring = state
    return state


def _acting_user() -> User | None:
    from audit.context import actor_id

    pk = actor_id()
    return None if pk is None else User.objects.filter(pk=pk).first()


def lapses_record(*, patient_ids: Sequence[int], lapse_on: date, actor: User | None) -> list[int]:
    """The one place a lapse is recorded (docs/rules.md §4: interrupted for the protocol's lapse
    days): each of these patients not yet marked `reenrollment_required` is marked so,
    interrupted, with one `patient.lapse` audit entry. The lapses scan calls it (actor None)
    and so does every write whose history makes the lapse immediate (a past-dated
    interruption, say). Patients already marked are left alone, so a second call writes
    nothing. Returns the ids it moved."""
    with transaction.atomic():
        moving = list(
            Patient.objects.select_for_update()
            .filter(pk__in=patient_ids)
            .exclude(enrollment_status=EnrollmentStatus.REENROLLMENT_REQUIRED)
            .values_list("pk", flat=True)
        )
        if not moving:
            return []
        Patient.objects.filter(pk__in=moving).update(
            enrollment_status=EnrollmentStatus.REENROLLMENT_REQUIRED,
            treatment_status=TreatmentStatus.INTERRUPTED,
        )
        for patient_id in moving:
            audit_record(
                action=Action.PATIENT_LAPSE,
                actor=actor,
                object_type="patient",
                object_id=patient_id,
                patient_id=patient_id,
                inputs={"lapse_on": lapse_on},
                output={"enrollment_status": EnrollmentStatus.REENROLLMENT_REQUIRED.value},
            )
    return moving


REBUILD_COMPARED = ("snapshot", "high_water", "protocol", "protocol_version")


@dataclass(frozen=True, slots=True)
class RebuildPatient:
    """The columns of a patient the rebuild reads (a row, not a model instance)."""

    pk: int
    population: str
    protocol: str
    enrollment_status: str
    treatment_status: str


def monitoring_states_rebuild(
    *, patients: Sequence[Patient], now: datetime, check: bool = False
) -> dict[int, list[str]]:
    """Replay these patients' histories (one query per history table for all of them) and,
    unless `check`, write their states in one upsert, and the patients' status columns where
    they moved (on these instances too). Returns, per patient whose stored state differed from
    its history, the columns that differed ("missing" when there was no row)."""
    rows = [
        RebuildPatient(p.pk, p.population, p.protocol, p.enrollment_status, p.treatment_status)
        for p in patients
    ]
    moved: dict[int, tuple[str, str]] = {}
    differing = _states_rebuild(rows, now=now, check=check, within=None, moved=moved)
    for patient in patients:
        if patient.pk in moved:
            patient.enrollment_status, patient.treatment_status = moved[patient.pk]
    return differing


def monitoring_states_rebuild_range(
    *, lo: int, hi: int, now: datetime, check: bool = False
) -> tuple[int, dict[int, list[str]]]:
    """`monitoring_states_rebuild` for every patient with an id in lo <= id < hi, read as rows
    and by that range: (patients, differences). A constant number of queries, whatever the
    range holds."""
    rows = [
        RebuildPatient(*row)
        for row in Patient.objects.filter(pk__gte=lo, pk__lt=hi)
        .order_by("pk")
        .values_list("pk", "population", "protocol", "enrollment_status", "treatment_status")
    ]
    if not rows:
        return 0, {}
    return len(rows), _states_rebuild(rows, now=now, check=check, within=(lo, hi))


def _states_rebuild(
    rows: Sequence[RebuildPatient],
    *,
    now: datetime,
    check: bool,
    within: tuple[int, int] | None,
    moved: dict[int, tuple[str, str]] | None = None,
) -> dict[int, list[str]]:
    histories = patient_histories(patients=rows, within=within)
    stored = _stored_states(rows, within)
    differing: dict[int, list[str]] = {}
    fresh: list[tuple[RebuildPatient, dict[str, Any]]] = []
    for row in rows:
        snapshot = replay(histories[row.pk])
        data = snapshot_to_json(snapshot)
        if check:
            # What --check compares needs no projection: the version is the protocol's.
            version = get_protocol(snapshot.protocol).version
        else:
            columns = monitoring_state_columns(snapshot=snapshot, now=now, data=data)
            version = columns["protocol_version"]
            fresh.append((row, columns))
        old = stored.get(row.pk)
        new = (data, snapshot.high_water, snapshot.protocol, version)
        if old is None:
            differing[row.pk] = ["missing"]
        elif old != new:
            differing[row.pk] = [
                name for name, a, b in zip(REBUILD_COMPARED, old, new, strict=True) if a != b
            ]
    if not check:
        written = _states_write(fresh)
        if moved is not None:
            moved.update(written)
    return differing


def monitoring_states_project(*, patient_ids: Sequence[int], now: datetime) -> int:
    """Rewrite these patients' state rows from their stored snapshots projected to `now`, with
    no history read: what the passing of time alone changes (a lapse reached, say). Written by
    the rebuild's own writer (`_states_write`), so the columns are what a rebuild at `now` would
    write, and the patients' status columns follow. Returns how many rows were written."""
    fresh: list[tuple[RebuildPatient, dict[str, Any]]] = []
    for row in MonitoringState.objects.filter(patient_id__in=patient_ids).values_list(
        "patient_id",
        "snapshot",
        "patient__population",
        "patient__protocol",
        "patient__enrollment_status",
        "patient__treatment_status",
    ):
        pk, data, *patient = row
        snapshot = _decoded(data)
        if snapshot is None:
            continue  # an older format: the rebuild rewrites it from the history
        columns = monitoring_state_columns(snapshot=snapshot, now=now, data=data)
        fresh.append((RebuildPatient(pk, *patient), columns))
    _states_write(fresh)
    return len(fresh)


def _stored_states(
    rows: Sequence[RebuildPatient], within: tuple[int, int] | None
) -> dict[int, tuple[Any, ...]]:
    """The stored (snapshot, high_water, protocol, protocol_version) of these patients."""
    states = (
        MonitoringState.objects.filter(patient_id__in=[row.pk for row in rows])
        if within is None
        else MonitoringState.objects.filter(patient_id__gte=within[0], patient_id__lt=within[1])
    )
    return {
        pk: (snapshot, None if high_water is None else instant_from(high_water), protocol, version)
        for pk, snapshot, high_water, protocol, version in states.annotate(
            _high_water=instant_text_of("high_water")
        ).values_list("patient_id", "snapshot", "_high_water", "protocol", "protocol_version")
    }


def _states_write(
    fresh: Sequence[tuple[RebuildPatient, dict[str, Any]]],
) -> dict[int, tuple[str, str]]:
    """Write the rebuilt state rows (one statement on PostgreSQL), and the patients' cached
    status columns where they moved (one UPDATE per pair of statuses); returns those."""
    if not fresh:
        return {}
    if connection.vendor == "postgresql":
        _states_upsert([(row.pk, columns) for row, columns in fresh])
    else:
        MonitoringState.objects.bulk_create(
            [MonitoringState(patient_id=row.pk, **columns) for row, columns in fresh],
            update_conflicts=True,
            unique_fields=["patient"],
            update_fields=STATE_COLUMNS,
            batch_size=1000,
        )
    moved: dict[tuple[str, str], list[int]] = defaultdict(list)
    for row, columns in fresh:
        statuses = (columns["enrollment_status"], columns["treatment_status"])
        if (row.enrollment_status, row.treatment_status) != statuses:
            moved[statuses].append(row.pk)
    for (enrollment, treatment), pks in moved.items():
        Patient.objects.filter(pk__in=pks).update(
            enrollment_status=enrollment, treatment_status=treatment
        )
    return {pk: statuses for statuses, pks in moved.items() for pk in pks}


def _states_upsert(rows: Sequence[tuple[int, dict[str, Any]]]) -> None:
    """INSERT ... ON CONFLICT DO UPDATE of these state rows in one statement, however many:
    the rows go as one JSON array of objects that the server reads as rows of the table."""
    patient_column = MonitoringState._meta.get_field("patient").column
    payload = json.dumps(
        [{patient_column: pk, **columns} for pk, columns in rows],
        separators=(",", ":"),
        default=_isoformat,
    )
    with connection.cursor() as cursor:
        cursor.execute(_upsert_sql(), [payload])


def _isoformat(value: object) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"not a state column value: {value!r}")


@cache
def _upsert_sql() -> str:
    """The PostgreSQL upsert of `_states_upsert`, for the patient and STATE_COLUMNS."""
    quote = connection.ops.quote_name
    by_name = {field.name: field for field in MonitoringState._meta.concrete_fields}
    names = [quote(str(by_name[name].column)) for name in ["patient", *STATE_COLUMNS]]
    table = quote(MonitoringState._meta.db_table)
    listed = ", ".join(names)
    updates = ", ".join(f"{name} = EXCLUDED.{name}" for name in names[1:])
    # Every name comes from the model; the rows are the one parameter.
    return (
        f"INSERT INTO {table} ({listed}) SELECT {listed} "  # noqa: S608  # nosec B608 - model names
        f"FROM jsonb_populate_recordset(NULL::{table}, %s::jsonb) "
        f"ON CONFLICT ({names[0]}) DO UPDATE SET {updates}"
    )


def stored_snapshot(patient: Patient) -> Snapshot | None:
    """The stored snapshot, if the patient's monitoring row was loaded or exists and holds the
    current format (an older one is replayed instead until `monitoring_rebuild` rewrites it)."""
    try:
        state = patient.monitoring
    except MonitoringState.DoesNotExist:
        return None
    return _decoded(state.snapshot)


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
    """The patient's picture for its record (docs/api.md `monitoring`): the decision's fields with
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
    result: LabResult
    created: bool
    # True when a preliminary result arrived after the final one it precedes: kept out.
    stale: bool = False


def accession_repeat(
    previous: LabResult, *, patient_id: int, per_ul: int, drawn_at: datetime, status: str
) -> RecordedResult | None:
    """What a result arriving with the accession of `previous` comes to (docs/rules.md §8), for
    one result at a time and for a feed's chunk alike: the stored result again (a repeat, a
    resend of a voided one, a preliminary after its final), a refusal, or None (file it: a
    correction, or the final after its preliminary)."""
    if previous.patient_id != patient_id:
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
    return None


def anc_result_row(
    *,
    patient: Patient,
    analyte: str,
    value: Decimal,
    unit: str,
    per_ul: int,
    drawn_at: datetime,
    accession: str,
    lab: str,
    source: str,
    status: str,
    actor: User,
    previous: LabResult | None,
    derivation: dict[str, Any] | None,
) -> LabResult:
    """The result row `anc_result_record` stores, unsaved (a feed chunk inserts them in bulk):
    `previous` is the result it corrects or finalises, if any."""
    return LabResult(
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
    confirm_unusual: bool = False,
    replaces: LabResult | None = None,
    reason: str = "",
) -> RecordedResult:
    """Store one ANC (docs/rules.md §8) and re-run the rules. The same result delivered again (same
    lab, accession and analyte, whatever the channel) is stored once; a corrected result, or a
    final one after its preliminary, replaces the one before it, which stays in the history.
    `derivation` holds the WBC and neutrophil percent an ANC was computed from. `analyte`
    "wbc" stores a white cell count, by the same rules.

    A manual entry (`source` manual) is guarded (docs/rules.md §8): a fraction in a unit of
    whole cells is refused, and a count the protocol base calls unusual (very low, or a steep
    fall from the previous result of the same analyte) is stored only with `confirm_unusual`.
    A feed's value is the lab's word: never held for either.

    `replaces` corrects one stored result by hand (its value, unit or draw time), with a
    `reason`: the new result is `corrected`, keeps the replaced one's analyte, accession and lab,
    and decides from then on; the replaced one stays in the history, superseded. Whoever may
    void the replaced result may correct it (`anc_result_void_refusal`), and the manual-entry
    guards hold for the new value. A result already replaced or void is not corrected again
    (correct the correction; enter a new result)."""
    now = now or timezone.now()
    manual = source == ResultSource.MANUAL
    if replaces is not None:
        if not reason.strip():
            raise FieldInvalid("reason", "Say why the result is corrected.")
        status = ResultStatus.CORRECTED
        accession, lab, analyte = replaces.accession, replaces.lab, replaces.analyte
    try:
        per_ul = to_per_ul(value, unit)
        if manual:
            check_whole_cells(value, unit)
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

    with (
        audit_refusals(
            action=Action.ANC_RESULT_CORRECT,
            actor=actor,
            object_type="patient",
            object_id=patient.pk,
            patient_id=patient.pk,
            inputs={"analyte": analyte, "accession": accession, "status": status, "value": value},
        ),
        transaction.atomic(),
        acting_as(actor),
    ):
        Patient.objects.select_for_update(of=("self",)).filter(pk=patient.pk).first()
        previous = None
        if replaces is not None:
            previous = _correction_target(
                replaces, patient=patient, actor=actor, per_ul=per_ul, drawn_at=drawn_at
            )
        elif accession:
            same_accession = LabResult.objects.select_for_update().filter(
                lab=lab, analyte=analyte, accession=accession, superseded=False
            )
            if not lab:
                # Entered by hand (no lab named): the accession belongs to the patient. Among
                # the prescriber's own patients it names one of them (a 409 it can see
                # through); another prescriber's patient with it neither blocks the entry nor
                # shows in the answer.
                if (
                    LabResult.objects.filter(
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
        if previous is not None and replaces is None:
            answer = accession_repeat(
                previous, patient_id=patient.pk, per_ul=per_ul, drawn_at=drawn_at, status=status
            )
            if answer is not None:
                return answer
            if manual and previous.status != ResultStatus.PRELIMINARY:
                # A correction typed by hand takes the replaced result out of the decisions as a
                # void does: the same people may make it (docs/rules.md §8).
                refusal = anc_result_void_refusal(result=previous, actor=actor, patient=patient)
                if refusal is not None:
                    raise NotPermitted(
                        "correct_not_permitted", f"A correction replaces the result. {refusal}"
                    )
        if manual and not confirm_unusual and status != ResultStatus.PRELIMINARY:
            _unusual_entry_check(
                patient=patient,
                analyte=analyte,
                per_ul=per_ul,
                drawn_at=drawn_at,
                replaces=previous,
            )
        result = anc_result_row(
            patient=patient,
            analyte=analyte,
            value=value,
            unit=unit,
            per_ul=per_ul,
            drawn_at=drawn_at,
            accession=accession,
            lab=lab,
            source=source,
            status=status,
            actor=actor,
            previous=previous,
            derivation=derivation,
        )
        try:
            with transaction.atomic():
                if previous is not None:
                    # Free the accession first: the unique constraint covers current results.
                    LabResult.objects.filter(pk=previous.pk).update(superseded=True)
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
            "confirm_unusual": confirm_unusual if manual else None,
        }
        if replaces is not None:
            inputs["reason"] = reason.strip()
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
        # A correction typed by hand (from the patient page, or "corrected" with the accession).
        hand_correction = (
            manual and previous is not None and previous.status != ResultStatus.PRELIMINARY
        )
        picture = _picture(patient) if hand_correction else None
        state = _result_applied(patient=patient, result=result, replaced=previous, now=now)
        if hand_correction and previous is not None:
            # A hand correction takes the replaced result out of the decisions as a void does:
            # the prescriber hears of it on the same terms (docs/rules.md §8).
            low = previous.status in DECISIVE_STATUSES and _outside_normal_band(previous, patient)
            if low or picture != _picture(patient):
                _correction_notify(
                    replaced=previous, result=result, patient=patient, actor=actor, state=state
                )
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
            # docs/rules.md §1: a first low result asks for a repeat within 24 hours, at once.
            from monitoring.tasks import confirmation_requested

            patient_pk = patient.pk
            enqueue_on_commit(confirmation_requested, patient_pk)
    return RecordedResult(result, created=True)


def _correction_target(
    replaces: LabResult, *, patient: Patient, actor: User, per_ul: int, drawn_at: datetime
) -> LabResult:
    """The result a hand correction replaces, locked, once checked: the patient's, current,
    one `actor` may void, and changed by the correction."""
    previous = LabResult.objects.select_for_update().filter(pk=replaces.pk).first()
    if previous is None or previous.patient_id != patient.pk:
        raise StateConflict("The result is not this patient's.", "result_not_found")
    if previous.superseded:
        raise StateConflict(
            "The result was already replaced by a correction; correct the correction.",
            "already_corrected",
        )
    if previous.status == ResultStatus.ENTERED_IN_ERROR:
        raise StateConflict("The result is void; enter a new result instead.", "result_void")
    refusal = anc_result_void_refusal(result=previous, actor=actor, patient=patient)
    if refusal is not None:
        raise NotPermitted("correct_not_permitted", f"A correction replaces the result. {refusal}")
    if previous.value_per_ul == per_ul and previous.drawn_at == drawn_at:
        raise FieldInvalid(
            "value", "The correction changes neither the count nor the draw time of the result."
        )
    return previous


def _result_applied(
    *, patient: Patient, result: LabResult, replaced: LabResult | None, now: datetime
) -> MonitoringState:
    """The state with a new result applied: one step on the stored snapshot when the result is
    a draw of its own (no other current result shares its draw instant or accession) and
    replaces nothing; else the history is replayed."""
    if replaced is None:
        same_draw = Q(drawn_at=result.drawn_at)
        if result.accession:
            same_draw |= Q(lab=result.lab, accession=result.accession)
        grouped = (
            LabResult.objects.filter(
                same_draw, patient=patient, superseded=False, status__in=DECISIVE_STATUSES
            )
            .exclude(pk=result.pk)
            .exists()
        )
        if not grouped:
            wbc = result.analyte == ResultAnalyte.WBC
            reading = BloodCount(
                result.pk,
                None if wbc else result.value_per_ul,
                result.drawn_at,
                result.value_per_ul if wbc else None,
                accession=result.accession,
                lab=result.lab,
                recorded_at=result.created_at,
            )
            return monitoring_state_advance(patient=patient, item=reading, now=now)
    return monitoring_state_refresh(patient=patient, now=now)


ANALYTE_NAMES: dict[str, str] = {ResultAnalyte.ANC: "ANC", ResultAnalyte.WBC: "WBC"}


def _unusual_entry_check(
    *,
    patient: Patient,
    analyte: str,
    per_ul: int,
    drawn_at: datetime,
    replaces: LabResult | None,
) -> None:
    """docs/rules.md §8: refuse (400 on `confirm_unusual`) a hand-entered count the protocol base
    calls unusual against the patient's previous usable result of the same analyte by draw
    time (a result this one corrects does not count as its previous one)."""
    earlier = LabResult.objects.filter(
        patient=patient,
        analyte=analyte,
        status__in=DECISIVE_STATUSES,
        superseded=False,
        drawn_at__lte=drawn_at,
    )
    if replaces is not None:
        earlier = earlier.exclude(pk=replaces.pk)
    previous = earlier.order_by("-drawn_at", "-id").values_list("value_per_ul", flat=True).first()
    concern = manual_entry_concern(per_ul, previous)
    if concern is not None:
        raise FieldInvalid(
            "confirm_unusual",
            f"Check this {ANALYTE_NAMES.get(analyte, analyte)}: {concern}. Check the value and "
            'its unit; if it is right, confirm it ("confirm_unusual": true) to store it.',
        )


def anc_result_void_refusal(*, result: LabResult, actor: User, patient: Patient) -> str | None:
    """Why `actor` may not void `result` of `patient`, or None (docs/rules.md §8). A result a
    person entered by hand is voided by whoever entered it or by the patient's prescriber; a
    lab's result (a feed's, or one filed from the quarantine) only by the lab's own correction
    or by the prescriber, with a reason. Designees, other designees and administrators void
    only their own entries."""
    prescriber = actor.role == Role.PRESCRIBER and actor.prescriber_id == patient.prescriber_id
    if prescriber:
        return None
    if result.source != ResultSource.MANUAL:
        return (
            "A lab's result is voided by the lab's own correction, or by the patient's "
            "prescriber with a reason."
        )
    if result.recorded_by_id != actor.pk:
        return "Only the user who entered this result, or the patient's prescriber, may void it."
    return None


def anc_result_void(*, result: LabResult, actor: User, reason: str) -> LabResult:
    """Mark a result entered in error (never deleted) and re-run the rules. Who may void it is
    `anc_result_void_refusal` (refused with 403, audited). When the result was a low one (outside
    the protocol's normal band: it opened or deepened an episode, and may have interrupted
    treatment), or the void changed the patient's band, treatment status, episode or consult
    flag, the prescriber is told at once."""
    if not reason.strip():
        raise FieldInvalid("reason", "Say why the result is void.")
    with (
        audit_refusals(
            action=Action.ANC_RESULT_VOID,
            actor=actor,
            object_type="anc_result",
            object_id=result.pk,
            patient_id=result.patient_id,
            inputs={"reason": reason.strip(), "source": result.source},
        ),
        transaction.atomic(),
        acting_as(actor),
    ):
        patient = (
            Patient.objects.select_for_update(of=("self",))
            .select_related("prescriber")
            .get(pk=result.patient_id)
        )
        result.refresh_from_db()
        refusal = anc_result_void_refusal(result=result, actor=actor, patient=patient)
        if refusal is not None:
            raise NotPermitted("void_not_permitted", refusal)
        if result.status == ResultStatus.ENTERED_IN_ERROR:
            raise StateConflict("The result is already void.")
        if result.superseded:
            raise StateConflict("The result was replaced by a correction; void the correction.")
        before = _picture(patient)
        low = result.status in DECISIVE_STATUSES and _outside_normal_band(result, patient)
        result.status = ResultStatus.ENTERED_IN_ERROR
        result.void_reason = reason.strip()
        result.save(update_fields=["status", "void_reason"])
        state = monitoring_state_refresh(patient=patient)
        changed = before != _picture(patient)
        notified = low or changed
        if notified:
            _void_notify(result=result, patient=patient, actor=actor, state=state)
        audit_record(
            action=Action.ANC_RESULT_VOID,
            actor=actor,
            object_type="anc_result",
            object_id=result.pk,
            patient_id=result.patient_id,
            inputs={
                "reason": result.void_reason,
                "value_per_ul": result.value_per_ul,
                "analyte": result.analyte,
                "source": result.source,
                "recorded_by": result.recorded_by_id,
            },
            output={
                "status": result.status,
                "band": state.band,
                "monitoring_frequency": state.monitoring_frequency,
                "treatment_status": state.treatment_status,
                "prescriber_notified": notified,
            },
        )
    return result


def _picture(patient: Patient) -> tuple[object, ...] | None:
    """What a void could change that the prescriber must hear about."""
    return (
        MonitoringState.objects.filter(patient=patient)
        .values_list("band", "treatment_status", "episode_opened_at", "hematology_consult")
        .first()
    )


def _outside_normal_band(result: LabResult, patient: Patient) -> bool:
    """The result alone, by the protocol's standard limits, is outside its normal band (for a
    protocol reading result sets, one count alone can only show a worse band, never green)."""
    rules = get_protocol(patient.protocol)
    if result.analyte not in rules.analytes:
        return False
    wbc = result.analyte == ResultAnalyte.WBC
    reading = BloodCount(
        result_id=result.pk,
        value_per_ul=None if wbc else result.value_per_ul,
        drawn_at=result.drawn_at,
        wbc_per_ul=result.value_per_ul if wbc else None,
    )
    band = rules.band_of(reading, Population(patient.population), None, {})
    return band is not None and band != rules.normal_band


def _void_notify(
    *, result: LabResult, patient: Patient, actor: User, state: MonitoringState
) -> None:
    from notifications.messages import patient_label, result_voided
    from notifications.models import Kind
    from notifications.services import Occasion, notifications_create, recipients_for_prescribers

    label = patient_label(patient.pk, patient.first_name, patient.last_name)
    zone = clinic_zone()
    subject, body = result_voided(
        label,
        analyte=ANALYTE_NAMES.get(result.analyte, result.analyte),
        value_per_ul=result.value_per_ul,
        drawn_on=local_date(result.drawn_at, zone),
        by=actor.role or ("admin" if actor.is_admin else ""),
        from_lab=result.source != ResultSource.MANUAL,
        band=state.band,
        treatment_status=state.treatment_status,
    )
    occasion = Occasion(
        kind=Kind.RESULT_VOIDED,
        subject_key=f"anc_result:{result.pk}",
        key_date=local_date(timezone.now(), zone),
        subject=subject,
        body=body,
        patient_id=patient.pk,
        urgent=True,
    )
    recipients = recipients_for_prescribers([patient.prescriber_id]).get(patient.prescriber_id, [])
    notifications_create(occasions=[(occasion, recipients)])


def _correction_notify(
    *,
    replaced: LabResult,
    result: LabResult,
    patient: Patient,
    actor: User,
    state: MonitoringState,
) -> None:
    from notifications.messages import patient_label, result_corrected
    from notifications.models import Kind
    from notifications.services import Occasion, notifications_create, recipients_for_prescribers

    label = patient_label(patient.pk, patient.first_name, patient.last_name)
    zone = clinic_zone()
    subject, body = result_corrected(
        label,
        analyte=ANALYTE_NAMES.get(replaced.analyte, replaced.analyte),
        old_per_ul=replaced.value_per_ul,
        new_per_ul=result.value_per_ul,
        drawn_on=local_date(replaced.drawn_at, zone),
        by=actor.role or ("admin" if actor.is_admin else ""),
        from_lab=replaced.source != ResultSource.MANUAL,
        band=state.band,
        treatment_status=state.treatment_status,
    )
    occasion = Occasion(
        # The kind of a void: the replaced result no longer decides.
        kind=Kind.RESULT_VOIDED,
        subject_key=f"anc_result:{replaced.pk}",
        key_date=local_date(timezone.now(), zone),
        subject=subject,
        body=body,
        patient_id=patient.pk,
        urgent=True,
    )
    recipients = recipients_for_prescribers([patient.prescriber_id]).get(patient.prescriber_id, [])
    notifications_create(occasions=[(occasion, recipients)])


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
        # A consult that outlived its (unconfirmed severe) episode is cleared by this.
        monitoring_state_refresh(patient=patient)
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


def review_acknowledge(*, patient: Patient, actor: User, note: str = "") -> ReviewAcknowledgement:
    """The prescriber has reviewed the conflicts between recorded acts and results filed later
    (docs/rules.md §9.1): exactly those shown now are acknowledged; a new conflict raises the
    flag again."""
    with transaction.atomic(), acting_as(actor):
        Patient.objects.select_for_update(of=("self",)).filter(pk=patient.pk).first()
        now = timezone.now()
        conflicts = patient_assessment(patient=_reloaded(patient), as_of=now).review_needed
        if not conflicts:
            raise StateConflict("Nothing on this patient's record is waiting for a review.")
        acknowledgement = ReviewAcknowledgement.objects.create(
            patient=patient,
            keys=[c.key for c in conflicts],
            note=note.strip(),
            acknowledged_by=actor,
            acknowledged_at=now,
        )
        monitoring_state_refresh(patient=patient, now=now)
        audit_record(
            action=Action.REVIEW_ACKNOWLEDGE,
            actor=actor,
            object_type="review_acknowledgement",
            object_id=acknowledgement.pk,
            patient_id=patient.pk,
            inputs={"note": acknowledgement.note},
            output={"acknowledged": [c.as_dict() for c in conflicts]},
        )
    return acknowledgement


def _reloaded(patient: Patient) -> Patient:
    return Patient.objects.select_related("prescriber", "monitoring").get(pk=patient.pk)


def supplied_elsewhere_record(
    *, patient: Patient, actor: User, starts_on: date, ends_on: date, reason: str
) -> SuppliedElsewhere:
    """A period the patient was supplied outside this system (docs/rules.md §9.14): its days
    count as on treatment for the supply-based lapse; they never make a result current."""
    today = local_date(timezone.now(), clinic_zone())
    if starts_on > today:
        raise FieldInvalid("starts_on", "The period may not start in the future.")
    if ends_on < starts_on:
        raise FieldInvalid("ends_on", "The period ends before it starts.")
    if ends_on > today:
        raise FieldInvalid(
            "ends_on", "Record the days supplied so far; extend the period when it goes on."
        )
    if not reason.strip():
        raise FieldInvalid("reason", "Say where the patient was supplied (an inpatient stay...).")
    with transaction.atomic(), acting_as(actor):
        Patient.objects.select_for_update(of=("self",)).filter(pk=patient.pk).first()
        period = SuppliedElsewhere.objects.create(
            patient=patient,
            starts_on=starts_on,
            ends_on=ends_on,
            reason=reason.strip(),
            recorded_by=actor,
        )
        state = monitoring_state_refresh(patient=patient)
        audit_record(
            action=Action.SUPPLIED_ELSEWHERE_RECORD,
            actor=actor,
            object_type="supplied_elsewhere",
            object_id=period.pk,
            patient_id=patient.pk,
            inputs={"starts_on": starts_on, "ends_on": ends_on, "reason": period.reason},
            output={
                "enrollment_status": state.enrollment_status,
                "lapse_on": state.lapse_on,
            },
        )
    return period


def step_down_confirm(
    *,
    patient: Patient,
    actor: User,
    frequency: str,
    effective_date: date | None = None,
    note: str = "",
) -> StepDownConfirmation:
    """The prescriber confirms the longer monitoring interval the schedule offers (uk-cpms);
    refused (409) when that interval is not offered on the date."""
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
