"""The lab results, the audit entries and the field history in monthly partitions on
PostgreSQL (audit/partitions.py, docs/scaling.md): the tables are partitioned, a row goes to its
month's partition (or the default one when that month has none yet), `manage.py
partitions_ensure` creates the coming months, every uniqueness the plain tables gave still
holds across months, the append-only guard still refuses, and `audit_verify` and
`monitoring_rebuild --check` pass over months."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, IntegrityError, connection, transaction

from audit.models import AuditEntry, FieldChange
from audit.partitions import CHANGES, ENTRIES, RESULTS, partitions_of
from feeds.models import FeedMessage, QuarantinedResult
from monitoring.models import LabResult

pytestmark = pytest.mark.postgres


@pytest.fixture(autouse=True)
def _needs_postgresql(db):
    if connection.vendor != "postgresql":
        pytest.skip(
            "needs PostgreSQL: partitions are PostgreSQL's (SQLite keeps plain tables), and "
            f"the database is {connection.vendor} (set DATABASE_URL=postgres://...)"
        )


@pytest.fixture
def partitions_dropped_after():
    """A transactional test commits the partitions it makes: drop them after it (a partition is
    a table; the flush empties tables, it does not remove them)."""

    def names():
        with connection.cursor() as cursor:
            return {
                p for spec in (RESULTS, ENTRIES, CHANGES) for p in partitions_of(cursor, spec.table)
            }

    before = names()
    yield
    with connection.cursor() as cursor:
        for name in sorted(names() - before):
            cursor.execute(f"DROP TABLE {name}")


@pytest.fixture
def ahead(clock):
    """May to July 2026 partitioned (the clock is at May 2026), before any row of the test is
    written: a month's partition cannot be made once the default partition holds its rows."""
    return _ensure("--months", "2")


def _ensure(*args):
    out = StringIO()
    call_command("partitions_ensure", *args, stdout=out)
    return out.getvalue()


def _partition_of(table, pk):
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT tableoid::regclass::text FROM {table} WHERE id = %s", [pk])  # noqa: S608  # nosec B608 - fixed names
        return cursor.fetchone()[0]


def _post(api, user, patient, drawn_at, value=2100, **extra):
    response = api(user).post(
        f"/api/v1/patients/{patient.pk}/anc-results/",
        {"drawn_at": drawn_at.isoformat(), "value": value, "unit": "/uL", **extra},
        format="json",
    )
    return response


def _latest_entry():
    return AuditEntry.objects.order_by("-id").first()


def _result(patient, actor, **fields):
    values = {
        "patient": patient,
        "value": Decimal(2000),
        "unit": "/uL",
        "value_per_ul": 2000,
        "drawn_at": datetime(2026, 5, 1, 9, tzinfo=UTC),
        "recorded_by": actor,
        **fields,
    }
    return LabResult.objects.create(**values)


def _refused(call):
    with pytest.raises(DatabaseError) as error, transaction.atomic():
        call()
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    return error.value


def test_the_results_and_the_audit_entries_are_partitioned_by_month_of_created_at():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, p.partstrat, a.attname FROM pg_partitioned_table p "
            "JOIN pg_class c ON c.oid = p.partrelid "
            "JOIN pg_attribute a ON a.attrelid = p.partrelid AND a.attnum = p.partattrs[0] "
            "ORDER BY c.relname"
        )
        rows = cursor.fetchall()
        assert rows == [
            ("audit_auditentry", "r", "created_at"),
            ("audit_fieldchange", "r", "changed_at"),
            ("monitoring_ancresult", "r", "created_at"),
        ]
        for spec in (RESULTS, ENTRIES, CHANGES):
            parts = partitions_of(cursor, spec.table)
            assert spec.default in parts
            assert len(parts) >= 2, parts
            cursor.execute(
                "SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "WHERE i.inhparent = %s::regclass AND c.relname ~ %s",
                [spec.table, f"^{spec.table}_p[0-9]{{6}}$"],
            )
            assert cursor.fetchone()[0] == len(parts) - 1


