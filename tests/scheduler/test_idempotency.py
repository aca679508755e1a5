"""Every scan is safe to run twice, and on two workers at once: the reminder's unique key
(recipient, channel, kind, subject, date, occurrence) makes a repeat a no-op, not a
check-then-insert. A scan fans out over patient-id chunks that together cover every patient
exactly once. The concurrency tests need PostgreSQL (SQLite serialises every writer)."""

import threading
from datetime import timedelta

import pytest
from django.core import mail
from django.db import close_old_connections, connection

from monitoring import reminders as scans
from monitoring.acts import treatment_event_record
from monitoring.models import MonitoringState
from monitoring.tasks import scan
from notifications.models import Channel, Kind, Notification, Status
from notifications.tasks import deliver_pending
from tests import factories
from tests.conftest import NOW, TODAY
from tests.scheduler.helpers import OCCASION, occasions, run_scan, subject_of

KINDS = ["draws", "confirmations", "consults", "lapses", "expiries"]


def weekly(alice, last_draw_days_ago, **fields):
    start = TODAY - timedelta(days=last_draw_days_ago + 14)
    return factories.enrolled_patient(
        actor=alice,
        start=start,
        draws=factories.weekly_draws(start, TODAY - timedelta(days=last_draw_days_ago)),
        **fields,
    )


@pytest.fixture
def busy_clinic(clock, alice, designee, admin, root, alice_prescriber):
    """Something for every scan to find at NOW."""
    weekly(alice, 10)  # draw overdue 3 days: a repeat and an escalation
    weekly(alice, 7)  # draw due today
    unconfirmed = weekly(alice, 4)
    factories.record_anc(unconfirmed, alice, TODAY - timedelta(days=2), 1200)  # no repeat
    moderate = weekly(alice, 3)
    factories.record_anc(moderate, alice, TODAY - timedelta(days=1), 800)  # consult
    for days_ago in (30, 25):  # lapsed today; lapse warning
        patient = weekly(alice, days_ago + 1)
        treatment_event_record(
            patient=patient,
            actor=alice,
            kind="interrupt",
            effective_date=TODAY - timedelta(days=days_ago),
            reason="admitted",
        )
    alice_prescriber.certification_expires_on = TODAY + timedelta(days=10)
    alice_prescriber.save()


@pytest.mark.parametrize("kind", KINDS)
def test_each_scan_run_twice_stores_the_same_reminders(busy_clinic, kind):
    run_scan(kind)
    first = occasions()

    run_scan(kind)

    assert first, f"the {kind} scan found nothing to tell: the fixture is wrong"
    assert occasions() == first


def test_all_scans_twice_in_a_row_store_each_occasion_once(busy_clinic):
    for kind in KINDS + KINDS:
        run_scan(kind)

    stored = list(Notification.objects.values_list(*OCCASION))
    assert len(stored) == len(set(stored))
    assert set(Notification.objects.values_list("kind", flat=True)) == {
        Kind.DRAW_DUE,
        Kind.DRAW_OVERDUE,
        Kind.DRAW_OVERDUE_ESCALATION,
        Kind.CONFIRMATION_OVERDUE,
        Kind.CONSULT_NEEDED,
        Kind.LAPSE_WARNING,
        Kind.LAPSED,
        Kind.PRESCRIBER_CERTIFICATION_EXPIRING,
    }


# --- chunking --------------------------------------------------------------------------------


@pytest.fixture
def seven_due_today(clock, alice, designee):
    patients = [weekly(alice, 7, last_name=f"Chunk{i}") for i in range(7)]
    # One more patient, pending (no draw due), in the middle of the id range.
    factories.PatientFactory.create(actor=alice, prescriber=alice.prescriber)
    patients += [weekly(alice, 7, last_name="Chunk7")]
    return patients


def test_with_a_chunk_of_2_the_fan_out_covers_every_patient_exactly_once(
    seven_due_today, settings, monkeypatch
):
    settings.CLOZREMS_SCAN_CHUNK = 2
    chunks: list[tuple[int, int]] = []
    real = scans.SCANS["draws"]

    def spy(*, lo, hi, now):
        chunks.append((lo, hi))
        return real(lo=lo, hi=hi, now=now)

    monkeypatch.setitem(scans.SCANS, "draws", spy)

    queued = scan.delay("draws").get()

    ids = sorted(MonitoringState.objects.values_list("patient_id", flat=True))
    assert queued == len(chunks) == (ids[-1] - ids[0]) // 2 + 1
    assert all(hi - lo == 2 for lo, hi in chunks)
    for patient_id in ids:
        assert sum(lo <= patient_id < hi for lo, hi in chunks) == 1, patient_id
    for patient in seven_due_today:
        told = Notification.objects.filter(subject_key=subject_of(patient), kind=Kind.DRAW_DUE)
        assert told.count() == 3, "Alice, her designee and the prescriber's e-mail, once each"


