"""Pharmacies and the dispenses they record."""

from __future__ import annotations

from datetime import date

from django.conf import settings
from django.db import models

from patients.validators import validate_ncpdp_id


class Pharmacy(models.Model):
    name = models.CharField(max_length=200)
    ncpdp_id = models.CharField(
        "NCPDP id", max_length=7, unique=True, validators=[validate_ncpdp_id]
    )
    active = models.BooleanField(default=True)
    certified = models.BooleanField(default=False)
    certified_on = models.DateField(null=True, blank=True)
    certification_expires_on = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]
        verbose_name_plural = "pharmacies"

    def __str__(self) -> str:
        return f"{self.name} (NCPDP {self.ncpdp_id})"

    def is_certified_on(self, day: date) -> bool:
        """Certified on `day`: active, certified, and `day` within the certification's dates,
        from `certified_on` (when set; a date in the future is "not yet certified") through
        `certification_expires_on` (docs/rules.md §9.12)."""
        if not (self.active and self.certified):
            return False
        if self.certified_on is not None and day < self.certified_on:
            return False
        return self.certification_expires_on is None or day <= self.certification_expires_on


class EmergencyReason(models.TextChoices):
    """Why a pharmacist made an emergency supply while the ANC was not current."""

    LAB_DELAY = "lab_delay"
    WEATHER = "weather"
    INPATIENT_LEAVE = "inpatient_leave"
    OTHER = "other"


class Dispense(models.Model):
    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="dispenses"
    )
    pharmacy = models.ForeignKey(Pharmacy, on_delete=models.PROTECT, related_name="dispenses")
    days_supply = models.PositiveSmallIntegerField()
    dispensed_at = models.DateTimeField()
    authorization_code = models.CharField(max_length=20, unique=True)
    idempotency_key = models.CharField(max_length=200, blank=True)
    # The decision the supply was made under, as the engine made it: a
    # pharmacy.decisions.CounterDecision (the assessment, the emergency supply, the re-titration
    # information), read back by counter_decision_from_json and shown by pharmacy.presenters.
    decided = models.JSONField(null=True, blank=True)
    # Dispenses recorded before `decided` existed keep the decision's fields as the API answered
    # them then; read only when `decided` is empty.
    decision_as_answered = models.JSONField(null=True, blank=True, db_column="decision")
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # A pharmacist's emergency supply (blank for a regular dispense): the coded reason, a remark
    # (required for `other`), and the administrator's review.
    # db_default: bulk loaders (bench/generate.py's COPY) that name only the older columns.
    emergency_reason = models.CharField(
        max_length=20, choices=EmergencyReason.choices, blank=True, db_default=""
    )
    emergency_remark = models.CharField(max_length=500, blank=True, db_default="")
    reviewed_at = models.DateTimeField(null=True, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    review_note = models.CharField(max_length=500, blank=True, db_default="")

    class Meta:
        ordering = ["-dispensed_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["pharmacy", "idempotency_key"],
                condition=~models.Q(idempotency_key=""),
                name="dispense_idempotency_key_once_per_pharmacy",
            )
        ]
        indexes = [
            models.Index(fields=["patient", "dispensed_at"]),
            models.Index(fields=["emergency_reason", "reviewed_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.days_supply} days on {self.dispensed_at:%Y-%m-%d}"


class PatientReach(models.Model):
    """A pharmacist found this patient by last name and date of birth (or id and date of
    birth): for the rest of that sign-in (`credential`: the token's or session's digest, see
    clozrems.auth.credential_of), and at most CLOZREMS_TOKEN_TTL, the patient's id alone opens
    its record. A pharmacist's other way to a patient is its own pharmacy's dispenses."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.CASCADE, related_name="pharmacist_reaches"
    )
    credential = models.CharField(max_length=80)
    reached_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "patient", "credential"], name="patient_reach_once_per_sign_in"
            )
        ]

    def __str__(self) -> str:
        return f"user {self.user_id} reached patient {self.patient_id}"
