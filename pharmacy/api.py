"""HTTP for pharmacies and dispenses."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
    inline_serializer,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from clozrems.api import ActionRoles, user_of
from clozrems.auth import credential_of
from clozrems.db_router import replica_reads
from patients.models import Role, User
from patients.selectors import patient_list_visible
from pharmacy.models import Dispense, EmergencyReason, Pharmacy
from pharmacy.selectors import (
    patient_reachable,
    pharmacist_bound,
    pharmacy_named,
    pharmacy_worklist,
)
from pharmacy.services import (
    EmergencyRequest,
    dispense_payload,
    dispense_record,
    emergency_payload,
    emergency_supply_review,
    patient_reach_record,
    pharmacy_save,
)


class PharmacySerializer(serializers.ModelSerializer[Pharmacy]):
    class Meta:
        model = Pharmacy
        fields = [
            "id",
            "name",
            "ncpdp_id",
            "active",
            "certified",
            "certified_on",
            "certification_expires_on",
            "created_at",
        ]
        read_only_fields = ["created_at"]

    # No `certified_on` given: certified with no recorded start (docs/rules.md §9.12).

    def create(self, validated_data: dict[str, Any]) -> Pharmacy:
        actor = user_of(self.context["request"])
        return pharmacy_save(actor=actor, pharmacy=None, data=validated_data)

    def update(self, instance: Pharmacy, validated_data: dict[str, Any]) -> Pharmacy:
        actor = user_of(self.context["request"])
        return pharmacy_save(actor=actor, pharmacy=instance, data=validated_data)


class WorklistQuerySerializer(serializers.Serializer[Any]):
    recent_days = serializers.IntegerField(required=False, default=60, min_value=1, max_value=365)
    due_within_days = serializers.IntegerField(required=False, default=0, min_value=0, max_value=14)


class WorklistEntrySerializer(serializers.Serializer[Any]):
    patient = serializers.IntegerField()
    first_name = serializers.CharField()
    last_name = serializers.CharField()
    date_of_birth = serializers.DateField()
    next_draw_due = serializers.DateField()
    days_overdue = serializers.IntegerField()
    monitoring_frequency = serializers.CharField(allow_null=True)
    latest_anc_drawn_at = serializers.DateTimeField(allow_null=True)
    last_dispensed_at = serializers.DateTimeField()


class PharmacyViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet[Pharmacy],
):
    serializer_class = PharmacySerializer
    permission_classes = [ActionRoles]
    action_roles = {
        "list": {Role.AUDITOR, Role.PHARMACIST},
        "retrieve": {Role.AUDITOR, Role.PHARMACIST},
        "worklist": {Role.AUDITOR, Role.PHARMACIST},
    }
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self) -> QuerySet[Pharmacy]:
        if getattr(self, "swagger_fake_view", False):  # schema generation, no user
            return Pharmacy.objects.none()
        user = user_of(self.request)
        if user.is_admin or user.role == Role.AUDITOR:
            return Pharmacy.objects.all()
        return Pharmacy.objects.filter(pk=user.pharmacy_id or 0)

    @extend_schema(
        parameters=[
            OpenApiParameter("recent_days", OpenApiTypes.INT, description="default 60"),
            OpenApiParameter("due_within_days", OpenApiTypes.INT, description="default 0"),
        ],
        responses={200: WorklistEntrySerializer(many=True)},
    )
    @action(detail=True, methods=["get"])
    def worklist(self, request: Request, pk: str | None = None) -> Response:
        """Patients dispensed here recently whose ANC draw is due or overdue, most overdue
        first, so the pharmacy can chase a missing result before the next pickup."""
        pharmacy = self.get_object()
        params = WorklistQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        # A worklist may lag by the replica's delay (clozrems.db_router); the counter never does.
        with replica_reads():
            rows = pharmacy_worklist(
                pharmacy=pharmacy,
                now=timezone.now(),
                recent_days=params.validated_data["recent_days"],
                due_within_days=params.validated_data["due_within_days"],
            )
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(WorklistEntrySerializer(page, many=True).data)


class EmergencySerializer(serializers.Serializer[Any]):
    reason = serializers.ChoiceField(choices=EmergencyReason.choices)
    remark = serializers.CharField(required=False, allow_blank=True, max_length=500, default="")
    last_dose_confirmed = serializers.BooleanField(
        required=False,
        allow_null=True,
        default=None,
        help_text="For a patient with no supply recorded here: true when the patient (or carer) "
        "says the last dose was taken within the protocol's hours (us-label-2015: 48).",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["reason"] == EmergencyReason.OTHER and not attrs.get("remark", "").strip():
            raise ValidationError({"remark": ['A remark is required when the reason is "other".']})
        return attrs


class DispenseRequestSerializer(serializers.Serializer[Any]):
    patient = serializers.IntegerField(min_value=1)
    pharmacy = serializers.IntegerField(min_value=1)
    days_supply = serializers.IntegerField(min_value=1, max_value=90)
    dispensed_at = serializers.DateTimeField(required=False)
    date_of_birth = serializers.DateField(
        required=False,
        help_text="Optional: the patient's date of birth, checked; a patient whose date of birth "
        "differs is treated as unknown.",
    )
    emergency = EmergencySerializer(
        required=False,
        allow_null=True,
        help_text=(
            "A pharmacist's emergency supply: allowed only when the decision is blocked solely "
            "because the ANC is not current (see the decision's `emergency_supply`), for at most "
            "the protocol's emergency days (us-label-2015: 4). The prescriber is notified and "
            "an administrator reviews it."
        ),
    )


class ReviewSerializer(serializers.Serializer[Any]):
    note = serializers.CharField(required=False, allow_blank=True, max_length=500, default="")


class DispenseSerializer(serializers.ModelSerializer[Dispense]):
    class Meta:
        model = Dispense
        fields = [
            "id",
            "patient",
            "pharmacy",
            "days_supply",
            "dispensed_at",
            "authorization_code",
            "decision",
            "recorded_by",
            "created_at",
            "emergency",
        ]

    emergency = serializers.SerializerMethodField()

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_emergency(self, dispense: Dispense) -> dict[str, Any] | None:
        return emergency_payload(dispense)


def dispenses_visible(user: User) -> QuerySet[Dispense]:
    dispenses = Dispense.objects.select_related("patient", "pharmacy")
    if user.is_admin or user.role == Role.AUDITOR:
        return dispenses
    if user.role == Role.PHARMACIST:
        return dispenses.filter(pharmacy_id=user.pharmacy_id or 0)
    if user.role in (Role.PRESCRIBER, Role.DESIGNEE):
        return dispenses.filter(patient__prescriber_id=user.prescriber_id or 0)
    return dispenses.none()


class DispenseViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet[Dispense],
):
    serializer_class = DispenseSerializer
    permission_classes = [ActionRoles]
    readers = {Role.AUDITOR, Role.PHARMACIST, Role.PRESCRIBER, Role.DESIGNEE}
    # `review` is for administrators only (ActionRoles lets them call everything).
    action_roles = {"list": readers, "retrieve": readers, "create": {Role.PHARMACIST}}

    def get_queryset(self) -> QuerySet[Dispense]:
        if getattr(self, "swagger_fake_view", False):  # schema generation, no user
            return Dispense.objects.none()
        return dispenses_visible(user_of(self.request)).order_by("-dispensed_at", "-id")

    @extend_schema(
        request=DispenseRequestSerializer,
        parameters=[OpenApiParameter("Idempotency-Key", OpenApiTypes.STR, "header")],
        responses={
            201: inline_serializer(
                "DispenseRecorded",
                {
                    "id": serializers.IntegerField(),
                    "authorization_code": serializers.CharField(),
                    "decision": serializers.DictField(),
                    "emergency": serializers.DictField(allow_null=True),
                },
            )
        },
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        user = user_of(request)
        params = DispenseRequestSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        data = params.validated_data
        if data.get("dispensed_at") is not None and not user.is_admin:
            raise ValidationError({"dispensed_at": ["Only an administrator may import history."]})
        pharmacy = pharmacy_named(user, data["pharmacy"])
        if pharmacy is None:
            raise ValidationError({"pharmacy": ["Unknown pharmacy."]})
        if not user.is_admin and pharmacy.pk != user.pharmacy_id:
            raise PermissionDenied("Pharmacists record dispenses for their own pharmacy.")
        patient = patient_list_visible(user=user).filter(pk=data["patient"]).first()
        if patient is not None and pharmacist_bound(user):
            # The reach rule (patients.api.pharmacist_may_open): a wrong date of birth, or in a
            # deployment that wants it, a patient not reached in this sign-in, is unknown.
            born = data.get("date_of_birth")
            if born is not None and born != patient.date_of_birth:
                patient = None
            elif born is not None:
                patient_reach_record(
                    user=user, patient_ids=[patient.pk], credential=credential_of(request)
                )
            elif not settings.CLOZREMS_PHARMACIST_DECISION_BY_ID and not patient_reachable(
                user=user,
                patient_id=patient.pk,
                credential=credential_of(request),
                now=timezone.now(),
            ):
                patient = None
        key = request.headers.get("Idempotency-Key", "")
        if len(key) > 200:
            raise ValidationError({"Idempotency-Key": ["At most 200 characters."]})
        emergency = data.get("emergency")
        if emergency is not None and user.role != Role.PHARMACIST:
            raise PermissionDenied("Only a pharmacist may make an emergency supply.")
        outcome = dispense_record(
            patient=patient,
            pharmacy=pharmacy,
            actor=user,
            days_supply=data["days_supply"],
            idempotency_key=key,
            dispensed_at=data.get("dispensed_at"),
            emergency=EmergencyRequest(
                emergency["reason"],
                emergency.get("remark", ""),
                emergency.get("last_dose_confirmed"),
            )
            if emergency is not None
            else None,
        )
        response = Response(outcome.payload, status=status.HTTP_201_CREATED)
        if outcome.replayed:
            response["Idempotent-Replayed"] = "true"
        return response

    @extend_schema(request=ReviewSerializer, responses={200: DispenseSerializer})
    @action(detail=True, methods=["post"])
    def review(self, request: Request, pk: str | None = None) -> Response:
        """An administrator marks an emergency supply reviewed (409 when it is not one, or is
        already reviewed)."""
        dispense = self.get_object()
        params = ReviewSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        reviewed = emergency_supply_review(
            dispense=dispense, actor=user_of(request), note=params.validated_data["note"]
        )
        return Response(DispenseSerializer(reviewed).data)


__all__ = ["DispenseViewSet", "PharmacyViewSet", "dispense_payload"]
