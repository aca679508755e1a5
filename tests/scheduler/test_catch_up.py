"""Reminders that arrive on time although something went wrong: a request lost with the
broker, a patient first seen overdue on day 2, a result entered after its deadline, a missed
07:00 run, a past-dated record that makes a lapse immediate; what the scheduler does not chase
(no routine draw before the first dose); and what e-mail never carries (free text).

Frozen clock and eager tasks; a real SMTP server where e-mail is checked. The same with a real
worker and beat: tests/scheduler/test_live_reminders.py."""

from __future__ import annotations

from datetime import timedelta

import pytest

from audit.models import Action, AuditEntry
from monitoring.acts import treatment_event_record
from monitoring.models import MonitoringState
from notifications.models import Channel, Kind, Notification, ScanRun
from notifications.schedule import DECLARED, daily_runs_catch_up
from notifications.tasks import scans_catch_up
from tests import factories
from tests.conftest import NOW, TODAY
from tests.scheduler.helpers import run_scan_on, subject_of, user_key
from tests.scheduler.live import declared_task
from tests.scheduler.smtp import SmtpServer


@pytest.fixture
def smtp(settings):
    with SmtpServer() as server:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", server.port
        settings.EMAIL_USE_TLS = False
        yield server


def weekly(alice, *, last_draw_days_ago: int):
    start = TODAY - timedelta(days=last_draw_days_ago + 21)
    return factories.enrolled_patient(
        actor=alice,
        start=start,
        draws=factories.weekly_draws(start, TODAY - timedelta(days=last_draw_days_ago)),
    )


def overdue_reminders(alice, patient):
    return Notification.objects.filter(
        kind=Kind.DRAW_OVERDUE, recipient_key=user_key(alice), subject_key=subject_of(patient)
    )


# --- item: overdue reminders owed on the day the scan runs ----------------------------------


@pytest.mark.parametrize(
    ("days_overdue", "owed"),
    [(1, 1), (2, 1), (3, 3), (4, 3), (6, 5)],
)
def test_a_patient_first_seen_overdue_gets_the_reminder_owed_that_day(
    clock, alice, days_overdue, owed
):
    """Day 2 (a result voided, a history imported, a missed run) still tells the prescriber
    on day 2: the reminder of day 1, counted as day 2's."""
    patient = weekly(alice, last_draw_days_ago=7 + days_overdue)

    run_scan_on(clock, "draws", TODAY)

    [reminder] = overdue_reminders(alice, patient)
    assert reminder.occurrence == owed
    assert f"overdue {days_overdue} day(s)" in reminder.subject


def test_the_owed_reminder_is_once_and_the_repeats_keep_their_days(clock, alice):
    patient = weekly(alice, last_draw_days_ago=7 + 2)  # overdue 2 days today
    for day in range(0, 6):
        run_scan_on(clock, "draws", TODAY + timedelta(days=day))
        run_scan_on(clock, "draws", TODAY + timedelta(days=day), 9)

    assert sorted(overdue_reminders(alice, patient).values_list("occurrence", flat=True)) == [
        1,
        3,
        5,
        7,
    ]


# --- item: the confirmations scan sends the request nobody sent -----------------------------


def test_the_confirmations_scan_sends_a_pending_request_that_was_never_sent(clock, alice, designee):
    """The first low result's transaction committed, its message was lost (no on-commit
    callback runs here, as none reached a worker): the next 5-minute scan sends the request."""
    patient = weekly(alice, last_draw_days_ago=2)
    factories.record_anc(patient, alice, TODAY, 1200, hour=11)
    assert not Notification.objects.exists()

    run_scan_on(clock, "confirmations", TODAY, 12, 5)
    run_scan_on(clock, "confirmations", TODAY, 12, 10)

    requested = Notification.objects.filter(kind=Kind.CONFIRMATION_REQUESTED)
    assert {n.recipient_key for n in requested} >= {user_key(alice), user_key(designee)}
    assert requested.filter(channel=Channel.IN_APP).count() == 2
    assert not Notification.objects.filter(kind=Kind.CONFIRMATION_OVERDUE).exists()


# --- item: a result entered after its deadline: one message, what is needed now ------------


