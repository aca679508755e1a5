"""The pages' own "not found" and "not allowed" answers, the same with DEBUG on or off (under
`make run` DEBUG is on, and Django's would otherwise show its debug page). The API, the admin
site, the feeds and /health/ keep their own error bodies."""

from __future__ import annotations

from collections.abc import Callable

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.template.loader import render_to_string

NOT_PAGES = ("/api/", "/admin/", "/fhir", "/health/", "/static/")
MARK = "X-Clozrems-Page-Error"


def _is_page(request: HttpRequest) -> bool:
    return not request.path.startswith(NOT_PAGES)


def error_page(request: HttpRequest, status: int, message: str = "") -> HttpResponse:
    template = "404.html" if status == 404 else "403.html"
    response = HttpResponse(
        render_to_string(template, {"message": message}, request=request), status=status
    )
    response[MARK] = "1"
    return response


class FriendlyErrorPagesMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        # A path no page answers (the URL resolver's 404 comes here as a response).
        if (
            response.status_code == 404
            and _is_page(request)
            and not response.has_header(MARK)
            and response.get("Content-Type", "").startswith("text/html")
        ):
            return error_page(request, 404)
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not _is_page(request):
            return None
        if isinstance(exception, Http404):
            return error_page(request, 404)
        if isinstance(exception, PermissionDenied):
            return error_page(request, 403, str(exception))
        return None
