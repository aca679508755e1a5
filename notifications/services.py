"""Creating reminders (exactly once per occasion), delivering them (claimed one at a time,
retried, at least once with a stable Message-ID), and each recipient's own settings. The
daily digest is notifications/digests.py."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage
from django.db.models import F, Q
from django.utils import timezone

from clozrems.errors import FieldInvalid
from notifications.messages import DIGESTIBLE, KIND_IS_URGENT, ON_THEIR_OWN
from notifications.models import Channel, Notification, NotificationPreference, Status
from notifications.outbox import enqueue_on_commit
from patients.models import Role, User


@dataclass(frozen=True)
class Recipient:
    """Who is told: `user_id` in the app (unless `in_app` is False) and `email` by e-mail. The
    user also owns the settings for that address (a prescriber's user for the prescriber's
    registered address)."""

    user_id: int | None
    email: str
    in_app: bool = True


@dataclass(frozen=True)
class Occasion:
    """One thing to tell some people about, on one date. `kind` is a `Kind`; `urgent` marks one
    urgent whatever its kind.
    `email_body`, when given, replaces `body` in the e-mail: e-mail leaves the system and
    carries no free text typed into a record (the in-app body may quote it)."""

    kind: str
    subject_key: str
    key_date: date
    subject: str
    body: str
    patient_id: int | None = None
    occurrence: int = 0
    urgent: bool = False
    email_body: str | None = None


@dataclass(frozen=True)
class Preferences:
    """A user's settings, or the deployment's defaults for a user who has set none."""

    digest_at: time
    email_digest: bool
    immediate_kinds: frozenset[str]
    digest_limit: int

    @classmethod
    def default(cls) -> Preferences:
        return cls(
            digest_at=time.fromisoformat(settings.CLOZREMS_DIGEST_AT),
            email_digest=True,
            immediate_kinds=frozenset(),
            digest_limit=settings.CLOZREMS_DIGEST_LIMIT,
        )

    @classmethod
    def of(cls, row: NotificationPreference | None) -> Preferences:
        if row is None:
            return cls.default()
        return cls(
            row.digest_at, row.email_digest, frozenset(row.immediate_kinds), row.digest_limit
        )

    def on_its_own(self, kind: str, urgent: bool) -> bool:
        return urgent or kind in ON_THEIR_OWN or kind in self.immediate_kinds


def preferences_for(user_ids: Iterable[int | None]) -> dict[int, Preferences]:
    """The settings of these users, in one query (defaults for those who set none)."""
    ids = {pk for pk in user_ids if pk is not None}
    rows = {p.user_id: p for p in NotificationPreference.objects.filter(user_id__in=ids)}
    return {pk: Preferences.of(rows.get(pk)) for pk in ids}


def _drafts(
    occasion: Occasion, recipients: Iterable[Recipient], preferences: Mapping[int, Preferences]
) -> list[Notification]:
    rows = []
    urgent = occasion.urgent or occasion.kind in KIND_IS_URGENT
    for recipient in recipients:
        chosen = preferences.get(recipient.user_id or 0, Preferences.default())
        now = chosen.on_its_own(occasion.kind, urgent)
        common = {
            "kind": occasion.kind,
            "patient_id": occasion.patient_id,
            "subject_key": occasion.subject_key,
            "key_date": occasion.key_date,
            "occurrence": occasion.occurrence,
            "urgent": urgent,
            "subject": occasion.subject,
        }
        if recipient.user_id is not None and recipient.in_app:
            rows.append(
                Notification(
                    channel=Channel.IN_APP,
                    recipient_id=recipient.user_id,
                    recipient_key=f"user:{recipient.user_id}",
                    status=Status.SENT if now else Status.HELD,
                    body=occasion.body,
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
                    status=Status.PENDING if now else Status.HELD,
                    body=occasion.body if occasion.email_body is None else occasion.email_body,
                    **common,
                )
            )
    return rows


def notifications_create(*, occasions: Iterable[tuple[Occasion, Iterable[Recipient]]]) -> int:
    """Store the reminders; an occasion already stored for a recipient is skipped by the unique
    constraint (safe to run twice, or on two workers at once). Urgent ones are sent at once;
    the others wait for the recipient's digest (status `held`). Returns the rows offered."""
    pairs = [(occasion, list(recipients)) for occasion, recipients in occasions]
    preferences = preferences_for(r.user_id for _, people in pairs for r in people)
    rows = [row for occasion, people in pairs for row in _drafts(occasion, people, preferences)]
    if not rows:
        return 0
    Notification.objects.bulk_create(rows, ignore_conflicts=True, batch_size=1000)
    if any(row.channel == Channel.EMAIL and row.status == Status.PENDING for row in rows):
        from notifications.tasks import deliver_pending

        # No outbox row for this one: beat's every-minute delivery is its catch-up.
        enqueue_on_commit(deliver_pending, outbox=False)
    return len(rows)


