"""PostgreSQL roles: an owner that runs the migrations, and the application's role that serves
requests and runs the workers. The application's role reads and writes the ordinary tables,
but on the audit trail it may only INSERT and SELECT (and, on the entries, UPDATE the five
chain columns the sealer sets: `seq`, `prev_hash`, `hash`, `key_id`, `sealed_at`). It owns
nothing, so it cannot ALTER a table, disable or drop a trigger, or replace a trigger's function;
it has no TRUNCATE anywhere; and, not being a superuser, it cannot set
`session_replication_role` to skip the triggers. The triggers (audit/triggers.py) then limit
the column UPDATE to sealing an unsealed entry, once.

Why a column grant rather than a separate table of seals: the sealer finds its work through a
partial index on the entries not yet sealed (`seq IS NULL`), which costs what is waiting, not
the trail's size; a seal table would need an anti-join over the whole trail on every run. The
column grant plus the trigger give the same guarantee: content columns are never updatable by
the application, and a seal, once set, never changes.

`manage.py db_roles` prints (or, with --apply, runs) the statements; `migrate` re-applies the
grants when settings.CLOZREMS_DB_APP_ROLE names the role, so a table a later migration adds is
covered at once. See docs/audit.md.
"""

from __future__ import annotations

import re
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper

from audit.models import SEAL_FIELDS
from audit.partitions import AUDIT, ENTRIES, FUNCTIONS, PARTITIONED, is_partitioned, partitions_of
from audit.triggers import APPEND_ONLY_TABLES, ENTRY_TABLE

AUDIT_TABLES = (ENTRY_TABLE, *APPEND_ONLY_TABLES)
TRIGGER_FUNCTIONS = (
    "clozrems_refuse()",
    "clozrems_field_history()",
    "clozrems_audit_entry_guard()",
    "clozrems_table(name)",
    *FUNCTIONS,
)


def _q(connection: BaseDatabaseWrapper, name: str) -> str:
    return str(connection.ops.quote_name(name))


# Role names go into SQL text (a DO block takes no parameters): plain identifiers only.
ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def role_name_check(role: str) -> str:
    if not ROLE_NAME.match(role):
        raise ValueError(
            f"{role!r} is not a plain role name (lower-case letters, digits, _; at most 63)"
        )
    return role


def role_create_sql(connection: BaseDatabaseWrapper, role: str) -> str:
    """A login role with no special power (idempotent). Its password is set apart, e.g. with
    psql's \\password, or the server authenticates it another way (certificates, peer)."""
    role = role_name_check(role)  # a plain identifier: safe in the text below
    exists = f"SELECT 1 FROM pg_roles WHERE rolname = '{role}'"  # noqa: S608  # nosec B608 - checked above
    create = (
        f"CREATE ROLE {_q(connection, role)} "
        "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS"
    )
    return f"DO $$ BEGIN IF NOT EXISTS ({exists}) THEN {create}; END IF; END $$"


def ownership_sql(connection: BaseDatabaseWrapper, owner: str) -> list[str]:
    """The owner owns every table, sequence and trigger function of the schema."""
    q = _q(connection, owner)
    with connection.cursor() as cursor:
        tables = connection.introspection.table_names(cursor)
        cursor.execute(
            "SELECT sequence_name FROM information_schema.sequences "
            "WHERE sequence_schema = current_schema()"
        )
        sequences = [row[0] for row in cursor.fetchall()]
        functions = []
        for function in TRIGGER_FUNCTIONS:
            cursor.execute("SELECT to_regprocedure(%s) IS NOT NULL", [function])
            if cursor.fetchone()[0]:
                functions.append(function)
    out = [f"GRANT USAGE, CREATE ON SCHEMA public TO {q}"]
    out += [f"ALTER TABLE {_q(connection, t)} OWNER TO {q}" for t in tables]
    out += [f"ALTER SEQUENCE {_q(connection, s)} OWNER TO {q}" for s in sequences]
    out += [f"ALTER FUNCTION {f} OWNER TO {q}" for f in functions]
    return out


def grants_sql(connection: BaseDatabaseWrapper, app: str, owner: str | None = None) -> list[str]:
    """What the application's role may do (idempotent; run by the owner or a superuser)."""
    a = _q(connection, app)
    database = _q(connection, str(connection.settings_dict["NAME"]))
    audit = ", ".join(AUDIT_TABLES)
    seal_columns = ", ".join(SEAL_FIELDS)
    defaults = f"ALTER DEFAULT PRIVILEGES{f' FOR ROLE {_q(connection, owner)}' if owner else ''}"
    return [
        f"GRANT CONNECT ON DATABASE {database} TO {a}",
        f"GRANT USAGE ON SCHEMA public TO {a}",
        "REVOKE CREATE ON SCHEMA public FROM PUBLIC",
        f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {a}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {a}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {a}",
        # The trail: read and append. Revoking the table's UPDATE revokes its column grants
        # too, so the sealer's columns are granted after.
        f"REVOKE UPDATE, DELETE, TRUNCATE, TRIGGER, REFERENCES ON {audit} FROM {a}",
        f"GRANT UPDATE ({seal_columns}) ON {ENTRY_TABLE} TO {a}",
        *_partition_grants_sql(connection, a),
        f"{defaults} IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {a}",
        f"{defaults} IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {a}",
    ]


def _partition_grants_sql(connection: BaseDatabaseWrapper, a: str) -> list[str]:
    """Partitioned tables (audit/partitions.py): the application reaches a partition only
    through its table, so it has no privilege on the partitions themselves; on the audit
    tables' side tables it may only add rows, and set the entries' two sealed columns (their
    triggers write them, as the role that wrote the row)."""
    out = []
    with connection.cursor() as cursor:
        for spec in PARTITIONED:
            if not is_partitioned(cursor, spec.table):
                continue
            parts = ", ".join(_q(connection, p) for p in partitions_of(cursor, spec.table))
            if parts:
                out.append(f"REVOKE ALL ON {parts} FROM {a}")
            if spec in AUDIT:
                out.append(
                    f"REVOKE UPDATE, DELETE, TRUNCATE, TRIGGER, REFERENCES ON {spec.side} FROM {a}"
                )
            if spec is ENTRIES:
                out.append(f"GRANT UPDATE ({', '.join(spec.side_columns)}) ON {spec.side} TO {a}")
    return out


def db_roles_sql(
    connection: BaseDatabaseWrapper, *, app: str, owner: str | None = None
) -> list[str]:
    role_name_check(app)
    if owner:
        role_name_check(owner)
    out = []
    if owner:
        out.append(role_create_sql(connection, owner))
    out.append(role_create_sql(connection, app))
    if owner:
        out += ownership_sql(connection, owner)
    out += grants_sql(connection, app, owner)
    return out


def grants_apply_after_migrate(sender: Any, using: str = "default", **kwargs: Any) -> None:
    """post_migrate: re-grant to settings.CLOZREMS_DB_APP_ROLE, so tables a migration just
    added are covered (an audit table must never keep the default UPDATE/DELETE)."""
    from django.conf import settings
    from django.db import connections

    app = settings.CLOZREMS_DB_APP_ROLE
    connection = connections[using]
    if not app or connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        if not set(AUDIT_TABLES) <= set(connection.introspection.table_names(cursor)):
            return
        for sql in grants_sql(connection, app):
            cursor.execute(sql)