def test_the_unique_guarantees_live_in_the_side_tables_under_their_names():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT t.relname, i.relname FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
            "JOIN pg_class t ON t.oid = x.indrelid WHERE x.indisunique "
            "AND t.relname IN ('monitoring_ancresult_key', 'audit_auditentry_key', "
            "'audit_fieldchange_key') "
            "ORDER BY 1, 2"
        )
        assert cursor.fetchall() == [
            ("audit_auditentry_key", "audit_auditentry_hash_key"),
            ("audit_auditentry_key", "audit_auditentry_key_pkey"),
            ("audit_auditentry_key", "audit_auditentry_seq_key"),
            ("audit_fieldchange_key", "audit_fieldchange_key_pkey"),
            ("monitoring_ancresult_key", "anc_result_accession_once"),
            ("monitoring_ancresult_key", "anc_result_manual_accession_once_per_patient"),
            ("monitoring_ancresult_key", "monitoring_ancresult_corrects_id_key"),
            ("monitoring_ancresult_key", "monitoring_ancresult_key_pkey"),
        ]


def test_the_command_creates_the_coming_months_once(clock):
    first = _ensure("--months", "2")

    for table in ("monitoring_ancresult", "audit_auditentry"):
        for month in ("2026-05", "2026-06", "2026-07"):
            assert f"{table} {month}: created" in first
    with connection.cursor() as cursor:
        parts = partitions_of(cursor, "audit_auditentry")
    assert {"audit_auditentry_p202605", "audit_auditentry_p202606"} <= set(parts)
    again = _ensure("--months", "2")
    assert "created" not in again.replace("0 partitions created", "")
    assert "monitoring_ancresult 2026-07: exists" in again


def test_the_periodic_task_creates_them_too(clock):
    from audit.tasks import partitions_ensure

    assert partitions_ensure() == 3 * 4  # three tables, this month and three more
    with connection.cursor() as cursor:
        assert "monitoring_ancresult_p202608" in partitions_of(cursor, "monitoring_ancresult")


def test_rows_go_to_their_months_partition(ahead, api, alice, active_patient, clock):

    may = _post(api, alice, active_patient, datetime(2026, 5, 20, 9, tzinfo=UTC))
    clock.move_to(datetime(2026, 6, 3, 15, tzinfo=UTC), tick=False)
    june = _post(api, alice, active_patient, datetime(2026, 6, 3, 9, tzinfo=UTC))

    assert (may.status_code, june.status_code) == (201, 201)
    assert _partition_of("monitoring_ancresult", may.json()["id"]) == "monitoring_ancresult_p202605"
    assert (
        _partition_of("monitoring_ancresult", june.json()["id"]) == "monitoring_ancresult_p202606"
    )
    assert _partition_of("audit_auditentry", _latest_entry().pk) == "audit_auditentry_p202606"


def test_a_row_for_a_month_without_a_partition_lands_in_the_default(
    api, alice, active_patient, clock
):
    clock.move_to(datetime(2031, 3, 5, 15, tzinfo=UTC), tick=False)

    response = _post(api, alice, active_patient, datetime(2031, 3, 5, 9, tzinfo=UTC))

    assert response.status_code == 201, response.json()
    assert _partition_of("monitoring_ancresult", response.json()["id"]) == RESULTS.default
    assert _partition_of("audit_auditentry", _latest_entry().pk) == ENTRIES.default
    # That month cannot be carved out of the default any more; the next ones can.
    out = _ensure("--months", "1")
    assert "monitoring_ancresult 2031-03: default" in out
    assert "monitoring_ancresult 2031-04: created" in out
    assert LabResult.objects.get(pk=response.json()["id"]).value_per_ul == 2100


def test_an_accession_sent_again_in_another_month_is_answered_as_today(
    ahead, api, alice, active_patient, clock
):
    first = _post(api, alice, active_patient, datetime(2026, 5, 19, 9, tzinfo=UTC), 1900,
                  accession="ACC-9")  # fmt: skip
    clock.move_to(datetime(2026, 6, 2, 12, tzinfo=UTC), tick=False)

    again = _post(api, alice, active_patient, datetime(2026, 5, 19, 9, tzinfo=UTC), 1900,
                  accession="ACC-9")  # fmt: skip
    other = _post(api, alice, active_patient, datetime(2026, 5, 19, 9, tzinfo=UTC), 1200,
                  accession="ACC-9")  # fmt: skip

    assert first.status_code == 201
    assert again.status_code in (200, 201) and again.json()["id"] == first.json()["id"]
    assert other.status_code == 409
    assert other.json()["code"] == "accession_conflict"
    assert LabResult.objects.filter(accession="ACC-9").count() == 1


