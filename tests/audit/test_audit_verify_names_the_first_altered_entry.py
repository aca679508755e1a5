"""`manage.py audit_verify` proves the keyed chain intact against its signed checkpoints, or names
the first bad entry and exits 1: an edited entry, one edited and re-hashed with the chain after
it, a deleted entry, the newest entries deleted, the trail truncated, entries sealed with
another key, a forged checkpoint. Entries not sealed yet are reported, never as tampering.

To alter a row, a test first switches the append-only triggers off the way an attacker with
schema rights could: SQLite drops them, PostgreSQL disables them (both rolled back with the
test's transaction). The checkpoint file lives in the test's tmp_path."""

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from audit.keys import keyring
from audit.models import GENESIS_HASH, Action, AuditCheckpoint, AuditEntry
from audit.services import audit_record, audit_seal, entry_mac
from tests.audit.conftest import needs_postgresql

ATTACKER_KEY = "an-attacker-who-can-write-the-database-but-has-not-the-key"


@pytest.fixture(autouse=True)
def checkpoint_file(settings, tmp_path):
    settings.CLOZREMS_AUDIT_CHECKPOINT_FILE = str(tmp_path / "checkpoints.jsonl")
    return tmp_path / "checkpoints.jsonl"


@pytest.fixture
def seal(django_capture_on_commit_callbacks):
    """Run the sealer and what it leaves for after the commit (the checkpoint file's line): a
    test's transaction never commits."""

    def run():
        with django_capture_on_commit_callbacks(execute=True):
            return audit_seal()

    return run


@pytest.fixture
def chain(admin, seal):
    """Five entries, sealed in two runs (so two checkpoints: #3 and #5)."""
    for n in range(3):
        audit_record(action=Action.QUARANTINE_RESOLVE, actor=admin, inputs={"n": n})
    seal()
    for n in range(3, 5):
        audit_record(action=Action.QUARANTINE_RESOLVE, actor=admin, inputs={"n": n})
    seal()
    return list(AuditEntry.objects.order_by("seq"))


def _triggers_off(*tables):
    tables = tables or ("audit_auditentry",)
    with connection.cursor() as cursor:
        for table in tables:
            if connection.vendor == "sqlite":
                for op in ("insert", "update", "delete"):
                    for name in (f"clozrems_{table}_no_{op}", f"clozrems_{table}_unsealed_{op}"):
                        cursor.execute(f"DROP TRIGGER IF EXISTS {name}")
            else:
                cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")


def _verify():
    out = StringIO()
    call_command("audit_verify", stdout=out, stderr=StringIO())
    return out.getvalue()


def _broken():
    with pytest.raises(CommandError) as error:
        _verify()
    assert error.value.returncode == 1
    return str(error.value)


def _rechain_from(entries, start, key_text, **changes):
    """What an attacker does without the real key: edit entries[start], then recompute its
    HMAC and every later entry's link and HMAC with a key of its own, keeping the real key id
    (so the key-id check alone does not give it away)."""
    key = keyring(key_text).current
    prev = entries[start - 1].hash if start else GENESIS_HASH
    for index, entry in enumerate(entries[start:]):
        if index == 0:
            for name, value in changes.items():
                setattr(entry, name, value)
        entry.prev_hash = prev
        entry.hash = entry_mac(entry, key)
        prev = entry.hash
        AuditEntry.objects.filter(pk=entry.pk).update(
            prev_hash=entry.prev_hash, hash=entry.hash, **(changes if index == 0 else {})
        )


def test_an_untouched_chain_verifies(chain):
    assert "audit chain intact: 5 entries, 4 checkpoints agree." in _verify()


def test_entries_not_yet_sealed_are_reported_not_as_tampering(chain, admin):
    audit_record(action=Action.QUARANTINE_RESOLVE, actor=admin, inputs={"late": 1})
    audit_record(action=Action.QUARANTINE_RESOLVE, actor=admin, inputs={"late": 2})

    out = _verify()

    assert "audit chain intact: 5 entries" in out
    assert "2 entries not yet sealed" in out


def test_an_edited_entry_is_named_and_the_command_fails(chain):
    target = chain[2]
    _triggers_off()
    AuditEntry.objects.filter(pk=target.pk).update(inputs={"n": 99})

    message = _broken()

    assert f"broken at entry #{target.seq} (id {target.pk})" in message
    assert "content does not match its HMAC" in message


def test_an_edited_entry_rehashed_with_the_chain_after_it_is_named(chain):
    target = chain[1]
    _triggers_off()
    _rechain_from(chain, 1, ATTACKER_KEY, inputs={"n": 1000})

    message = _broken()

    assert f"broken at entry #{target.seq} (id {target.pk})" in message
    assert "content does not match its HMAC" in message


def test_a_rehash_with_the_old_unkeyed_sha256_is_caught_too(chain):
    import hashlib

    from audit.services import canonical_json, entry_content

    target = chain[3]
    _triggers_off()
    target.output = {"forged": True}
    forged = hashlib.sha256(canonical_json(entry_content(target)).encode()).hexdigest()
    AuditEntry.objects.filter(pk=target.pk).update(output=target.output, hash=forged)

    assert f"broken at entry #{target.seq} " in _broken()


def test_a_chain_verified_with_another_key_fails_at_its_first_entry(chain, settings):
    settings.CLOZREMS_AUDIT_KEY = ATTACKER_KEY

    message = _broken()

    assert f"broken at entry #1 (id {chain[0].pk})" in message
    assert "key this deployment does not hold" in message


