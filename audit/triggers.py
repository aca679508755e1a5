"""Database triggers, on SQLite and PostgreSQL alike:

- the audit entries accept an INSERT only unsealed (no chain fields), and one UPDATE only: the
  sealer's, which sets the chain fields of an unsealed entry and changes nothing else; they
  refuse every other UPDATE, and DELETE;
- the other audit tables (checkpoints, field history) refuse UPDATE and DELETE;
- the clinical tables refuse DELETE (results are voided or corrected, patients discontinued;
  nothing clinical is ever deleted);
- every UPDATE of a tracked table writes one field-history row per changed column, with the
  actor the service named (`audit.context.acting_as`).

Installed by audit/migrations/0002 and again after every `migrate` (post_migrate): SQLite drops
a table's triggers when a migration rebuilds the table, so another app's later migration must
not remove them silently. The tracked columns are the table's actual columns (minus `id` and
`created_at`), read from the database at install time.

Maintenance escape: PostgreSQL's TRUNCATE fires no row trigger (the test runner's flush uses
it); the application's database role has no TRUNCATE privilege (audit/roles.py), and a
truncated trail fails `audit_verify` against its checkpoints. On SQLite the flush deletes rows,
so the triggers consult `clozrems_maintenance()`, a function true only inside
`maintenance()`; a connection without the function (the sqlite3 shell) cannot delete at all.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper

from audit import context
from audit.models import SEAL_FIELDS

ENTRY_TABLE = "audit_auditentry"
# Append-only: no UPDATE, no DELETE.
APPEND_ONLY_TABLES = ("audit_fieldchange", "audit_auditcheckpoint")
AUDIT_TABLES = (ENTRY_TABLE, *APPEND_ONLY_TABLES)
# Clinical records: never deleted (docs/rules.md §8, §5), and their changes kept field by field.
CLINICAL_TABLES = (
    "patients_patient",
    "patients_enrollmentevent",
    "patients_treatmentevent",
    "patients_authorization",
    "monitoring_ancresult",
    "monitoring_suppliedelsewhere",
    "monitoring_reviewacknowledgement",
    "monitoring_consultacknowledgement",
    "monitoring_stepdownconfirmation",
    "pharmacy_dispense",
    "clinical_levelresult",
    "clinical_smokingstatuschange",
    "clinical_medicationevent",
    "clinical_doseentry",
    "clinical_planentry",
    "clinical_levelindication",
)
# Certification of prescribers and pharmacies: history kept; deactivated, not deleted (their
# rows are protected by the clinical records that point at them).
DIRECTORY_TABLES = ("patients_prescriber", "pharmacy_pharmacy")
HISTORY_TABLES = CLINICAL_TABLES + DIRECTORY_TABLES
UNTRACKED_COLUMNS = frozenset({"id", "created_at"})

_maintenance = threading.local()


@contextmanager
def maintenance() -> Iterator[None]:
    """Allow deletes on SQLite for the block (the test runner's flush); never for a request."""
    _maintenance.on = True
    try:
        yield
    finally:
        _maintenance.on = False


def _maintenance_on() -> int:
    return 1 if getattr(_maintenance, "on", False) else 0


def _actor() -> int | None:
    return context.actor_id()


def _request_id() -> str | None:
    return context.request_id() or None


def sqlite_functions_register(sender: Any, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    if connection.vendor != "sqlite":
        return
    raw = connection.connection
    raw.create_function("clozrems_actor", 0, _actor)
    raw.create_function("clozrems_request_id", 0, _request_id)
    raw.create_function("clozrems_maintenance", 0, _maintenance_on)


def _columns(connection: BaseDatabaseWrapper, cursor: Any, table: str) -> list[str]:
    description = connection.introspection.get_table_description(cursor, table)
    return [c.name for c in description if c.name not in UNTRACKED_COLUMNS]


def _content_columns(connection: BaseDatabaseWrapper, cursor: Any) -> list[str]:
    description = connection.introspection.get_table_description(cursor, ENTRY_TABLE)
    return [c.name for c in description if c.name not in SEAL_FIELDS]


def _sqlite_entry_statements(connection: BaseDatabaseWrapper, cursor: Any) -> list[str]:
    q = connection.ops.quote_name
    unsealed_new = " AND ".join(
        [f"NEW.{q(col)} IS NULL" for col in SEAL_FIELDS if col != "key_id"]
        + [f"NEW.{q('key_id')} = ''"]
    )
    unchanged = " AND ".join(
        f"OLD.{q(col)} IS NEW.{q(col)}" for col in _content_columns(connection, cursor)
    )
    seal = (
        f"OLD.{q('seq')} IS NULL AND NEW.{q('seq')} IS NOT NULL "
        f"AND NEW.{q('hash')} IS NOT NULL AND NEW.{q('prev_hash')} IS NOT NULL AND {unchanged}"
    )
    table = ENTRY_TABLE
    return [
        f"DROP TRIGGER IF EXISTS clozrems_{table}_unsealed_insert",
        f"CREATE TRIGGER clozrems_{table}_unsealed_insert BEFORE INSERT ON {table} "
        f"WHEN NOT ({unsealed_new}) "
        f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: an entry is inserted unsealed, "
        "the sealer seals it'); END",
        f"DROP TRIGGER IF EXISTS clozrems_{table}_no_update",
        f"CREATE TRIGGER clozrems_{table}_no_update BEFORE UPDATE ON {table} "
        f"WHEN clozrems_maintenance() = 0 AND NOT ({seal}) "
        f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: UPDATE refused (only the sealer "
        "seals an unsealed entry, once)'); END",
        f"DROP TRIGGER IF EXISTS clozrems_{table}_no_delete",
        f"CREATE TRIGGER clozrems_{table}_no_delete BEFORE DELETE ON {table} "
        "WHEN clozrems_maintenance() = 0 "
        f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: DELETE refused'); END",
    ]


def _sqlite_statements(connection: BaseDatabaseWrapper, cursor: Any) -> list[str]:
    q = connection.ops.quote_name
    out: list[str] = _sqlite_entry_statements(connection, cursor)
    for table in APPEND_ONLY_TABLES:
        for op in ("UPDATE", "DELETE"):
            name = f"clozrems_{table}_no_{op.lower()}"
            out.append(f"DROP TRIGGER IF EXISTS {name}")
            out.append(
                f"CREATE TRIGGER {name} BEFORE {op} ON {table} "
                "WHEN clozrems_maintenance() = 0 "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {op} refused'); END"
            )
    for table in CLINICAL_TABLES:
        name = f"clozrems_{table}_no_delete"
        out.append(f"DROP TRIGGER IF EXISTS {name}")
        out.append(
            f"CREATE TRIGGER {name} BEFORE DELETE ON {table} "
            "WHEN clozrems_maintenance() = 0 "
            f"BEGIN SELECT RAISE(ABORT, 'clinical records are never deleted: {table}'); END"
        )
    for table in HISTORY_TABLES:
        name = f"clozrems_{table}_history"
        inserts = "".join(
            "INSERT INTO audit_fieldchange (table_name, row_id, field, old_value, new_value, "
            "actor_id, request_id, changed_at) "
            f"SELECT '{table}', NEW.id, '{col}', OLD.{q(col)}, NEW.{q(col)}, clozrems_actor(), "
            "clozrems_request_id(), strftime('%Y-%m-%d %H:%M:%f', 'now') "
            f"WHERE OLD.{q(col)} IS NOT NEW.{q(col)}; "
            for col in _columns(connection, cursor, table)
        )
        out.append(f"DROP TRIGGER IF EXISTS {name}")
        out.append(f"CREATE TRIGGER {name} AFTER UPDATE ON {table} BEGIN {inserts}END")
    return out


_PG_FUNCTIONS = [
    # The table a row trigger speaks for: a partition's parent (docs/scaling.md, partitions
    # `<table>_pYYYYMM` and `<table>_default`), so messages and the field history name the
    # table, not the month's partition.
    r"""
    CREATE OR REPLACE FUNCTION clozrems_table(name) RETURNS text AS $$
        SELECT regexp_replace($1, '_(p[0-9]{6}|default)$', '')
    $$ LANGUAGE sql IMMUTABLE
    """,
    """
    CREATE OR REPLACE FUNCTION clozrems_refuse() RETURNS trigger AS $$
    BEGIN
        RAISE EXCEPTION '%: % refused (%)', clozrems_table(TG_TABLE_NAME), TG_OP, TG_ARGV[0]
            USING ERRCODE = 'insufficient_privilege';
    END $$ LANGUAGE plpgsql
    """,
    """
    CREATE OR REPLACE FUNCTION clozrems_field_history() RETURNS trigger AS $$
    DECLARE
        old_row jsonb := to_jsonb(OLD);
        new_row jsonb := to_jsonb(NEW);
        col text;
    BEGIN
        FOREACH col IN ARRAY TG_ARGV LOOP
            IF old_row -> col IS DISTINCT FROM new_row -> col THEN
                INSERT INTO audit_fieldchange (table_name, row_id, field, old_value, new_value,
                                               actor_id, request_id, changed_at)
                VALUES (clozrems_table(TG_TABLE_NAME), new_row ->> 'id', col, old_row ->> col,
                        new_row ->> col,
                        NULLIF(current_setting('clozrems.actor', true), '')::bigint,
                        NULLIF(current_setting('clozrems.request_id', true), ''),
                        clock_timestamp());
            END IF;
        END LOOP;
        RETURN NULL;
    END $$ LANGUAGE plpgsql
    """,
    # The audit entries: inserted unsealed; updated once, by the sealer, which sets the chain
    # fields (TG_ARGV) of an unsealed entry and nothing else; never deleted.
    """
    CREATE OR REPLACE FUNCTION clozrems_audit_entry_guard() RETURNS trigger AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            IF NEW.seq IS NULL AND NEW.hash IS NULL AND NEW.prev_hash IS NULL
               AND NEW.sealed_at IS NULL AND NEW.key_id = '' THEN
                RETURN NEW;
            END IF;
            RAISE EXCEPTION '%: INSERT refused (append-only: an entry is inserted unsealed, '
                            'the sealer seals it)', clozrems_table(TG_TABLE_NAME)
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        IF TG_OP = 'UPDATE' AND OLD.seq IS NULL AND NEW.seq IS NOT NULL
           AND NEW.hash IS NOT NULL AND NEW.prev_hash IS NOT NULL
           AND (to_jsonb(OLD) - TG_ARGV) = (to_jsonb(NEW) - TG_ARGV) THEN
            RETURN NEW;
        END IF;
        RAISE EXCEPTION '%: % refused (append-only: only the sealer seals an unsealed entry, '
                        'once)', clozrems_table(TG_TABLE_NAME), TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END $$ LANGUAGE plpgsql
    """,
]


def _pg_statements(connection: BaseDatabaseWrapper, cursor: Any) -> list[str]:
    out = [sql.strip() for sql in _PG_FUNCTIONS]
    seal_args = ", ".join(f"'{col}'" for col in SEAL_FIELDS)
    out.append(f"DROP TRIGGER IF EXISTS clozrems_{ENTRY_TABLE}_append_only ON {ENTRY_TABLE}")
    out.append(
        f"CREATE TRIGGER clozrems_{ENTRY_TABLE}_append_only "
        f"BEFORE INSERT OR UPDATE OR DELETE ON {ENTRY_TABLE} "
        f"FOR EACH ROW EXECUTE FUNCTION clozrems_audit_entry_guard({seal_args})"
    )
    for table in APPEND_ONLY_TABLES:
        name = f"clozrems_{table}_append_only"
        out.append(f"DROP TRIGGER IF EXISTS {name} ON {table}")
        out.append(
            f"CREATE TRIGGER {name} BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION clozrems_refuse('append-only')"
        )
    for table in CLINICAL_TABLES:
        name = f"clozrems_{table}_no_delete"
        out.append(f"DROP TRIGGER IF EXISTS {name} ON {table}")
        out.append(
            f"CREATE TRIGGER {name} BEFORE DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION clozrems_refuse('clinical records are never deleted')"
        )
    for table in HISTORY_TABLES:
        name = f"clozrems_{table}_history"
        args = ", ".join(f"'{col}'" for col in _columns(connection, cursor, table))
        out.append(f"DROP TRIGGER IF EXISTS {name} ON {table}")
        out.append(
            f"CREATE TRIGGER {name} AFTER UPDATE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION clozrems_field_history({args})"
        )
    return out


def triggers_install(connection: BaseDatabaseWrapper) -> None:
    with connection.cursor() as cursor:
        present = set(connection.introspection.table_names(cursor))
        if not set(AUDIT_TABLES + HISTORY_TABLES) <= present:
            return  # migrating backwards, or the other apps are not there yet
        if connection.vendor == "postgresql":
            statements = _pg_statements(connection, cursor)
        elif connection.vendor == "sqlite":
            statements = _sqlite_statements(connection, cursor)
        else:
            raise NotImplementedError(f"audit triggers for {connection.vendor}")
        for sql in statements:
            cursor.execute(sql)


def triggers_uninstall(connection: BaseDatabaseWrapper) -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            for table in AUDIT_TABLES:
                cursor.execute(f"DROP TRIGGER IF EXISTS clozrems_{table}_append_only ON {table}")
            for table in CLINICAL_TABLES:
                cursor.execute(f"DROP TRIGGER IF EXISTS clozrems_{table}_no_delete ON {table}")
            for table in HISTORY_TABLES:
                cursor.execute(f"DROP TRIGGER IF EXISTS clozrems_{table}_history ON {table}")
        else:
            cursor.execute(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'clozrems_%'"
            )
            for (name,) in cursor.fetchall():
                cursor.execute(f"DROP TRIGGER IF EXISTS {name}")


def triggers_install_after_migrate(sender: Any, using: str = "default", **kwargs: Any) -> None:
    from django.db import connections

    triggers_install(connections[using])
