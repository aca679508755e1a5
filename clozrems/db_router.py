"""Reads from the read replica where that is safe (docs/scaling.md).

Only code that says so reads from the replica: reports, the oversight pages and worklists wrap
their reads in `replica_reads()`. Everything else - above all the dispensing decision, which must
see the latest result and supply - reads and writes the primary ("default"), whatever the model.
Without a replica configured, `replica_reads()` changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.conf import settings

REPLICA = "replica"
_reading_from_replica: ContextVar[bool] = ContextVar("clozrems_replica_reads", default=False)


@contextmanager
def replica_reads() -> Iterator[None]:
    """Within the block, reads go to the replica when one is configured."""
    token = _reading_from_replica.set(True)
    try:
        yield
    finally:
        _reading_from_replica.reset(token)


def replica_configured() -> bool:
    return REPLICA in settings.DATABASES


class ReplicaRouter:
    def db_for_read(self, model: type[Any], **hints: Any) -> str | None:
        if _reading_from_replica.get() and replica_configured():
            return REPLICA
        return None

    def db_for_write(self, model: type[Any], **hints: Any) -> str | None:
        return "default"

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool | None:
        return True  # the replica is a copy of the primary: the same rows

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool | None:
        return db == "default"
