"""Concurrent appends (PostgreSQL only: SQLite serialises every writer) do not fork the chain:
the advisory lock orders them, so every entry links to exactly one predecessor."""

import threading

import pytest
from django.db import close_old_connections, connection

from audit.models import Action, AuditEntry
from audit.selectors import audit_chain_verify
from audit.services import audit_record

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


def test_eight_writers_at_once_leave_one_unbroken_chain(admin):
    barrier = threading.Barrier(THREADS)
    errors: list[str] = []

    def worker(index):
        try:
            barrier.wait(timeout=10)
            for n in range(EACH):
                audit_record(
                    action=Action.QUARANTINE_RESOLVE, actor=admin, inputs={"t": index, "n": n}
                )
        except Exception as error:
            errors.append(repr(error))
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert AuditEntry.objects.count() == THREADS * EACH
    assert list(AuditEntry.objects.order_by("seq").values_list("seq", flat=True)) == list(
        range(1, THREADS * EACH + 1)
    )
    report = audit_chain_verify()
    assert report.intact, report
    assert report.checked == THREADS * EACH
