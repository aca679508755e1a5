"""The application's PostgreSQL role (`manage.py db_roles`, audit/roles.py) connects for real and
may INSERT and SELECT the trail, and seal it, but every way of changing or hiding it is refused:
UPDATE of content, DELETE, TRUNCATE, disabling or dropping the triggers, replacing the
trigger's function, `session_replication_role`. The requests' append, the sealer and
`audit_verify` all run as that role."""

import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import psycopg
import pytest
from django.core.management import call_command
from django.db import connection

from audit.models import AuditEntry

REPO = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

INSERT = (
    "INSERT INTO audit_auditentry (created_at, actor_username, role, request_id, action, "
    "outcome, object_type, object_id, inputs, output, key_id) VALUES "
    "(now(), 'app', '', '', 'app.insert', 'ok', '', '', '{}', '{}', '') RETURNING id"
)

REFUSED = {
    "update content": "UPDATE audit_auditentry SET action = 'forged'",
    "update content with a seal": "UPDATE audit_auditentry SET action = 'forged', seq = 7",
    "delete": "DELETE FROM audit_auditentry",
    "truncate": "TRUNCATE audit_auditentry",
    "disable user triggers": "ALTER TABLE audit_auditentry DISABLE TRIGGER USER",
    "disable all triggers": "ALTER TABLE audit_auditentry DISABLE TRIGGER ALL",
    "drop the trigger": "DROP TRIGGER clozrems_audit_auditentry_append_only ON audit_auditentry",
    "replace the trigger's function": (
        "CREATE OR REPLACE FUNCTION clozrems_audit_entry_guard() RETURNS trigger AS "
        "$$ BEGIN RETURN NEW; END $$ LANGUAGE plpgsql"
    ),
    "replica mode skips triggers": "SET session_replication_role = replica",
    "drop the table": "DROP TABLE audit_auditentry",
    "update a checkpoint": "UPDATE audit_auditcheckpoint SET seq = seq + 1",
    "delete a checkpoint": "DELETE FROM audit_auditcheckpoint",
    "truncate the checkpoints": "TRUNCATE audit_auditcheckpoint",
    "delete field history": "DELETE FROM audit_fieldchange",
    "truncate field history": "TRUNCATE audit_fieldchange",
    # The monthly partitions (audit/partitions.py): reached only through the table.
    "update a partition directly": "UPDATE audit_auditentry_default SET action = 'forged'",
    "delete from a partition": "DELETE FROM audit_auditentry_default",
    "truncate a partition": "TRUNCATE audit_auditentry_default",
    "detach a partition": "ALTER TABLE audit_auditentry DETACH PARTITION audit_auditentry_default",
    "drop a partition": "DROP TABLE audit_auditentry_default",
    "delete field history from a partition": "DELETE FROM audit_fieldchange_default",
    "rewrite a seal in the side table": "UPDATE audit_auditentry_key SET seq = seq + 1000",
    "delete from the side table": "DELETE FROM audit_auditentry_key",
    "forge a result's uniqueness row": (
        "INSERT INTO monitoring_ancresult_key (id, patient_id, lab, analyte, accession, "
        "superseded) VALUES (999999, 1, 'LAB', 'anc', 'A-1', false)"
    ),
}


@pytest.fixture(scope="module")
def app_role(django_db_setup, django_db_blocker):
    """The role, created and granted once for the module (committed: the role's connections
    are others than the test's). Each test's own statements as the role roll back."""
    with django_db_blocker.unblock():
        if connection.vendor != "postgresql":
            pytest.skip(
                f"needs PostgreSQL: database roles and grants are what this tests, and the "
                f"database is {connection.vendor} (set DATABASE_URL=postgres://...)"
            )
        # Roles belong to the server, not the database: one per test database (xdist worker).
        name = f"{connection.settings_dict['NAME']}_app"[:63]
        call_command("db_roles", "--app-role", name, "--apply", stdout=StringIO())
        yield name
        with connection.cursor() as cursor:
            cursor.execute(f'DROP OWNED BY "{name}"')
            cursor.execute(f'DROP ROLE "{name}"')


def _settings():
    s = connection.settings_dict
    return {"host": s["HOST"] or "127.0.0.1", "port": int(s["PORT"] or 5432), "dbname": s["NAME"]}


def _connect(role):
    """A connection as the role, in a transaction that the `with` block rolls back."""
    return psycopg.connect(**_settings(), user=role)


def _url(role):
    s = _settings()
    return f"postgres://{role}@{s['host']}:{s['port']}/{s['dbname']}"


def test_the_app_role_inserts_and_reads_the_trail(app_role):
    with _connect(app_role) as app:
        [entry_id] = app.execute(INSERT).fetchone()
        read = app.execute("SELECT action, seq FROM audit_auditentry WHERE id = %s", [entry_id])
        assert read.fetchone() == ("app.insert", None)
        assert app.execute("SELECT current_user").fetchone() == (app_role,)
        app.rollback()


