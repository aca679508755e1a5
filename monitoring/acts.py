"""The prescriber's acts that change the monitoring picture: creating a patient (its first,
pending state), enrolling, treatment events, authorizations, agreed limits. Each records the act
and refreshes the stored state in one transaction.

Each act owns its transaction, locks the patient row, asks the engine whether the change is
allowed as of its effective date, writes, rewrites the stored monitoring state
(`monitoring.services.monitoring_state_refresh`) and appends its audit entry. What needs no
monitoring (prescribers, accounts, the read audit) is in `patients.services`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit.context import acting_as
from audit.models import Action
from audit.services import audit_record, audit_refusals
from clozrems.errors import FieldInvalid, RuleRefused, StateConflict
from engine import (
    Refusal,
    authorization_refusal,
    enrollment_refusal,
    get_protocol,
    protocol_names,
    treatment_event_refusal,
)
from engine.core import local_date
from engine.protocols.base import limit_agreement_problem
from engine.types import (
    AuthorizationKind,
    EnrollmentStatus,
    PatientHistory,
    Population,
    Reason,
    TreatmentEventKind,
)
from monitoring.presenters import result_inputs
from monitoring.selectors import patient_history
from monitoring.services import monitoring_state_refresh
from patients.models import (
    Authorization,
    EnrollmentEvent,
    LimitAgreement,
    Patient,
    Prescriber,
    TreatmentEvent,
    User,
)
from patients.services import today


def _raise(refusal: Refusal, code: str, patient: Patient) -> None:
    if refusal.kind == "conflict":
        raise StateConflict(refusal.message)
    raise RuleRefused(code, refusal.message, refusal.reasons, protocol=patient.protocol)


def _locked(patient: Patient) -> Patient:
    return (
        Patient.objects.select_for_update(of=("self",))
        .select_related("prescriber")
        .get(pk=patient.pk)
    )


def _not_future(field: str, day: date) -> None:
    if day > today():
        raise FieldInvalid(field, "The date may not be in the future.")


def patient_create(
    *,
    actor: User,
    first_name: str,
    last_name: str,
    date_of_birth: date,
    sex: str,
    population: str,
    prescriber: Prescriber,
    protocol: str | None = None,
) -> Patient:
    protocol = protocol or settings.CLOZREMS_DEFAULT_PROTOCOL
    if protocol not in protocol_names():
        raise FieldInvalid("protocol", f"Unknown protocol; known: {', '.join(protocol_names())}.")
    if date_of_birth > today():
        raise FieldInvalid("date_of_birth", "The date of birth may not be in the future.")
    with transaction.atomic(), acting_as(actor):
        patient = Patient.objects.create(
            first_name=first_name,
            last_name=last_name,
            date_of_birth=date_of_birth,
            sex=sex,
            population=population,
            # docs/rules.md §4: who documented BEN, and when.
            ben_documented_by=actor if population == Population.BEN else None,
            ben_documented_at=timezone.now() if population == Population.BEN else None,
            protocol=protocol,
            prescriber=prescriber,
            created_by=actor,
        )
        monitoring_state_refresh(patient=patient)
        audit_record(
            action=Action.PATIENT_CREATE,
            actor=actor,
            object_type="patient",
            object_id=patient.pk,
            patient_id=patient.pk,
            inputs={
                "population": population,
                "protocol": protocol,
                "prescriber_id": prescriber.pk,
                "date_of_birth": date_of_birth,
            },
            output={"enrollment_status": patient.enrollment_status},
        )
    return patient


def patient_enroll(
    *,
    patient: Patient,
    actor: User,
    effective_date: date | None = None,
    reason: str = "",
    protocol: str | None = None,
) -> Patient:
    """docs/rules.md §4: enroll or re-enroll, checked against the effective date's labs.

    `protocol` chooses the protocol at an enrollment or a re-enrollment; it is the
    only way to change it. The labs are then judged by the new protocol, and the whole history
    is read under it from then on; each enrollment records the protocol it was made under."""
    effective_date = effective_date or today()
    _not_future("effective_date", effective_date)
    if protocol is not None and protocol not in protocol_names():
        raise FieldInvalid("protocol", f"Unknown protocol; known: {', '.join(protocol_names())}.")
    with (
        audit_refusals(
            action=Action.PATIENT_ENROLL,
            actor=actor,
            object_type="patient",
            object_id=patient.pk,
            patient_id=patient.pk,
            inputs={"effective_date": effective_date, "reason": reason, "protocol": protocol},
        ) as inputs,
        transaction.atomic(),
        acting_as(actor),
    ):
        patient = _locked(patient)
        if protocol is not None and protocol != patient.protocol:
            # A refusal below rolls this back with the rest of the transaction.
            patient.protocol = protocol
            patient.save(update_fields=["protocol"])
        history = patient_history(patient=patient)
        certified = patient.prescriber.is_certified_on(effective_date)
        inputs.update(_lab_inputs(history, effective_date), prescriber_certified=certified)
        refusal = enrollment_refusal(history, effective_date, prescriber_certified=certified)
        if refusal is not None:
            _raise(refusal, "enrollment_refused", patient)
        kind = EnrollmentEvent.Kind.REENROLL if history.enrollments else EnrollmentEvent.Kind.ENROLL
        event = EnrollmentEvent.objects.create(
            patient=patient,
            kind=kind,
            effective_date=effective_date,
            reason=reason,
            protocol=patient.protocol,
            actor=actor,
        )
        monitoring_state_refresh(patient=patient)
        audit_record(
            action=Action.PATIENT_ENROLL,
            actor=actor,
            object_type="enrollment_event",
            object_id=event.pk,
            patient_id=patient.pk,
            inputs=inputs,
            output={"kind": kind, "enrollment_status": patient.enrollment_status},
        )
    return patient


def _lab_inputs(history: PatientHistory, effective_date: date) -> dict[str, object]:
    """The ANCs an enrollment was judged on: those drawn in the lab window before it."""
    rules = get_protocol(history.protocol)
    zone = history.zone
    since = effective_date - timedelta(days=rules.enrollment_lab_days)
    used = [
        {"id": r.result_id, "value_per_ul": r.value_per_ul, "drawn_at": r.drawn_at}
        for r in history.readings
        if since <= local_date(r.drawn_at, zone) <= effective_date
    ]
    return {
        "protocol": rules.name,
        "protocol_version": rules.version,
        "anc_results": used,
    }


def treatment_event_record(
    *, patient: Patient, actor: User, kind: str, effective_date: date, reason: str
) -> TreatmentEvent:
    """docs/rules.md §5: start, interrupt, resume or discontinue, as of the effective date."""
    _not_future("effective_date", effective_date)
    if not reason.strip():
        raise FieldInvalid("reason", "Say why (docs/rules.md §4: no change without a reason).")
    with (
        audit_refusals(
            action=Action.TREATMENT_EVENT_RECORD,
            actor=actor,
            object_type="patient",
            object_id=patient.pk,
            patient_id=patient.pk,
            inputs={"kind": kind, "effective_date": effective_date, "reason": reason.strip()},
        ) as inputs,
        transaction.atomic(),
        acting_as(actor),
    ):
        patient = _locked(patient)
        history = patient_history(patient=patient)
        inputs.update(_latest_inputs(history))
        refusal = treatment_event_refusal(history, TreatmentEventKind(kind), effective_date)
        if refusal is not None:
            _raise(refusal, "treatment_event_refused", patient)
        event = TreatmentEvent.objects.create(
            patient=patient,
            kind=kind,
            effective_date=effective_date,
            reason=reason.strip(),
            actor=actor,
        )
        state = monitoring_state_refresh(patient=patient)
        audit_record(
            action=Action.TREATMENT_EVENT_RECORD,
            actor=actor,
            object_type="treatment_event",
            object_id=event.pk,
            patient_id=patient.pk,
            inputs=inputs,
            output={"treatment_status": state.treatment_status, "band": state.band},
        )
    return event


def _latest_inputs(history: PatientHistory) -> dict[str, object]:
    rules = get_protocol(history.protocol)
    latest = max(history.readings, key=lambda r: (r.drawn_at, r.result_id), default=None)
    return {
        "protocol": rules.name,
        "protocol_version": rules.version,
        "latest_anc": result_inputs(latest),
    }


def authorization_record(
    *,
    patient: Patient,
    actor: User,
    kind: str,
    rationale: str,
    expires_on: date,
    starts_on: date | None = None,
) -> Authorization:
    """docs/rules.md §6: a continuation or rechallenge authorization by a certified prescriber."""
    starts_on = starts_on or today()
    if starts_on > today():
        # docs/rules.md §9.5: an authorization answers what is on record when it is written.
        raise FieldInvalid("starts_on", "An authorization may not start in the future.")
    if not rationale.strip():
        raise FieldInvalid("rationale", "Give the clinical rationale.")
    if expires_on < starts_on:
        raise FieldInvalid("expires_on", "The expiry is before the start.")
    rules = get_protocol(patient.protocol)
    longest = starts_on + timedelta(days=rules.authorization_max_days)
    if expires_on > longest:
        raise FieldInvalid(
            "expires_on",
            f"An authorization runs at most {rules.authorization_max_days} days "
            f"(until {longest.isoformat()}).",
        )
    with (
        audit_refusals(
            action=Action.AUTHORIZATION_RECORD,
            actor=actor,
            object_type="patient",
            object_id=patient.pk,
            patient_id=patient.pk,
            inputs={
                "kind": kind,
                "starts_on": starts_on,
                "expires_on": expires_on,
                "rationale": rationale.strip(),
            },
        ) as inputs,
        transaction.atomic(),
        acting_as(actor),
    ):
        patient = _locked(patient)
        if not patient.prescriber.is_certified_on(starts_on):
            raise RuleRefused(
                "authorization_refused",
                "Only an active, certified prescriber may authorize.",
                (Reason.PRESCRIBER_NOT_CERTIFIED,),
            )
        if patient.enrollment_status == EnrollmentStatus.PENDING:
            raise StateConflict("The patient is not enrolled.")
        history = patient_history(patient=patient)
        inputs.update(_latest_inputs(history))
        refusal = authorization_refusal(history, AuthorizationKind(kind), starts_on, timezone.now())
        if refusal is not None:
            _raise(refusal, "authorization_refused", patient)
        authorization = Authorization.objects.create(
            patient=patient,
            kind=kind,
            rationale=rationale.strip(),
            starts_on=starts_on,
            expires_on=expires_on,
            prescriber=patient.prescriber,
            recorded_by=actor,
        )
        state = monitoring_state_refresh(patient=patient)
        audit_record(
            action=Action.AUTHORIZATION_RECORD,
            actor=actor,
            object_type="authorization",
            object_id=authorization.pk,
            patient_id=patient.pk,
            inputs=inputs,
            output={
                "prescriber_id": patient.prescriber_id,
                "treatment_status": state.treatment_status,
            },
        )
    return authorization


def limit_agreement_record(
    *,
    patient: Patient,
    actor: User,
    limits: dict[str, int],
    haematologist: str,
    agreed_on: date | None = None,
    note: str = "",
    second_haematologist: str = "",
) -> LimitAgreement:
    """Band limits a haematologist agreed for a BEN patient, on a protocol that has per-patient
    limits (uk-cpms), checked by docs/rules.md §9.10: each limit may only lower the protocol's
    own and never go below its floor unless `second_haematologist` signs (and never below the
    floor that holds even then); each green limit stays above its red one. Results drawn from
    `agreed_on` are banded by them, so the date is never in the future nor before the
    patient's current enrollment (for a patient never enrolled: at most the protocol's
    enrollment-lab window back, the results an enrollment could be judged on). Written with
    its audit entry; a refusal (422) is audited alone."""
    agreed_on = agreed_on or today()
    _not_future("agreed_on", agreed_on)
    haematologist, second_haematologist = haematologist.strip(), second_haematologist.strip()
    if not haematologist:
        raise FieldInvalid("haematologist", "Name the haematologist who agreed the limits.")
    if second_haematologist and second_haematologist.casefold() == haematologist.casefold():
        raise FieldInvalid(
            "second_haematologist", "The second signature is another haematologist's."
        )
    with (
        audit_refusals(
            action=Action.LIMIT_AGREEMENT_RECORD,
            actor=actor,
            object_type="patient",
            object_id=patient.pk,
            patient_id=patient.pk,
            inputs={
                "limits": limits,
                "haematologist": haematologist,
                "second_haematologist": second_haematologist,
                "agreed_on": agreed_on,
                "note": note.strip(),
            },
        ),
        transaction.atomic(),
        acting_as(actor),
    ):
        patient = _locked(patient)
        rules = get_protocol(patient.protocol)
        standard = rules.overridable_limits
        if not standard:
            raise StateConflict(f"{patient.protocol} has no per-patient limits.")
        if patient.population != Population.BEN:
            raise StateConflict(
                "Per-patient limits apply to patients with benign ethnic neutropenia only."
            )
        _check_limit_shapes(limits, standard)
        problem = limit_agreement_problem(
            standard=standard,
            floors=rules.limit_floors,
            floors_second_signature=rules.limit_floors_second_signature,
            limits=limits,
            second_signature=bool(second_haematologist),
        )
        if problem is not None:
            raise RuleRefused("limit_agreement_refused", problem, field="limits")
        earliest = _earliest_agreement_date(patient, rules.enrollment_lab_days)
        if agreed_on < earliest:
            raise RuleRefused(
                "limit_agreement_refused",
                f"An agreement may not be dated before {earliest.isoformat()} (the patient's "
                "current enrollment, or for a patient not yet enrolled the "
                f"{rules.enrollment_lab_days}-day window of enrollment labs): it would re-band "
                "results already acted on.",
                field="agreed_on",
            )
        agreement = LimitAgreement.objects.create(
            patient=patient,
            limits={name: int(value) for name, value in limits.items()},
            haematologist=haematologist,
            second_haematologist=second_haematologist,
            agreed_on=agreed_on,
            note=note.strip(),
            recorded_by=actor,
        )
        state = monitoring_state_refresh(patient=patient)
        audit_record(
            action=Action.LIMIT_AGREEMENT_RECORD,
            actor=actor,
            object_type="limit_agreement",
            object_id=agreement.pk,
            patient_id=patient.pk,
            inputs={
                "protocol": rules.name,
                "protocol_version": rules.version,
                "limits": agreement.limits,
                "haematologist": haematologist,
                "second_haematologist": second_haematologist,
                "agreed_on": agreed_on,
                "note": agreement.note,
            },
            output={"band": state.band, "treatment_status": state.treatment_status},
        )
    return agreement


def _earliest_agreement_date(patient: Patient, enrollment_lab_days: int) -> date:
    current = (
        EnrollmentEvent.objects.filter(patient=patient)
        .order_by("-effective_date", "-id")
        .values_list("effective_date", flat=True)
        .first()
    )
    return current if current is not None else today() - timedelta(days=enrollment_lab_days)


def _check_limit_shapes(limits: dict[str, int], standard: Mapping[str, int]) -> None:
    if not limits:
        raise FieldInvalid("limits", f"Give one or more of: {', '.join(sorted(standard))}.")
    for name, value in limits.items():
        if name not in standard:
            raise FieldInvalid("limits", f"Unknown limit {name!r}; known: {', '.join(standard)}.")
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise FieldInvalid("limits", f"{name} is a whole number of cells/µL.")
