"""Who may see which patient (api.md, Roles)."""

from __future__ import annotations

from django.db.models import QuerySet

from engine.types import EnrollmentStatus
from patients.models import Patient, Prescriber, Role, User


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
