"""Who is acting and in which request: context variables the services and the database triggers
read. The request id comes from the X-Request-ID middleware; the actor is bound by a service
for the span of its transaction (`acting_as`)."""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import connection

_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("clozrems_request_id", default="")
_actor_id: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "clozrems_actor_id", default=None
)


def request_id() -> str:
    return _request_id.get()


def request_id_set(value: str) -> contextvars.Token[str]:
    return _request_id.set(value)


def request_id_reset(token: contextvars.Token[str]) -> None:
    _request_id.reset(token)


def actor_id() -> int | None:
    return _actor_id.get()


@contextmanager
def acting_as(actor: Any, *, preset: bool = False, last: bool = False) -> Iterator[None]:
    """Name the actor of the writes inside the block for the field-history triggers.

    Call it inside the transaction: on PostgreSQL the setting is transaction-local
    (`set_config(..., true)`), so it can never leak to the next transaction on a pooled
    connection; on SQLite the triggers call a Python function reading the context variable.

    `preset`: the caller already sent the setting with a statement of its own (ACTOR_CONFIG_SQL
    in the select list of its row lock). `last`: the block ends the transaction, so the outer
    actor need not be given back (the setting ends with the transaction). Each saves a
    statement on a hot path.
    """
    pk = getattr(actor, "pk", None)
    outer = _actor_id.get()
    token = _actor_id.set(pk)
    try:
        if not preset:
            _pg_actor_set(pk)
        yield
    except BaseException:
        # The block's transaction (or savepoint) rolls back, and the setting with it; no query
        # here, which could mask the error in an aborted PostgreSQL transaction.
        _actor_id.reset(token)
        raise
    _actor_id.reset(token)
    if not last:
        # Give the rest of the transaction back its outer actor (none, outside a service), so
        # a later write in the same transaction is not put on this one's name.
        _pg_actor_set(outer)


# The select-list naming the actor and the request for the triggers (PostgreSQL), to ride on a
# statement the caller sends anyway; its parameters are actor_config_params(actor's pk).
ACTOR_CONFIG_SQL = (
    "set_config('clozrems.actor', %s, true), set_config('clozrems.request_id', %s, true)"
)


def actor_config_params(pk: int | None) -> list[str]:
    """The parameters of ACTOR_CONFIG_SQL for the actor `pk` (None: nobody)."""
    return ["" if pk is None else str(pk), request_id()]


def _pg_actor_set(pk: int | None) -> None:
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT " + ACTOR_CONFIG_SQL, actor_config_params(pk))
