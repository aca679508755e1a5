"""Alarm fatigue: urgent reminders (the 24-hour repeat, the consult, a level alert, a lapse...)
go on their own at once; the others wait for one daily digest per recipient, listed by section
with the ANC draws first, up to a ceiling and then "N more"; monitoring-plan checks overdue
longer than the backlog window are summarised once; each recipient has its own settings
(GET/PUT/PATCH /api/v1/notifications/preferences/).

E-mail goes through Django's SMTP backend to a real SMTP server on a loopback port
(tests/scheduler/smtp.py), which records every message it accepts."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest

from clinical.tasks import plan_scan
from monitoring.acts import treatment_event_record
from notifications.models import Channel, Kind, Notification, Status
from notifications.tasks import deliver_pending, digests
from tests import factories
from tests.conftest import TODAY
from tests.scheduler.helpers import run_scan_on, user_key
from tests.scheduler.practice import import_practice
from tests.scheduler.smtp import SmtpServer

URL = "/api/v1/notifications/preferences/"


@pytest.fixture
def smtp(settings):
    with SmtpServer() as server:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST = "127.0.0.1"
        settings.EMAIL_PORT = server.port
        settings.EMAIL_USE_TLS = False
        yield server


def morning(clock, capture, day=TODAY, *, digest_at=(7, 30)):
    """Beat's morning: lapses 06:30, expiries 06:45, draws 07:00, plan 07:15, the digests at
    `digest_at`, consults 08:00, confirmations every 5 minutes until 10:00, delivery."""
    with capture(execute=True):
        run_scan_on(clock, "lapses", day, 6, 30)
        run_scan_on(clock, "expiries", day, 6, 45)
        run_scan_on(clock, "draws", day, 7, 0)
        clock.move_to(factories.at(day, 7, 15))
        plan_scan.delay()
        clock.move_to(factories.at(day, *digest_at))
        digests.delay()
        run_scan_on(clock, "consults", day, 8, 0)
        for minute in range(0, 120, 5):
            run_scan_on(clock, "confirmations", day, 8 + minute // 60, minute % 60)
        digests.delay()
        deliver_pending.delay()


def delivered_in_app(user, since=TODAY):
    """What the user was shown in the app from `since` on (yesterday's own writes excluded)."""
    return Notification.objects.filter(
        recipient=user,
        channel=Channel.IN_APP,
        status=Status.SENT,
        created_at__gte=factories.at(since, 0),
    )


# --- the 60-patient morning ------------------------------------------------------------------

# Measured with this same practice and morning on the code before digests (commit 9dacd7d):
# 430 in-app reminders for the prescriber (860 with the designee's) and 430 e-mails, 401 of
# them "plan item overdue" against 12 about ANC draws.
BEFORE = {"in_app_per_user": 430, "emails": 430}


@pytest.fixture
def imported_practice(clock, alice, designee, alice_prescriber, django_capture_on_commit_callbacks):
    """Imported yesterday evening; yesterday's own writes told what they told then."""
    clock.move_to(factories.at(TODAY - timedelta(days=1), 18))
    practice = import_practice(actor=alice, prescriber=alice_prescriber, today=TODAY)
    p = practice.patients
    with django_capture_on_commit_callbacks(execute=True):
        factories.record_anc(p[0], alice, TODAY - timedelta(days=1), 1200, hour=9)  # repeat
        factories.record_anc(p[1], alice, TODAY - timedelta(days=1), 800, hour=9)  # consult
        for patient, days in ((p[2], 30), (p[4], 24)):  # a lapse today; a lapse warning
            treatment_event_record(
                patient=patient,
                actor=alice,
                kind="interrupt",
                effective_date=TODAY - timedelta(days=days),
                reason="admitted",
            )
    return practice


def test_the_60_patient_morning_is_a_digest_and_the_urgent_reminders(
    clock, imported_practice, alice, designee, alice_prescriber, smtp,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    morning(clock, django_capture_on_commit_callbacks)

    mine = delivered_in_app(alice)
    kinds = Counter(mine.values_list("kind", flat=True))
    urgent = {k: n for k, n in kinds.items() if k != Kind.DIGEST}
    assert kinds[Kind.DIGEST] == 1
    assert set(urgent) <= {
        Kind.CONFIRMATION_OVERDUE,
        Kind.CONSULT_NEEDED,
        Kind.LAPSE_WARNING,
        Kind.LAPSED,
    }, urgent
    assert urgent[Kind.CONSULT_NEEDED] == 1 and urgent[Kind.LAPSED] == 1
    in_app = mine.count()
    emails = smtp.messages()
    print(  # the figures for the report; the assertions below are what must hold
        f"\n60-patient morning: before {BEFORE}; after in_app_per_user={in_app}, "
        f"emails={len(emails)}, kinds={dict(kinds)}"
    )
    assert in_app == 1 + sum(urgent.values()) and in_app <= 10
    assert len(emails) == in_app, "the same digest and urgent reminders by e-mail"
    assert len({m.message_id for m in emails}) == len(emails)
    assert delivered_in_app(designee).count() == in_app

    [digest] = mine.filter(kind=Kind.DIGEST)
    [emailed] = [m for m in emails if m.subject == digest.subject]
    assert emailed.to == [alice_prescriber.email]
    body = digest.body
    # The ANC draws come first and are all listed; the plan backlog is one line.
    assert body.index("Draws due and overdue") < body.index("Monitoring plan")
    draws = Notification.objects.filter(
        recipient=alice, channel=Channel.IN_APP, kind__in=[Kind.DRAW_DUE, Kind.DRAW_OVERDUE]
    )
    assert draws.count() >= imported_practice.due_today
    for draw in draws:
        assert draw.status == Status.DIGESTED and draw.digest_id == digest.pk
        assert draw.subject in body
    assert "Monitoring-plan checks overdue more than 30 days" in body
    assert "this summary is sent once" in body
    assert "more: open clozrems" in body, "more than the ceiling: counted, not dropped"
    assert len(body.splitlines()) < 60


def test_the_backlog_is_not_told_again_the_next_mornings(
    clock, imported_practice, alice, smtp, django_capture_on_commit_callbacks
):
    morning(clock, django_capture_on_commit_callbacks)
    told = Notification.objects.filter(kind=Kind.PLAN_ITEM_BACKLOG, recipient=alice).count()
    assert told > 100

    for days in (1, 7, 8):
        morning(clock, django_capture_on_commit_callbacks, TODAY + timedelta(days=days))

    assert Notification.objects.filter(kind=Kind.PLAN_ITEM_BACKLOG, recipient=alice).count() < (
        told + 60
    ), "only checks newly past the window join it"
    later = delivered_in_app(alice).filter(kind=Kind.DIGEST).exclude(key_date=TODAY)
    for digest in later:
        assert digest.body.count("Monitoring-plan checks overdue") <= 1


# --- what waits and what does not -----------------------------------------------------------


@pytest.fixture
def due_today(clock, alice, designee):
    start = TODAY - timedelta(days=21)
    return factories.enrolled_patient(
        actor=alice, start=start, draws=factories.weekly_draws(start, TODAY - timedelta(days=7))
    )


def test_a_draw_due_waits_for_the_digest_and_urgent_ones_do_not(
    clock, due_today, alice, smtp, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        run_scan_on(clock, "draws", TODAY, 7, 0)
        factories.record_anc(due_today, alice, TODAY, 800, hour=7)  # moderate: repeat + consult
        run_scan_on(clock, "consults", TODAY, 8, 0)

    sent = {m.subject for m in smtp.messages()}
    assert any("Repeat ANC within 24 hours" in s for s in sent)
    assert any("Hematology consult" in s for s in sent)
    assert not any("draw due today" in s for s in sent)
    held = Notification.objects.get(recipient=alice, channel=Channel.IN_APP, kind=Kind.DRAW_DUE)
    assert held.status == Status.HELD


def test_a_draw_reminder_stored_after_the_days_digest_goes_on_its_own_that_day(
    clock, due_today, alice, smtp, django_capture_on_commit_callbacks
):
    """The draws scan ran late (caught up after an outage) when the digest had already gone:
    the reminder owed today does not wait for tomorrow."""
    other = factories.enrolled_patient(actor=alice, start=TODAY - timedelta(days=2), started=True)
    with django_capture_on_commit_callbacks(execute=True):
        clock.move_to(factories.at(TODAY, 7, 15))
        plan_scan.delay()  # the baseline checks of `other`: something to digest
        clock.move_to(factories.at(TODAY, 7, 30))
        digests.delay()
        run_scan_on(clock, "draws", TODAY, 11, 0)  # late
        clock.move_to(factories.at(TODAY, 11, 5))
        digests.delay()
        deliver_pending.delay()

    assert other.pk
    draw = Notification.objects.get(recipient=alice, channel=Channel.IN_APP, kind=Kind.DRAW_DUE)
    assert draw.status == Status.SENT and draw.digest_id is None
    assert [m.subject for m in smtp.messages()].count(draw.subject) == 1
    # A plan reminder stored after the digest waits for tomorrow's.
    assert delivered_in_app(alice).filter(kind=Kind.DIGEST).count() == 1


def test_the_digest_is_one_a_day_however_often_it_runs(
    clock, due_today, alice, designee, alice_prescriber, smtp, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        run_scan_on(clock, "draws", TODAY, 7, 0)
        for minute in (29, 30, 35, 40):
            clock.move_to(factories.at(TODAY, 7, minute))
            digests.delay()
        deliver_pending.delay()

    assert Notification.objects.filter(kind=Kind.DIGEST).count() == 3  # 2 users + 1 address
    assert [m.to for m in smtp.messages()] == [[alice_prescriber.email]]
    assert delivered_in_app(designee).get().kind == Kind.DIGEST


# --- per-recipient settings ------------------------------------------------------------------


def test_the_callers_settings_start_at_the_defaults(api, alice):
    assert api(alice).get(URL).json() == {
        "digest_at": "07:30",
        "email_digest": True,
        "immediate_kinds": [],
        "digest_limit": 25,
    }


def test_a_recipient_asks_for_draw_reminders_on_their_own(
    api, clock, due_today, alice, designee, smtp, django_capture_on_commit_callbacks
):
    response = api(alice).patch(URL, {"immediate_kinds": ["draw_due"]}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["immediate_kinds"] == ["draw_due"]

    with django_capture_on_commit_callbacks(execute=True):
        run_scan_on(clock, "draws", TODAY, 7, 0)

    mine = Notification.objects.get(recipient=alice, channel=Channel.IN_APP, kind=Kind.DRAW_DUE)
    assert mine.status == Status.SENT
    # The prescriber's address follows the prescriber's own settings; the designee's do not.
    assert [m.subject for m in smtp.messages()] == [mine.subject]
    theirs = Notification.objects.get(recipient=designee, kind=Kind.DRAW_DUE)
    assert theirs.status == Status.HELD


def test_a_later_digest_time_and_no_email_digest(
    api, clock, due_today, alice, smtp, django_capture_on_commit_callbacks
):
    assert (
        api(alice)
        .put(
            URL,
            {
                "digest_at": "12:00",
                "email_digest": False,
                "immediate_kinds": [],
                "digest_limit": 10,
            },
            format="json",
        )
        .status_code
        == 200
    )
    with django_capture_on_commit_callbacks(execute=True):
        run_scan_on(clock, "draws", TODAY, 7, 0)
        clock.move_to(factories.at(TODAY, 7, 30))
        digests.delay()
        assert not delivered_in_app(alice).exists(), "before the recipient's own time"
        clock.move_to(factories.at(TODAY, 12, 0))
        digests.delay()
        deliver_pending.delay()

    assert delivered_in_app(alice).get().kind == Kind.DIGEST
    assert smtp.messages() == [], "the digest is read in the app only"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"immediate_kinds": ["consult_needed"]}, "immediate_kinds"),
        ({"immediate_kinds": ["no_such_kind"]}, "immediate_kinds"),
        ({"digest_limit": 1}, "digest_limit"),
        ({"digest_at": "25:00"}, "digest_at"),
    ],
)
def test_bad_settings_are_a_400_naming_the_field_and_change_nothing(api, alice, body, field):
    response = api(alice).patch(URL, body, format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert api(alice).get(URL).json()["digest_limit"] == 25


def test_the_ceiling_counts_what_it_does_not_list(
    api, clock, alice, smtp, django_capture_on_commit_callbacks
):
    api(alice).patch(URL, {"digest_limit": 5}, format="json")
    factories.enrolled_patient(actor=alice, start=TODAY, started=True)  # 7 baseline checks due
    with django_capture_on_commit_callbacks(execute=True):
        clock.move_to(factories.at(TODAY, 7, 15))
        plan_scan.delay()
        clock.move_to(factories.at(TODAY, 7, 30))
        digests.delay()

    digest = delivered_in_app(alice).get()
    held = Notification.objects.filter(recipient=alice, channel=Channel.IN_APP, digest=digest)
    listed = [line for line in digest.body.splitlines() if line.startswith("- ")]
    assert len(listed) == 5
    assert f"... and {held.count() - 5} more" in digest.body


def test_a_digest_lists_its_items_through_the_api(
    api, clock, due_today, alice, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        run_scan_on(clock, "draws", TODAY, 7, 0)
        clock.move_to(factories.at(TODAY, 7, 30))
        digests.delay()

    [digest] = api(alice).get("/api/v1/notifications/").json()["results"]
    assert digest["kind"] == "digest"
    items = api(alice).get("/api/v1/notifications/", {"digest": digest["id"]}).json()["results"]
    assert [(i["kind"], i["digest"]) for i in items] == [("draw_due", digest["id"])]
    assert user_key(alice)
