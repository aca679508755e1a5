"""ANC results and the stored monitoring state derived from them."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from engine.types import Band, EnrollmentStatus, Frequency, TreatmentStatus, choices


class ResultStatus(models.TextChoices):
    FINAL = "final"
    CORRECTED = "corrected"
    ENTERED_IN_ERROR = "entered_in_error"
    # Stored as the lab sent it, never used for a decision (HL7 OBX-11 "P").
    PRELIMINARY = "preliminary"


# The statuses the rules read; a preliminary result waits for its final one.
DECISIVE_STATUSES = (ResultStatus.FINAL, ResultStatus.CORRECTED)


class ResultSource(models.TextChoices):
    MANUAL = "manual"
    HL7 = "hl7"
    FHIR = "fhir"
    CSV = "csv"


class ResultAnalyte(models.TextChoices):
    """What a stored result counts. Every protocol reads the ANC; uk-cpms also reads the WBC of
    the same draw (a result set, paired by monitoring.selectors)."""

    ANC = "anc"
    WBC = "wbc"


class LabResult(models.Model):
    """One blood count as received from a lab or entered by hand: an ANC, or a WBC where
    `analyte` says so; the engine uses `value_per_ul` of the usable ones. (Its table keeps the
    name it had when results were ANCs only: the partitions and triggers are named after it.)"""

    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="anc_results"
    )
    analyte = models.CharField(max_length=20, default="anc")
    value = models.DecimalField(max_digits=14, decimal_places=4)
    unit = models.CharField(max_length=20)
    value_per_ul = models.PositiveIntegerField()
    drawn_at = models.DateTimeField()
    accession = models.CharField(max_length=100, blank=True)
    # The laboratory that produced the result (HL7 MSH-4, a FHIR identifier's assigner, a CSV
    # column); with the accession and analyte it identifies one result whatever the channel.
    lab = models.CharField(max_length=100, blank=True)
    # The channel that brought it.
    source = models.CharField(max_length=10, choices=ResultSource.choices, default="manual")
    status = models.CharField(max_length=20, choices=ResultStatus.choices, default="final")
    # A correction points at the result it replaces; that one is kept, marked superseded.
    corrects = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="corrected_by"
    )
    superseded = models.BooleanField(default=False)
    # ANC = WBC x neutrophil % / 100 when the lab sent no absolute count; `derivation` keeps
    # the inputs as received.
    derived = models.BooleanField(default=False)
    derivation = models.JSONField(default=dict, blank=True)
    void_reason = models.CharField(max_length=500, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "monitoring_ancresult"
        ordering = ["-drawn_at", "-id"]
        indexes = [models.Index(fields=["patient", "drawn_at"])]
        constraints = [
            # docs/rules.md §8: the same result delivered twice is stored once. A lab's
            # accession names one specimen at that lab, whoever's patient it is.
            models.UniqueConstraint(
                fields=["lab", "analyte", "accession"],
                condition=~models.Q(accession="") & models.Q(superseded=False) & ~models.Q(lab=""),
                name="anc_result_accession_once",
            ),
            # An accession entered by hand (no lab named) is the patient's own: one
            # prescriber's numbers can neither block nor reveal another's.
            models.UniqueConstraint(
                fields=["patient", "analyte", "accession"],
                condition=~models.Q(accession="") & models.Q(superseded=False) & models.Q(lab=""),
                name="anc_result_manual_accession_once_per_patient",
            ),
        ]

    def __str__(self) -> str:
        return f"ANC {self.value_per_ul}/µL drawn {self.drawn_at:%Y-%m-%d %H:%M}"

    @property
    def usable(self) -> bool:
        return self.status in DECISIVE_STATUSES and not self.superseded


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
    # None (no band, no frequency) is a real state here (docs/rules.md §3), kept distinct from "".
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
    # The protocol's version, the latest set's WBC, and a step-down waiting for the
    # prescriber (protocols whose step-downs need one).
    protocol_version = models.CharField(max_length=100, blank=True)
    latest_wbc_per_ul = models.PositiveIntegerField(null=True)
    step_down_offered = models.CharField(  # noqa: DJ001
        max_length=20, choices=choices(Frequency), null=True
    )

    def __str__(self) -> str:
        return f"monitoring state of patient {self.patient_id}"


class StepDownConfirmation(models.Model):
    """The prescriber confirms the longer routine interval the schedule offers (uk-cpms: weekly
    to every 2 weeks at week 18, to every 4 weeks at week 52); until then the patient stays on
    the shorter one."""

    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="step_downs"
    )
    frequency = models.CharField(max_length=20, choices=choices(Frequency))
    effective_date = models.DateField()
    note = models.CharField(max_length=500, blank=True)
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["effective_date", "id"]

    def __str__(self) -> str:
        return f"step-down to {self.frequency} from {self.effective_date}"


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


class SuppliedElsewhere(models.Model):
    """A period in which the patient was supplied outside this system (an inpatient stay,
    another pharmacy system), first and last day inclusive: its days count as on treatment for
    the supply-based lapse and never make a result current (docs/rules.md §9.14)."""

    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="supplied_elsewhere"
    )
    starts_on = models.DateField()
    ends_on = models.DateField()
    reason = models.CharField(max_length=500)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["starts_on", "id"]
        verbose_name_plural = "periods supplied elsewhere"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends_on__gte=models.F("starts_on")),
                name="supplied_elsewhere_ends_after_start",
            )
        ]

    def __str__(self) -> str:
        return f"supplied elsewhere {self.starts_on} to {self.ends_on}"


class ReviewAcknowledgement(models.Model):
    """The prescriber reviewed the conflicts a late result raised against recorded acts
    (docs/rules.md §9.1); `keys` names exactly the conflicts that were shown."""

    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="review_acknowledgements"
    )
    keys = models.JSONField()
    note = models.CharField(max_length=500, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    acknowledged_at = models.DateTimeField()

    class Meta:
        ordering = ["acknowledged_at", "id"]

    def __str__(self) -> str:
        return f"review acknowledged for patient {self.patient_id}"
