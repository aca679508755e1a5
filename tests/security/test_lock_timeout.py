"""A patient row held by another transaction: the writer waits at most the lock timeout and is
answered 503 with Retry-After and a message that says so, never a minute's wait and a 500.
PostgreSQL connections carry `lock_timeout` and `statement_timeout` from the settings
(DATABASE_LOCK_TIMEOUT_MS, DATABASE_STATEMENT_TIMEOUT_MS). The lock is held by a real second
connection, so this needs PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest
from django.db import connection

from monitoring.models import LabResult
from tests.conftest import NOW

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _needs_postgresql(db):
    if connection.vendor != "postgresql":
        pytest.skip(
            "needs PostgreSQL: a row lock held by a second connection is what this tests, and "
            f"the database is {connection.vendor} (set DATABASE_URL=postgres://...)"
        )


def test_connections_carry_the_lock_and_statement_timeouts(settings):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_setting('lock_timeout'), current_setting('statement_timeout')"
        )
        lock, statement = cursor.fetchone()
    assert lock == f"{settings.DATABASE_LOCK_TIMEOUT_MS}ms" or lock == (
        f"{settings.DATABASE_LOCK_TIMEOUT_MS // 1000}s"
    )
    assert statement in (
        f"{settings.DATABASE_STATEMENT_TIMEOUT_MS}ms",
        f"{settings.DATABASE_STATEMENT_TIMEOUT_MS // 1000}s",
    )


@pytest.fixture
def held(alice):
    """Alice's patient, its row locked FOR UPDATE by another connection until the test ends."""
    from tests.factories import PatientFactory

    patient = PatientFactory.create(actor=alice, prescriber=alice.prescriber)
    other = psycopg.connect(**connection.get_connection_params())
    other.execute("SELECT id FROM patients_patient WHERE id = %s FOR UPDATE", [patient.pk])
    yield patient
    other.rollback()
    other.close()


def test_a_writer_blocked_by_a_held_patient_lock_is_answered_503_busy(api, alice, held):
    with connection.cursor() as cursor:
        # Shorter than the deployment's 5 s for the test's sake; the previous test shows the
        # setting itself reaches every connection.
        cursor.execute("SET lock_timeout = '300ms'")
    try:
        response = api(alice).post(
            f"/api/v1/patients/{held.pk}/anc-results/",
            {"drawn_at": (NOW - timedelta(hours=2)).isoformat(), "value": 2100, "unit": "/uL"},
            format="json",
        )
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET lock_timeout")
    assert response.status_code == 503
    assert response.json()["code"] == "record_busy"
    assert "in progress" in response.json()["message"]
    assert int(response["Retry-After"]) > 0
    assert not LabResult.objects.filter(patient=held).exists()


def test_a_statement_past_the_statement_timeout_is_answered_503(api, alice, db):
    from django.db import OperationalError

    from clozrems.middleware import _refusal

    with connection.cursor() as cursor:
        cursor.execute("SET statement_timeout = '50ms'")
        try:
            with pytest.raises(OperationalError) as stopped:
                cursor.execute("SELECT pg_sleep(2)")
        finally:
            cursor.execute("RESET statement_timeout")
    code, message, retry_after = _refusal(stopped.value)
    assert code == "statement_timeout" and "too long" in message and int(retry_after) > 0
