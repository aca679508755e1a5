"""Reads of the audit trail: the chain check behind `manage.py audit_verify`."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.utils.dateparse import parse_datetime

from audit.checkpoints import checkpoint_file, checkpoint_file_read
from audit.keys import Keyring, keyring
from audit.models import GENESIS_HASH, AuditCheckpoint, AuditEntry
from audit.services import checkpoint_mac, entry_mac


@dataclass(frozen=True)
class ChainReport:
    checked: int
    # The first bad entry's place in the chain (its id too when the row exists), or None when
    # the problem is not an entry's (a checkpoint that is not validly signed).
    broken_seq: int | None = None
    broken_id: int | None = None
    problem: str = ""
    # Entries written but not sealed yet: not tampering, the sealer has not reached them.
    unsealed: int = 0
    oldest_unsealed_id: int | None = None
    oldest_unsealed_at: datetime | None = None
    checkpoints: int = 0
    notes: tuple[str, ...] = field(default=())

    @property
    def intact(self) -> bool:
        return not self.problem


@dataclass(frozen=True)
class _Checkpoint:
    """A checkpoint from the table or the file, its signature already checked."""

    seq: int
    hash: str
    where: str


def _checkpoints(keys: Keyring) -> tuple[list[_Checkpoint], list[str], str]:
    """Every validly signed checkpoint (table rows, then file lines), notes for the reader, and
    the first checkpoint that is not validly signed, as a problem text (empty when none)."""
    found: list[_Checkpoint] = []
    notes: list[str] = []
    problems: list[str] = []
    for row in AuditCheckpoint.objects.order_by("seq").iterator(chunk_size=2000):
        where = f"checkpoint #{row.seq} in the checkpoint table (id {row.pk})"
        key = keys.get(row.key_id)
        if key is None:
            problems.append(f"{where} is signed with a key this deployment does not hold")
        elif checkpoint_mac(row, key) != row.mac:
            problems.append(f"{where} does not match its signature (forged or altered)")
        else:
            found.append(_Checkpoint(row.seq, row.hash, where))
    path = checkpoint_file()
    if path is not None:
        if not path.exists():
            notes.append(f"the checkpoint file {path} does not exist yet")
        for line in checkpoint_file_read(path):
            where = f"line {line.line} of the checkpoint file {path}"
            checkpoint, problem = _file_checkpoint(line.fields, keys)
            if checkpoint is None:
                problems.append(f"{where} {problem}")
            else:
                found.append(_Checkpoint(checkpoint.seq, checkpoint.hash, where))
    return found, notes, problems[0] if problems else ""


def _file_checkpoint(
    fields: dict[str, Any] | None, keys: Keyring
) -> tuple[AuditCheckpoint | None, str]:
    if fields is None:
        return None, "is not a JSON object"
    try:
        created_at = parse_datetime(str(fields["created_at"]))
        if created_at is None:
            return None, "is not a checkpoint (created_at is not an instant)"
        row = AuditCheckpoint(
            seq=int(fields["seq"]),
            hash=str(fields["hash"]),
            key_id=str(fields["key_id"]),
            created_at=created_at,
            sealed=int(fields["sealed"]),
            mac=str(fields["mac"]),
        )
    except (KeyError, TypeError, ValueError):
        return None, "is not a checkpoint (a field is missing or malformed)"
    key = keys.get(row.key_id)
    if key is None:
        return None, "is signed with a key this deployment does not hold"
    if checkpoint_mac(row, key) != row.mac:
        return None, "does not match its signature (forged or altered)"
    return row, ""


def _entry_problem(entry: AuditEntry, expected_seq: int, expected_prev: str, keys: Keyring) -> str:
    if entry.seq != expected_seq:
        return (
            f"missing: sequence gap, expected #{expected_seq} but the next sealed entry is "
            f"#{entry.seq} (id {entry.pk})"
        )
    if entry.prev_hash != expected_prev:
        return "prev_hash does not match the previous entry's hash"
    key = keys.get(entry.key_id)
    if key is None:
        return f"sealed with a key this deployment does not hold (key id {entry.key_id!r})"
    if entry_mac(entry, key) != entry.hash:
        return "content does not match its HMAC (the entry was altered, or sealed with another key)"
    return ""


def audit_chain_verify(*, chunk_size: int = 2000, keys: Keyring | None = None) -> ChainReport:
    """Walk the sealed entries in `seq` order: `seq` must run 1, 2, 3... without a gap, each
    `prev_hash` must be the previous entry's hash and each hash the HMAC of the entry's content
    under the key it names. Every checkpoint (table and file) must be validly signed and agree
    with the entry at its `seq`, and none may lie beyond the chain's end (a cut tail). Names the
    first entry that fails. Unsealed entries are counted, not judged: the sealer has not
    reached them yet."""
    keys = keys or keyring()
    checkpoints, notes, checkpoint_problem = _checkpoints(keys)
    expected_at = _expected_hashes(checkpoints)
    expected_prev = GENESIS_HASH
    expected_seq = 1
    checked = 0
    sealed = AuditEntry.objects.filter(seq__isnull=False).order_by("seq")
    for entry in sealed.iterator(chunk_size=chunk_size):
        problem = _entry_problem(entry, expected_seq, expected_prev, keys)
        if problem:
            broken_id = None if problem.startswith("missing") else entry.pk
            return _report(checked, expected_seq, broken_id, problem, checkpoints, notes)
        for seq_hash, where in expected_at.get(expected_seq, ()):
            if seq_hash != entry.hash:
                problem = f"does not match {where}: the chain was rewritten at or before this entry"
                return _report(checked, expected_seq, entry.pk, problem, checkpoints, notes)
        checked += 1
        expected_prev = str(entry.hash)
        expected_seq += 1
    beyond = [c for c in checkpoints if c.seq >= expected_seq]
    if beyond:
        last = max(beyond, key=lambda c: c.seq)
        problem = (
            f"missing: the trail ends at #{expected_seq - 1} but {last.where} records "
            f"#{last.seq} (the newest entries were deleted or the table truncated)"
        )
        return _report(checked, expected_seq, None, problem, checkpoints, notes)
    if checkpoint_problem:
        return _report(checked, None, None, checkpoint_problem, checkpoints, notes)
    return _report(checked, None, None, "", checkpoints, notes)


def _expected_hashes(checkpoints: Iterable[_Checkpoint]) -> dict[int, list[tuple[str, str]]]:
    expected: dict[int, list[tuple[str, str]]] = {}
    for checkpoint in checkpoints:
        expected.setdefault(checkpoint.seq, []).append((checkpoint.hash, checkpoint.where))
    return expected


def _report(
    checked: int,
    broken_seq: int | None,
    broken_id: int | None,
    problem: str,
    checkpoints: list[_Checkpoint],
    notes: list[str],
) -> ChainReport:
    unsealed = AuditEntry.objects.filter(seq__isnull=True)
    oldest = unsealed.order_by("id").values_list("id", "created_at").first()
    return ChainReport(
        checked=checked,
        broken_seq=broken_seq,
        broken_id=broken_id,
        problem=problem,
        unsealed=unsealed.count(),
        oldest_unsealed_id=oldest[0] if oldest else None,
        oldest_unsealed_at=oldest[1] if oldest else None,
        checkpoints=len(checkpoints),
        notes=tuple(notes),
    )
