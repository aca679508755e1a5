"""Reads from the read replica where that is safe (docs/scaling.md).

Only code that says so reads from the replica: reports, the oversight pages and worklists wrap
their reads in `replica_reads()` (or `replica_view`). Everything else - above all the dispensing
decision, which must see the latest result and supply - reads and writes the primary
("default"), whatever the model. Without a replica configured, `replica_reads()` changes nothing.

A person who has just written reads their own write: a browser request with an unsafe method
(POST and the like) pins that browser to the primary for CLOZREMS_REPLICA_PIN_SECONDS, by a
cookie that `ReplicaPinMiddleware` sets and honours. The cookie is only a routing hint (forging
it can only send reads to the primary). A token client keeps no cookie: its reports may lag its
own writes by the replica's delay.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

from django.conf import settings
from django.http import HttpRequest, HttpResponse

REPLICA = "replica"
PIN_COOKIE = "clozrems_primary"
_reading_from_replica: ContextVar[bool] = ContextVar("clozrems_replica_reads", default=False)
_pinned_to_primary: ContextVar[bool] = ContextVar("clozrems_pinned_to_primary", default=False)
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})

View = TypeVar("View", bound=Callable[..., HttpResponse])


@contextmanager
def replica_reads() -> Iterator[None]:
    """Within the block, reads go to the replica when one is configured."""
    token = _reading_from_replica.set(True)
    try:
        yield
    finally:
        _reading_from_replica.reset(token)


def replica_view(view: View) -> View:
    """A page or API view whose reads (the template's included) may come from the replica."""

    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> HttpResponse:
        with replica_reads():
            return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


def replica_configured() -> bool:
    return REPLICA in settings.DATABASES


def reads_from_replica() -> bool:
    return _reading_from_replica.get() and not _pinned_to_primary.get() and replica_configured()


class ReplicaPinMiddleware:
    """Read-your-writes for browsers: see the module's docstring."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not replica_configured():
            return self.get_response(request)
        token = _pinned_to_primary.set(PIN_COOKIE in request.COOKIES)
        try:
            response = self.get_response(request)
        finally:
            _pinned_to_primary.reset(token)
        if request.method not in _SAFE_METHODS:
            response.set_cookie(
                PIN_COOKIE,
                "1",
                max_age=settings.CLOZREMS_REPLICA_PIN_SECONDS,
                secure=request.is_secure(),
                httponly=True,
                samesite="Lax",
            )
        return response


class ReplicaRouter:
    def db_for_read(self, model: type[Any], **hints: Any) -> str | None:
        return REPLICA if reads_from_replica() else None

    def db_for_write(self, model: type[Any], **hints: Any) -> str | None:
        return "default"

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool | None:
        return True  # the replica is a copy of the primary: the same rows

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool | None:
        return db == "default"
