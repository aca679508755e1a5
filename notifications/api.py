"""GET /api/v1/notifications/: the caller's in-app reminders as delivered (the urgent ones and
the daily digests; `?digest=<id>` lists what one digest carried); POST .../{id}/read/;
GET/PUT/PATCH .../preferences/: the caller's own settings."""

from __future__ import annotations

import re
from datetime import time
from typing import Any

import django_filters
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from notifications.models import Channel, Notification, Status
from notifications.services import (
    Preferences,
    notification_mark_read,
    notification_preferences_get,
    notification_preferences_save,
)
from patients.access import ActionRoles, user_of
from patients.models import Role

CLOCK_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"


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
            "digest",
        ]


@extend_schema_field({"type": "string", "pattern": CLOCK_PATTERN, "example": "07:30"})
class ClockTimeField(serializers.Field):
    """A local time of day as HH:MM (the clinic's zone)."""

    def to_representation(self, value: time) -> str:
        return value.strftime("%H:%M")

    def to_internal_value(self, data: Any) -> time:
        if not isinstance(data, str) or not re.fullmatch(CLOCK_PATTERN, data):
            raise serializers.ValidationError("Give a local time of day as HH:MM (00:00-23:59).")
        return time.fromisoformat(data)


class PreferencesSerializer(serializers.Serializer[Preferences]):
    digest_at = ClockTimeField(
        help_text="Local clinic time after which the day's digest is sent (HH:MM)."
    )
    email_digest = serializers.BooleanField(help_text="E-mail the daily digest too.")
    immediate_kinds = serializers.ListField(
        child=serializers.CharField(),
        help_text="Non-urgent kinds to receive on their own instead of in the digest.",
    )
    digest_limit = serializers.IntegerField(
        help_text="At most this many reminders are listed in a digest; the rest are counted."
    )


class NotificationFilter(django_filters.FilterSet):
    unread = django_filters.BooleanFilter(field_name="read_at", lookup_expr="isnull")
    kind = django_filters.CharFilter()
    digest = django_filters.NumberFilter(field_name="digest_id")

    class Meta:
        model = Notification
        fields = ["unread", "kind", "digest"]


class NotificationViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[Notification]
):
    """Everyone sees only their own in-app reminders (others' are 404)."""

    serializer_class = NotificationSerializer
    permission_classes = [ActionRoles]
    filterset_class = NotificationFilter
    everyone = {Role.PRESCRIBER, Role.DESIGNEE, Role.PHARMACIST, Role.AUDITOR}
    action_roles = {
        "list": everyone,
        "retrieve": everyone,
        "read": everyone,
        "preferences": everyone,
    }

    def get_queryset(self) -> QuerySet[Notification]:
        if getattr(self, "swagger_fake_view", False):  # schema generation, no user
            return Notification.objects.none()
        mine = Notification.objects.filter(recipient=user_of(self.request), channel=Channel.IN_APP)
        if self.action == "list" and "digest" not in self.request.query_params:
            # What was delivered: urgent reminders and digests, not what a digest carries
            # (listed with ?digest=<id>) nor what waits for the next one.
            mine = mine.filter(status=Status.SENT)
        return mine.order_by("-created_at", "-id")

    @extend_schema(request=None, responses={200: NotificationSerializer})
    @action(detail=True, methods=["post"])
    def read(self, request: Request, pk: str | None = None) -> Response:
        notification = notification_mark_read(notification=self.get_object(), user=user_of(request))
        return Response(self.get_serializer(notification).data)

    @extend_schema(methods=["GET"], request=None, responses={200: PreferencesSerializer})
    @extend_schema(
        methods=["PUT", "PATCH"],
        request=PreferencesSerializer,
        responses={200: PreferencesSerializer},
    )
    @action(
        detail=False,
        methods=["get", "put", "patch"],
        serializer_class=PreferencesSerializer,
        filterset_class=None,
        pagination_class=None,
    )
    def preferences(self, request: Request) -> Response:
        """The caller's own reminder settings (urgent reminders always go on their own)."""
        user = user_of(request)
        if request.method == "GET":
            return Response(PreferencesSerializer(notification_preferences_get(user=user)).data)
        incoming = PreferencesSerializer(data=request.data, partial=request.method == "PATCH")
        incoming.is_valid(raise_exception=True)
        saved = notification_preferences_save(user=user, data=incoming.validated_data)
        return Response(PreferencesSerializer(saved).data)


__all__ = ["NotificationViewSet"]
