"""E-mail delivery (notifications.services.notification_deliver and the Celery tasks): sent
through Django's e-mail backend; a failed send is recorded on the row (attempts, last error)
and retried with a doubling backoff until CLOZREMS_NOTIFICATION_MAX_ATTEMPTS, then `failed`;
a send is claimed first, so it is never sent twice, and a claim older than the lease (a worker
killed mid-send) is taken over by the next run."""

import smtplib
from datetime import date, timedelta
from typing import Any

import pytest
from celery.exceptions import Retry
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.core.mail.backends.locmem import EmailBackend as LocmemBackend

from notifications.models import Channel, Kind, Notification, Status
from notifications.services import (
    DeliveryFailed,
    notification_deliver,
    notifications_deliverable,
)
from notifications.tasks import deliver, deliver_pending
from tests.conftest import NOW, TODAY
from tests.scheduler.helpers import run_scan_on

pytestmark = pytest.mark.django_db

THIS_MODULE = __name__


class FailingBackend(BaseEmailBackend):
    """A mail server that is down."""

    calls = 0

    def send_messages(self, email_messages):
        FailingBackend.calls += 1
        raise smtplib.SMTPException("451 mail server unavailable")


class FailOnceBackend(LocmemBackend):
    """Down for the first message, then fine (kept in mail.outbox)."""

    failed = False

    def send_messages(self, messages):
        if not FailOnceBackend.failed:
            FailOnceBackend.failed = True
            raise smtplib.SMTPServerDisconnected("connection lost")
        return super().send_messages(messages)


class WorkerKilled(BaseException):
    """What a SIGKILL looks like from inside the worker: nothing after it runs."""


class DiesOnSecondMessageBackend(LocmemBackend):
    calls = 0

    def send_messages(self, messages):
        DiesOnSecondMessageBackend.calls += 1
        if DiesOnSecondMessageBackend.calls == 2:
            raise WorkerKilled
        return super().send_messages(messages)


@pytest.fixture(autouse=True)
def _reset_backends():
    FailingBackend.calls = 0
    FailOnceBackend.failed = False
    DiesOnSecondMessageBackend.calls = 0


@pytest.fixture
def failing_mail(settings):
    settings.EMAIL_BACKEND = f"{THIS_MODULE}.FailingBackend"


def email_reminder(address="prescriber@example.org", **fields):
    values = {
        "kind": Kind.DRAW_DUE,
        "channel": Channel.EMAIL,
        "recipient_key": f"email:{address}",
        "address": address,
        "subject_key": "patient:1",
        "key_date": date(2026, 5, 21),
        "subject": "ANC draw due today for patient #1 (A.B.)",
        "body": "The next ANC draw for patient #1 (A.B.) is due today (2026-05-21).",
    }
    values.update(fields)
    return Notification.objects.create(**values)


def reloaded(notification):
    notification.refresh_from_db()
    return notification


# --- sending ---------------------------------------------------------------------------------


def test_a_scans_reminders_go_out_in_the_digest_through_djangos_backend_with_a_message_id(
    clock, alice, designee, alice_prescriber, django_capture_on_commit_callbacks
):
    from notifications.tasks import digests
    from tests import factories

    start = TODAY - timedelta(days=21)
    factories.enrolled_patient(
        actor=alice, start=start, draws=factories.weekly_draws(start, TODAY - timedelta(days=7))
    )

    with django_capture_on_commit_callbacks(execute=True):
        run_scan_on(clock, "draws", TODAY)
    assert mail.outbox == [], "a draw due today is not urgent: it waits for the digest"

    clock.move_to(factories.at(TODAY, 7, 30))
    with django_capture_on_commit_callbacks(execute=True):
        digests.delay()

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [alice_prescriber.email]
    digest = Notification.objects.get(channel=Channel.EMAIL, kind=Kind.DIGEST)
    assert (message.subject, message.body) == (digest.subject, digest.body)
    assert message.extra_headers["Message-ID"] == digest.message_id
    assert (digest.status, digest.attempts, digest.last_error) == (Status.SENT, 1, "")
    item = Notification.objects.get(channel=Channel.EMAIL, kind=Kind.DRAW_DUE)
    assert (item.status, item.digest_id) == (Status.DIGESTED, digest.pk)
    assert item.subject in digest.body
    # In-app reminders are never e-mailed: each user has its own in-app digest.
    assert Notification.objects.filter(channel=Channel.IN_APP, kind=Kind.DIGEST).count() == 2


