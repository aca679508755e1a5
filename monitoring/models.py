"""ANC results and the stored monitoring state derived from them."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from monitoring.engine.types import Band, EnrollmentStatus, Frequency, TreatmentStatus, choices


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


class AncResult(models.Model):
    """One count as received (an ANC, or a WBC where `analyte` says so); the engine uses
    `value_per_ul` of the usable ones."""

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


class LabCodeMapping(models.Model):
    """A laboratory's own test code and the LOINC code it means, for labs that do not send
    LOINC; `lab` empty applies to every lab. Administrators edit it in the admin."""

    lab = models.CharField(max_length=100, blank=True)
    local_code = models.CharField(max_length=50)
    # The LOINC code the local code means; blank when `analyte` names a meaning LOINC has no
    # code the rules read for (segmented neutrophils per 100 leukocytes, see feeds/codes.py).
    loinc = models.CharField(max_length=20, blank=True)
    analyte = models.CharField(max_length=40, blank=True)
    description = models.CharField(max_length=200, blank=True)
    # Who confirmed a mapping by meaning (`analyte`), and when: unconfirmed, it is not read.
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    confirmed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["lab", "local_code"]
        constraints = [
            models.UniqueConstraint(fields=["lab", "local_code"], name="lab_code_mapping_once")
        ]

    def __str__(self) -> str:
        return f"{self.lab or '*'}:{self.local_code} -> LOINC {self.loinc}"


class LabAccount(models.Model):
    """What a lab interface account (a user of role `lab`) is allowed to do as a feed.

    `lab` is the laboratory the account speaks for: every result it sends is recorded under this
    name, whatever the message itself says (HL7 MSH-4, a CSV `lab` column, a FHIR assigner), so
    one lab cannot file results, or match identifiers, as another. `allow_demographic_match`
    lets a result that names no identifier we know be filed on the one patient with that last
    name and date of birth; off (the default), such a result is held for an administrator.
    `allowed_networks` (addresses or CIDR networks, separated by commas or spaces) narrows where
    the account's MLLP connections may come from, within the listener's own allowlist."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="lab_account"
    )
    lab = models.CharField(max_length=100)
    allow_demographic_match = models.BooleanField(default=False)
    allowed_networks = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["lab"]

    def __str__(self) -> str:
        return f"{self.lab} ({self.user})"


class LabCertificate(models.Model):
    """A TLS client certificate the MLLP listener accepts as a lab account: by its SHA-256
    fingerprint (of the DER certificate), or by its subject (`CN=...,O=...`, in certificate order)
    when the listener's CA issues certificates to labs only."""

    account = models.ForeignKey(LabAccount, on_delete=models.PROTECT, related_name="certificates")
    fingerprint_sha256 = models.CharField(max_length=64, blank=True)
    subject = models.CharField(max_length=500, blank=True)
    note = models.CharField(max_length=200, blank=True)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["account", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["fingerprint_sha256"],
                condition=~models.Q(fingerprint_sha256=""),
                name="lab_certificate_fingerprint_once",
            ),
            models.UniqueConstraint(
                fields=["subject"],
                condition=~models.Q(subject=""),
                name="lab_certificate_subject_once",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.account.lab}: {self.fingerprint_sha256[:16] or self.subject}"


class FeedBatchStatus(models.TextChoices):
    QUEUED = "queued"
    PROCESSING = "processing"
    DONE = "done"


class FeedBatch(models.Model):
    """A large batch (HL7 messages or CSV rows) taken as received and processed by a worker;
    its messages and their acknowledgements are read at /api/v1/feeds/batches/{id}/."""

    channel = models.CharField(max_length=10, choices=ResultSource.choices)
    raw = models.TextField()
    received_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    status = models.CharField(
        max_length=12, choices=FeedBatchStatus.choices, default=FeedBatchStatus.QUEUED
    )
    size = models.PositiveIntegerField(default=0)  # messages (HL7) or rows (CSV) it holds
    processed = models.PositiveIntegerField(default=0)
    detail = models.TextField(blank=True)
    received_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [models.Index(fields=["status", "received_at"])]

    def __str__(self) -> str:
        return f"{self.channel} batch {self.pk}: {self.status}"


