"""The daily digest: one message per recipient and day carrying the reminders that are not
urgent (those wait with status `held`; urgent ones were sent on their own when stored).

`digests_build` runs every few minutes (beat). For each recipient with held reminders whose
digest time has passed today (their own setting, else CLOZREMS_DIGEST_AT):

- no digest yet today: one digest row per channel is stored (the unique key makes it one a
  day however often this runs, or on however many workers) listing the held reminders by
  section, most important first, up to the recipient's ceiling and then "N more"; monitoring-
  plan checks overdue longer than the backlog window are one summary line. The reminders it
  carries become `digested` and point at it.
- the digest already went today: reminders owed today (an ANC draw due or overdue, stored by
  a scan that ran late) are released to go on their own; the rest wait for tomorrow's digest.

A run that beat's message never reached is simply done by the next one: nothing is lost, and
a late digest is still one digest.
"""

from __future__ import annotations

from datetime import date, datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from clozrems.zones import clinic_zone
from notifications import messages
from notifications.models import Channel, Kind, Notification, Status
from notifications.outbox import enqueue_on_commit
from notifications.services import Preferences, preferences_for

DIGEST_KEY = "digest"


def digests_build(*, now: datetime | None = None, whatever_the_time: bool = False) -> int:
    """Build the digests that are due (`whatever_the_time`: every recipient's, now, as
    `manage.py scan_now digests` does for the demo); returns how many digest rows it stored."""
    now = now or timezone.now()
    waiting = (
        Notification.objects.filter(status=Status.HELD)
        .values_list("recipient_key", "channel", "recipient_id")
        .distinct()
    )
    recipients = sorted(set(waiting), key=lambda r: (r[0], r[1]))
    preferences = preferences_for(owner for _, _, owner in recipients)
    stored = 0
    for recipient_key, channel, owner in recipients:
        chosen = preferences.get(owner or 0, Preferences.default())
        stored += _digest_one(recipient_key, channel, owner, chosen, now, whatever_the_time)
    return stored


def _digest_one(
    recipient_key: str,
    channel: str,
    owner: int | None,
    chosen: Preferences,
    now: datetime,
    whatever_the_time: bool,
) -> int:
    zone = clinic_zone()
    local = now.astimezone(zone)
    today = local.date()
    if local.time() < chosen.digest_at and not whatever_the_time:
        return 0
    with transaction.atomic():
        held = list(
            Notification.objects.select_for_update()
            .filter(status=Status.HELD, recipient_key=recipient_key, channel=channel)
            .order_by("id")
        )
        if not held:
            return 0  # another worker took them a moment ago
        already = Notification.objects.filter(
            recipient_key=recipient_key,
            channel=channel,
            kind=Kind.DIGEST,
            subject_key=DIGEST_KEY,
            key_date=today,
        ).exists()
        if already:
            _release_owed_today(held, today)
            return 0
        if channel == Channel.EMAIL and not chosen.email_digest:
            # The recipient reads the digest in the app only.
            Notification.objects.filter(pk__in=[n.pk for n in held]).update(status=Status.DIGESTED)
            return 0
        backlog_days = settings.CLOZREMS_PLAN_BACKLOG_DAYS
        items = [(n.kind, n.subject) for n in held if n.kind != Kind.PLAN_ITEM_BACKLOG]
        backlog = [
            (n.patient_id, messages.plan_backlog_check(n.subject))
            for n in held
            if n.kind == Kind.PLAN_ITEM_BACKLOG
        ]
        subject, body = messages.digest(
            today, items, backlog, limit=chosen.digest_limit, backlog_days=backlog_days
        )
        first = held[0]
        digest = Notification.objects.create(
            kind=Kind.DIGEST,
            channel=channel,
            recipient_id=owner if channel == Channel.EMAIL else first.recipient_id,
            recipient_key=recipient_key,
            address=first.address,
            subject_key=DIGEST_KEY,
            key_date=today,
            subject=subject,
            body=body,
            status=Status.SENT if channel == Channel.IN_APP else Status.PENDING,
        )
        Notification.objects.filter(pk__in=[n.pk for n in held]).update(
            status=Status.DIGESTED, digest=digest
        )
        if channel == Channel.EMAIL:
            from notifications.tasks import deliver_pending

            enqueue_on_commit(deliver_pending, outbox=False)
    return 1


def _release_owed_today(held: list[Notification], today: date) -> None:
    zone = clinic_zone()
    owed = [
        n
        for n in held
        if n.kind in messages.SAME_DAY and n.created_at.astimezone(zone).date() == today
    ]
    in_app = [n.pk for n in owed if n.channel == Channel.IN_APP]
    email = [n.pk for n in owed if n.channel == Channel.EMAIL]
    Notification.objects.filter(pk__in=in_app).update(status=Status.SENT)
    if email:
        Notification.objects.filter(pk__in=email).update(status=Status.PENDING)
        from notifications.tasks import deliver_pending

        enqueue_on_commit(deliver_pending, outbox=False)
