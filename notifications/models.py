"""Reminders and their delivery: one row per recipient, channel and occasion; the daily digests
that carry the non-urgent ones; each recipient's own settings; and the bookkeeping of the
scheduler (the declared periodic tasks by stable key, the last run of each scan, and work
queued by a transaction until a worker has done it)."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Channel(models.TextChoices):
    IN_APP = "in_app"
    EMAIL = "email"


class Status(models.TextChoices):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    # Non-urgent: waits for the recipient's next daily digest (notifications/digests.py) ...
    HELD = "held"
    # ... and was carried by it (`digest` names the digest that did).
    DIGESTED = "digested"


class Kind(models.TextChoices):
    DRAW_DUE = "draw_due"
    DRAW_OVERDUE = "draw_overdue"
    DRAW_OVERDUE_ESCALATION = "draw_overdue_escalation"
    CONFIRMATION_REQUESTED = "confirmation_requested"
    CONFIRMATION_OVERDUE = "confirmation_overdue"
    CONSULT_NEEDED = "consult_needed"
    LAPSE_WARNING = "lapse_warning"
    LAPSED = "lapsed"
    PRESCRIBER_CERTIFICATION_EXPIRING = "prescriber_certification_expiring"
    PHARMACY_CERTIFICATION_EXPIRING = "pharmacy_certification_expiring"
    AUTHORIZATION_EXPIRING = "authorization_expiring"
    EMERGENCY_SUPPLY = "emergency_supply"
    # A low result (or one that changed the picture) was voided: the prescriber is told.
    RESULT_VOIDED = "result_voided"
    # The clozapine levels and the monitoring plan (clinical.reminders).
    LEVEL_HIGH = "level_high"
    LEVEL_UNEXPECTED = "level_unexpected"
    LEVEL_SUGGESTED = "level_suggested"
    MYOCARDITIS_SYMPTOMS = "myocarditis_symptoms"
    PLAN_ITEM_DUE = "plan_item_due"
    PLAN_ITEM_OVERDUE = "plan_item_overdue"
    RETITRATION_NEEDED = "retitration_needed"
    # A monitoring-plan check overdue longer than CLOZREMS_PLAN_BACKLOG_DAYS: told once, in a
    # digest's summary line, never one by one.
    PLAN_ITEM_BACKLOG = "plan_item_backlog"
    # One recipient's daily digest of the non-urgent reminders.
    DIGEST = "digest"


class Notification(models.Model):
    """One reminder to one recipient on one channel.

    (recipient_key, channel, kind, subject_key, key_date, occurrence) is unique, so running a
    scan twice, or on two workers at once, gives one reminder per occasion: a unique constraint,
    not a check-then-insert.
    """

    kind = models.CharField(max_length=40, choices=Kind.choices)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="notifications",
    )
    # "user:<id>" or "email:<address>": who, in a form the unique constraint can compare.
    recipient_key = models.CharField(max_length=300)
    address = models.EmailField(blank=True)
    patient = models.ForeignKey(
        "patients.Patient", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    # What the reminder is about ("patient:12", "prescriber:3", "authorization:7") and the date
    # that makes it an occasion (the due date, the deadline, the expiry).
    subject_key = models.CharField(max_length=60)
    key_date = models.DateField()
    # Repeats of one occasion (overdue day 1, 3, 5...): 0 for a one-off.
    occurrence = models.PositiveSmallIntegerField(default=0)
    urgent = models.BooleanField(default=False)
    subject = models.CharField(max_length=200)
    body = models.TextField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # The digest that carried this reminder (status `digested`).
    digest = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="items"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "recipient_key",
                    "channel",
                    "kind",
                    "subject_key",
                    "key_date",
                    "occurrence",
                ],
                name="notification_once_per_occasion",
            )
        ]
        indexes = [
            models.Index(fields=["recipient", "channel", "read_at"]),
            models.Index(fields=["channel", "status", "next_attempt_at"]),
            models.Index(fields=["status", "recipient_key"]),
        ]

    def __str__(self) -> str:
        return f"{self.kind} to {self.recipient_key} ({self.channel}, {self.status})"

    @property
    def message_id(self) -> str:
        """The e-mail's Message-ID: the same on every attempt (a resend after a worker died is
        recognisable as the same message), different for every notification. Built from the
        row's id and creation time, so it needs no column and never changes."""
        domain = settings.CLOZREMS_MESSAGE_ID_DOMAIN
        stamp = self.created_at.strftime("%Y%m%d%H%M%S%f") if self.created_at else "0"
        return f"<notification.{self.pk}.{stamp}@{domain}>"


class NotificationPreference(models.Model):
    """A user's own settings for the reminders they receive: in the app, and by e-mail where
    the address is theirs (their own; a prescriber's user also owns the prescriber's registered
    address). Urgent reminders are always sent on their own, whatever is set here."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_preference"
    )
    # Local clinic time after which the day's digest is put together and sent.
    digest_at = models.TimeField()
    # E-mail the daily digest too (the in-app digest is always kept).
    email_digest = models.BooleanField(default=True)
    # Non-urgent kinds this user wants on their own instead of in the digest.
    immediate_kinds = models.JSONField(default=list, blank=True)
    # At most this many reminders are listed in a digest; the rest are counted ("N more").
    digest_limit = models.PositiveSmallIntegerField()
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"notification settings of {self.user}"


class ScheduledTask(models.Model):
    """A periodic task declared in notifications/schedule.py, by its stable key, and the beat
    row it was written to. The key, not the display name, identifies it: an administrator may
    rename the row (it stays linked), or delete it (the link is kept, empty, so that a later
    migrate does not bring it back; `sync_periodic_tasks --reset` does)."""

    key = models.CharField(max_length=60, unique=True)
    periodic_task = models.OneToOneField(
        "django_celery_beat.PeriodicTask",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="declared",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.key


class ScanRun(models.Model):
    """When a scan (by its declared key) last started in a worker: the catch-up task compares
    it with the scan's schedule to find a run that beat sent but no worker ever received."""

    key = models.CharField(max_length=60, unique=True)
    last_run_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.key} at {self.last_run_at:%Y-%m-%d %H:%M}"


class PendingTask(models.Model):
    """Work a transaction asked for (notifications.outbox.enqueue_on_commit), written in that
    same transaction. The queued message only carries this row's id; the worker marks the row
    done in the transaction that does the work. A message lost with the broker leaves the row
    open, and the catch-up task (every minute) does it."""

    task = models.CharField(max_length=200)
    args = models.JSONField(default=list)
    created_at = models.DateTimeField(db_index=True)
    done_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)

    class Meta:
        indexes = [models.Index(fields=["done_at", "created_at"])]

    def __str__(self) -> str:
        return f"{self.task}{tuple(self.args)} ({'done' if self.done_at else 'open'})"
