"""API plumbing shared by the apps: errors as docs/api.md shapes them, and the ping. Who may
call what, and whose records, is the accounts' (patients/access.py)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler

from clozrems.errors import FieldInvalid, NotPermitted, RuleRefused, StateConflict


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, NotPermitted):
        return Response(exc.as_dict(), status=status.HTTP_403_FORBIDDEN)
    if isinstance(exc, RuleRefused):
        return Response(exc.as_dict(), status=status.HTTP_422_UNPROCESSABLE_ENTITY)
    if isinstance(exc, StateConflict):
        body = {"code": exc.code, "message": exc.message, "reasons": []}
        return Response(body, status=status.HTTP_409_CONFLICT)
    if isinstance(exc, FieldInvalid):
        return Response({exc.field: [exc.message]}, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, DjangoValidationError):
        if hasattr(exc, "message_dict"):
            return Response(exc.message_dict, status=status.HTTP_400_BAD_REQUEST)
        return Response({"non_field_errors": exc.messages}, status=status.HTTP_400_BAD_REQUEST)
    if out_of_range(exc):
        return Response({"non_field_errors": [OUT_OF_RANGE]}, status=status.HTTP_400_BAD_REQUEST)
    if nul_in_text(exc):
        return Response({"non_field_errors": [NUL_IN_TEXT]}, status=status.HTTP_400_BAD_REQUEST)
    return drf_exception_handler(exc, context)


OUT_OF_RANGE = "A number in the request is out of range (an id or a filter value)."


def out_of_range(exc: Exception) -> bool:
    """An id or filter value no database column can hold (SQLite: OverflowError; PostgreSQL:
    DataError "out of range"): the client's mistake, a 400, never a 500."""
    from django.db import DataError

    return isinstance(exc, OverflowError) or (
        isinstance(exc, DataError) and "out of range" in str(exc)
    )


NUL_IN_TEXT = "Text in the request may not contain NUL characters."


def nul_in_text(exc: Exception) -> bool:
    """A NUL character in a value looked up or stored as text: PostgreSQL refuses it (a
    DataError), SQLite does not. The client's mistake, a 400."""
    from django.db import DataError

    return isinstance(exc, DataError) and "NUL" in str(exc)


class PingView(APIView):
    """GET /api/v1/ping/: an authenticated constant. The framework's floor, against which the
    benchmark measures the decision; also a cheap check that a token still works."""

    @extend_schema(responses={200: inline_serializer("Pong", {"pong": serializers.BooleanField()})})
    def get(self, request: Request) -> Response:
        return Response({"pong": True})
