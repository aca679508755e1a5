"""Monthly range partitions for the tables that grow without end: the lab results
(`monitoring_ancresult`), the audit entries (`audit_auditentry`) and the field history
(`audit_fieldchange`). PostgreSQL only; SQLite
keeps plain tables and every function here does nothing there. The design is in
docs/scaling.md ("Partitioned tables").

Each table is partitioned by `created_at` (the field history by `changed_at`), set once at the
INSERT and never updated (the results' column is `auto_now_add`; the audit tables' rows never
change), so a row never moves between partitions. Partitions are named `<table>_pYYYYMM` and
cover one calendar month in UTC; `<table>_default` catches a row for a month whose partition
does not exist yet, so an insert never fails for want of a partition.

PostgreSQL requires a partitioned table's primary key and unique constraints to include the
partition key, and a foreign key may reference it only through one. The guarantees that cannot
include `created_at` live in a small non-partitioned side table, `<table>_key`, one narrow row
per row of the table, written only by the table's own triggers:

- the id, globally unique (its primary key; the partitioned table's primary key is
  `(id, created_at)` and has a foreign key to it);
- every unique constraint and unique index of the plain table, under its original name (for
  the results: one current result per lab + analyte + accession, one per patient + analyte +
  accession when no lab is named, one correction per result; for the audit entries: `seq`
  and `hash`), with a plain (non-unique) copy named `<name>_lookup` left on the partitioned table
  for the queries that used the unique index;
- the foreign keys that pointed at the table's id from other tables (a quarantined result's
  result) and from itself (a correction's `corrects`) point at the side table's id instead.

A violation is reported exactly as before: SQLSTATE 23505 (IntegrityError) naming the same
constraint, raised by the same INSERT or UPDATE statement.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper

# How many months ahead of the current one the migrations, the command and the periodic task
# keep partitions for.
MONTHS_AHEAD = 3


@dataclass(frozen=True)
class Partitioned:
    table: str
    # The columns the side table mirrors (beside `id`): those of the unique constraints and
    # of their conditions.
    side_columns: tuple[str, ...]
    key: str = "created_at"

    @property
    def side(self) -> str:
        return f"{self.table}_key"

    @property
    def default(self) -> str:
        return f"{self.table}_default"

    @property
    def key_function(self) -> str:
        return f"clozrems_{self.table}_key"


RESULTS = Partitioned(
    "monitoring_ancresult",
    ("patient_id", "lab", "analyte", "accession", "superseded", "corrects_id"),
)
ENTRIES = Partitioned("audit_auditentry", ("seq", "hash"))
# The field history: only its id to keep unique.
CHANGES = Partitioned("audit_fieldchange", (), key="changed_at")
PARTITIONED = (RESULTS, ENTRIES, CHANGES)
AUDIT = (ENTRIES, CHANGES)
# Owned by the owner role with the tables (audit/roles.py).
FUNCTIONS = (
    "clozrems_key_guard()",
    "clozrems_key_clear()",
    "clozrems_partition_create(regclass, date)",
    *(f"{spec.key_function}()" for spec in PARTITIONED),
)


def month_first(value: date | datetime) -> date:
    return date(value.year, value.month, 1)


def month_add(month: date, months: int) -> date:
    index = month.year * 12 + month.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


# --- the functions -------------------------------------------------------------------------

_FUNCTIONS_SQL = [
    # The side tables are written only by their table's triggers (depth 2 and more): a direct
    # INSERT, UPDATE or DELETE would let the mirror and the table disagree.
    """
    CREATE OR REPLACE FUNCTION clozrems_key_guard() RETURNS trigger AS $$
    BEGIN
        IF pg_trigger_depth() < 2 THEN
            RAISE EXCEPTION '%: % refused (written only by the triggers of its partitioned '
                            'table)', TG_TABLE_NAME, TG_OP
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        IF TG_OP = 'DELETE' THEN
            RETURN OLD;
        END IF;
        RETURN NEW;
    END $$ LANGUAGE plpgsql
    """,
    # TRUNCATE of the partitioned table (the test runner's flush; the application's role has
    # no TRUNCATE) empties its side table too. A table that still points at the side table
    # (a quarantined result) makes this fail, as it made the TRUNCATE fail before.
    """
    CREATE OR REPLACE FUNCTION clozrems_key_clear() RETURNS trigger AS $$
    BEGIN
        EXECUTE format('DELETE FROM %I', TG_ARGV[0]);
        RETURN NULL;
    END $$ LANGUAGE plpgsql
    """,
    # One month's partition of a partitioned table (UTC bounds), unless it exists. Runs as the
    # owner (SECURITY DEFINER), so the application's role, which may not create tables, can
    # keep partitions ahead from the periodic task. Returns 'created', 'exists', or 'default'
    # when the default partition already holds rows of that month (a partition cannot be
    # created over them; they stay where they are, found like any other row). A new
    # partition is reached only through its table: every privilege on it is revoked.
    """
    CREATE OR REPLACE FUNCTION clozrems_partition_create(parent regclass, month date)
    RETURNS text SECURITY DEFINER SET search_path = public AS $$
    DECLARE
        parent_name text;
        key_column text;
        part text;
        lo timestamptz := date_trunc('month', month)::timestamp AT TIME ZONE 'UTC';
        hi timestamptz := (date_trunc('month', month) + interval '1 month')::timestamp
                          AT TIME ZONE 'UTC';
        taken boolean;
        grantee text;
    BEGIN
        SELECT c.relname, a.attname INTO parent_name, key_column
          FROM pg_partitioned_table p
          JOIN pg_class c ON c.oid = p.partrelid
          JOIN pg_attribute a ON a.attrelid = p.partrelid AND a.attnum = p.partattrs[0]
         WHERE p.partrelid = parent AND c.relname IN (%(tables)s);
        IF parent_name IS NULL THEN
            RAISE EXCEPTION '% is not one of the partitioned tables', parent;
        END IF;
        part := parent_name || '_p' || to_char(month, 'YYYYMM');
        IF to_regclass(part) IS NOT NULL THEN
            RETURN 'exists';
        END IF;
        IF to_regclass(parent_name || '_default') IS NOT NULL THEN
            EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I WHERE %I >= $1 AND %I < $2)',
                           parent_name || '_default', key_column, key_column)
               INTO taken USING lo, hi;
            IF taken THEN
                RETURN 'default';
            END IF;
        END IF;
        EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
                       part, parent_name, lo, hi);
        EXECUTE format('REVOKE ALL ON %I FROM PUBLIC', part);
        FOR grantee IN
            SELECT DISTINCT a.grantee::regrole::text
              FROM pg_class c, aclexplode(c.relacl) a
             WHERE c.oid = part::regclass AND a.grantee <> c.relowner AND a.grantee <> 0
        LOOP
            EXECUTE format('REVOKE ALL ON %I FROM %s', part, grantee);
        END LOOP;
        RETURN 'created';
    END $$ LANGUAGE plpgsql
    """,
]


_TABLES = ", ".join(f"'{spec.table}'" for spec in PARTITIONED)
_FUNCTIONS_SQL = [sql.replace("%(tables)s", _TABLES) for sql in _FUNCTIONS_SQL]


def _key_function_sql(spec: Partitioned) -> str:
    """The partitioned table's BEFORE INSERT OR UPDATE row trigger that writes its side row
    (BEFORE, so the row exists when the table's foreign key to it is checked)."""
    cols = ("id", *spec.side_columns)
    names = ", ".join(cols)
    new = ", ".join(f"NEW.{c}" for c in cols)
    old = ", ".join(f"OLD.{c}" for c in cols)
    # Not the id: an UPDATE of a row's id finds no side row under the new one, and the
    # table's foreign key to its side table refuses it.
    sets = ", ".join(f"{c} = NEW.{c}" for c in spec.side_columns)
    changed = f"ELSIF ROW({old}) IS DISTINCT FROM ROW({new}) THEN"
    write = f"UPDATE {spec.side} SET {sets} WHERE id = OLD.id;"  # noqa: S608  # nosec B608 - the spec's fixed names
    update = f"{changed} {write}" if spec.side_columns else ""
    return f"""
    CREATE OR REPLACE FUNCTION {spec.key_function}() RETURNS trigger AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            INSERT INTO {spec.side} ({names}) VALUES ({new});
        {update}
        END IF;
        RETURN NEW;
    END $$ LANGUAGE plpgsql
    """  # noqa: S608  # nosec B608 - the spec's fixed names


def _triggers_sql(spec: Partitioned) -> list[str]:
    # The key trigger's name sorts after the audit entries' append-only guard
    # (clozrems_audit_auditentry_append_only), so a refused write never reaches the mirror.
    return [
        *(sql.strip() for sql in _FUNCTIONS_SQL),
        _key_function_sql(spec).strip(),
        f"DROP TRIGGER IF EXISTS {spec.key_function} ON {spec.table}",
        f"CREATE TRIGGER {spec.key_function} BEFORE INSERT OR UPDATE ON {spec.table} "
        f"FOR EACH ROW EXECUTE FUNCTION {spec.key_function}()",
        f"DROP TRIGGER IF EXISTS clozrems_{spec.table}_key_clear ON {spec.table}",
        f"CREATE TRIGGER clozrems_{spec.table}_key_clear AFTER TRUNCATE ON {spec.table} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION clozrems_key_clear('{spec.side}')",
        f"DROP TRIGGER IF EXISTS clozrems_{spec.side}_guard ON {spec.side}",
        f"CREATE TRIGGER clozrems_{spec.side}_guard BEFORE INSERT OR UPDATE OR DELETE "
        f"ON {spec.side} FOR EACH ROW EXECUTE FUNCTION clozrems_key_guard()",
    ]


# --- reading the catalogue -----------------------------------------------------------------


def is_partitioned(cursor: Any, table: str) -> bool:
    cursor.execute(
        "SELECT EXISTS (SELECT 1 FROM pg_partitioned_table p JOIN pg_class c "
        "ON c.oid = p.partrelid WHERE c.relname = %s AND c.relnamespace = "
        "current_schema()::regnamespace)",
        [table],
    )
    return bool(cursor.fetchone()[0])


def partitions_of(cursor: Any, table: str) -> list[str]:
    cursor.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = %s::regclass ORDER BY c.relname",
        [table],
    )
    return [row[0] for row in cursor.fetchall()]