def test_a_low_result_entered_after_its_deadline_gets_one_message_saying_repeat_now(
    api, clock, alice, smtp, alice_prescriber, django_capture_on_commit_callbacks
):
    patient = weekly(alice, last_draw_days_ago=3)
    drawn = NOW - timedelta(hours=30)  # its 24-hour repeat was due 6 hours ago
    with django_capture_on_commit_callbacks(execute=True):
        response = api(alice).post(
            f"/api/v1/patients/{patient.pk}/anc-results/",
            {"drawn_at": drawn.isoformat(), "value": 1200, "unit": "/uL"},
            format="json",
        )
        assert response.status_code == 201
        for minute in (5, 10, 15):
            run_scan_on(clock, "confirmations", TODAY, 12, minute)

    told = Notification.objects.filter(subject_key=subject_of(patient), channel=Channel.IN_APP)
    assert set(told.values_list("kind", flat=True)) == {Kind.CONFIRMATION_OVERDUE}
    assert told.filter(recipient=alice).count() == 1
    [email] = smtp.messages()
    assert email.to == [alice_prescriber.email]
    assert email.subject.startswith("URGENT: 24-hour repeat ANC missed")
    assert "Draw a repeat ANC now" in email.body
    assert "Confirm it with a repeat draw by" not in email.body


# --- item: daily scans catch up after a missed run ------------------------------------------


def test_a_draws_run_beat_lost_is_caught_up_the_same_morning(clock, alice):
    patient = weekly(alice, last_draw_days_ago=7)  # due today
    clock.move_to(factories.at(TODAY - timedelta(days=1), 7))
    run_scan_on(clock, "draws", TODAY - timedelta(days=1))  # yesterday's run happened
    # Today's 07:00 message never reached a worker; the catch-up runs at 07:10.
    clock.move_to(factories.at(TODAY, 7, 10))

    queued = scans_catch_up.delay().get()

    assert "scan.draws" in queued
    assert Notification.objects.filter(kind=Kind.DRAW_DUE, patient=patient).exists()
    assert ScanRun.objects.get(key="scan.draws").last_run_at == factories.at(TODAY, 7, 10)
    # Caught up: the next runs today find nothing due.
    clock.move_to(factories.at(TODAY, 7, 20))
    assert "scan.draws" not in daily_runs_catch_up(now=factories.at(TODAY, 7, 20))


def test_before_its_hour_a_daily_scan_is_not_run_early(clock, alice):
    for key in ("scan.lapses", "scan.expiries", "scan.draws", "scan.plan", "scan.consults"):
        ScanRun.objects.create(key=key, last_run_at=factories.at(TODAY - timedelta(days=1), 9))
    clock.move_to(factories.at(TODAY, 6, 0))

    assert daily_runs_catch_up(now=factories.at(TODAY, 6, 0)) == []
    clock.move_to(factories.at(TODAY, 7, 5))
    assert set(daily_runs_catch_up(now=factories.at(TODAY, 7, 5))) == {
        "scan.lapses",
        "scan.expiries",
        "scan.draws",
    }


def test_a_scan_an_administrator_disabled_or_deleted_is_not_caught_up(db, clock):
    draws = declared_task("scan.draws")
    draws.enabled = False
    draws.save()
    declared_task("scan.consults").delete()
    clock.move_to(factories.at(TODAY, 9))

    queued = daily_runs_catch_up(now=factories.at(TODAY, 9))

    assert "scan.draws" not in queued and "scan.consults" not in queued
    assert {key for key, p in DECLARED.items() if p.daily} - {"scan.draws", "scan.consults"} == set(
        queued
    )


# --- item: a past-dated record that makes a lapse immediate is audited ----------------------


