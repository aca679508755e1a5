"""`manage.py audit_verify` proves the chain intact, or names the first broken entry and exits
non-zero. To alter a row, the test first switches the append-only trigger off the way an
attacker with schema rights could: SQLite drops it, PostgreSQL disables it (both rolled back
with the test's transaction)."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from audit.models import Action, AuditEntry
from audit.services import audit_record
from tests.audit.conftest import needs_postgresql


@pytest.fixture
def chain(admin):
    return [
        audit_record(action=Action.QUARANTINE_RESOLVE, actor=admin, inputs={"n": n})
        for n in range(5)
    ]


def _triggers_off():
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("DROP TRIGGER clozrems_audit_auditentry_no_update")
            cursor.execute("DROP TRIGGER clozrems_audit_auditentry_no_delete")
        else:
            cursor.execute("ALTER TABLE audit_auditentry DISABLE TRIGGER USER")


def _verify():
    out = StringIO()
    call_command("audit_verify", stdout=out)
    return out.getvalue()


def test_an_untouched_chain_verifies(chain):
    assert f"audit chain intact: {AuditEntry.objects.count()} entries" in _verify()


def test_an_altered_entry_is_named_and_the_command_fails(chain):
    target = chain[2]
    _triggers_off()
    AuditEntry.objects.filter(pk=target.pk).update(inputs={"n": 99})

    with pytest.raises(CommandError) as error:
        _verify()

    assert error.value.returncode == 1
    assert f"broken at entry #{target.seq} " in str(error.value)
    assert "altered" in str(error.value)


def test_a_rehashed_entry_still_breaks_the_link_to_the_next(chain):
    from audit.services import entry_hash

    target = chain[1]
    _triggers_off()
    target.inputs = {"n": 1000}
    target.hash = entry_hash(target)
    AuditEntry.objects.filter(pk=target.pk).update(inputs=target.inputs, hash=target.hash)

    with pytest.raises(CommandError) as error:
        _verify()

    assert f"broken at entry #{chain[2].seq} " in str(error.value)
    assert "prev_hash" in str(error.value)


def test_a_deleted_entry_is_a_gap(chain):
    _triggers_off()
    AuditEntry.objects.filter(pk=chain[3].pk).delete()

    with pytest.raises(CommandError) as error:
        _verify()

    assert f"broken at entry #{chain[4].seq} " in str(error.value)
    assert "sequence gap" in str(error.value)


def test_session_replication_role_replica_bypass_is_caught_on_postgresql(chain):
    needs_postgresql()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute("UPDATE audit_auditentry SET role = 'auditor' WHERE id = %s", [chain[0].pk])
        cursor.execute("SET LOCAL session_replication_role = origin")

    with pytest.raises(CommandError) as error:
        _verify()

    assert f"broken at entry #{chain[0].seq} " in str(error.value)


def test_a_chain_of_real_decisions_verifies_after_the_database_round_trip(
    api, aud, admin, dispense_world
):
    # nested decisions, datetimes, lists and nulls: the hash must survive JSON columns
    api(aud).get("/api/v1/reports/dispenses/")
    api(admin).post(f"/api/v1/dispenses/{dispense_world['emergency'].pk}/review/", {"note": "é"})
    count = AuditEntry.objects.count()
    assert count >= 5
    assert f"audit chain intact: {count} entries" in _verify()
