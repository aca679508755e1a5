"""X-Request-ID: taken from the caller when it is a sane token, else a new uuid4; exposed to the
services (and so to every audit entry) through a context variable, and echoed on the response."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from audit.context import request_id_reset, request_id_set

HEADER = "X-Request-ID"
# Printable, no spaces or quotes: the value goes into logs, CSV and response headers.
_SANE = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,128}$")


class RequestIdMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        given = request.headers.get(HEADER, "")
        value = given if _SANE.match(given) else str(uuid.uuid4())
        request.request_id = value  # type: ignore[attr-defined]
        token = request_id_set(value)
        try:
            response = self.get_response(request)
        finally:
            request_id_reset(token)
        response[HEADER] = value
        return response
