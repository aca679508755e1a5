"""The one home of the audit trail: every service that changes state or decides a supply calls
`audit_record` inside its own transaction, so the entry commits (or rolls back) with the change.

A refused request (HTTP 422) must leave its decision in the trail and nothing else. The service
raises inside its atomic block, which rolls back; `audit_refusals` wraps that block, catches the
refusal after the rollback, writes the entry in a transaction of its own and re-raises. The
trail knows no domain app: it catches any `AuditedRefusal` (audit/refusals.py), which the
domain's refusal extends, and writes what the refusal gives as its output.

The request path costs one INSERT and takes no lock: the entry is written unsealed, with no
chain fields. `audit_seal` (a periodic task, and `manage.py audit_seal`) is the only writer of
the chain. Holding the one sealer lock, it takes the committed unsealed entries in id order,
gives each the next `seq`, the previous entry's hash as `prev_hash`, and as `hash` an
HMAC-SHA256 of its canonical content under the audit key (held outside the database,
audit/keys.py), then writes a signed checkpoint of the new head. `seq` is the sealer's, not the
insert's: an entry whose transaction commits late (with a lower id than entries already sealed)
is simply sealed by a later run, at the chain's end, so no entry can be passed over. The design,
and what verification proves, are in docs/audit.md.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from audit import context
from audit.checkpoints import checkpoint_file_append
from audit.keys import AuditKey, keyring
from audit.models import GENESIS_HASH, SEAL_FIELDS, AuditCheckpoint, AuditEntry, Outcome
from audit.refusals import AuditedRefusal

# pg_advisory_xact_lock key of the sealer: any constant, distinct from other advisory locks.
# Only the sealer takes it; a request never does.
SEAL_LOCK_KEY = 0x434C5A5345414C  # "CLZSEAL"

# The content an entry's HMAC covers: everything but the HMAC itself (and `sealed_at`, the
# sealer's own bookkeeping). `id` is in it, so an entry cannot be moved to another row.
SEALED_FIELDS = (
    "id",
    "seq",
    "created_at",
    "actor_id",
    "actor_username",
    "role",
    "request_id",
    "action",
    "outcome",
    "object_type",
    "object_id",
    "patient_id",
    "inputs",
    "output",
    "prev_hash",
    "key_id",
)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    if isinstance(value, float):
        # Floats do not survive every JSON column's round trip bit for bit; the trail stores
        # their text.
        return repr(value)
    return value


def canonical_json(content: Mapping[str, Any]) -> str:
    return json.dumps(_plain(content), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _instant(value: datetime) -> str:
    # One rendering of the instant whatever the database returns: UTC, microseconds.
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def entry_content(entry: AuditEntry) -> dict[str, Any]:
    content = {name: getattr(entry, name) for name in SEALED_FIELDS}
    content["created_at"] = _instant(entry.created_at)
    content["kind"] = "entry"
    return content


def entry_mac(entry: AuditEntry, key: AuditKey) -> str:
    return key.mac(canonical_json(entry_content(entry)))


def checkpoint_content(checkpoint: AuditCheckpoint) -> dict[str, Any]:
    return {
        "kind": "checkpoint",
        "seq": checkpoint.seq,
        "hash": checkpoint.hash,
        "key_id": checkpoint.key_id,
        "created_at": _instant(checkpoint.created_at),
        "sealed": checkpoint.sealed,
    }


def checkpoint_mac(checkpoint: AuditCheckpoint, key: AuditKey) -> str:
    return key.mac(canonical_json(checkpoint_content(checkpoint)))


def checkpoint_record(checkpoint: AuditCheckpoint) -> dict[str, Any]:
    """The checkpoint as the file keeps it: its signed content and its MAC."""
    return {**checkpoint_content(checkpoint), "mac": checkpoint.mac}


def _role_of(actor: Any) -> str:
    if actor is None:
        return "system"
    if getattr(actor, "is_superuser", False):
        return "admin"
    return str(getattr(actor, "role", "") or "")


def audit_record(
    *,
    action: str,
    actor: Any,
    outcome: str = Outcome.OK,
    object_type: str = "",
    object_id: object = "",
    patient_id: int | None = None,
    inputs: Mapping[str, Any] | None = None,
    output: Mapping[str, Any] | None = None,
) -> AuditEntry:
    """Append one entry to the trail, in the caller's transaction (or on its own).

    One INSERT and no lock: the entry commits or rolls back with the caller's change, and the
    sealer chains it later (`audit_seal`). Public hook for every app: the lab-feed work calls
    it for a quarantine resolution with `action=Action.QUARANTINE_RESOLVE`.
    """
    entry = audit_entry_build(
        action=action,
        actor=actor,
        outcome=outcome,
        object_type=object_type,
        object_id=object_id,
        patient_id=patient_id,
        inputs=inputs,
        output=output,
    )
    entry.save(force_insert=True)
    return entry


def audit_records(entries: list[AuditEntry]) -> list[AuditEntry]:
    """Append many entries built by `audit_entry_build` in one INSERT, in the caller's
    transaction: what as many `audit_record` calls would write (lockless, unsealed)."""
    return AuditEntry.objects.bulk_create(entries, batch_size=500)


def audit_entry_build(
    *,
    action: str,
    actor: Any,
    outcome: str = Outcome.OK,
    object_type: str = "",
    object_id: object = "",
    patient_id: int | None = None,
    inputs: Mapping[str, Any] | None = None,
    output: Mapping[str, Any] | None = None,
) -> AuditEntry:
    """The entry `audit_record` writes, unsaved."""
    return AuditEntry(
        created_at=timezone.now(),
        actor_id=getattr(actor, "pk", None),
        actor_username=getattr(actor, "username", "") or "",
        role=_role_of(actor),
        request_id=context.request_id(),
        action=str(action),
        outcome=str(outcome),
        object_type=object_type,
        object_id="" if object_id is None else str(object_id),
        patient_id=patient_id,
        inputs=json.loads(canonical_json(inputs or {})),
        output=json.loads(canonical_json(output or {})),
    )


@dataclass(frozen=True)
class SealReport:
    sealed: int
    head_seq: int
    checkpoints: tuple[AuditCheckpoint, ...] = ()


def audit_seal(*, batch_size: int | None = None, wait: bool = True) -> SealReport:
    """Seal every committed unsealed entry, a batch per transaction, each batch ending with a
    signed checkpoint of the new head. Safe to run twice at once: the runs take turns on the
    sealer lock, and an entry once sealed is never sealed again (the triggers refuse it).
    With `wait=False` (the periodic task) a run that finds another one sealing leaves the work
    to it instead of queuing behind it."""
    limit = batch_size or settings.CLOZREMS_AUDIT_SEAL_BATCH
    key = keyring().current
    sealed = 0
    head_seq = 0
    checkpoints: list[AuditCheckpoint] = []
    while True:
        count, head_seq, checkpoint = _seal_batch(limit, key, wait)
        sealed += count
        if checkpoint is not None:
            checkpoints.append(checkpoint)
        if count < limit:
            return SealReport(sealed, head_seq, tuple(checkpoints))


def _seal_lock(wait: bool) -> bool:
    if connection.vendor != "postgresql":
        # SQLite runs every transaction serializably; the unique `seq` backs it up.
        return True
    # Held to commit. Each statement after it reads a fresh snapshot (READ COMMITTED), so it
    # sees the seals of the run that held the lock before.
    function = "pg_advisory_xact_lock" if wait else "pg_try_advisory_xact_lock"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {function}(%s)", [SEAL_LOCK_KEY])
        row = cursor.fetchone()
    return wait or bool(row and row[0])


def _seal_batch(limit: int, key: AuditKey, wait: bool) -> tuple[int, int, AuditCheckpoint | None]:
    with transaction.atomic():
        if not _seal_lock(wait):
            return 0, 0, None
        head = (
            AuditEntry.objects.filter(seq__isnull=False)
            .order_by("-seq")
            .values_list("seq", "hash")
            .first()
        )
        seq, prev_hash = (int(head[0] or 0), str(head[1])) if head else (0, GENESIS_HASH)
        # Only committed rows are visible here; one still being written is sealed next time.
        pending = list(AuditEntry.objects.filter(seq__isnull=True).order_by("id")[:limit])
        if not pending:
            return 0, seq, None
        now = timezone.now()
        for entry in pending:
            seq += 1
            entry.seq = seq
            entry.prev_hash = prev_hash
            entry.key_id = key.key_id
            entry.sealed_at = now
            entry.hash = entry_mac(entry, key)
            prev_hash = entry.hash
        AuditEntry.objects.bulk_update(pending, list(SEAL_FIELDS), batch_size=1000)
        checkpoint = AuditCheckpoint(
            seq=seq, hash=prev_hash, key_id=key.key_id, created_at=now, sealed=len(pending)
        )
        checkpoint.mac = checkpoint_mac(checkpoint, key)
        checkpoint.save(force_insert=True)
        # After the commit only: the file must never name a head that was rolled back.
        record = checkpoint_record(checkpoint)
        transaction.on_commit(lambda: checkpoint_file_append(record))
    return len(pending), seq, checkpoint


@contextmanager
def audit_refusals(
    *,
    action: str,
    actor: Any,
    object_type: str = "",
    object_id: object = "",
    patient_id: int | None = None,
    inputs: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
    outcome: str | None = None,
) -> Iterator[dict[str, Any]]:
    """Wrap a service's atomic block: a refusal (`AuditedRefusal`, such as the API's
    RuleRefused) escaping it (so after its rollback) is written to the trail as the decision,
    then re-raised. The block may add to the yielded dict (e.g. the decision's inputs) before
    it raises. A dispensing decision's refusal is
    `blocked`; any other rule refusal `refused` (or the given `outcome`)."""
    found: dict[str, Any] = dict(inputs or {})
    try:
        yield found
    except AuditedRefusal as refusal:
        audit_record(
            action=action,
            actor=actor,
            outcome=outcome
            or (Outcome.BLOCKED if refusal.decision is not None else Outcome.REFUSED),
            object_type=object_type,
            object_id=object_id,
            patient_id=patient_id,
            inputs=found,
            output={**refusal.audit_output(), **(extra or {})},
        )
        raise
