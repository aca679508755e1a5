"""The audit trail: an append-only log of every state change and dispensing decision, chained
and keyed by the sealer; its signed checkpoints; and the field history the database triggers
write for the clinical tables.

A request inserts its entry unsealed (no chain fields) in its own transaction. The sealer
(`audit.services.audit_seal`) later gives each committed entry its place in the chain once:
`seq`, `prev_hash`, `key_id`, `sealed_at` and `hash`, an HMAC-SHA256 keyed outside the
database. Nothing else is ever updated or deleted: triggers installed by the migrations (and
re-installed after every migrate, see audit/triggers.py) refuse it on SQLite and PostgreSQL.
The design is in docs/audit.md. Actors are stored by id and name, without a foreign key, so an
entry stays exactly as written whatever happens to the user later.
"""

from __future__ import annotations

from django.db import models


class Action(models.TextChoices):
    PATIENT_CREATE = "patient.create"
    PATIENT_ENROLL = "patient.enroll"
    PATIENT_LAPSE = "patient.lapse"  # the scheduler: 30 days interrupted, re-enrollment required
    ANC_RESULT_RECORD = "anc_result.record"
    ANC_RESULT_CORRECT = "anc_result.correct"
    ANC_RESULT_VOID = "anc_result.void"
    TREATMENT_EVENT_RECORD = "treatment_event.record"
    AUTHORIZATION_RECORD = "authorization.record"
    ELIGIBILITY_CHECK = "eligibility.check"
    DISPENSE_RECORD = "dispense.record"
    EMERGENCY_SUPPLY_RECORD = "emergency_supply.record"
    EMERGENCY_SUPPLY_REVIEW = "emergency_supply.review"
    CONSULT_ACKNOWLEDGE = "consult.acknowledge"
    REVIEW_ACKNOWLEDGE = "review.acknowledge"
    SUPPLIED_ELSEWHERE_RECORD = "supplied_elsewhere.record"
    PRESCRIBER_CREATE = "prescriber.create"
    PRESCRIBER_UPDATE = "prescriber.update"
    PHARMACY_CREATE = "pharmacy.create"
    PHARMACY_UPDATE = "pharmacy.update"
    QUARANTINE_RESOLVE = "lab_feed.quarantine_resolve"
    QUARANTINE_DISMISS = "lab_feed.quarantine_dismiss"
    PATIENT_IDENTIFIER_ADD = "patient_identifier.add"
    PATIENT_IDENTIFIER_REMOVE = "patient_identifier.remove"
    LAB_CODE_MAPPING_SAVE = "lab_code_mapping.save"
    LAB_CODE_MAPPING_REMOVE = "lab_code_mapping.remove"
    LAB_ACCOUNT_SAVE = "lab_account.save"
    LAB_CERTIFICATE_SAVE = "lab_certificate.save"
    # Clozapine levels and the monitoring plan (clinical/).
    LEVEL_RESULT_RECORD = "level_result.record"
    SMOKING_STATUS_RECORD = "smoking_status.record"
    MEDICATION_EVENT_RECORD = "medication_event.record"
    DOSE_ENTRY_RECORD = "dose_entry.record"
    PLAN_ENTRY_RECORD = "plan_entry.record"
    LEVEL_INDICATION_RECORD = "level_indication.record"
    INTERACTING_DRUG_SAVE = "interacting_drug.save"
    # A haematologist's per-patient limits (uk-cpms BEN patients).
    LIMIT_AGREEMENT_RECORD = "limit_agreement.record"
    # The prescriber confirms a longer monitoring interval (uk-cpms).
    STEP_DOWN_CONFIRM = "step_down.confirm"
    # Accounts: users (their role and links), permission groups, second-factor devices.
    USER_CREATE = "user.create"
    USER_UPDATE = "user.update"
    GROUP_SAVE = "group.save"
    SECOND_FACTOR_ENROLL = "second_factor.enroll"
    SECOND_FACTOR_REMOVE = "second_factor.remove"
    # Who looked at which patient: a record read (detail, results and events lists, the
    # clinic's patient page) and a pharmacist's lookup by last name and date of birth. The
    # counter's patient page is its eligibility check's entry.
    PATIENT_READ = "patient.read"
    PATIENT_LOOKUP = "patient.lookup"


class Outcome(models.TextChoices):
    OK = "ok"  # a state change that was made
    ALLOWED = "allowed"  # a dispensing decision that allowed the supply
    BLOCKED = "blocked"  # a dispensing decision that blocked it
    REFUSED = "refused"  # a write the rules refused (HTTP 422): nothing else was written