# --- a recipient's own settings ------------------------------------------------------------

DIGEST_LIMIT_RANGE = (5, 200)


def notification_preferences_get(*, user: User) -> Preferences:
    return Preferences.of(NotificationPreference.objects.filter(user=user).first())


def notification_preferences_save(*, user: User, data: Mapping[str, Any]) -> Preferences:
    """Change the caller's own settings (only the fields given). Urgent kinds cannot be held
    back: `immediate_kinds` lists only kinds that would otherwise wait for the digest."""
    current = notification_preferences_get(user=user)
    values: dict[str, Any] = {
        "digest_at": current.digest_at,
        "email_digest": current.email_digest,
        "immediate_kinds": sorted(current.immediate_kinds),
        "digest_limit": current.digest_limit,
    }
    if "digest_at" in data:
        value = data["digest_at"]
        if not isinstance(value, time):
            raise FieldInvalid("digest_at", "Give a local time of day as HH:MM.")
        values["digest_at"] = value.replace(second=0, microsecond=0)
    if "email_digest" in data:
        values["email_digest"] = bool(data["email_digest"])
    if "immediate_kinds" in data:
        kinds = list(data["immediate_kinds"])
        unknown = [k for k in kinds if k not in DIGESTIBLE]
        if unknown:
            allowed = ", ".join(sorted(DIGESTIBLE))
            raise FieldInvalid(
                "immediate_kinds",
                f"{', '.join(map(str, unknown))}: not a kind that waits for the digest "
                f"(urgent kinds are always sent on their own). Kinds: {allowed}.",
            )
        values["immediate_kinds"] = sorted(set(kinds))
    if "digest_limit" in data:
        low, high = DIGEST_LIMIT_RANGE
        limit = data["digest_limit"]
        if not isinstance(limit, int) or not low <= limit <= high:
            raise FieldInvalid("digest_limit", f"A whole number from {low} to {high}.")
        values["digest_limit"] = limit
    NotificationPreference.objects.update_or_create(user=user, defaults=values)
    return notification_preferences_get(user=user)


# --- who is told ---------------------------------------------------------------------------


def recipients_for_prescribers(prescriber_ids: Iterable[int]) -> dict[int, list[Recipient]]:
    """The accountable prescriber's users (the prescriber and its designees), in two queries;
    e-mail goes to the prescriber's registered address (its settings are those of the
    prescriber's own user, the first one by id), in-app to each user."""
    from patients.models import Prescriber

    ids = set(prescriber_ids)
    found: dict[int, list[Recipient]] = defaultdict(list)
    owners: dict[int, int] = {}
    users = (
        User.objects.filter(
            prescriber_id__in=ids, role__in=[Role.PRESCRIBER, Role.DESIGNEE], is_active=True
        )
        .order_by("pk")
        .values_list("prescriber_id", "pk", "role")
    )
    for prescriber_id, user_id, role in users:
        found[prescriber_id].append(Recipient(user_id, ""))
        if role == Role.PRESCRIBER:
            owners.setdefault(prescriber_id, user_id)
    for prescriber_id, email in Prescriber.objects.filter(pk__in=ids).values_list("pk", "email"):
        if email:
            found[prescriber_id].append(Recipient(owners.get(prescriber_id), email, in_app=False))
    return found


