"""Audit entries, checkpoints and field history are append-only: the database refuses UPDATE
and DELETE, on SQLite and on PostgreSQL (each run of the suite checks the database it runs on).
An entry is inserted unsealed, and the one UPDATE it accepts is the sealer's, once: the chain
fields of an unsealed entry, nothing else."""

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from audit.models import Action, AuditCheckpoint, AuditEntry, FieldChange
from audit.services import audit_record, audit_seal


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


def test_an_entry_cannot_be_inserted_already_sealed(admin):
    def insert():
        AuditEntry(
            created_at=timezone.now(),
            action="forged",
            outcome="ok",
            seq=1,
            prev_hash="0" * 64,
            hash="f" * 64,
        ).save(force_insert=True)

    assert "append-only" in _refused(insert)
    assert not AuditEntry.objects.filter(action="forged").exists()


def test_the_one_update_allowed_is_the_sealers_once(entry):
    sealed = {"seq": 1, "prev_hash": "0" * 64, "hash": "a" * 64, "key_id": "k"}

    # Sealing and changing the content in the same statement: refused.
    assert "append-only" in _refused(
        lambda: AuditEntry.objects.filter(pk=entry.pk).update(**sealed, action="forged")
    )
    # Sealing alone: what the sealer does.
    with transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).update(**sealed, sealed_at=timezone.now())
    # Sealed once: no second seal, no unsealing.
    assert "append-only" in _refused(
        lambda: AuditEntry.objects.filter(pk=entry.pk).update(seq=2, hash="b" * 64)
    )
    assert "append-only" in _refused(
        lambda: AuditEntry.objects.filter(pk=entry.pk).update(seq=None, hash=None)
    )
    entry.refresh_from_db()
    assert (entry.seq, entry.hash, entry.action) == (1, "a" * 64, "lab_feed.quarantine_resolve")


def test_checkpoints_cannot_be_changed_or_deleted(entry):
    audit_seal()
    checkpoint = AuditCheckpoint.objects.get()
    assert "append-only" in _refused(
        lambda: AuditCheckpoint.objects.filter(pk=checkpoint.pk).update(seq=99)
    )
    assert "append-only" in _refused(
        lambda: AuditCheckpoint.objects.filter(pk=checkpoint.pk).delete()
    )
    assert AuditCheckpoint.objects.get().seq == 1