def _indexes(cursor: Any, table: str) -> list[tuple[str, str, bool, bool, str | None, str]]:
    """(name, definition, unique, primary, constraint's type, constraint's definition)."""
    cursor.execute(
        "SELECT i.relname, pg_get_indexdef(i.oid), x.indisunique, x.indisprimary, "
        "con.contype, coalesce(pg_get_constraintdef(con.oid), '') "
        "FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
        "LEFT JOIN pg_constraint con ON con.conindid = x.indexrelid AND con.conrelid = x.indrelid "
        "AND con.contype IN ('p', 'u') "
        "WHERE x.indrelid = %s::regclass ORDER BY i.relname",
        [table],
    )
    return [tuple(row) for row in cursor.fetchall()]


def _foreign_keys(cursor: Any, *, of: str | None = None, to: str | None = None) -> list[Any]:
    """(table, name, definition, self-referencing) of the foreign keys of `of` or to `to`."""
    column, value = ("conrelid", of) if of else ("confrelid", to)
    where = f"contype = 'f' AND conparentid = 0 AND {column} = %s::regclass"
    cursor.execute(
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid), "  # noqa: S608  # nosec B608 - fixed column
        f"conrelid = confrelid FROM pg_constraint WHERE {where} ORDER BY conname",
        [value],
    )
    return cursor.fetchall()