def test_the_database_refuses_a_duplicate_accession_in_another_month(
    ahead, alice, active_patient, clock
):
    _result(active_patient, alice, lab="LAB1", accession="X-1")
    _result(active_patient, alice, accession="M-1")
    clock.move_to(datetime(2026, 6, 2, 12, tzinfo=UTC), tick=False)

    lab = _refused(lambda: _result(active_patient, alice, lab="LAB1", accession="X-1"))
    manual = _refused(lambda: _result(active_patient, alice, accession="M-1"))

    assert isinstance(lab, IntegrityError) and "anc_result_accession_once" in str(lab)
    assert "anc_result_manual_accession_once_per_patient" in str(manual)
    # A superseded one frees its accession, as before.
    LabResult.objects.filter(accession="X-1").update(superseded=True)
    replacement = _result(active_patient, alice, lab="LAB1", accession="X-1")
    assert _partition_of("monitoring_ancresult", replacement.pk) == "monitoring_ancresult_p202606"


def test_a_result_is_corrected_once_and_ids_stay_unique_across_months(
    ahead, alice, active_patient, clock
):
    original = _result(active_patient, alice)
    _result(active_patient, alice, corrects=original, superseded=False)
    clock.move_to(datetime(2026, 6, 2, 12, tzinfo=UTC), tick=False)

    twice = _refused(lambda: _result(active_patient, alice, corrects=original))
    same_id = _refused(lambda: _result(active_patient, alice, id=original.pk))

    assert "monitoring_ancresult_corrects_id_key" in str(twice)
    assert "monitoring_ancresult_key_pkey" in str(same_id)


def test_a_quarantined_result_still_points_only_at_a_stored_result(admin, alice, active_patient):
    stored = _result(active_patient, alice)
    message = FeedMessage.objects.create(
        channel="hl7", raw="MSH|", outcome="quarantined", received_by=admin
    )
    entry = QuarantinedResult.objects.create(
        message=message, reason="unmatched_patient", detail="x", result=stored
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT confrelid::regclass::text FROM pg_constraint WHERE contype = 'f' "
            "AND conrelid = 'monitoring_quarantinedresult'::regclass AND conname LIKE "
            "'%%result_id%%'"
        )
        assert cursor.fetchall() == [(RESULTS.side,)]

    dangling = _refused(
        lambda: QuarantinedResult.objects.filter(pk=entry.pk).update(result_id=stored.pk + 10_000)
    )

    assert isinstance(dangling, IntegrityError)
    assert "result_id" in str(dangling)
    assert QuarantinedResult.objects.get(pk=entry.pk).result_id == stored.pk


def test_the_append_only_guard_refuses_on_every_partition(ahead, admin, clock):
    from audit.models import Action
    from audit.services import audit_record

    entry = audit_record(action=Action.QUARANTINE_RESOLVE, actor=admin, inputs={"a": 1})
    partition = _partition_of("audit_auditentry", entry.pk)
    assert partition == "audit_auditentry_p202605"

    def sql(statement):
        def run():
            with connection.cursor() as cursor:
                cursor.execute(statement, [entry.pk])

        return run

    for statement in (
        "UPDATE audit_auditentry SET action = 'x' WHERE id = %s",
        "DELETE FROM audit_auditentry WHERE id = %s",
        f"UPDATE {partition} SET action = 'x' WHERE id = %s",  # noqa: S608
        f"DELETE FROM {partition} WHERE id = %s",  # noqa: S608
        "UPDATE audit_auditentry SET created_at = created_at + interval '40 days' WHERE id = %s",
        "UPDATE audit_auditentry_key SET seq = 1 WHERE id = %s",
        "DELETE FROM audit_auditentry_key WHERE id = %s",
    ):
        message = str(_refused(sql(statement)))
        assert "refused" in message, statement
        assert "_p2026" not in message.split(":")[0], message
    assert AuditEntry.objects.get(pk=entry.pk).action == Action.QUARANTINE_RESOLVE


def test_a_results_partition_key_is_never_moved_and_its_history_names_the_table(
    ahead, alice, active_patient, clock
):
    result = _result(active_patient, alice, accession="H-1")
    assert _partition_of("monitoring_ancresult", result.pk) == "monitoring_ancresult_p202605"

    moved = _refused(
        lambda: LabResult.objects.filter(pk=result.pk).update(
            created_at=result.created_at + timedelta(days=40)
        )
    )
    LabResult.objects.filter(pk=result.pk).update(void_reason="typo")

    assert "refused" in str(moved)
    change = FieldChange.objects.get(row_id=str(result.pk), field="void_reason")
    assert change.table_name == "monitoring_ancresult"
    # The field history is partitioned by the moment of the change (the database's clock).
    assert _partition_of("audit_fieldchange", change.pk).startswith("audit_fieldchange_p")
    assert "append-only" in str(
        _refused(lambda: FieldChange.objects.filter(pk=change.pk).update(new_value="forged"))
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT superseded, accession FROM monitoring_ancresult_key WHERE id = %s", [result.pk]
        )
        assert cursor.fetchone() == (False, "H-1")


