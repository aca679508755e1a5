"""Who may see which patient (docs/api.md, Roles)."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db.models import Exists, QuerySet

from engine.types import EnrollmentStatus
from patients.models import Dispense, Patient, PatientReach, Prescriber, Role, User


def patient_list_visible(*, user: User) -> QuerySet[Patient]:
    """Administrators and auditors see everyone; a prescriber or designee its own patients; a
    pharmacist every patient who has been enrolled (a pending patient cannot be dispensed to)."""
    patients = Patient.objects.select_related("prescriber", "monitoring")
    if user.is_admin or user.role == Role.AUDITOR:
        return patients
    if user.role in (Role.PRESCRIBER, Role.DESIGNEE) and user.prescriber_id is not None:
        return patients.filter(prescriber_id=user.prescriber_id)
    if user.role == Role.PHARMACIST and user.pharmacy_id is not None:
        return patients.exclude(enrollment_status=EnrollmentStatus.PENDING)
    return patients.none()


def prescriber_list_visible(*, user: User) -> QuerySet[Prescriber]:
    if user.is_admin or user.role == Role.AUDITOR:
        return Prescriber.objects.all()
    if user.prescriber_id is not None:
        return Prescriber.objects.filter(pk=user.prescriber_id)
    return Prescriber.objects.none()


def pharmacist_bound(user: User) -> bool:
    """Whether the reach rule applies: a pharmacist (administrators reach everyone)."""
    return user.role == Role.PHARMACIST and not user.is_admin


def patient_reachable(*, user: User, patient_id: int, credential: str, now: datetime) -> bool:
    """Whether a pharmacist may open this patient by id alone (one query): it found the
    patient by last name and date of birth in this sign-in, or the patient was dispensed to
    at its own pharmacy."""
    since = now - settings.CLOZREMS_TOKEN_TTL
    reached = PatientReach.objects.filter(
        user=user, patient_id=patient_id, credential=credential, reached_at__gte=since
    )
    dispensed_here = Dispense.objects.filter(
        patient_id=patient_id, pharmacy_id=user.pharmacy_id or 0
    )
    return (
        Patient.objects.filter(pk=patient_id)
        .filter(Exists(reached) | Exists(dispensed_here))
        .exists()
    )