def _quoted(connection: BaseDatabaseWrapper, name: str) -> str:
    return str(connection.ops.quote_name(name))


def _sequence(cursor: Any, table: str) -> str:
    cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table])
    return str(cursor.fetchone()[0])


def side_fill_sql() -> list[str]:
    """For a bulk load that skipped the triggers (`session_replication_role = replica`, the
    benchmark's COPY): the side rows of the rows that have none, one INSERT per table. Run in
    that same mode (the side tables' guard would refuse a direct write); the side tables'
    unique indexes check the loaded rows as the triggers would have."""
    out = []
    for spec in PARTITIONED:
        cols = ", ".join(("id", *spec.side_columns))
        out.append(
            f"INSERT INTO {spec.side} ({cols}) SELECT {cols} FROM {spec.table} t "  # noqa: S608  # nosec B608 - the spec's fixed names
            f"WHERE NOT EXISTS (SELECT 1 FROM {spec.side} k WHERE k.id = t.id)"
        )
    return out


# --- creating partitions -------------------------------------------------------------------


def partition_create(cursor: Any, table: str, month: date) -> str:
    cursor.execute("SELECT clozrems_partition_create(%s::regclass, %s)", [table, month])
    return str(cursor.fetchone()[0])


def partitions_ensure(
    connection: BaseDatabaseWrapper, *, now: datetime, months: int = MONTHS_AHEAD
) -> list[tuple[str, date, str]]:
    """The partitions of the current month and the `months` after it, for each partitioned
    table: (table, month, 'created' | 'exists' | 'default'). Nothing on SQLite."""
    if connection.vendor != "postgresql":
        return []
    out = []
    first = month_first(now)
    with connection.cursor() as cursor:
        for spec in PARTITIONED:
            if not is_partitioned(cursor, spec.table):
                continue
            for step in range(months + 1):
                month = month_add(first, step)
                out.append((spec.table, month, partition_create(cursor, spec.table, month)))
    return out