def test_a_past_dated_interruption_that_lapses_at_once_writes_patient_lapse(clock, alice, api):
    patient = weekly(alice, last_draw_days_ago=35)
    before = AuditEntry.objects.count()

    response = api(alice).post(
        f"/api/v1/patients/{patient.pk}/treatment-events/",
        {"kind": "interrupt", "effective_date": str(TODAY - timedelta(days=31)), "reason": "late"},
        format="json",
    )

    assert response.status_code == 201, response.json()
    entries = list(AuditEntry.objects.order_by("seq")[before:])
    assert sorted(e.action for e in entries) == [
        Action.PATIENT_LAPSE,
        Action.TREATMENT_EVENT_RECORD,
    ]
    [lapse] = [e for e in entries if e.action == Action.PATIENT_LAPSE]
    assert lapse.patient_id == patient.pk and lapse.actor_id == alice.pk
    assert lapse.output == {"enrollment_status": "reenrollment_required"}
    state = MonitoringState.objects.get(patient=patient)
    assert state.enrollment_status == "reenrollment_required"
    # The lapses scan finds it moved already: it tells the prescriber, writes no second entry.
    run_scan_on(clock, "lapses", TODAY + timedelta(days=1), 6, 30)
    assert AuditEntry.objects.filter(action=Action.PATIENT_LAPSE).count() == 1
    assert Notification.objects.filter(kind=Kind.LAPSED, patient=patient).exists()


def test_the_scan_and_the_write_path_record_a_lapse_the_same_way(clock, alice):
    """The lapse the scan finds (time alone, no write) gives the same entry as the write."""
    patient = weekly(alice, last_draw_days_ago=10)
    treatment_event_record(
        patient=patient,
        actor=alice,
        kind="interrupt",
        effective_date=TODAY - timedelta(days=29),
        reason="admitted",
    )
    assert not AuditEntry.objects.filter(action=Action.PATIENT_LAPSE).exists()

    run_scan_on(clock, "lapses", TODAY + timedelta(days=1), 6, 30)

    [entry] = AuditEntry.objects.filter(action=Action.PATIENT_LAPSE)
    assert (entry.patient_id, entry.actor_id) == (patient.pk, None)
    assert entry.output == {"enrollment_status": "reenrollment_required"}


# --- item: no routine draw before the first dose -------------------------------------------


def test_an_enrolled_patient_not_started_is_not_chased_and_the_pages_say_so(
    clock, alice, client, pharmacy
):
    patient = factories.enrolled_patient(
        actor=alice, start=TODAY - timedelta(days=20), started=False, last_name="Notyet"
    )
    for days in range(0, 4):
        run_scan_on(clock, "draws", TODAY + timedelta(days=days))
    assert not Notification.objects.filter(patient=patient).exists()

    client.force_login(alice)
    clinic = client.get("/clinic/").content.decode()
    assert "Not started: no routine draw before the first dose" in clinic
    row = clinic[clinic.index("Notyet") - 600 : clinic.index("Notyet") + 900]
    assert "Draw overdue" not in row and "none before the first dose" in row
    page = client.get(f"/clinic/patients/{patient.pk}/").content.decode()
    assert 'data-testid="next-draw">none before the first dose' in page


# --- item: e-mail carries no free text ------------------------------------------------------


def test_the_emergency_supply_email_leaves_the_pharmacists_remark_out(
    api, clock, alice, phil, pharmacy, smtp, django_capture_on_commit_callbacks
):
    from patients.models import Dispense

    # The last draw 12 days ago: stale, and within the emergency supply's reach (docs/rules.md
    # §10: a weekly window of 7 days plus 7).
    start = TODAY - timedelta(days=61)
    patient = factories.enrolled_patient(
        actor=alice, start=start, draws=factories.weekly_draws(start, TODAY - timedelta(days=12))
    )
    remark = "Mrs Jane Doe's son collected; call him on 555-0100"
    with django_capture_on_commit_callbacks(execute=True):
        response = api(phil).post(
            "/api/v1/dispenses/",
            {
                "patient": patient.pk,
                "pharmacy": pharmacy.pk,
                "days_supply": 4,
                "emergency": {"reason": "other", "remark": remark, "last_dose_confirmed": True},
            },
            format="json",
        )
    assert response.status_code == 201, response.json()
    assert Dispense.objects.get(pk=response.json()["id"]).emergency_remark == remark

    [email] = smtp.messages()
    assert "Emergency supply" in email.subject
    for fragment in ("Jane", "Doe", "555-0100", remark):
        assert fragment not in email.body + email.subject
    assert "remark is on the dispense record" in email.body
    in_app = Notification.objects.get(kind=Kind.EMERGENCY_SUPPLY, recipient=alice, channel="in_app")
    assert remark in in_app.body, "read in the app, where access is controlled"
