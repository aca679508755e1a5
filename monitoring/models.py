"""ANC results and the stored monitoring state derived from them."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from monitoring.engine.types import Band, EnrollmentStatus, Frequency, TreatmentStatus, choices


class ResultStatus(models.TextChoices):
    FINAL = "final"
    CORRECTED = "corrected"
    ENTERED_IN_ERROR = "entered_in_error"


class ResultSource(models.TextChoices):
    MANUAL = "manual"
    HL7 = "hl7"
    FHIR = "fhir"
    CSV = "csv"


class AncResult(models.Model):
    """One ANC as received; the engine uses `value_per_ul` of the usable ones."""

    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="anc_results"
    )
    analyte = models.CharField(max_length=20, default="anc")
    value = models.DecimalField(max_digits=14, decimal_places=4)
    unit = models.CharField(max_length=20)
    value_per_ul = models.PositiveIntegerField()
    drawn_at = models.DateTimeField()
    accession = models.CharField(max_length=100, blank=True)
    source = models.CharField(max_length=10, choices=ResultSource.choices, default="manual")
    status = models.CharField(max_length=20, choices=ResultStatus.choices, default="final")
    # A correction points at the result it replaces; that one is kept, marked superseded.
    corrects = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="corrected_by"
    )
    superseded = models.BooleanField(default=False)
    void_reason = models.CharField(max_length=500, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-drawn_at", "-id"]
        indexes = [models.Index(fields=["patient", "drawn_at"])]
        constraints = [
            # rules.md §8: the same result delivered twice is stored once.
            models.UniqueConstraint(
                fields=["source", "analyte", "accession"],
                condition=~models.Q(accession="") & models.Q(superseded=False),
                name="anc_result_accession_once",
            )
        ]

    def __str__(self) -> str:
        return f"ANC {self.value_per_ul}/µL drawn {self.drawn_at:%Y-%m-%d %H:%M}"

    @property
    def usable(self) -> bool:
        return self.status != ResultStatus.ENTERED_IN_ERROR and not self.superseded


class MonitoringState(models.Model):
    """The patient's derived monitoring state: a cache of the engine's replay, rebuilt from the
    history by `manage.py monitoring_rebuild`. The columns are its projection at `computed_at`,
    for lists and scheduled scans; decisions project `snapshot` to their own instant."""

    patient = models.OneToOneField(
        "patients.Patient", primary_key=True, on_delete=models.CASCADE, related_name="monitoring"
    )
    snapshot = models.JSONField()
    high_water = models.DateTimeField(null=True)
    computed_at = models.DateTimeField()
    protocol = models.CharField(max_length=40)
    enrollment_status = models.CharField(max_length=30, choices=choices(EnrollmentStatus))
    treatment_status = models.CharField(max_length=20, choices=choices(TreatmentStatus))
    # None (no band, no frequency) is a real state here (rules.md §3), kept distinct from "".
    band = models.CharField(max_length=20, choices=choices(Band), null=True)  # noqa: DJ001
    monitoring_frequency = models.CharField(  # noqa: DJ001
        max_length=20, choices=choices(Frequency), null=True
    )
    latest_anc_per_ul = models.PositiveIntegerField(null=True)
    latest_drawn_at = models.DateTimeField(null=True)
    next_draw_due = models.DateField(null=True, db_index=True)
    current_until = models.DateField(null=True)
    confirmation_due = models.DateTimeField(null=True, db_index=True)
    hematology_consult = models.BooleanField(default=False)
    # The open episode (its first low draw), so a consult acknowledgement can name it.
    episode_opened_at = models.DateTimeField(null=True)
    lapse_on = models.DateField(null=True, db_index=True)
    lapsed_on = models.DateField(null=True, db_index=True)

    def __str__(self) -> str:
        return f"monitoring state of patient {self.patient_id}"


class ConsultAcknowledgement(models.Model):
    """The prescriber has arranged (or decided on) the recommended hematology consult for one
    episode; the daily reminder stops for that episode."""

    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="consult_acknowledgements"
    )
    episode_opened_at = models.DateTimeField()
    note = models.CharField(max_length=500, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    acknowledged_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "episode_opened_at"], name="consult_acknowledged_once"
            )
        ]

    def __str__(self) -> str:
        return f"consult acknowledged for patient {self.patient_id}"