# --- the migrations ------------------------------------------------------------------------


def partition(schema_editor: Any, spec: Partitioned, *, now: datetime) -> None:
    """Turn the plain table into a partitioned one with the same rows, columns, checks,
    indexes and foreign keys (its unique guarantees moved to the side table). No-op on SQLite
    and on a table already partitioned."""
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    table, side, key = spec.table, spec.side, spec.key
    old = f"{table}_unpartitioned"
    with connection.cursor() as cursor:
        if is_partitioned(cursor, table):
            return
        indexes = _indexes(cursor, table)
        fks_out = _foreign_keys(cursor, of=table)
        fks_in = [fk for fk in _foreign_keys(cursor, to=table) if not fk[3]]
        cursor.execute(
            "SELECT attname, format_type(atttypid, atttypmod), attnotnull FROM pg_attribute "
            "WHERE attrelid = %s::regclass AND attname = ANY(%s) ORDER BY attnum",
            [table, list(spec.side_columns)],
        )
        side_columns = {name: (kind, notnull) for name, kind, notnull in cursor.fetchall()}
        cursor.execute(
            f"SELECT min({key}), max({key}) FROM {table}"  # noqa: S608  # nosec B608 - fixed names
        )
        first, last = cursor.fetchone()
        sequence = _sequence(cursor, table)

        for other, name, _definition, _self in fks_in:
            cursor.execute(f"ALTER TABLE {other} DROP CONSTRAINT {_quoted(connection, name)}")
        cursor.execute(f"ALTER TABLE {table} RENAME TO {old}")
        cursor.execute(f"ALTER SEQUENCE {sequence} RENAME TO {old}_id_seq")
        # Free the names of its constraints and indexes for the new table.
        cursor.execute(
            "SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass "
            "AND contype IN ('p', 'u', 'f')",
            [old],
        )
        for (name,) in cursor.fetchall():
            cursor.execute(f"ALTER TABLE {old} DROP CONSTRAINT {_quoted(connection, name)}")
        for name, *_rest in _indexes(cursor, old):
            cursor.execute(f"DROP INDEX {_quoted(connection, name)}")

        cursor.execute(
            f"CREATE TABLE {table} (LIKE {old} INCLUDING DEFAULTS INCLUDING CONSTRAINTS "
            f"INCLUDING IDENTITY INCLUDING STORAGE INCLUDING COMMENTS) PARTITION BY RANGE ({key})"
        )
        setval = "SELECT setval(pg_get_serial_sequence(%s, 'id'), last_value, is_called)"
        cursor.execute(f"{setval} FROM {old}_id_seq", [table])  # noqa: S608  # nosec B608 - fixed names
        columns = "".join(
            f", {name} {kind}{' NOT NULL' if notnull else ''}"
            for name, (kind, notnull) in side_columns.items()
        )
        cursor.execute(f"CREATE TABLE {side} (id bigint PRIMARY KEY{columns})")
        for sql in _triggers_sql(spec):
            cursor.execute(sql)
        cursor.execute(f"CREATE TABLE {spec.default} PARTITION OF {table} DEFAULT")
        cursor.execute(f"REVOKE ALL ON {spec.default} FROM PUBLIC")
        month = month_first(first) if first is not None else month_first(now)
        until = month_add(month_first(now), MONTHS_AHEAD)
        if last is not None and month_first(last) > until:
            until = month_first(last)
        while month <= until:
            partition_create(cursor, table, month)
            month = month_add(month, 1)
        cursor.execute(f"INSERT INTO {table} SELECT * FROM {old}")  # noqa: S608  # nosec B608 - fixed names
        cursor.execute(f"DROP TABLE {old}")

        for name, definition, unique, primary, contype, condef in indexes:
            quoted = _quoted(connection, name)
            if primary:
                cursor.execute(
                    f"ALTER TABLE {table} ADD CONSTRAINT {quoted} PRIMARY KEY (id, {key})"
                )
            elif contype == "u":
                cursor.execute(f"ALTER TABLE {side} ADD CONSTRAINT {quoted} {condef}")
                lookup = condef.removeprefix("UNIQUE ")
                cursor.execute(f"CREATE INDEX {name}_lookup ON {table} {lookup}")
            elif unique:
                on = f" ON public.{table} USING "
                cursor.execute(definition.replace(on, f" ON public.{side} USING "))
                cursor.execute(
                    definition.replace(
                        f"CREATE UNIQUE INDEX {name} ", f"CREATE INDEX {name}_lookup "
                    )
                )
            else:
                cursor.execute(definition)
        for _table, name, definition, to_itself in fks_out:
            if to_itself:
                definition = definition.replace(f"REFERENCES {table}(", f"REFERENCES {side}(")
            cursor.execute(
                f"ALTER TABLE {table} ADD CONSTRAINT {_quoted(connection, name)} {definition}"
            )
        for other, name, definition, _self in fks_in:
            definition = definition.replace(f"REFERENCES {table}(", f"REFERENCES {side}(")
            cursor.execute(
                f"ALTER TABLE {other} ADD CONSTRAINT {_quoted(connection, name)} {definition}"
            )
        cursor.execute(
            f"ALTER TABLE {table} ADD CONSTRAINT {table}_id_in_{side} "
            f"FOREIGN KEY (id) REFERENCES {side} (id)"
        )
        cursor.execute(f"ANALYZE {table}")
    from audit.triggers import triggers_install

    triggers_install(connection)