def test_a_notification_keeps_channel_recipient_subject_body_status_attempts_and_error(
    clock, failing_mail
):
    reminder = email_reminder()

    with pytest.raises(DeliveryFailed):
        notification_deliver(notification_id=reminder.pk)

    row = Notification.objects.values(
        "channel", "address", "subject", "body", "status", "attempts", "last_error"
    ).get(pk=reminder.pk)
    assert row == {
        "channel": "email",
        "address": "prescriber@example.org",
        "subject": reminder.subject,
        "body": reminder.body,
        "status": "pending",
        "attempts": 1,
        "last_error": "SMTPException: 451 mail server unavailable",
    }


def test_deliver_pending_sends_each_pending_email_once(clock):
    reminders = [email_reminder(f"p{i}@example.org") for i in range(3)]

    assert deliver_pending.delay().get() == 3
    assert deliver_pending.delay().get() == 0

    assert sorted(m.to[0] for m in mail.outbox) == [f"p{i}@example.org" for i in range(3)]
    assert {reloaded(r).status for r in reminders} == {Status.SENT}


def test_deliver_pending_counts_only_what_it_sent_itself(clock, monkeypatch):
    """Between listing the claimable rows and claiming one, another worker may send it: the
    claim fails, nothing is sent, and the run's count (the worker's log line) leaves it out.
    (The PostgreSQL race in test_idempotency.py shows the same thing with real threads.)"""
    mine = email_reminder("mine@example.org")
    theirs = email_reminder("theirs@example.org", status=Status.SENT, attempts=1, sent_at=NOW)
    monkeypatch.setattr(
        "notifications.services.notifications_deliverable", lambda **_: [mine.pk, theirs.pk]
    )

    sent = deliver_pending.delay().get()

    assert [m.to for m in mail.outbox] == [["mine@example.org"]]
    assert reloaded(theirs).attempts == 1
    assert sent == 1


def test_an_in_app_notification_is_never_sent_by_email(clock, alice):
    in_app = email_reminder(
        channel=Channel.IN_APP, recipient=alice, recipient_key=f"user:{alice.pk}", address=""
    )

    assert notifications_deliverable(now=NOW) == []
    notification_deliver(notification_id=in_app.pk)

    assert mail.outbox == []


# --- failures, backoff, giving up ------------------------------------------------------------


def test_a_failed_send_stays_pending_with_the_error_and_a_next_attempt_30_seconds_later(
    clock, failing_mail
):
    reminder = email_reminder()

    assert deliver_pending.delay().get() == 0

    reminder = reloaded(reminder)
    assert reminder.status == Status.PENDING
    assert reminder.attempts == 1
    assert "451 mail server unavailable" in reminder.last_error
    assert reminder.next_attempt_at == NOW + timedelta(seconds=30)
    assert reminder.claimed_at is None
    assert mail.outbox == []


def test_a_failed_send_is_not_claimable_before_its_next_attempt(clock, failing_mail):
    reminder = email_reminder()
    deliver_pending.delay()
    due = reloaded(reminder).next_attempt_at

    clock.move_to(due - timedelta(seconds=1))
    assert notifications_deliverable(now=due - timedelta(seconds=1)) == []
    assert notification_deliver(notification_id=reminder.pk) == Status.PENDING
    assert deliver_pending.delay().get() == 0
    assert FailingBackend.calls == 1
    assert reloaded(reminder).attempts == 1

    clock.move_to(due)
    assert notifications_deliverable(now=due) == [reminder.pk]


def test_the_backoff_doubles_after_each_failure_until_max_attempts_then_failed(
    clock, failing_mail, settings
):
    assert settings.CLOZREMS_NOTIFICATION_MAX_ATTEMPTS == 6
    reminder = email_reminder()
    waits = []
    tried_at = NOW

    for attempt in range(1, 7):
        with pytest.raises(DeliveryFailed):
            notification_deliver(notification_id=reminder.pk)
        reminder = reloaded(reminder)
        assert reminder.attempts == attempt
        if reminder.next_attempt_at is None:
            break
        assert reminder.status == Status.PENDING
        waits.append((reminder.next_attempt_at - tried_at).total_seconds())
        tried_at = reminder.next_attempt_at
        clock.move_to(tried_at)

    assert waits == [30, 60, 120, 240, 480]
    assert reminder.status == Status.FAILED
    assert reminder.attempts == 6
    assert "451" in reminder.last_error, "the last error stays visible"
    clock.shift(timedelta(days=1))
    assert notifications_deliverable(now=tried_at + timedelta(days=1)) == []
    assert notification_deliver(notification_id=reminder.pk) == Status.FAILED
    assert FailingBackend.calls == 6