def test_scan_ranges_are_half_open_contiguous_and_cover_the_lowest_and_highest_id(
    seven_due_today,
):
    ids = sorted(MonitoringState.objects.values_list("patient_id", flat=True))

    ranges = scans.scan_ranges(chunk=3)

    assert ranges[0][0] == ids[0]
    assert ranges[-1][1] > ids[-1]
    assert all(a_hi == b_lo for (_, a_hi), (b_lo, _) in zip(ranges, ranges[1:], strict=False))


def test_no_patients_means_no_chunks(db):
    assert scans.scan_ranges(chunk=2) == []
    assert scan.delay("draws").get() == 0


# --- two workers at once (PostgreSQL) --------------------------------------------------------

THREADS = 6


def _race(target, count=THREADS):
    """Run `target()` on `count` threads released together; each thread's outcome."""
    barrier = threading.Barrier(count)
    outcomes: list = [None] * count

    def worker(index):
        try:
            barrier.wait(timeout=10)
            outcomes[index] = ("ok", target())
        except Exception as error:  # reported by the assertions
            outcomes[index] = ("error", repr(error))
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    return outcomes


@pytest.fixture
def _needs_postgresql(transactional_db):
    if connection.vendor != "postgresql":
        pytest.skip(
            "needs PostgreSQL: concurrent writers are what this tests, and the database is "
            f"{connection.vendor} (set DATABASE_URL=postgres://...)"
        )


@pytest.fixture
def overdue_clinic(_needs_postgresql, clock, alice, designee, admin, root):
    """Twelve of Alice's patients three days overdue: repeats and escalations for each."""
    return [weekly(alice, 10, last_name=f"Race{i}") for i in range(12)]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_scanning_draws_at_once_store_one_reminder_per_recipient_and_occasion(
    overdue_clinic,
):
    ids = [p.pk for p in overdue_clinic]
    lo, hi = min(ids), max(ids) + 1

    outcomes = _race(lambda: scans.draws_scan(lo=lo, hi=hi, now=NOW))

    assert [o[0] for o in outcomes] == ["ok"] * THREADS, outcomes
    stored = list(Notification.objects.values_list(*OCCASION))
    assert len(stored) == len(set(stored))
    # Per patient: Alice, her designee and the prescriber's e-mail; admin and root, each in the
    # app and by e-mail.
    assert Notification.objects.filter(kind=Kind.DRAW_OVERDUE).count() == 12 * 3
    assert Notification.objects.filter(kind=Kind.DRAW_OVERDUE_ESCALATION).count() == 12 * 4


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_scanning_lapses_at_once_mark_and_tell_once(
    _needs_postgresql, clock, alice, designee
):
    patients = []
    for i in range(6):
        patient = weekly(alice, 31, last_name=f"Lapse{i}")
        treatment_event_record(
            patient=patient,
            actor=alice,
            kind="interrupt",
            effective_date=TODAY - timedelta(days=30),
            reason="admitted",
        )
        patients.append(patient)
    ids = [p.pk for p in patients]

    outcomes = _race(lambda: scans.lapses_scan(lo=min(ids), hi=max(ids) + 1, now=NOW))

    assert [o[0] for o in outcomes] == ["ok"] * THREADS, outcomes
    assert Notification.objects.filter(kind=Kind.LAPSED).count() == 6 * 3
    assert set(
        MonitoringState.objects.filter(patient_id__in=ids).values_list(
            "enrollment_status", flat=True
        )
    ) == {"reenrollment_required"}


@pytest.fixture
def twenty_pending_emails(_needs_postgresql, clock):
    for i in range(20):
        Notification.objects.create(
            kind=Kind.DRAW_DUE,
            channel=Channel.EMAIL,
            recipient_key=f"email:p{i}@example.org",
            address=f"p{i}@example.org",
            subject_key=f"patient:{i}",
            key_date=TODAY,
            subject="ANC draw due today",
            body="due",
        )


def _deliver_on_every_thread():
    def one_worker():
        result = deliver_pending.apply()  # the task as a worker runs it
        assert result.successful(), result.traceback
        return result.result

    outcomes = _race(one_worker)
    assert [o[0] for o in outcomes] == ["ok"] * THREADS, outcomes
    return [sent for _, sent in outcomes]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_workers_delivering_at_once_send_each_email_once(twenty_pending_emails):
    _deliver_on_every_thread()

    assert sorted(m.to[0] for m in mail.outbox) == sorted(f"p{i}@example.org" for i in range(20))
    assert set(Notification.objects.values_list("status", flat=True)) == {Status.SENT}
    assert set(Notification.objects.values_list("attempts", flat=True)) == {1}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_workers_delivering_at_once_report_only_what_each_sent(twenty_pending_emails):
    """deliver_pending returns how many it sent (a worker's log line and metric): a row another
    worker claimed first was not sent by this one and must not be counted."""
    counts = _deliver_on_every_thread()

    assert len(mail.outbox) == 20
    assert sum(counts) == 20, counts