def unpartition(schema_editor: Any, spec: Partitioned, model: Any) -> None:
    """Back to the plain table the model describes (Django's own names for its indexes and
    constraints), with the same rows and ids. No-op on SQLite and on a plain table."""
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    table, side = spec.table, spec.side
    kept = f"{table}_partitioned"
    with connection.cursor() as cursor:
        if not is_partitioned(cursor, table):
            return
        fks_in = [fk for fk in _foreign_keys(cursor, to=side) if fk[0] != table]
        for other, name, _definition, _self in fks_in:
            cursor.execute(f"ALTER TABLE {other} DROP CONSTRAINT {_quoted(connection, name)}")
        cursor.execute(f"SELECT last_value, is_called FROM {_sequence(cursor, table)}")  # noqa: S608  # nosec B608 - catalogue name
        last_value, is_called = cursor.fetchone()
        cursor.execute(f"DROP TABLE {side} CASCADE")
        cursor.execute(f"ALTER TABLE {table} RENAME TO {kept}")
        for name, _definition, _unique, primary, contype, _condef in _indexes(cursor, kept):
            if primary or contype:
                cursor.execute(f"ALTER TABLE {kept} DROP CONSTRAINT {_quoted(connection, name)}")
            else:
                cursor.execute(f"DROP INDEX {_quoted(connection, name)}")
        cursor.execute(
            "SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass "
            "AND contype IN ('f', 'c') AND conparentid = 0",
            [kept],
        )
        for (name,) in cursor.fetchall():
            cursor.execute(f"ALTER TABLE {kept} DROP CONSTRAINT {_quoted(connection, name)}")
        cursor.execute(f"ALTER TABLE {kept} ALTER COLUMN id DROP IDENTITY IF EXISTS")
        # The indexes and foreign keys come with the migration's deferred statements, after
        # the rows are in.
        schema_editor.create_model(model)
        columns = ", ".join(f.column for f in model._meta.local_concrete_fields)
        cursor.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {kept}")  # noqa: S608  # nosec B608 - model's columns
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence(%s, 'id'), %s, %s)",
            [table, last_value, is_called],
        )
        cursor.execute(f"DROP TABLE {kept} CASCADE")
        cursor.execute(f"DROP FUNCTION IF EXISTS {spec.key_function}()")
        for other, name, definition, _self in fks_in:
            definition = definition.replace(f"REFERENCES {side}(", f"REFERENCES {table}(")
            cursor.execute(
                f"ALTER TABLE {other} ADD CONSTRAINT {_quoted(connection, name)} {definition}"
            )
    from audit.triggers import triggers_install

    triggers_install(connection)