GENESIS_HASH = "0" * 64
# The columns the sealer sets, once, on an unsealed entry; every other column is content and
# never changes after the INSERT.
SEAL_FIELDS = ("seq", "prev_hash", "hash", "key_id", "sealed_at")


class AuditEntry(models.Model):
    # Null until the sealer gives the entry its place in the chain (docs/audit.md).
    seq = models.BigIntegerField(unique=True, null=True, blank=True)
    created_at = models.DateTimeField(db_index=True)
    actor_id = models.BigIntegerField(null=True, db_index=True)
    actor_username = models.CharField(max_length=150, blank=True)
    role = models.CharField(max_length=20, blank=True)
    request_id = models.CharField(max_length=128, blank=True, db_index=True)
    action = models.CharField(max_length=60, db_index=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    object_type = models.CharField(max_length=60, blank=True)
    object_id = models.CharField(max_length=60, blank=True)
    patient_id = models.BigIntegerField(null=True, db_index=True)
    # What the decision or change used (ANC result ids and values, protocol and version, the
    # request's parameters) and what it produced (decision, reasons, max days, the new values).
    inputs = models.JSONField(default=dict)
    output = models.JSONField(default=dict)
    # The chain, set by the sealer: the previous entry's `hash` (64 zeros for #1), and this
    # entry's HMAC-SHA256 over its canonical content (audit.services.entry_mac) under the key
    # named by `key_id`.
    prev_hash = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001 - null: unsealed
    hash = models.CharField(max_length=64, unique=True, null=True, blank=True)  # noqa: DJ001
    key_id = models.CharField(max_length=16, blank=True, default="")
    sealed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "audit entries"
        indexes = [
            models.Index(fields=["object_type", "object_id"]),
            # The sealer's queue: only the entries not yet sealed, so finding them costs what
            # is waiting, not the size of the trail.
            models.Index(
                fields=["id"], condition=models.Q(seq__isnull=True), name="audit_entry_unsealed"
            ),
        ]

    def __str__(self) -> str:
        place = f"#{self.seq}" if self.seq is not None else f"(unsealed, id {self.pk})"
        return f"{place} {self.action} {self.outcome} by {self.actor_username or '-'}"

    @property
    def sealed(self) -> bool:
        return self.seq is not None


class AuditCheckpoint(models.Model):
    """The chain's head as the sealer left it: `seq` and `hash` of the newest sealed entry,
    signed with the audit key (audit.services.checkpoint_mac). Written in the sealer's
    transaction, and appended after its commit to the checkpoint file when one is configured
    (settings.CLOZREMS_AUDIT_CHECKPOINT_FILE). A trail that ends before a checkpoint's `seq`,
    or whose entry there has another hash, was cut or rewritten (docs/audit.md). Append-only:
    the triggers refuse UPDATE and DELETE."""

    seq = models.BigIntegerField(unique=True)
    hash = models.CharField(max_length=64)
    key_id = models.CharField(max_length=16)
    created_at = models.DateTimeField()
    # How many entries the run that wrote it sealed.
    sealed = models.PositiveIntegerField()
    mac = models.CharField(max_length=64)

    class Meta:
        ordering = ["-seq"]

    def __str__(self) -> str:
        return f"checkpoint #{self.seq} at {self.created_at:%Y-%m-%d %H:%M:%S}"


class FieldChange(models.Model):
    """One column of one row changed by an UPDATE, written by a database trigger (so a bulk
    `QuerySet.update()` or a hand-typed SQL statement is captured as well as a service's save).
    Values are the database's text rendering of the column."""

    table_name = models.CharField(max_length=100)
    row_id = models.CharField(max_length=60)
    field = models.CharField(max_length=100)
    old_value = models.TextField(null=True)  # noqa: DJ001 - NULL is a value a column can have
    new_value = models.TextField(null=True)  # noqa: DJ001
    # From the transaction's setting (PostgreSQL) or the connection's function (SQLite); null
    # when the change was made outside a service (a shell, a migration, raw SQL).
    actor_id = models.BigIntegerField(null=True, db_index=True)
    request_id = models.CharField(max_length=128, blank=True, null=True)  # noqa: DJ001
    changed_at = models.DateTimeField()

    class Meta:
        ordering = ["-changed_at", "-id"]
        indexes = [models.Index(fields=["table_name", "row_id"])]

    def __str__(self) -> str:
        return f"{self.table_name}#{self.row_id}.{self.field}: {self.old_value} -> {self.new_value}"
