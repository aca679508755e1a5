"""Migration audit/0003 takes over a trail written under the old unkeyed SHA-256 chain: it checks
that chain one last time, stops naming the entry when it is broken, and otherwise clears the
chain fields so that the sealer seals the old entries again under the key, in their order."""

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection

from audit.models import AuditEntry
from audit.selectors import audit_chain_verify
from audit.services import _plain, audit_seal

pytestmark = pytest.mark.django_db(transaction=True)

LEGACY_FIELDS = (
    "seq", "created_at", "actor_id", "actor_username", "role", "request_id", "action",
    "outcome", "object_type", "object_id", "patient_id", "inputs", "output", "prev_hash",
)  # fmt: skip


def _legacy_rows(count, *, tamper_at=None):
    """Rows as the old audit_record wrote them: hash = SHA-256 of the canonical content."""
    rows, prev = [], "0" * 64
    for seq in range(1, count + 1):
        created_at = datetime(2026, 5, 1, 9, seq, tzinfo=UTC)
        content: dict[str, Any] = {
            "seq": seq,
            "created_at": created_at,
            "actor_id": None,
            "actor_username": "",
            "role": "system",
            "request_id": "",
            "action": "legacy",
            "outcome": "ok",
            "object_type": "",
            "object_id": "",
            "patient_id": None,
            "inputs": {"n": seq, "value": "1.5"},
            "output": {},
            "prev_hash": prev,
        }
        hashed = {**content, "created_at": created_at.isoformat(timespec="microseconds")}
        text = json.dumps(_plain(hashed), sort_keys=True, separators=(",", ":"))
        digest = hashlib.sha256(text.encode()).hexdigest()
        if seq == tamper_at:
            content["inputs"] = {"n": 999}
        rows.append({**content, "hash": digest})
        prev = digest
    return rows


def _insert(rows):
    columns = [*LEGACY_FIELDS, "hash"]
    with connection.cursor() as cursor:
        for row in rows:
            values = [json.dumps(row[c]) if c in ("inputs", "output") else row[c] for c in columns]
            cursor.execute(
                f"INSERT INTO audit_auditentry ({', '.join(columns)}) "  # noqa: S608 - fixed columns
                f"VALUES ({', '.join(['%s'] * len(columns))})",
                values,
            )


@pytest.fixture
def at_0002():
    call_command("migrate", "audit", "0002", verbosity=0)
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("TRUNCATE audit_auditentry")
            else:
                cursor.execute("DROP TRIGGER IF EXISTS clozrems_audit_auditentry_no_delete")
                cursor.execute("DELETE FROM audit_auditentry")
        call_command("migrate", verbosity=0)


def test_a_sound_legacy_chain_is_resealed_under_the_key_in_its_order(at_0002):
    _insert(_legacy_rows(4))

    call_command("migrate", "audit", verbosity=0)

    assert set(AuditEntry.objects.values_list("seq", "hash")) == {(None, None)}
    assert audit_seal().sealed == 4
    entries = list(AuditEntry.objects.order_by("seq"))
    assert [e.inputs["n"] for e in entries] == [1, 2, 3, 4]
    report = audit_chain_verify()
    assert report.intact and report.checked == 4, report


def test_a_broken_legacy_chain_stops_the_migration_naming_the_entry(at_0002):
    _insert(_legacy_rows(4, tamper_at=3))

    with pytest.raises(RuntimeError, match="broken at entry #3"):
        call_command("migrate", "audit", verbosity=0)
