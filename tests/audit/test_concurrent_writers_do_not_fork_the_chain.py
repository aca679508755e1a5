"""Concurrent writers and sealers (PostgreSQL only: SQLite serialises every writer) leave one
unbroken chain: writers append unsealed entries without any lock, two sealers running at the
same time take turns on the sealer lock, and every entry is sealed exactly once, `seq` running
1..N without a gap or a fork."""

import threading

import pytest
from django.db import close_old_connections, connection

from audit.models import Action, AuditCheckpoint, AuditEntry
from audit.selectors import audit_chain_verify
from audit.services import audit_record, audit_seal

THREADS = 8
EACH = 5

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _needs_postgresql(db):
    if connection.vendor != "postgresql":
        pytest.skip(
            f"needs PostgreSQL: concurrent writers are what this tests, and the database is "
            f"{connection.vendor} (set DATABASE_URL=postgres://...)"
        )


def _run(target, *args):
    errors: list[str] = []

    def body():
        try:
            target(*args)
        except Exception as error:
            errors.append(repr(error))
        finally:
            close_old_connections()
            connection.close()

    thread = threading.Thread(target=body)
    thread.start()
    return thread, errors


def _sealed_once(total):
    assert AuditEntry.objects.count() == total
    assert AuditEntry.objects.filter(seq__isnull=True).count() == 0
    seqs = list(AuditEntry.objects.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, total + 1))
    report = audit_chain_verify()
    assert report.intact, report
    assert report.checked == total


def test_eight_writers_and_two_sealers_at_once_leave_one_unbroken_chain(admin):
    barrier = threading.Barrier(THREADS + 2)
    writing = threading.Event()

    def writer(index):
        barrier.wait(timeout=10)
        for n in range(EACH):
            audit_record(action=Action.QUARANTINE_RESOLVE, actor=admin, inputs={"t": index, "n": n})

    def sealer():
        barrier.wait(timeout=10)
        while not writing.is_set():
            audit_seal(batch_size=3)

    writers = [_run(writer, i) for i in range(THREADS)]
    sealers = [_run(sealer) for _ in range(2)]
    for thread, _ in writers:
        thread.join(timeout=60)
    writing.set()
    for thread, _ in sealers:
        thread.join(timeout=60)
    audit_seal()

    assert [e for _, errors in writers + sealers for e in errors] == []
    _sealed_once(THREADS * EACH)


def test_a_second_sealer_waiting_on_the_first_seals_only_what_is_left(admin):
    """The first sealer holds the lock with its batch sealed but not committed; the second
    waits on the lock (seen in pg_stat_activity), then reads the first's seals and goes on from
    its head: no entry sealed twice, no fork."""
    from django.db import transaction

    for n in range(6):
        audit_record(action=Action.QUARANTINE_RESOLVE, actor=admin, inputs={"n": n})
    first_sealed = threading.Event()
    release = threading.Event()
    second_pid: list[int] = []

    def first():
        with transaction.atomic():
            audit_seal()
            first_sealed.set()
            assert release.wait(timeout=30)

    def second():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            second_pid.append(cursor.fetchone()[0])
        audit_seal()

    thread_a, errors_a = _run(first)
    assert first_sealed.wait(timeout=30)
    for n in range(6, 9):
        audit_record(action=Action.QUARANTINE_RESOLVE, actor=admin, inputs={"n": n})
    thread_b, errors_b = _run(second)
    try:
        waiting = False
        for _ in range(100_000):  # until the second backend waits on the sealer lock
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT a.wait_event_type, l.locktype FROM pg_stat_activity a "
                    "LEFT JOIN pg_locks l ON l.pid = a.pid AND NOT l.granted "
                    "WHERE a.pid = %s",
                    second_pid or [0],
                )
                row = cursor.fetchone()
            if row and row[0] == "Lock" and row[1] == "advisory":
                waiting = True
                break
            if not thread_b.is_alive():
                break
        assert waiting, "the second sealer never waited on the first's lock"
    finally:
        release.set()
        thread_a.join(timeout=30)
        thread_b.join(timeout=30)

    assert errors_a + errors_b == []
    _sealed_once(9)
    assert list(AuditCheckpoint.objects.order_by("seq").values_list("seq", "sealed")) == [
        (6, 6),
        (9, 3),
    ]


def test_an_entry_whose_transaction_commits_last_is_sealed_at_the_end_not_skipped(admin):
    """A transaction takes the lower id, the sealer runs while it is still open (and cannot see
    it), a later entry with a higher id is sealed first; the late one is sealed by the next
    run, after it. An id watermark would have passed over it for ever."""
    from django.db import transaction

    written = threading.Event()
    release = threading.Event()
    early: list[AuditEntry] = []

    def write_and_hold():
        with transaction.atomic():
            early.append(audit_record(action=Action.QUARANTINE_RESOLVE, actor=admin))
            written.set()
            assert release.wait(timeout=30)

    thread, errors = _run(write_and_hold)
    try:
        assert written.wait(timeout=30)
        later = audit_record(action=Action.QUARANTINE_RESOLVE, actor=admin)
        assert audit_seal().sealed == 1
    finally:
        release.set()
        thread.join(timeout=30)
    assert errors == []
    assert early[0].pk < later.pk

    assert audit_seal().sealed == 1

    order = list(AuditEntry.objects.order_by("seq").values_list("id", flat=True))
    assert order == [later.pk, early[0].pk]
    _sealed_once(2)


def test_the_periodic_task_leaves_the_work_to_a_sealer_already_running(admin):
    from django.db import transaction

    from audit.tasks import audit_seal as periodic_seal

    audit_record(action=Action.QUARANTINE_RESOLVE, actor=admin)
    holding = threading.Event()
    release = threading.Event()

    def seal_and_hold():
        with transaction.atomic():
            audit_seal()
            holding.set()
            assert release.wait(timeout=30)

    thread, errors = _run(seal_and_hold)
    try:
        assert holding.wait(timeout=30)
        audit_record(action=Action.QUARANTINE_RESOLVE, actor=admin)
        # The lock is taken: no wait, nothing sealed, no error.
        assert periodic_seal() == 0
    finally:
        release.set()
        thread.join(timeout=30)
    assert errors == []
    assert periodic_seal() == 1
    _sealed_once(2)