def test_the_backoff_base_follows_the_setting(clock, failing_mail, settings):
    settings.CLOZREMS_NOTIFICATION_BACKOFF_SECONDS = 5
    reminder = email_reminder()

    with pytest.raises(DeliveryFailed):
        notification_deliver(notification_id=reminder.pk)
    assert reloaded(reminder).next_attempt_at == NOW + timedelta(seconds=5)

    clock.move_to(NOW + timedelta(seconds=5))
    with pytest.raises(DeliveryFailed):
        notification_deliver(notification_id=reminder.pk)
    assert reloaded(reminder).next_attempt_at == NOW + timedelta(seconds=15)


def test_the_backoff_is_capped_at_an_hour(clock, failing_mail, settings):
    settings.CLOZREMS_NOTIFICATION_MAX_ATTEMPTS = 20
    reminder = email_reminder(attempts=10)

    with pytest.raises(DeliveryFailed):
        notification_deliver(notification_id=reminder.pk)

    assert reloaded(reminder).next_attempt_at == NOW + timedelta(hours=1)


def test_a_send_that_fails_once_succeeds_on_the_next_attempt_and_clears_the_error(clock, settings):
    settings.EMAIL_BACKEND = f"{THIS_MODULE}.FailOnceBackend"
    reminder = email_reminder()

    deliver_pending.delay()
    clock.move_to(reloaded(reminder).next_attempt_at)
    assert deliver_pending.delay().get() == 1

    reminder = reloaded(reminder)
    assert (reminder.status, reminder.attempts, reminder.last_error) == (Status.SENT, 2, "")
    assert reminder.sent_at == NOW + timedelta(seconds=30)
    assert len(mail.outbox) == 1


# --- claims, leases, a worker killed mid-batch -----------------------------------------------


def test_a_row_claimed_just_now_by_another_worker_is_not_sent_twice(clock):
    reminder = email_reminder(status=Status.SENDING, claimed_at=NOW - timedelta(seconds=10))

    assert notification_deliver(notification_id=reminder.pk) == Status.SENDING
    assert deliver_pending.delay().get() == 0

    assert mail.outbox == []
    assert reloaded(reminder).status == Status.SENDING


def test_a_sending_row_whose_lease_ran_out_is_taken_over_and_sent(clock, settings):
    lease = timedelta(seconds=settings.CLOZREMS_NOTIFICATION_LEASE_SECONDS)
    stale = email_reminder(status=Status.SENDING, claimed_at=NOW - lease - timedelta(seconds=1))

    assert deliver_pending.delay().get() == 1

    stale = reloaded(stale)
    assert (stale.status, stale.attempts, stale.claimed_at) == (Status.SENT, 1, None)
    assert [m.to for m in mail.outbox] == [["prescriber@example.org"]]


def test_a_worker_killed_mid_batch_loses_nothing_the_next_runs_finish_the_job(clock, settings):
    settings.EMAIL_BACKEND = f"{THIS_MODULE}.DiesOnSecondMessageBackend"
    addresses = [f"p{i}@example.org" for i in range(4)]
    for address in addresses:
        email_reminder(address)

    with pytest.raises(WorkerKilled):
        deliver_pending.apply()

    statuses = dict(Notification.objects.values_list("address", "status"))
    assert statuses == {
        "p0@example.org": Status.SENT,
        "p1@example.org": Status.SENDING,  # claimed, then the worker died
        "p2@example.org": Status.PENDING,
        "p3@example.org": Status.PENDING,
    }

    # The next run (beat, every minute) sends the rest but leaves the fresh claim alone ...
    clock.shift(timedelta(minutes=1))
    assert deliver_pending.delay().get() == 2
    assert Notification.objects.get(address="p1@example.org").status == Status.SENDING

    # ... and once the lease has run out, the dead worker's message is sent too.
    clock.shift(timedelta(seconds=settings.CLOZREMS_NOTIFICATION_LEASE_SECONDS))
    assert deliver_pending.delay().get() == 1

    assert set(Notification.objects.values_list("status", flat=True)) == {Status.SENT}
    assert sorted(m.to[0] for m in mail.outbox) == addresses


# --- the `deliver` task ----------------------------------------------------------------------


def test_the_deliver_task_sends_and_returns_sent(clock):
    reminder = email_reminder()

    assert deliver.delay(reminder.pk).get() == Status.SENT
    assert len(mail.outbox) == 1