def test_a_deleted_entry_is_named_as_missing(chain):
    _triggers_off()
    AuditEntry.objects.filter(pk=chain[2].pk).delete()

    message = _broken()

    assert "broken at entry #3: missing: sequence gap" in message
    assert f"the next sealed entry is #4 (id {chain[3].pk})" in message


def test_deleting_the_newest_entries_is_caught_by_the_last_checkpoint(chain):
    _triggers_off()
    AuditEntry.objects.filter(pk__in=[chain[3].pk, chain[4].pk]).delete()

    message = _broken()

    assert "broken at entry #4: missing: the trail ends at #3" in message
    assert "records #5" in message


def test_unsealing_the_newest_entries_is_caught_by_the_last_checkpoint(chain):
    _triggers_off()
    AuditEntry.objects.filter(pk=chain[4].pk).update(seq=None, prev_hash=None, hash=None)

    assert "broken at entry #5: missing: the trail ends at #4" in _broken()


def test_deleting_the_newest_entries_and_their_checkpoints_is_caught_by_the_file(chain):
    _triggers_off("audit_auditentry", "audit_auditcheckpoint")
    AuditEntry.objects.filter(pk__in=[chain[3].pk, chain[4].pk]).delete()
    AuditCheckpoint.objects.filter(seq__gt=3).delete()

    message = _broken()

    assert "broken at entry #4: missing: the trail ends at #3" in message
    assert "checkpoint file" in message and "records #5" in message


def _truncate(*tables):
    with connection.cursor() as cursor:
        for table in tables:
            if connection.vendor == "postgresql":
                cursor.execute(f"TRUNCATE {table}")
            else:
                cursor.execute(f"DELETE FROM {table}")  # noqa: S608 - a fixed table name


def test_truncating_the_trail_is_caught(chain):
    if connection.vendor == "sqlite":
        _triggers_off()
    _truncate("audit_auditentry")

    message = _broken()

    assert "broken at entry #1: missing: the trail ends at #0" in message
    assert "records #5" in message


def test_truncating_the_trail_and_the_checkpoint_table_is_caught_by_the_file(chain):
    if connection.vendor == "sqlite":
        _triggers_off("audit_auditentry", "audit_auditcheckpoint")
    _truncate("audit_auditentry", "audit_auditcheckpoint")

    message = _broken()

    assert "broken at entry #1: missing: the trail ends at #0" in message
    assert "of the checkpoint file" in message


def test_a_rewritten_chain_is_caught_by_the_checkpoint_even_with_the_real_key(chain, settings):
    # Whoever holds the key and the database can re-seal the whole chain consistently; the
    # checkpoint file, written where the database's users cannot reach, still disagrees.
    _triggers_off("audit_auditentry", "audit_auditcheckpoint")
    AuditCheckpoint.objects.all().delete()
    _rechain_from(chain, 1, settings.CLOZREMS_AUDIT_KEY, inputs={"n": 1000})

    message = _broken()

    assert "broken at entry #3" in message
    assert "does not match line 1 of the checkpoint file" in message


def test_a_forged_checkpoint_row_is_named(chain):
    AuditCheckpoint.objects.create(
        seq=9,
        hash="f" * 64,
        key_id=chain[0].key_id,
        created_at=chain[0].created_at,
        sealed=4,
        mac="0" * 64,
    )

    message = _broken()

    assert "audit trail broken: checkpoint #9 in the checkpoint table" in message
    assert "does not match its signature" in message


def test_a_forged_checkpoint_line_in_the_file_is_named(chain, checkpoint_file):
    lines = checkpoint_file.read_text().splitlines()
    forged = json.loads(lines[-1])
    forged["seq"] = 99
    checkpoint_file.write_text("\n".join([*lines, json.dumps(forged), "not json"]) + "\n")

    message = _broken()

    assert "audit trail broken: line 3 of the checkpoint file" in message
    assert "does not match its signature" in message


def test_a_rotated_key_still_verifies_what_the_old_one_sealed(chain, admin, settings, seal):
    old_key = settings.CLOZREMS_AUDIT_KEY
    settings.CLOZREMS_AUDIT_KEY = "the-next-audit-key-after-a-rotation-0123456789"
    settings.CLOZREMS_AUDIT_OLD_KEYS = [old_key]
    audit_record(action=Action.QUARANTINE_RESOLVE, actor=admin, inputs={"after": "rotation"})
    seal()

    assert "audit chain intact: 6 entries" in _verify()
    newest = AuditEntry.objects.get(seq=6)
    assert newest.key_id != chain[0].key_id == keyring(old_key).current.key_id

    settings.CLOZREMS_AUDIT_OLD_KEYS = []
    assert "broken at entry #1 " in _broken()


def test_session_replication_role_replica_bypass_is_caught_on_postgresql(chain):
    needs_postgresql()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute("UPDATE audit_auditentry SET role = 'auditor' WHERE id = %s", [chain[0].pk])
        cursor.execute("SET LOCAL session_replication_role = origin")

    assert f"broken at entry #{chain[0].seq} " in _broken()


def test_a_chain_of_real_decisions_verifies_after_the_database_round_trip(
    api, aud, admin, dispense_world, seal
):
    # nested decisions, datetimes, lists and nulls: the HMAC must survive JSON columns
    api(aud).get("/api/v1/reports/dispenses/")
    api(admin).post(f"/api/v1/dispenses/{dispense_world['emergency'].pk}/review/", {"note": "é"})
    seal()
    count = AuditEntry.objects.count()
    assert count >= 5
    assert f"audit chain intact: {count} entries" in _verify()
