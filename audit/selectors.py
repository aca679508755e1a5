"""Reads of the audit trail: the chain check behind `manage.py audit_verify`."""

from __future__ import annotations

from dataclasses import dataclass

from audit.models import GENESIS_HASH, AuditEntry
from audit.services import entry_hash


@dataclass(frozen=True)
class ChainReport:
    checked: int
    broken_seq: int | None = None
    broken_id: int | None = None
    problem: str = ""

    @property
    def intact(self) -> bool:
        return self.broken_seq is None


def audit_chain_verify(*, chunk_size: int = 2000) -> ChainReport:
    """Walk the chain in order: each entry's hash must match its content, its `prev_hash` the
    previous entry's hash, and `seq` must run 1, 2, 3... without a gap. Names the first entry
    that fails."""
    expected_prev = GENESIS_HASH
    expected_seq = 1
    checked = 0
    for entry in AuditEntry.objects.order_by("seq").iterator(chunk_size=chunk_size):
        problem = ""
        if entry.seq != expected_seq:
            problem = f"sequence gap: expected #{expected_seq}, found #{entry.seq}"
        elif entry.prev_hash != expected_prev:
            problem = "prev_hash does not match the previous entry's hash"
        elif entry_hash(entry) != entry.hash:
            problem = "content does not match its hash (the entry was altered)"
        if problem:
            return ChainReport(checked, entry.seq, entry.pk, problem)
        checked += 1
        expected_prev = entry.hash
        expected_seq += 1
    return ChainReport(checked)
