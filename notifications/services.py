"""Creating reminders (exactly once per occasion) and delivering them (claimed, retried)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db.models import Q
from django.utils import timezone

from clozrems.queue import enqueue_on_commit
from notifications.messages import KIND_IS_URGENT
from notifications.models import Channel, Notification, Status
from patients.models import Role, User


@dataclass(frozen=True)
class Recipient:
    user_id: int | None
    email: str


@dataclass(frozen=True)
class Occasion:
    """One thing to tell some people about, on one date. `kind` is a `Kind`, or another app's
    own kind (clinical.reminders.ClinicalKind); `urgent` marks one urgent whatever its kind."""

    kind: str
    subject_key: str
    key_date: date
    subject: str
    body: str
    patient_id: int | None = None
    occurrence: int = 0
    urgent: bool = False


def _drafts(occasion: Occasion, recipients: Iterable[Recipient]) -> list[Notification]:
    rows = []
    for recipient in recipients:
        common = {
            "kind": occasion.kind,
            "patient_id": occasion.patient_id,
            "subject_key": occasion.subject_key,
            "key_date": occasion.key_date,
            "occurrence": occasion.occurrence,
            "urgent": occasion.urgent or occasion.kind in KIND_IS_URGENT,
            "subject": occasion.subject,
            "body": occasion.body,
        }
        if recipient.user_id is not None:
            rows.append(
                Notification(
                    channel=Channel.IN_APP,
                    recipient_id=recipient.user_id,
                    recipient_key=f"user:{recipient.user_id}",
                    status=Status.SENT,
                    **common,
                )
            )
        if recipient.email:
            rows.append(
                Notification(
                    channel=Channel.EMAIL,
                    recipient_id=recipient.user_id,
                    recipient_key=f"email:{recipient.email.lower()}",
                    address=recipient.email,
                    **common,
                )
            )
    return rows


def notifications_create(*, occasions: Iterable[tuple[Occasion, Iterable[Recipient]]]) -> int:
    """Store the reminders; an occasion already stored for a recipient is skipped by the unique
    constraint (safe to run twice, or on two workers at once). Returns the rows offered."""
    rows = [row for occasion, recipients in occasions for row in _drafts(occasion, recipients)]
    if not rows:
        return 0
    Notification.objects.bulk_create(rows, ignore_conflicts=True, batch_size=1000)
    if any(row.channel == Channel.EMAIL for row in rows):
        from notifications.tasks import deliver_pending

        enqueue_on_commit(deliver_pending)
    return len(rows)


# --- who is told ---------------------------------------------------------------------------


def recipients_for_prescribers(prescriber_ids: Iterable[int]) -> dict[int, list[Recipient]]:
    """The accountable prescriber's users (the prescriber and its designees), in one query;
    e-mail goes to the prescriber's registered address, in-app to each user."""
    from patients.models import Prescriber

    ids = set(prescriber_ids)
    found: dict[int, list[Recipient]] = defaultdict(list)
    users = User.objects.filter(
        prescriber_id__in=ids, role__in=[Role.PRESCRIBER, Role.DESIGNEE], is_active=True
    ).values_list("prescriber_id", "pk")
    for prescriber_id, user_id in users:
        found[prescriber_id].append(Recipient(user_id, ""))
    for prescriber_id, email in Prescriber.objects.filter(pk__in=ids).values_list("pk", "email"):
        if email:
            found[prescriber_id].append(Recipient(None, email))
    return found


def recipients_admins() -> list[Recipient]:
    admins = User.objects.filter(Q(is_superuser=True) | Q(role=Role.ADMIN), is_active=True)
    return [Recipient(pk, email) for pk, email in admins.values_list("pk", "email")]


def recipients_for_pharmacy(pharmacy_id: int) -> list[Recipient]:
    pharmacists = User.objects.filter(pharmacy_id=pharmacy_id, role=Role.PHARMACIST, is_active=True)
    return [Recipient(pk, email) for pk, email in pharmacists.values_list("pk", "email")]


# --- delivery -------------------------------------------------------------------------------


class DeliveryFailed(Exception):
    pass


def backoff(attempts: int) -> timedelta:
    """The wait after the `attempts`-th failure: base, 2 x base, 4 x base... at most an hour."""
    base = settings.CLOZREMS_NOTIFICATION_BACKOFF_SECONDS
    return timedelta(seconds=min(3600, base * 2 ** max(0, attempts - 1)))


def _claimable(now: datetime) -> Q:
    lease = now - timedelta(seconds=settings.CLOZREMS_NOTIFICATION_LEASE_SECONDS)
    due = Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    # A claim older than the lease belongs to a worker that died mid-send: take it over.
    return (Q(status=Status.PENDING) & due) | Q(status=Status.SENDING, claimed_at__lt=lease)


@dataclass(frozen=True)
class Delivery:
    status: str
    sent_now: bool  # this call won the claim and sent it


def notification_deliver(*, notification_id: int, now: datetime | None = None) -> str:
    """Send one e-mail notification if this caller wins the claim; returns its status after.

    The claim is a conditional UPDATE, so two workers never send the same row; a failure is
    recorded (attempts, last error, next attempt with backoff) and raises DeliveryFailed.
    """
    return _deliver(notification_id, now or timezone.now()).status


def notifications_deliver_due(*, now: datetime, limit: int = 500) -> int:
    """Send every claimable e-mail reminder; returns how many this caller sent itself."""
    sent = 0
    for notification_id in notifications_deliverable(now=now, limit=limit):
        try:
            sent += _deliver(notification_id, now).sent_now
        except DeliveryFailed:
            continue  # recorded on the row; retried after its backoff
    return sent


def _deliver(notification_id: int, now: datetime) -> Delivery:
    claimed = Notification.objects.filter(
        _claimable(now), pk=notification_id, channel=Channel.EMAIL
    ).update(status=Status.SENDING, claimed_at=now)
    notification = Notification.objects.get(pk=notification_id)
    if not claimed:
        return Delivery(notification.status, sent_now=False)
    attempts = notification.attempts + 1
    try:
        send_mail(
            notification.subject,
            notification.body,
            settings.DEFAULT_FROM_EMAIL,
            [notification.address],
            fail_silently=False,
        )
    except Exception as error:  # any backend failure is recorded and retried
        exhausted = attempts >= settings.CLOZREMS_NOTIFICATION_MAX_ATTEMPTS
        Notification.objects.filter(pk=notification_id).update(
            status=Status.FAILED if exhausted else Status.PENDING,
            attempts=attempts,
            last_error=f"{error.__class__.__name__}: {error}"[:2000],
            next_attempt_at=None if exhausted else now + backoff(attempts),
            claimed_at=None,
        )
        raise DeliveryFailed(str(error)) from error
    Notification.objects.filter(pk=notification_id).update(
        status=Status.SENT, attempts=attempts, sent_at=now, claimed_at=None, last_error=""
    )
    return Delivery(Status.SENT, sent_now=True)


def notifications_deliverable(*, now: datetime, limit: int = 500) -> list[int]:
    return list(
        Notification.objects.filter(_claimable(now), channel=Channel.EMAIL)
        .order_by("-urgent", "id")
        .values_list("pk", flat=True)[:limit]
    )


def notification_mark_read(*, notification: Notification, user: User) -> Notification:
    if notification.read_at is None:
        notification.read_at = timezone.now()
        notification.save(update_fields=["read_at"])
    return notification