@pytest.mark.parametrize("statement", REFUSED.values(), ids=REFUSED.keys())
def test_the_app_role_cannot_change_hide_or_unguard_the_trail(app_role, statement):
    with _connect(app_role) as app:
        app.execute(INSERT)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            app.execute(statement)
        app.rollback()
        trigger = app.execute(
            "SELECT tgenabled FROM pg_trigger "
            "WHERE tgname = 'clozrems_audit_auditentry_append_only'"
        )
        assert trigger.fetchone() == ("O",)
        app.rollback()


def test_the_app_role_can_seal_an_unsealed_entry_once_and_nothing_more(app_role):
    seal = (
        "UPDATE audit_auditentry SET seq = %s, prev_hash = %s, hash = %s, key_id = 'k', "
        "sealed_at = now() WHERE id = %s"
    )
    with _connect(app_role) as app:
        [entry_id] = app.execute(INSERT).fetchone()
        app.execute(seal, [1, "0" * 64, "a" * 64, entry_id])
        assert app.execute(
            "SELECT seq, hash FROM audit_auditentry WHERE id = %s", [entry_id]
        ).fetchone() == (1, "a" * 64)
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            app.execute(seal, [2, "0" * 64, "b" * 64, entry_id])
        app.rollback()


def test_the_app_role_makes_next_months_partitions_which_it_cannot_touch_directly(app_role):
    """The periodic task runs as the application's role, which may not create tables: the
    partition is made by the owner's function, and the role gets no privilege on it."""
    with _connect(app_role) as app:
        made = app.execute(
            "SELECT clozrems_partition_create('audit_auditentry'::regclass, '2040-01-01')"
        )
        assert made.fetchone() == ("created",)
        app.execute(INSERT.replace("(now(),", "('2040-01-15',"))
        where = app.execute("SELECT tableoid::regclass::text FROM audit_auditentry "
                            "WHERE created_at = '2040-01-15'")  # fmt: skip
        assert where.fetchone() == ("audit_auditentry_p204001",)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            app.execute("UPDATE audit_auditentry_p204001 SET action = 'forged'")
        app.rollback()


def _manage(role, *args):
    env = {**os.environ, "DATABASE_URL": _url(role)}
    return subprocess.run(  # noqa: S603 - our own manage.py
        [sys.executable, "manage.py", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.django_db(transaction=True)
def test_the_requests_append_the_sealer_and_the_verifier_all_run_as_the_app_role(app_role):
    write = _manage(
        app_role,
        "shell",
        "-c",
        "from audit.services import audit_record\n"
        "for n in range(3): audit_record(action='app.write', actor=None, inputs={'n': n})",
    )
    assert write.returncode == 0, write.stderr
    sealed = _manage(app_role, "audit_seal")
    assert sealed.returncode == 0, sealed.stderr
    assert "sealed 3 entries" in sealed.stdout
    verified = _manage(app_role, "audit_verify")
    assert verified.returncode == 0, verified.stderr
    assert "audit chain intact: 3 entries" in verified.stdout
    assert list(AuditEntry.objects.order_by("seq").values_list("seq", flat=True)) == [1, 2, 3]


def test_migrate_grants_the_app_role_again(app_role, settings):
    from audit.roles import grants_apply_after_migrate

    with connection.cursor() as cursor:
        cursor.execute(f'GRANT UPDATE, DELETE ON audit_auditentry TO "{app_role}"')
    settings.CLOZREMS_DB_APP_ROLE = app_role

    grants_apply_after_migrate(sender=None)

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT has_table_privilege(%(r)s, 'audit_auditentry', 'INSERT'), "
            "has_table_privilege(%(r)s, 'audit_auditentry', 'SELECT'), "
            "has_table_privilege(%(r)s, 'audit_auditentry', 'UPDATE'), "
            "has_table_privilege(%(r)s, 'audit_auditentry', 'DELETE'), "
            "has_table_privilege(%(r)s, 'audit_auditentry', 'TRUNCATE'), "
            "has_column_privilege(%(r)s, 'audit_auditentry', 'seq', 'UPDATE'), "
            "has_column_privilege(%(r)s, 'audit_auditentry', 'action', 'UPDATE'), "
            "has_table_privilege(%(r)s, 'patients_patient', 'UPDATE')",
            {"r": app_role},
        )
        assert cursor.fetchone() == (True, True, False, False, False, True, False, True)


def test_db_roles_prints_the_owner_and_app_sql_without_running_it(app_role):
    owner, app = f"{app_role}_owner_printed", f"{app_role}_printed"
    out = StringIO()
    call_command("db_roles", "--app-role", app, "--owner-role", owner, stdout=out)
    sql = out.getvalue()
    assert f'CREATE ROLE "{owner}" LOGIN' in sql
    assert f'ALTER TABLE "audit_auditentry" OWNER TO "{owner}"' in sql
    assert "REVOKE UPDATE, DELETE, TRUNCATE, TRIGGER, REFERENCES ON audit_auditentry" in sql
    assert (
        f'GRANT UPDATE (seq, prev_hash, hash, key_id, sealed_at) ON audit_auditentry TO "{app}"'
        in sql
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_roles WHERE rolname IN (%s, %s)", [owner, app])
        assert cursor.fetchone() == (0,)
