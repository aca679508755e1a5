"""Writes for the directory and the accounts: prescribers, users, second factors, the
pharmacists' lookups and reaches, and the audit entries for reads of a patient; and `today`, the
clinic's date the prescriber's acts are checked against.

The acts that change the monitoring picture (creating a patient, enrolling, treatment events,
authorizations, agreed limits) refresh the stored state, so they live above, in
`monitoring.acts`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from audit.context import acting_as
from audit.models import Action
from audit.services import audit_record
from clozrems.zones import clinic_zone
from engine.core import local_date
from patients.models import PatientReach, Prescriber, User


def today() -> date:
    return local_date(timezone.now(), clinic_zone())


PRESCRIBER_FIELDS = (
    "name",
    "npi",
    "email",
    "phone",
    "active",
    "certified",
    "certified_on",
    "certification_expires_on",
)


def prescriber_save(
    *, actor: User, prescriber: Prescriber | None, data: dict[str, object]
) -> Prescriber:
    """Create or change a prescriber (its certification above all), with its audit entry."""
    with transaction.atomic(), acting_as(actor):
        before = {f: getattr(prescriber, f) for f in PRESCRIBER_FIELDS} if prescriber else {}
        target = prescriber or Prescriber()
        for name, value in data.items():
            setattr(target, name, value)
        target.save()
        after = {f: getattr(target, f) for f in PRESCRIBER_FIELDS}
        changed = {
            f: [before.get(f), after[f]] for f in PRESCRIBER_FIELDS if before.get(f) != after[f]
        }
        audit_record(
            action=Action.PRESCRIBER_UPDATE if prescriber else Action.PRESCRIBER_CREATE,
            actor=actor,
            object_type="prescriber",
            object_id=target.pk,
            inputs=data,
            output={"changed": changed},
        )
    return target


# --- accounts ---------------------------------------------------------------------------------

# What the trail keeps of a user: who it is, its role and links, and the flags that give power
# (never the password's hash; a password change is recorded as `password_changed`).
USER_FIELDS = (
    "username",
    "email",
    "role",
    "prescriber_id",
    "pharmacy_id",
    "is_active",
    "is_staff",
    "is_superuser",
)


def user_facts(user: User) -> dict[str, object]:
    facts: dict[str, object] = {f: getattr(user, f) for f in USER_FIELDS}
    if user.pk is not None:
        facts["groups"] = sorted(user.groups.values_list("name", flat=True))
    return facts


def user_create(
    *,
    actor: User,
    username: str,
    password: str,
    role: str,
    email: str = "",
    prescriber: Prescriber | None = None,
    pharmacy: object | None = None,
) -> User:
    """A new account (the directory's `POST /users/`), with its audit entry."""
    with transaction.atomic(), acting_as(actor):
        user = User(username=username, email=email, role=role, prescriber=prescriber)
        user.pharmacy = pharmacy  # type: ignore[assignment]
        user.set_password(password)
        user.save()
        user_change_audit(actor=actor, user=user, before=None)
    return user


def user_change_audit(
    *,
    actor: User | None,
    user: User,
    before: Mapping[str, object] | None,
    password_changed: bool = False,
) -> None:
    """The audit entry for an account created (`before` None) or changed elsewhere (the admin,
    `manage.py` commands): which of its facts changed, old and new. Call it in the writing
    transaction."""
    after = user_facts(user)
    if before is None:
        audit_record(
            action=Action.USER_CREATE,
            actor=actor,
            object_type="user",
            object_id=user.pk,
            inputs=after,
        )
        return
    changed = {f: [before.get(f), v] for f, v in after.items() if before.get(f) != v}
    audit_record(
        action=Action.USER_UPDATE,
        actor=actor,
        object_type="user",
        object_id=user.pk,
        inputs={"username": user.username},
        output={"changed": changed, "password_changed": password_changed},
    )


def second_factor_audit(*, actor: User | None, device: Any, enrolled: bool) -> None:
    """A second-factor device enrolled or removed (the admin, `manage.py otp_enroll`); its key
    is never written."""
    audit_record(
        action=Action.SECOND_FACTOR_ENROLL if enrolled else Action.SECOND_FACTOR_REMOVE,
        actor=actor,
        object_type="otp_device",
        object_id=device.pk,
        inputs={"user_id": device.user_id, "name": device.name, "confirmed": device.confirmed},
    )


def patient_read_audit(*, actor: User, patient_id: int, what: str) -> None:
    """Who looked at which patient: one entry per read of a record (its detail, a list of its
    results or events, the clinic's patient page). `what` names the part read."""
    audit_record(
        action=Action.PATIENT_READ,
        actor=actor,
        object_type="patient",
        object_id=patient_id,
        patient_id=patient_id,
        inputs={"what": what},
    )


def patient_lookup_record(
    *,
    user: User,
    patient_ids: list[int],
    credential: str,
    criteria: dict[str, Any],
    now: datetime | None = None,
) -> None:
    """A pharmacist found these patients (by last name and date of birth, or id and date of
    birth): for the rest of this sign-in their ids open their records (`PatientReach`),
    and the trail says who looked for whom (one entry)."""
    with transaction.atomic():
        patient_reach_record(user=user, patient_ids=patient_ids, credential=credential, now=now)
        audit_record(
            action=Action.PATIENT_LOOKUP,
            actor=user,
            object_type="patient",
            object_id=patient_ids[0] if len(patient_ids) == 1 else "",
            patient_id=patient_ids[0] if len(patient_ids) == 1 else None,
            inputs=criteria,
            output={"patient_ids": patient_ids},
        )


def patient_reach_record(
    *, user: User, patient_ids: list[int], credential: str, now: datetime | None = None
) -> None:
    """These patients' ids open their records for the rest of this pharmacist's sign-in (one
    INSERT, refreshing the time of a patient reached again)."""
    if not patient_ids:
        return
    now = now or timezone.now()
    PatientReach.objects.bulk_create(
        [
            PatientReach(user=user, patient_id=pk, credential=credential, reached_at=now)
            for pk in patient_ids
        ],
        update_conflicts=True,
        unique_fields=["user", "patient", "credential"],
        update_fields=["reached_at"],
    )