def test_the_deliver_task_retries_a_failed_send_with_the_backoff(clock, failing_mail):
    reminder = email_reminder()

    with pytest.raises(Retry) as first:
        deliver.delay(reminder.pk)
    assert first.value.when == 30
    assert isinstance(first.value.exc, DeliveryFailed)
    assert reloaded(reminder).attempts == 1

    clock.move_to(reloaded(reminder).next_attempt_at)
    with pytest.raises(Retry) as second:
        deliver.apply(args=(reminder.pk,), retries=1)
    assert second.value.when == 60
    assert reloaded(reminder).attempts == 2


def test_the_deliver_task_woken_before_the_backoff_waits_for_it_without_sending(
    clock, failing_mail
):
    reminder = email_reminder()
    with pytest.raises(Retry):
        deliver.delay(reminder.pk)

    clock.shift(timedelta(seconds=10))
    with pytest.raises(Retry) as early:
        deliver.apply(args=(reminder.pk,), retries=1)

    assert early.value.when == 20
    assert FailingBackend.calls == 1
    assert reloaded(reminder).attempts == 1


def test_the_deliver_task_gives_up_after_its_last_retry_and_the_row_is_failed(clock, failing_mail):
    reminder = email_reminder(attempts=5)

    with pytest.raises(DeliveryFailed):
        deliver.apply(args=(reminder.pk,), retries=deliver.max_retries)

    reminder = reloaded(reminder)
    assert (reminder.status, reminder.attempts) == (Status.FAILED, 6)
    assert reminder.next_attempt_at is None


# --- a batch longer than the lease; a worker killed after the server took the message ------


class SlowBackend(LocmemBackend):
    """A mail server that takes 70 s a message (the clock moves on while it sends); on the
    third message, a second worker looks for claimable rows, as beat's next run would."""

    clock: Any = None
    seen_by_second_worker: list[int] | None = None

    def send_messages(self, messages):
        from django.utils import timezone

        SlowBackend.clock.shift(timedelta(seconds=70))
        if len(mail.outbox) == 2:
            SlowBackend.seen_by_second_worker = notifications_deliverable(now=timezone.now())
        return super().send_messages(messages)


def test_a_batch_longer_than_the_lease_leaves_no_claim_for_another_worker_to_take(clock, settings):
    """Each claim is stamped when it is made: the row being sent is 0 s old, whatever the batch
    has cost so far (a batch stamped at its start made it look 140 s old: abandoned)."""
    settings.CLOZREMS_NOTIFICATION_LEASE_SECONDS = 100
    settings.EMAIL_BACKEND = f"{THIS_MODULE}.SlowBackend"
    SlowBackend.clock = clock
    rows = [email_reminder(f"p{i}@example.org") for i in range(4)]

    assert deliver_pending.delay().get() == 4

    being_sent = rows[2].pk
    assert SlowBackend.seen_by_second_worker is not None
    assert being_sent not in SlowBackend.seen_by_second_worker
    assert sorted(m.to[0] for m in mail.outbox) == [f"p{i}@example.org" for i in range(4)]


class AcceptsThenWorkerDies(LocmemBackend):
    """The mail server accepts the message; the worker is killed before it hears so."""

    def send_messages(self, messages):
        super().send_messages(messages)
        if len(mail.outbox) == 1:
            raise WorkerKilled


def test_a_worker_killed_after_the_server_accepted_counts_the_attempt_and_resends_the_same_id(
    clock, settings
):
    """At least once: the resend after the lease carries the same Message-ID (a client or
    provider de-duplicating by it shows one message), and `attempts` counts both."""
    settings.EMAIL_BACKEND = f"{THIS_MODULE}.AcceptsThenWorkerDies"
    reminder = email_reminder()

    with pytest.raises(WorkerKilled):
        deliver_pending.apply()
    killed = reloaded(reminder)
    assert (killed.status, killed.attempts) == (Status.SENDING, 1), "counted before sending"

    clock.shift(timedelta(seconds=settings.CLOZREMS_NOTIFICATION_LEASE_SECONDS + 1))
    assert deliver_pending.delay().get() == 1

    sent = reloaded(reminder)
    assert (sent.status, sent.attempts) == (Status.SENT, 2)
    assert [m.extra_headers["Message-ID"] for m in mail.outbox] == [sent.message_id] * 2
    assert sent.message_id.startswith(f"<notification.{sent.pk}.")
