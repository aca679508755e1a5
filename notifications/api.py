"""GET /api/v1/notifications/: the caller's in-app reminders; POST .../{id}/read/."""

from __future__ import annotations

import django_filters
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from clozrems.api import ActionRoles, user_of
from notifications.models import Channel, Notification
from notifications.services import notification_mark_read
from patients.models import Role


class NotificationSerializer(serializers.ModelSerializer[Notification]):
    class Meta:
        model = Notification
        fields = [
            "id",
            "kind",
            "urgent",
            "patient",
            "subject",
            "body",
            "key_date",
            "created_at",
            "read_at",
        ]


class NotificationFilter(django_filters.FilterSet):
    unread = django_filters.BooleanFilter(field_name="read_at", lookup_expr="isnull")
    kind = django_filters.CharFilter()

    class Meta:
        model = Notification
        fields = ["unread", "kind"]


class NotificationViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[Notification]
):
    """Everyone sees only their own in-app reminders (others' are 404)."""

    serializer_class = NotificationSerializer
    permission_classes = [ActionRoles]
    filterset_class = NotificationFilter
    everyone = {Role.PRESCRIBER, Role.DESIGNEE, Role.PHARMACIST, Role.AUDITOR}
    action_roles = {"list": everyone, "retrieve": everyone, "read": everyone}

    def get_queryset(self) -> QuerySet[Notification]:
        if getattr(self, "swagger_fake_view", False):  # schema generation, no user
            return Notification.objects.none()
        return Notification.objects.filter(
            recipient=user_of(self.request), channel=Channel.IN_APP
        ).order_by("-created_at", "-id")

    @extend_schema(request=None, responses={200: NotificationSerializer})
    @action(detail=True, methods=["post"])
    def read(self, request: Request, pk: str | None = None) -> Response:
        notification = notification_mark_read(notification=self.get_object(), user=user_of(request))
        return Response(self.get_serializer(notification).data)


__all__ = ["NotificationViewSet"]