class FeedMessageOutcome(models.TextChoices):
    RECEIVED = "received"  # kept, being processed (a crash leaves it for the retry task)
    ACCEPTED = "accepted"  # every result stored, a repeat, or nothing to store
    QUARANTINED = "quarantined"  # read, but one or more results held for an administrator
    REJECTED = "rejected"  # unreadable or not a result message
    FAILED = "failed"  # processing broke; kept to be retried


class FeedMessage(models.Model):
    """Every message or file a feed received, kept as received, with what became of it."""

    channel = models.CharField(max_length=10, choices=ResultSource.choices)
    raw = models.TextField()
    control_id = models.CharField(max_length=100, blank=True)
    lab = models.CharField(max_length=100, blank=True)
    outcome = models.CharField(max_length=20, choices=FeedMessageOutcome.choices)
    ack_code = models.CharField(max_length=2, blank=True)
    detail = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=1)
    received_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    received_at = models.DateTimeField(auto_now_add=True)
    # The acknowledgement sent back (HL7 ER7) and each result's outcome, as the lab was told.
    ack = models.TextField(blank=True)
    results = models.JSONField(default=list, blank=True)
    # A message of a batch taken asynchronously, and its place in it.
    batch = models.ForeignKey(
        FeedBatch, null=True, blank=True, on_delete=models.PROTECT, related_name="messages"
    )
    position = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [models.Index(fields=["outcome", "received_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["batch", "position"],
                condition=models.Q(batch__isnull=False),
                name="feed_message_batch_position_once",
            )
        ]

    def __str__(self) -> str:
        return f"{self.channel} message {self.control_id or self.pk}: {self.outcome}"


class QuarantineReason(models.TextChoices):
    UNMATCHED = "unmatched_patient"
    AMBIGUOUS = "ambiguous_patient"
    IDENTITY_MISMATCH = "identity_mismatch"
    # Matched on last name and date of birth alone, from a lab not allowed to file that way.
    DEMOGRAPHIC_MATCH = "demographic_match_only"
    UNKNOWN_UNIT = "unknown_unit"
    IMPLAUSIBLE = "implausible_value"
    BAD_DRAW_TIME = "bad_draw_time"
    UNKNOWN_CODE = "unknown_code"
    UNSUPPORTED_STATUS = "unsupported_status"
    CONFLICT = "conflicting_result"


class QuarantineStatus(models.TextChoices):
    OPEN = "open"
    RESOLVED = "resolved"
    DISMISSED = "dismissed"


class QuarantinedResult(models.Model):
    """A result a feed could not apply, held with the raw message and the reason until an
    administrator attaches it to a patient, fixes its unit, or dismisses it with a reason."""

    message = models.ForeignKey(FeedMessage, on_delete=models.PROTECT, related_name="quarantined")
    reason = models.CharField(max_length=30, choices=QuarantineReason.choices)
    detail = models.CharField(max_length=500)
    # What the feed read, as received; blank where the message did not say.
    lab = models.CharField(max_length=100, blank=True)
    accession = models.CharField(max_length=100, blank=True)
    analyte = models.CharField(max_length=20, default="anc")
    value = models.CharField(max_length=50, blank=True)
    unit = models.CharField(max_length=20, blank=True)
    drawn_at = models.DateTimeField(null=True, blank=True)
    result_status = models.CharField(max_length=20, blank=True)
    derivation = models.JSONField(default=dict, blank=True)
    patient_identifiers = models.JSONField(default=list, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    date_of_birth = models.DateField(null=True, blank=True)
    # Set when the identity matched but something else was wrong.
    patient = models.ForeignKey(
        "patients.Patient", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    status = models.CharField(
        max_length=10, choices=QuarantineStatus.choices, default=QuarantineStatus.OPEN
    )
    result = models.ForeignKey(
        AncResult, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    resolution_note = models.CharField(max_length=500, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "created_at"])]

    def __str__(self) -> str:
        return f"quarantined {self.analyte} {self.value} {self.unit}: {self.reason}"


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
