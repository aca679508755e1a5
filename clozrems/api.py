"""API plumbing shared by the apps: errors as docs/api.md shapes them, role permissions."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Model, QuerySet
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.exceptions import NotAuthenticated
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler

from clozrems.errors import FieldInvalid, NotPermitted, RuleRefused, StateConflict
from patients.models import User


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


def user_of(request: Request) -> User:
    user = request.user
    if not isinstance(user, User):  # IsAuthenticated runs first; never trust -O to keep asserts
        raise NotAuthenticated()
    return user


class ActionRoles(BasePermission):
    """Allows an action only to the roles the view lists for it in `action_roles`.

    Administrators (role admin or superuser) may call everything (docs/api.md). An action missing
    from the table is refused: a new endpoint is closed until someone opens it on purpose.
    """

    message = "Your role may not do this."

    def has_permission(self, request: Request, view: APIView) -> bool:
        user = request.user
        if not (user and user.is_authenticated and isinstance(user, User)):
            return False
        if user.is_admin:
            return True
        table: dict[str, set[str]] = getattr(view, "action_roles", {})
        action = getattr(view, "action", None) or (request.method or "").lower()
        return user.role in table.get(action, set())


class PatientScoped:
    """For views nested under /patients/{patient_pk}/: the patient, or 404 when the caller may
    not see it (docs/api.md: never reveal someone else's record)."""

    kwargs: dict[str, Any]

    def get_patient(self) -> Any:
        from django.shortcuts import get_object_or_404

        from patients.selectors import patient_list_visible

        cached = getattr(self, "_patient", None)
        if cached is None:
            user = user_of(self.request)  # type: ignore[attr-defined]
            cached = get_object_or_404(
                patient_list_visible(user=user), pk=self.kwargs["patient_pk"]
            )
            self._patient = cached
            if self.request.method in ("GET", "HEAD"):  # type: ignore[attr-defined]
                # Reading a patient's results, events or other records: who looked at whom.
                from patients.services import patient_read_audit

                what = getattr(self, "basename", None) or type(self).__name__
                patient_read_audit(actor=user, patient_id=cached.pk, what=str(what))
        return cached


class PatientRecords(
    PatientScoped,
    mixins.ListModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet[Any],
):
    """One kind of a patient's records under /patients/{patient_pk}/<kind>/: listed in
    `ordering` (the model's own order when empty), with `related` loaded alongside; created
    through the kind's service (`record`), the patient found first, so a patient the caller may
    not see is a 404 before any validation detail. `created_body` is the 201's body."""

    permission_classes = [ActionRoles]
    model: type[Model]
    ordering: tuple[str, ...] = ()
    related: tuple[str, ...] = ()

    def get_queryset(self) -> QuerySet[Any]:
        if getattr(self, "swagger_fake_view", False):  # schema generation, no user
            return self.model._default_manager.none()
        records = self.model._default_manager.filter(patient=self.get_patient(), **self.scope())
        if self.related:
            records = records.select_related(*self.related)
        return records.order_by(*self.ordering) if self.ordering else records

    def scope(self) -> dict[str, Any]:
        """Further filters of the kind (e.g. one analyte of the results)."""
        return {}

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        patient = self.get_patient()  # 404 before any validation detail
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        made = self.record(patient, user_of(request), serializer.validated_data)
        return Response(self.created_body(patient, made), status=status.HTTP_201_CREATED)

    def record(self, patient: Any, actor: User, data: dict[str, Any]) -> Any:
        raise NotImplementedError

    def created_body(self, patient: Any, made: Any) -> dict[str, Any]:
        return dict(self.get_serializer(made).data)


class PingView(APIView):
    """GET /api/v1/ping/: an authenticated constant. The framework's floor, against which the
    benchmark measures the decision; also a cheap check that a token still works."""

    @extend_schema(responses={200: inline_serializer("Pong", {"pong": serializers.BooleanField()})})
    def get(self, request: Request) -> Response:
        return Response({"pong": True})
