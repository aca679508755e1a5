"""HTTP for the directory (prescribers, users): serializers and views are thin; services hold
the rules. The patient record, with its monitoring picture and the acts recorded on it, is
`monitoring.patient_api`."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from rest_framework import mixins, serializers, viewsets
from rest_framework.exceptions import ValidationError

from patients import services
from patients.access import ActionRoles, user_of
from patients.models import Prescriber, Role, User
from patients.selectors import prescriber_list_visible

READERS = {Role.AUDITOR, Role.PRESCRIBER, Role.DESIGNEE}


# --- directory ------------------------------------------------------------------------------


class PrescriberSerializer(serializers.ModelSerializer[Prescriber]):
    class Meta:
        model = Prescriber
        fields = [
            "id",
            "name",
            "npi",
            "email",
            "phone",
            "active",
            "certified",
            "certified_on",
            "certification_expires_on",
            "created_at",
        ]
        read_only_fields = ["created_at"]

    # No `certified_on` given: certified with no recorded start (a prescriber brought in from
    # another system may be enrolling patients with past dates); a date given is honoured, one
    # in the future meaning "not yet certified" (docs/rules.md §9.12).

    def create(self, validated_data: dict[str, Any]) -> Prescriber:
        actor = user_of(self.context["request"])
        return services.prescriber_save(actor=actor, prescriber=None, data=validated_data)

    def update(self, instance: Prescriber, validated_data: dict[str, Any]) -> Prescriber:
        actor = user_of(self.context["request"])
        return services.prescriber_save(actor=actor, prescriber=instance, data=validated_data)


class PrescriberViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet[Prescriber],
):
    serializer_class = PrescriberSerializer
    permission_classes = [ActionRoles]
    action_roles = {"list": READERS, "retrieve": READERS}
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self) -> QuerySet[Prescriber]:
        if getattr(self, "swagger_fake_view", False):  # schema generation, no user
            return Prescriber.objects.none()
        return prescriber_list_visible(user=user_of(self.request))


class UserSerializer(serializers.ModelSerializer[User]):
    password = serializers.CharField(write_only=True, style={"input_type": "password"})
    # Blank only on output: a superuser made by `createsuperuser` has no role (and is shown as
    # "admin", which it acts as); a user with no role at all may do nothing.
    role = serializers.ChoiceField(choices=Role.choices, allow_blank=True)

    class Meta:
        model = User
        fields = ["id", "username", "password", "role", "prescriber", "pharmacy", "email"]

    def to_representation(self, instance: User) -> dict[str, Any]:
        data = dict(super().to_representation(instance))
        if not data.get("role") and instance.is_superuser:
            data["role"] = Role.ADMIN.value
        return data

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        role = attrs["role"]
        if not role:
            raise ValidationError({"role": ["Give the user a role."]})
        if role in (Role.PRESCRIBER, Role.DESIGNEE) and not attrs.get("prescriber"):
            raise ValidationError(
                {"prescriber": ["A prescriber or designee names its prescriber."]}
            )
        if role == Role.PHARMACIST and not attrs.get("pharmacy"):
            raise ValidationError({"pharmacy": ["A pharmacist names its pharmacy."]})
        if role not in (Role.PRESCRIBER, Role.DESIGNEE) and attrs.get("prescriber"):
            raise ValidationError({"prescriber": ["Only prescribers and designees have one."]})
        if role != Role.PHARMACIST and attrs.get("pharmacy"):
            raise ValidationError({"pharmacy": ["Only pharmacists have a pharmacy."]})
        candidate = User(username=attrs["username"], email=attrs.get("email", ""))
        try:
            validate_password(attrs["password"], candidate)
        except DjangoValidationError as error:
            raise ValidationError({"password": list(error.messages)}) from None
        return attrs

    def create(self, validated_data: dict[str, Any]) -> User:
        return services.user_create(actor=user_of(self.context["request"]), **validated_data)


class UserViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet[User],
):
    serializer_class = UserSerializer
    permission_classes = [ActionRoles]
    action_roles = {"list": {Role.AUDITOR}, "retrieve": {Role.AUDITOR}}
    queryset = User.objects.order_by("id")
