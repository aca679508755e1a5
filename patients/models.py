"""Prescribers, pharmacies, users and their roles, patients, enrollment, treatment events,
authorizations, dispenses and the pharmacists' reach."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from knox.models import AbstractAuthToken

from engine.types import (
    AuthorizationKind,
    EnrollmentStatus,
    Population,
    TreatmentEventKind,
    TreatmentStatus,
    choices,
)
from patients.validators import validate_ncpdp_id, validate_npi


class Role(models.TextChoices):
    ADMIN = "admin"
    PRESCRIBER = "prescriber"
    DESIGNEE = "designee"
    PHARMACIST = "pharmacist"
    AUDITOR = "auditor"
    # A laboratory interface account: posts results to the feeds, reads nothing else.
    LAB = "lab"


class Sex(models.TextChoices):
    FEMALE = "female"
    MALE = "male"
    OTHER = "other"
    UNKNOWN = "unknown"


def certified_on_q(day: date) -> models.Q:
    """`is_certified_on(day)` as a filter, for prescribers and pharmacies alike (same fields)."""
    return (
        models.Q(active=True, certified=True)
        & (models.Q(certified_on__isnull=True) | models.Q(certified_on__lte=day))
        & (
            models.Q(certification_expires_on__isnull=True)
            | models.Q(certification_expires_on__gte=day)
        )
    )


class Prescriber(models.Model):
    name = models.CharField(max_length=200)
    npi = models.CharField("NPI", max_length=10, unique=True, validators=[validate_npi])
    email = models.EmailField()
    # The number a pharmacist calls about a dispense (shown on the counter); blank until an
    # administrator records it.
    phone = models.CharField(max_length=40, blank=True)
    active = models.BooleanField(default=True)
    certified = models.BooleanField(default=False)
    certified_on = models.DateField(null=True, blank=True)
    certification_expires_on = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return f"{self.name} (NPI {self.npi})"

    def is_certified_on(self, day: date) -> bool:
        """Certified on `day`: active, certified, and `day` within the certification's dates,
        from `certified_on` (when set; a date in the future is "not yet certified") through
        `certification_expires_on` (docs/rules.md §9.12)."""
        if not (self.active and self.certified):
            return False
        if self.certified_on is not None and day < self.certified_on:
            return False
        return self.certification_expires_on is None or day <= self.certification_expires_on


# django-stubs cannot type the reverse manager of ApiToken.user (knox, its base, is untyped).
class User(AbstractUser):  # type: ignore[django-manager-missing]
    """A person who signs in. Superusers act as administrators whatever their role."""

    role = models.CharField(max_length=20, choices=Role.choices, blank=True)
    prescriber = models.ForeignKey(
        Prescriber, null=True, blank=True, on_delete=models.PROTECT, related_name="users"
    )
    pharmacy = models.ForeignKey(
        "Pharmacy", null=True, blank=True, on_delete=models.PROTECT, related_name="users"
    )

    if TYPE_CHECKING:
        pharmacy_id: int | None
        prescriber_id: int | None

    @property
    def is_admin(self) -> bool:
        return self.is_superuser or self.role == Role.ADMIN

    def save(self, *args: Any, **kwargs: Any) -> None:
        # An administrator uses Django's admin (read-only where records are clinical; see each
        # ModelAdmin), with its second factor when CLOZREMS_ADMIN_OTP is on.
        if self.role == Role.ADMIN:
            self.is_staff = True
        # `set_password` keeps the new password in `_password` until the next save: a password
        # change (the admin's form, `changepassword`, a reset) ends every API token of the user.
        # Sessions end by themselves: Django checks each one against the password's hash.
        password_changed = self.pk is not None and getattr(self, "_password", None) is not None
        super().save(*args, **kwargs)
        if password_changed:
            ApiToken.objects.filter(user=self).delete()

    def has_perm(self, perm: str, obj: Any = None) -> bool:
        if self.is_active and self.role == Role.ADMIN:
            return True
        return bool(super().has_perm(perm, obj))

    def has_module_perms(self, app_label: str) -> bool:
        if self.is_active and self.role == Role.ADMIN:
            return True
        return bool(super().has_module_perms(app_label))

    def linked_pharmacy(self) -> Pharmacy | None:
        return self.pharmacy


class ApiToken(AbstractAuthToken):
    """An API token (django-rest-knox's model, `KNOX_TOKEN_MODEL`): only its SHA-512 digest and
    its first 15 characters (to find the row) are stored, so the token is shown once, to the
    user who asked for it, and can be read back by nobody. `otp_verified` says whether it was
    minted with a verified second factor; an administrator's token without one is refused
    while CLOZREMS_ADMIN_OTP is on (patients/auth.py)."""

    otp_verified = models.BooleanField(default=False)

    class Meta:
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"API token of {self.user} from {self.created:%Y-%m-%d %H:%M}"


class Patient(models.Model):
    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100)
    date_of_birth = models.DateField()
    sex = models.CharField(max_length=10, choices=Sex.choices)
    population = models.CharField(max_length=10, choices=choices(Population))
    ben_documented_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    ben_documented_at = models.DateTimeField(null=True, blank=True)
    protocol = models.CharField(max_length=40)
    prescriber = models.ForeignKey(Prescriber, on_delete=models.PROTECT, related_name="patients")
    # Cached from the monitoring state for filters and lists; the engine derives the truth.
    enrollment_status = models.CharField(
        max_length=30, choices=choices(EnrollmentStatus), default=EnrollmentStatus.PENDING
    )
    treatment_status = models.CharField(
        max_length=20, choices=choices(TreatmentStatus), default=TreatmentStatus.NOT_STARTED
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["last_name", "first_name", "id"]
        indexes = [models.Index(fields=["last_name", "date_of_birth"])]

    def __str__(self) -> str:
        return f"{self.last_name}, {self.first_name} ({self.date_of_birth})"


class EnrollmentEvent(models.Model):
    """An enrollment or re-enrollment, effective on a date (docs/rules.md §4)."""

    class Kind(models.TextChoices):
        ENROLL = "enroll"
        REENROLL = "reenroll"

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="enrollments")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    effective_date = models.DateField()
    reason = models.CharField(max_length=500, blank=True)
    # The protocol the patient was (re-)enrolled under (changeable only by
    # re-enrollment, so each enrollment keeps its own).
    protocol = models.CharField(max_length=40, blank=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["effective_date", "id"]

    def __str__(self) -> str:
        return f"{self.kind} on {self.effective_date}"


class LimitAgreement(models.Model):
    """Band limits a haematologist agreed for one BEN (Duffy-null) patient (uk-cpms), in force
    for results drawn from `agreed_on`; the latest agreement replaces earlier ones."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="limit_agreements")
    # The protocol's limit names and values in cells/µL, e.g. {"neutrophils_green_per_ul": 1500}.
    limits = models.JSONField()
    haematologist = models.CharField(max_length=200)
    # A second haematologist's signature, needed for a limit below the protocol's floor
    # (docs/rules.md §9.10); blank when one signed.
    second_haematologist = models.CharField(max_length=200, blank=True)
    agreed_on = models.DateField()
    note = models.CharField(max_length=500, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["agreed_on", "id"]

    def __str__(self) -> str:
        return f"limits agreed by {self.haematologist} on {self.agreed_on}"


class TreatmentEvent(models.Model):
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="treatment_events")
    kind = models.CharField(max_length=12, choices=choices(TreatmentEventKind))
    effective_date = models.DateField()
    reason = models.CharField(max_length=500)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["effective_date", "id"]

    def __str__(self) -> str:
        return f"{self.kind} on {self.effective_date}"


class Authorization(models.Model):
    """A prescriber's continuation or rechallenge authorization (docs/rules.md §6)."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="authorizations")
    kind = models.CharField(max_length=12, choices=choices(AuthorizationKind))
    rationale = models.TextField()
    starts_on = models.DateField()
    expires_on = models.DateField()
    prescriber = models.ForeignKey(Prescriber, on_delete=models.PROTECT, related_name="+")
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["starts_on", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(expires_on__gte=models.F("starts_on")),
                name="authorization_expires_after_start",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.starts_on} to {self.expires_on}"


# --- Pharmacies and the patient's supplies ------------------------------------------------------
# A pharmacy is enrolled in the programme like a prescriber; a dispense is an item of the
# patient's history the engine replays, as a treatment event or an authorization is; a reach
# is a pharmacist's way to one patient's record. They live here, below every app that reads
# them (docs/architecture.md); their tables keep the names they had in the pharmacy app.


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
        db_table = "pharmacy_pharmacy"
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
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="dispenses")
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
        db_table = "pharmacy_dispense"
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
    patients.auth.credential_of), and at most CLOZREMS_TOKEN_TTL, the patient's id alone opens
    its record. A pharmacist's other way to a patient is its own pharmacy's dispenses."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    patient = models.ForeignKey(
        Patient, on_delete=models.CASCADE, related_name="pharmacist_reaches"
    )
    credential = models.CharField(max_length=80)
    reached_at = models.DateTimeField()

    class Meta:
        db_table = "pharmacy_patientreach"
        constraints = [
            models.UniqueConstraint(
                fields=["user", "patient", "credential"], name="patient_reach_once_per_sign_in"
            )
        ]

    def __str__(self) -> str:
        return f"user {self.user_id} reached patient {self.patient_id}"
