"""HTTP for pharmacies and dispenses."""

from __future__ import annotations

from datetime import UTC, datetime
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
from rest_framework.generics import GenericAPIView, get_object_or_404
from rest_framework.request import Request
from rest_framework.response import Response

from clozrems.db_router import replica_reads
from monitoring.patient_api import pharmacist_may_open
from patients.access import ActionRoles, user_of
from patients.auth import credential_of
from patients.models import Dispense, EmergencyReason, Patient, Pharmacy, Role, User
from patients.selectors import patient_list_visible, patient_reachable, pharmacist_bound
from patients.services import patient_reach_record
from pharmacy.presenters import decision_body
from pharmacy.selectors import pharmacy_named, pharmacy_worklist
from pharmacy.services import (
    EmergencyRequest,
    dispense_decision_body,
    dispense_payload,
    dispense_record,
    eligibility_check,
    emergency_payload,
    emergency_supply_review,
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
    decision = serializers.SerializerMethodField()

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_decision(self, dispense: Dispense) -> dict[str, Any] | None:
        """The decision the supply was made under, shown as the eligibility check shows it."""
        return dispense_decision_body(dispense)

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
            # The reach rule (monitoring.patient_api.pharmacist_may_open): a wrong date of birth,
            # or in a deployment that wants it, a patient not reached in this sign-in, is unknown.
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


# --- the dispensing decision ---------------------------------------------------------------

# The earliest instant a decision may be asked about. Nothing the product holds is older (no
# clozapine monitoring history predates 1990), and before their standard time the time zones
# had offsets in seconds, which no RFC 3339 client reads.
EARLIEST_AS_OF = datetime(1970, 1, 1, tzinfo=UTC)


class EligibilityQuerySerializer(serializers.Serializer[Any]):
    pharmacy = serializers.IntegerField(required=False, min_value=1)
    days_supply = serializers.IntegerField(required=False, min_value=1, max_value=90)
    as_of = serializers.DateTimeField(required=False)
    date_of_birth = serializers.DateField(required=False)

    def validate_as_of(self, value: datetime) -> datetime:
        if value < EARLIEST_AS_OF:
            raise ValidationError("A decision can be asked about an instant from 1970 on.")
        return value


DECISION_SCHEMA = inline_serializer(
    "Decision",
    {
        "patient": serializers.CharField(),
        "pharmacy": serializers.IntegerField(allow_null=True),
        "as_of": serializers.DateTimeField(),
        "protocol": serializers.CharField(),
        "protocol_version": serializers.CharField(),
        "decision": serializers.ChoiceField(choices=["allowed", "blocked"]),
        "max_days_supply": serializers.IntegerField(),
        "reasons": serializers.ListField(child=serializers.DictField()),
        "population": serializers.CharField(),
        "band": serializers.CharField(allow_null=True),
        "monitoring_frequency": serializers.CharField(allow_null=True),
        "latest_anc": serializers.DictField(allow_null=True),
        "latest_wbc": serializers.DictField(allow_null=True),
        "step_down_offered": serializers.CharField(allow_null=True),
        "limits": serializers.DictField(allow_null=True),
        "next_draw_due": serializers.DateField(allow_null=True),
        "confirmation_due": serializers.DateTimeField(allow_null=True),
        "hematology_consult": serializers.BooleanField(),
        "authorization": serializers.DictField(allow_null=True),
        "enrollment_status": serializers.CharField(),
        "treatment_status": serializers.CharField(),
        "warnings": serializers.ListField(
            child=inline_serializer(
                "DecisionWarning",
                {"code": serializers.CharField(), "message": serializers.CharField()},
            ),
            help_text="Information that never blocks: confirmation_overdue, review_needed, "
            "retitration_needed, incomplete_result.",
        ),
        "review_needed": serializers.ListField(
            child=inline_serializer(
                "ReviewNeeded",
                {
                    "code": serializers.CharField(),
                    "message": serializers.CharField(),
                    "on": serializers.DateField(),
                },
            ),
            help_text="Recorded acts that results filed later conflict with; empty when none. "
            "The prescriber reviews them (POST .../review-acknowledgement/).",
        ),
        "emergency_supply": inline_serializer(
            "EmergencySupplyOption",
            {
                "available": serializers.BooleanField(),
                "max_days_supply": serializers.IntegerField(),
                "needs_last_dose_confirmation": serializers.BooleanField(),
            },
            allow_null=True,
            help_text="Set when a pharmacist may make an emergency supply (the only block is an "
            "ANC that is not current, and every condition of the rule holds); null otherwise. "
            "`needs_last_dose_confirmation`: no supply is recorded here, so the request must "
            "confirm the last dose was recent.",
        ),
        "emergency_supply_withheld": serializers.ListField(
            child=serializers.DictField(),
            help_text="When a blocked decision offers no emergency supply: each condition that "
            "withholds it, as {code, message}.",
        ),
        "retitration_warning": inline_serializer(
            "RetitrationWarning",
            {
                "without_since": serializers.DateTimeField(),
                "hours_without": serializers.CharField(),
                "days_without": serializers.IntegerField(),
                "message": serializers.CharField(),
                "restart_dose_mg": serializers.CharField(),
                "source": serializers.CharField(),
            },
            allow_null=True,
            help_text="Set when the patient's last supply ran out (or the last dose was taken) "
            "48 hours or more ago: re-titration from 12.5 mg. Information only, never a block.",
        ),
    },
)


class EligibilityView(GenericAPIView[Patient]):
    """GET /patients/{id}/eligibility/: the dispensing decision for one patient at one pharmacy
    (docs/api.md). Deciding is pharmacy.decisions, presenting pharmacy.presenters, and the audit
    entry pharmacy.services.eligibility_check; this view reads the request and the patient."""

    permission_classes = [ActionRoles]
    action_roles = {"get": {Role.AUDITOR, Role.PRESCRIBER, Role.DESIGNEE, Role.PHARMACIST}}

    def get_queryset(self) -> QuerySet[Patient]:
        if getattr(self, "swagger_fake_view", False):  # schema generation, no user
            return Patient.objects.none()
        return patient_list_visible(user=user_of(self.request))

    @extend_schema(
        operation_id="patients_eligibility_retrieve",
        tags=["patients"],
        parameters=[
            OpenApiParameter(
                "pharmacy",
                OpenApiTypes.INT,
                description="required but for pharmacists, whose own pharmacy is the default",
            ),
            OpenApiParameter("days_supply", OpenApiTypes.INT),
            OpenApiParameter("as_of", OpenApiTypes.DATETIME),
            OpenApiParameter(
                "date_of_birth",
                OpenApiTypes.DATE,
                description="optional: the patient's date of birth, checked (404 when it differs)",
            ),
        ],
        responses={200: DECISION_SCHEMA},
    )
    def get(self, request: Request, pk: int) -> Response:
        # The pharmacy counter's hot path: only the columns a decision reads (the stored
        # snapshot, the prescriber's certification), looked up without the list's filters.
        patient = get_object_or_404(
            self.get_queryset().select_related("dose_facts").only(*DECISION_COLUMNS), pk=pk
        )
        params = EligibilityQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        pharmacist_may_open(
            request,
            patient,
            params.validated_data.get("date_of_birth"),
            by_id_alone=settings.CLOZREMS_PHARMACIST_DECISION_BY_ID,
        )
        pharmacy = _decision_pharmacy(user_of(request), params.validated_data.get("pharmacy"))
        as_of: datetime = params.validated_data.get("as_of") or timezone.now()
        decided = eligibility_check(
            patient=patient,
            pharmacy=pharmacy,
            actor=user_of(request),
            as_of=as_of,
            days_supply=params.validated_data.get("days_supply"),
        )
        return Response(decision_body(decided, patient.pk))


# What a dispensing decision reads of a patient (patient_assessment and the engine's inputs).
DECISION_COLUMNS = (
    "id",
    "date_of_birth",
    "population",
    "protocol",
    "prescriber_id",
    "enrollment_status",
    "prescriber__active",
    "prescriber__certified",
    "prescriber__certified_on",
    "prescriber__certification_expires_on",
    "monitoring__snapshot",
    "monitoring__high_water",
    "dose_facts__last_dispensed_at",
    "dose_facts__supply_runs_out_at",
    "dose_facts__last_dose_reported_at",
)


def _decision_pharmacy(user: User, pharmacy_id: int | None) -> Pharmacy:
    if user.role == Role.PHARMACIST and not user.is_admin:
        if pharmacy_id is not None and pharmacy_id != user.pharmacy_id:
            raise ValidationError({"pharmacy": ["Pharmacists decide for their own pharmacy."]})
        pharmacy_id = user.pharmacy_id
    if pharmacy_id is None:
        raise ValidationError({"pharmacy": ["Name the dispensing pharmacy."]})
    pharmacy = pharmacy_named(user, pharmacy_id)
    if pharmacy is None:
        raise ValidationError({"pharmacy": ["Unknown pharmacy."]})
    return pharmacy
