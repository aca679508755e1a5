"""Reminders and their delivery: one row per recipient, channel and occasion."""

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
    # The clozapine levels and the monitoring plan (clinical/reminders.py, ClinicalKind).
    LEVEL_HIGH = "level_high"
    LEVEL_UNEXPECTED = "level_unexpected"
    LEVEL_SUGGESTED = "level_suggested"
    MYOCARDITIS_SYMPTOMS = "myocarditis_symptoms"
    PLAN_ITEM_DUE = "plan_item_due"
    PLAN_ITEM_OVERDUE = "plan_item_overdue"
    RETITRATION_NEEDED = "retitration_needed"


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
        ]

    def __str__(self) -> str:
        return f"{self.kind} to {self.recipient_key} ({self.channel}, {self.status})"
