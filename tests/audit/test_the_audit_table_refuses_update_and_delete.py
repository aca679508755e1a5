"""Audit entries and field history are append-only: the database refuses UPDATE and DELETE,
on SQLite and on PostgreSQL (each run of the suite checks the database it runs on)."""

import pytest
from django.db import DatabaseError, connection, transaction

from audit.models import Action, AuditEntry, FieldChange
from audit.services import audit_record


@pytest.fixture
def entry(admin):
    return audit_record(action=Action.QUARANTINE_RESOLVE, actor=admin, inputs={"a": 1})


def _refused(call):
    with pytest.raises(DatabaseError) as error, transaction.atomic():
        call()
    return str(error.value)


def test_updating_an_audit_entry_is_refused(entry):
    message = _refused(lambda: AuditEntry.objects.filter(pk=entry.pk).update(output={"x": 1}))
    assert "append-only" in message
    entry.refresh_from_db()
    assert entry.output == {}


def test_deleting_an_audit_entry_is_refused(entry):
    assert "append-only" in _refused(lambda: AuditEntry.objects.filter(pk=entry.pk).delete())
    assert AuditEntry.objects.filter(pk=entry.pk).exists()


def test_raw_sql_cannot_change_the_trail_either(entry):
    def update():
        with connection.cursor() as cursor:
            cursor.execute("UPDATE audit_auditentry SET action = 'x' WHERE id = %s", [entry.pk])

    assert "append-only" in _refused(update)


def test_field_history_rows_cannot_be_changed_or_deleted(api, admin, pharmacy):
    api(admin).patch(f"/api/v1/pharmacies/{pharmacy.pk}/", {"name": "Renamed"}, format="json")
    change = FieldChange.objects.get(table_name="pharmacy_pharmacy", field="name")
    assert "append-only" in _refused(
        lambda: FieldChange.objects.filter(pk=change.pk).update(new_value="forged")
    )
    assert "append-only" in _refused(lambda: FieldChange.objects.filter(pk=change.pk).delete())
