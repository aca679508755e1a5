"""The one home of the audit trail: every service that changes state or decides a supply calls
`audit_record` inside its own transaction, so the entry commits (or rolls back) with the change.

A refused request (HTTP 422) must leave its decision in the trail and nothing else. The service
raises inside its atomic block, which rolls back; `audit_refusals` wraps that block, catches the
refusal after the rollback, writes the entry in a transaction of its own and re-raises.

Each entry carries the SHA-256 of its canonical JSON content, which includes the previous
entry's hash: a hash chain. Appends are serialized (PostgreSQL: a transaction-scoped advisory
lock taken just before the append, so it is held only until the writer commits; SQLite
serializes writers anyway) and `seq` and `hash` are unique, so concurrent writers cannot fork the
chain: at worst one of them fails and retries nothing silently.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from audit import context
from audit.models import GENESIS_HASH, AuditEntry, Outcome
from clozrems.errors import RuleRefused

# pg_advisory_xact_lock key of the chain: any constant, distinct from other advisory locks.
CHAIN_LOCK_KEY = 0x434C5A41554454  # "CLZAUDT"

HASHED_FIELDS = (
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


def entry_content(entry: AuditEntry) -> dict[str, Any]:
    content = {name: getattr(entry, name) for name in HASHED_FIELDS}
    # One rendering of the instant whatever the database returns: UTC, microseconds.
    content["created_at"] = entry.created_at.astimezone(UTC).isoformat(timespec="microseconds")
    return content


def entry_hash(entry: AuditEntry) -> str:
    return hashlib.sha256(canonical_json(entry_content(entry)).encode()).hexdigest()


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
    """Append one entry to the trail, in the caller's transaction (or a new one).

    Public hook for every app: the lab-feed work calls it for a quarantine resolution with
    `action=Action.QUARANTINE_RESOLVE`.
    """
    with transaction.atomic(savepoint=False):
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CHAIN_LOCK_KEY])
        head = AuditEntry.objects.order_by("-seq").values_list("seq", "hash").first()
        seq, prev_hash = (head[0] + 1, head[1]) if head else (1, GENESIS_HASH)
        entry = AuditEntry(
            seq=seq,
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
            prev_hash=prev_hash,
        )
        entry.hash = entry_hash(entry)
        entry.save(force_insert=True)
    return entry


def refusal_output(refusal: RuleRefused) -> dict[str, Any]:
    body: dict[str, Any] = {
        "code": refusal.code,
        "message": refusal.message,
        "reasons": [r.value for r in refusal.reasons],
    }
    if refusal.decision is not None:
        body["decision"] = refusal.decision
    return body


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
    """Wrap a service's atomic block: a RuleRefused escaping it (so after its rollback) is
    written to the trail as the decision, then re-raised. The block may add to the yielded
    dict (e.g. the decision's inputs) before it raises. A dispensing decision's refusal is
    `blocked`; any other rule refusal `refused` (or the given `outcome`)."""
    found: dict[str, Any] = dict(inputs or {})
    try:
        yield found
    except RuleRefused as refusal:
        audit_record(
            action=action,
            actor=actor,
            outcome=outcome
            or (Outcome.BLOCKED if refusal.decision is not None else Outcome.REFUSED),
            object_type=object_type,
            object_id=object_id,
            patient_id=patient_id,
            inputs=found,
            output={**refusal_output(refusal), **(extra or {})},
        )
        raise


def decision_inputs(
    assessment: Any,
    *,
    days_supply: int | None,
    pharmacy_id: int | None,
    prescriber_certified: bool | None = None,
    pharmacy_certified: bool | None = None,
) -> dict[str, Any]:
    """What a dispensing decision used: the ANC it judged (id, value, draw time), the protocol
    and its version, the instant, the request, the certifications and authorizations."""
    from monitoring.engine import get_protocol

    latest = assessment.latest_anc
    return {
        "as_of": assessment.as_of,
        "protocol": assessment.protocol,
        "protocol_version": get_protocol(assessment.protocol).version,
        "latest_anc": None
        if latest is None
        else {
            "id": latest.result_id,
            "value_per_ul": latest.value_per_ul,
            "drawn_at": latest.drawn_at,
        },
        "days_supply_requested": days_supply,
        "pharmacy_id": pharmacy_id,
        "prescriber_certified": prescriber_certified,
        "pharmacy_certified": pharmacy_certified,
        "authorization_ids": [a.authorization_id for a in assessment.authorizations],
        "supply_until": assessment.supply_until,
    }


def decision_output(assessment: Any) -> dict[str, Any]:
    return {
        "decision": assessment.decision.value,
        "reasons": assessment.reason_codes,
        "max_days_supply": assessment.max_days_supply,
        "band": assessment.band.value if assessment.band else None,
        "monitoring_frequency": assessment.monitoring_frequency.value
        if assessment.monitoring_frequency
        else None,
    }
