"""The audit append takes no lock on the request path (PostgreSQL, where writers really run at
once): while one transaction holds an uncommitted dispense for one patient (its audit entry
written, not committed), a dispense and an eligibility check for another patient go through
with `lock_timeout` set to 1 ms, so any wait on a lock would be an error, not a delay. No
advisory lock is held by either (pg_locks)."""

import threading
from datetime import timedelta

import pytest
from django.db import close_old_connections, connection, transaction

from audit.models import Action, AuditEntry
from pharmacy.services import dispense_record, eligibility_check
from tests import factories
from tests.conftest import NOW, TODAY

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _needs_postgresql(db):
    if connection.vendor != "postgresql":
        pytest.skip(
            f"needs PostgreSQL: writers that run at once are what this tests, and the database "
            f"is {connection.vendor} (set DATABASE_URL=postgres://...)"
        )


def _patient(alice, name):
    start = TODAY - timedelta(days=20)
    return factories.enrolled_patient(
        actor=alice,
        start=start,
        draws=factories.weekly_draws(start, TODAY - timedelta(days=2)),
        last_name=name,
    )


def _advisory_locks():
    """Advisory locks held in this database (pg_locks spans the server: other databases' are
    none of this test's business)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        )
        return cursor.fetchone()[0]


def test_an_uncommitted_dispense_does_not_hold_up_another_patients_writes(alice, phil, pharmacy):
    first, second = _patient(alice, "First"), _patient(alice, "Second")
    written = threading.Event()
    release = threading.Event()
    errors: list[str] = []

    def hold_a_dispense_open():
        try:
            with transaction.atomic():
                dispense_record(patient=first, pharmacy=pharmacy, actor=phil, days_supply=7)
                written.set()
                assert release.wait(timeout=30)
        except Exception as error:
            errors.append(repr(error))
        finally:
            written.set()
            close_old_connections()
            connection.close()

    holder = threading.Thread(target=hold_a_dispense_open)
    holder.start()
    try:
        assert written.wait(timeout=30)
        assert errors == []
        with transaction.atomic():
            with connection.cursor() as cursor:
                # Any lock wait now fails the statement (LockNotAvailable) instead of queuing.
                cursor.execute("SET LOCAL lock_timeout = '1ms'")
            outcome = dispense_record(patient=second, pharmacy=pharmacy, actor=phil, days_supply=7)
            decision = eligibility_check(patient=second, pharmacy=pharmacy, actor=phil, as_of=NOW)
            # Both transactions hold an uncommitted audit entry, and neither an advisory lock.
            assert _advisory_locks() == 0
        assert outcome.dispense.patient_id == second.pk
        assert decision.assessment.decision.value in {"allowed", "blocked"}
    finally:
        release.set()
        holder.join(timeout=30)

    assert errors == []
    actions = list(
        AuditEntry.objects.filter(patient_id__in=[first.pk, second.pk])
        .order_by("id")
        .values_list("patient_id", "action")
    )
    assert (first.pk, Action.DISPENSE_RECORD) in actions
    assert (second.pk, Action.DISPENSE_RECORD) in actions
    assert (second.pk, Action.ELIGIBILITY_CHECK) in actions
