"""Who may call what, and whose records, for every app's API: the caller's account (`user_of`),
the role permissions (`ActionRoles`: the roles each view admits per action), and the views
nested under one patient, found among those the caller may see (`PatientScoped`,
`PatientRecords`)."""

from __future__ import annotations

from typing import Any

from django.db.models import Model, QuerySet
from rest_framework import mixins, status, viewsets
from rest_framework.exceptions import NotAuthenticated
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from patients.models import User


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