def recipients_admins() -> list[Recipient]:
    admins = User.objects.filter(Q(is_superuser=True) | Q(role=Role.ADMIN), is_active=True)
    return [Recipient(pk, email) for pk, email in admins.values_list("pk", "email")]


def recipients_for_pharmacy(pharmacy_id: int) -> list[Recipient]:
    pharmacists = User.objects.filter(pharmacy_id=pharmacy_id, role=Role.PHARMACIST, is_active=True)
    return [Recipient(pk, email) for pk, email in pharmacists.values_list("pk", "email")]


# --- delivery -------------------------------------------------------------------------------
#
# At least once, de-duplicated by Message-ID: each e-mail is claimed on its own (a conditional
# UPDATE stamped with the moment of that claim, and counting the attempt) just before it is
# sent, so a lease covers one message, never a batch. A worker killed after the mail server
# accepted a message but before the row was marked sent leaves a claim that another worker
# takes over once the lease has run out: the message is sent again, with the same Message-ID
# (a mail client or provider that de-duplicates shows it once), and `attempts` says so.


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

    The claim is a conditional UPDATE, so two workers never send the same row while its lease
    runs; a failure is recorded (attempts, last error, next attempt with backoff) and raises
    DeliveryFailed.
    """
    return _deliver(notification_id, now).status


def notifications_deliver_due(*, now: datetime, limit: int = 500) -> int:
    """Send every claimable e-mail reminder; returns how many this caller sent itself. Each is
    claimed at the moment it is sent (not when the batch started), so however slow the mail
    server, no claim in the batch looks abandoned to another worker."""
    sent = 0
    for notification_id in notifications_deliverable(now=now, limit=limit):
        try:
            sent += _deliver(notification_id, None).sent_now
        except DeliveryFailed:
            continue  # recorded on the row; retried after its backoff
    return sent


def email_message(notification: Notification) -> EmailMessage:
    return EmailMessage(
        notification.subject,
        notification.body,
        settings.DEFAULT_FROM_EMAIL,
        [notification.address],
        headers={"Message-ID": notification.message_id},
    )


def _deliver(notification_id: int, now: datetime | None) -> Delivery:
    claimed_at = now or timezone.now()
    # The attempt is counted with the claim, before anything is sent: a worker that dies
    # after the mail server took the message still leaves it counted.
    claimed = Notification.objects.filter(
        _claimable(claimed_at), pk=notification_id, channel=Channel.EMAIL
    ).update(status=Status.SENDING, claimed_at=claimed_at, attempts=F("attempts") + 1)
    notification = Notification.objects.get(pk=notification_id)
    if not claimed:
        return Delivery(notification.status, sent_now=False)
    attempts = notification.attempts
    try:
        email_message(notification).send(fail_silently=False)
    except Exception as error:  # any backend failure is recorded and retried
        exhausted = attempts >= settings.CLOZREMS_NOTIFICATION_MAX_ATTEMPTS
        Notification.objects.filter(pk=notification_id, claimed_at=claimed_at).update(
            status=Status.FAILED if exhausted else Status.PENDING,
            last_error=f"{error.__class__.__name__}: {error}"[:2000],
            next_attempt_at=None if exhausted else claimed_at + backoff(attempts),
            claimed_at=None,
        )
        raise DeliveryFailed(str(error)) from error
    Notification.objects.filter(pk=notification_id).update(
        status=Status.SENT,
        sent_at=timezone.now() if now is None else now,
        claimed_at=None,
        last_error="",
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
