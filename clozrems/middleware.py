"""A database that does not answer is a 503 that says so, quickly, never a 500 with a trace."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse

logger = logging.getLogger(__name__)
RETRY_AFTER_SECONDS = "30"


class DatabaseUnavailableMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        from clozrems.api import OUT_OF_RANGE, out_of_range

        if out_of_range(exception):  # a page's id no column can hold
            return HttpResponse(OUT_OF_RANGE, status=400, content_type="text/plain")
        if not isinstance(exception, OperationalError | InterfaceError):
            return None
        logger.error("database unavailable: %s", exception)
        message = "The database is not answering; nothing was recorded. Try again shortly."
        if request.path.startswith(("/api/", "/fhir")):
            response: HttpResponse = JsonResponse(
                {"code": "database_unavailable", "message": message}, status=503
            )
        else:
            response = HttpResponse(message, status=503, content_type="text/plain")
        response["Retry-After"] = RETRY_AFTER_SECONDS
        return response
