"""What the lab feeds keep: the messages and batches as received, the results held in the
quarantine, the labs' accounts, certificates and local codes, and the identifiers labs give
patients. The tables keep the names they had in the monitoring and patients apps
(docs/architecture.md)."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from monitoring.models import LabResult, ResultSource
from patients.models import Patient


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
        db_table = "monitoring_labcodemapping"
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
        db_table = "monitoring_labaccount"
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
        db_table = "monitoring_labcertificate"
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
        db_table = "monitoring_feedbatch"
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
        db_table = "monitoring_feedmessage"
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
        LabResult, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    resolution_note = models.CharField(max_length=500, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "monitoring_quarantinedresult"
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "created_at"])]

    def __str__(self) -> str:
        return f"quarantined {self.analyte} {self.value} {self.unit}: {self.reason}"


class PatientIdentifier(models.Model):
    """An identifier another system gives the patient (a lab's MRN), so that results sent with it
    find the patient. `issuer` names that system as it names itself in its messages: the HL7
    assigning authority (PID-3.4) or sending facility (MSH-4), a FHIR identifier system."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="identifiers")
    issuer = models.CharField(max_length=200)
    value = models.CharField(max_length=100)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "patients_patientidentifier"
        ordering = ["issuer", "value"]
        # Once per patient. Within one prescriber's patients an identifier names one patient
        # (feeds.services.patient_identifier_add); across prescribers it may be
        # recorded twice, so that no prescriber can block, or learn of, another's patient, and
        # a lab's result sent with it is then held as ambiguous for an administrator.
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "issuer", "value"], name="patient_identifier_once_per_patient"
            )
        ]
        indexes = [models.Index(fields=["issuer", "value"])]

    def __str__(self) -> str:
        return f"{self.issuer}|{self.value}"
