"""A database that does not answer is a 503 that says so, quickly, never a 500 with a trace; so is
a record held by another change past the lock timeout (PostgreSQL's `lock_timeout`, SQLite's
busy timeout) and a statement stopped by `statement_timeout`, each with its own message."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse

logger = logging.getLogger(__name__)
RETRY_AFTER_SECONDS = "30"
# A record busy with another change is usually free again within a second or two.
BUSY_RETRY_AFTER_SECONDS = "2"

# PostgreSQL's SQLSTATEs: lock_not_available (lock_timeout), query_canceled (statement_timeout).
LOCK_NOT_AVAILABLE = "55P03"
QUERY_CANCELED = "57014"


def _refusal(exception: Exception) -> tuple[str, str, str]:
    """The code, the message and the Retry-After for a database error."""
    state = getattr(exception.__cause__, "sqlstate", None)
    if state == LOCK_NOT_AVAILABLE or "database is locked" in str(exception):
        return (
            "record_busy",
            "Another change to the same record is in progress; nothing was recorded. "
            "Try again in a moment.",
            BUSY_RETRY_AFTER_SECONDS,
        )
    if state == QUERY_CANCELED:
        return (
            "statement_timeout",
            "The request took too long and was stopped; nothing was recorded. Try again shortly.",
            RETRY_AFTER_SECONDS,
        )
    return (
        "database_unavailable",
        "The database is not answering; nothing was recorded. Try again shortly.",
        RETRY_AFTER_SECONDS,
    )


class DatabaseUnavailableMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        from clozrems.api import NUL_IN_TEXT, OUT_OF_RANGE, nul_in_text, out_of_range

        if out_of_range(exception):  # a page's id no column can hold
            return HttpResponse(OUT_OF_RANGE, status=400, content_type="text/plain")
        if nul_in_text(exception):
            return HttpResponse(NUL_IN_TEXT, status=400, content_type="text/plain")
        if not isinstance(exception, OperationalError | InterfaceError):
            return None
        code, message, retry_after = _refusal(exception)
        logger.error("%s: %s", code, exception)
        if request.path.startswith(("/api/", "/fhir")):
            response: HttpResponse = JsonResponse({"code": code, "message": message}, status=503)
        else:
            response = HttpResponse(message, status=503, content_type="text/plain")
        response["Retry-After"] = retry_after
        return response