@pytest.mark.django_db(transaction=True)
def test_verify_and_rebuild_check_pass_over_several_months(
    partitions_dropped_after, ahead, api, alice, active_patient, clock
):
    months = [datetime(2026, 5, 27, 9, tzinfo=UTC), datetime(2026, 6, 10, 9, tzinfo=UTC),
              datetime(2026, 7, 8, 9, tzinfo=UTC), datetime(2031, 1, 7, 9, tzinfo=UTC)]  # fmt: skip
    ids = []
    for drawn in months:
        clock.move_to(drawn + timedelta(hours=2), tick=False)
        response = _post(api, alice, active_patient, drawn, 2000)
        assert response.status_code == 201, response.json()
        ids.append(response.json()["id"])
    partitions = {_partition_of("monitoring_ancresult", pk) for pk in ids}
    assert partitions == {
        "monitoring_ancresult_p202605",
        "monitoring_ancresult_p202606",
        "monitoring_ancresult_p202607",
        RESULTS.default,
    }
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(DISTINCT tableoid) FROM audit_auditentry")
        assert cursor.fetchone()[0] >= 4

    out = StringIO()
    call_command("audit_seal", stdout=out)
    call_command("audit_verify", stdout=out)
    call_command("monitoring_rebuild", "--check", stdout=out)

    assert "audit chain intact" in out.getvalue()
    assert "0 with differences" in out.getvalue()
    # And a change to a row in a monthly partition is still found, and named.
    with connection.cursor() as cursor:
        cursor.execute("SELECT min(id) FROM audit_auditentry_p202606")
        [forged] = cursor.fetchone()
        cursor.execute(
            "ALTER TABLE audit_auditentry DISABLE TRIGGER clozrems_audit_auditentry_append_only"
        )
        try:
            cursor.execute(
                "UPDATE audit_auditentry SET output = '{\"forged\": 1}' WHERE id = %s", [forged]
            )
        finally:
            cursor.execute(
                "ALTER TABLE audit_auditentry ENABLE TRIGGER clozrems_audit_auditentry_append_only"
            )
    with pytest.raises(CommandError) as broken:
        call_command("audit_verify", stdout=StringIO())
    seq = AuditEntry.objects.get(pk=forged).seq
    assert f"audit chain broken at entry #{seq} (id {forged})" in str(broken.value)


@pytest.mark.django_db(transaction=True)
def test_the_migration_copies_the_rows_and_goes_back(
    partitions_dropped_after, ahead, alice, active_patient, clock
):
    clock.move_to(datetime(2026, 6, 2, 12, tzinfo=UTC), tick=False)
    _result(active_patient, alice, lab="LAB1", accession="Z-1")
    before = sorted(LabResult.objects.values_list("id", "value_per_ul", "accession", "created_at"))
    assert len(before) > 3

    call_command("migrate", "monitoring", "0008", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute("SELECT relkind FROM pg_class WHERE relname = 'monitoring_ancresult'")
        assert cursor.fetchone()[0] == "r"
        cursor.execute("SELECT to_regclass('monitoring_ancresult_key')")
        assert cursor.fetchone()[0] is None
    plain = sorted(LabResult.objects.values_list("id", "value_per_ul", "accession", "created_at"))
    call_command("migrate", "monitoring", verbosity=0)

    after = sorted(LabResult.objects.values_list("id", "value_per_ul", "accession", "created_at"))
    assert plain == before and after == before
    with connection.cursor() as cursor:
        assert {"monitoring_ancresult_p202605", "monitoring_ancresult_p202606"} <= set(
            partitions_of(cursor, "monitoring_ancresult")
        )
    assert _partition_of("monitoring_ancresult", before[-1][0]) in (
        "monitoring_ancresult_p202606",
        RESULTS.default,
    )
    duplicate = _refused(lambda: _result(active_patient, alice, lab="LAB1", accession="Z-1"))
    assert "anc_result_accession_once" in str(duplicate)
    fresh = _result(active_patient, alice, accession="Z-2")
    assert fresh.pk > max(row[0] for row in before)
    assert date(2026, 6, 1) <= fresh.created_at.date()
