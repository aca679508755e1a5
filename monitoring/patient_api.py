"""The patient record over HTTP: a patient with its monitoring picture, and the acts recorded on
it (enrollment, treatment events, authorizations, agreed limits, the acknowledgements, step-down
and supply elsewhere). Serializers and views are thin; the services hold the rules
(`monitoring.acts`, `monitoring.services`). The directory (prescribers, users) is
`patients.api`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import django_filters
from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from engine.types import (
    AuthorizationKind,
    EnrollmentStatus,
    Frequency,
    Population,
    TreatmentEventKind,
    choices,
)
from monitoring import acts
from monitoring.models import SuppliedElsewhere
from monitoring.presenters import monitoring_payload
from monitoring.services import (
    consult_acknowledge,
    patient_monitoring,
    patient_monitoring_reload,
    review_acknowledge,
    step_down_confirm,
    supplied_elsewhere_record,
)
from patients.access import ActionRoles, PatientRecords, user_of
from patients.api import READERS
from patients.auth import credential_of
from patients.models import (
    Authorization,
    LimitAgreement,
    Patient,
    Prescriber,
    Role,
    Sex,
    TreatmentEvent,
    User,
)
from patients.selectors import patient_list_visible, patient_reachable, pharmacist_bound
from patients.services import patient_lookup_record, patient_reach_record, patient_read_audit

# --- patients -------------------------------------------------------------------------------


def _monitoring(patient: Patient) -> dict[str, Any]:
    return monitoring_payload(patient.pk, patient_monitoring(patient=patient))


class PatientSerializer(serializers.ModelSerializer[Patient]):
    population = serializers.ChoiceField(choices=choices(Population))
    sex = serializers.ChoiceField(choices=Sex.choices)
    protocol = serializers.CharField(required=False)
    enrollment_status = serializers.SerializerMethodField()
    treatment_status = serializers.SerializerMethodField()
    monitoring = serializers.SerializerMethodField()

    class Meta:
        model = Patient
        fields = [
            "id",
            "first_name",
            "last_name",
            "date_of_birth",
            "sex",
            "population",
            "protocol",
            "prescriber",
            "enrollment_status",
            "treatment_status",
            "ben_documented_by",
            "ben_documented_at",
            "created_at",
            "monitoring",
        ]
        read_only_fields = ["ben_documented_by", "ben_documented_at", "created_at"]

    @property
    def _cache(self) -> dict[int, dict[str, Any]]:
        # One projection per patient per response, shared by the three fields that use it.
        if not hasattr(self, "_monitoring_cache"):
            self._monitoring_cache: dict[int, dict[str, Any]] = {}
        return self._monitoring_cache

    def _picture(self, patient: Patient) -> dict[str, Any]:
        cache = self._cache
        if patient.pk not in cache:
            cache[patient.pk] = _monitoring(patient)
        return cache[patient.pk]

    def get_enrollment_status(self, patient: Patient) -> str:
        return str(self._picture(patient)["enrollment_status"])

    def get_treatment_status(self, patient: Patient) -> str:
        return str(self._picture(patient)["treatment_status"])

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_monitoring(self, patient: Patient) -> dict[str, Any]:
        return self._picture(patient)

    def validate_prescriber(self, prescriber: Prescriber) -> Prescriber:
        user = user_of(self.context["request"])
        if not user.is_admin and user.prescriber_id != prescriber.pk:
            raise ValidationError("You may create patients only for your own prescriber.")
        return prescriber

    def create(self, validated_data: dict[str, Any]) -> Patient:
        return acts.patient_create(actor=user_of(self.context["request"]), **validated_data)


class PharmacistPatientSerializer(PatientSerializer):
    """What a dispensing decision needs, and no more (api.md, Roles)."""

    class Meta(PatientSerializer.Meta):
        fields = [
            "id",
            "first_name",
            "last_name",
            "date_of_birth",
            "enrollment_status",
            "treatment_status",
            "monitoring",
        ]


class PatientFilter(django_filters.FilterSet):
    last_name = django_filters.CharFilter(lookup_expr="iexact")
    date_of_birth = django_filters.DateFilter()
    enrollment_status = django_filters.ChoiceFilter(choices=choices(EnrollmentStatus))
    prescriber = django_filters.NumberFilter(field_name="prescriber_id")

    class Meta:
        model = Patient
        fields = ["last_name", "date_of_birth", "enrollment_status", "prescriber"]


class EnrollSerializer(serializers.Serializer[Any]):
    effective_date = serializers.DateField(required=False)
    reason = serializers.CharField(required=False, allow_blank=True, max_length=500)
    # the protocol to (re-)enroll under; the only way to change a patient's protocol.
    protocol = serializers.CharField(required=False, max_length=40)


class StepDownSerializer(serializers.Serializer[Any]):
    """The prescriber confirms the longer interval the schedule offers (`step_down_offered`)."""

    frequency = serializers.ChoiceField(choices=choices(Frequency))
    effective_date = serializers.DateField(required=False)
    note = serializers.CharField(required=False, allow_blank=True, max_length=500)


class ConsultAcknowledgementSerializer(serializers.Serializer[Any]):
    note = serializers.CharField(required=False, allow_blank=True, max_length=500)


class SuppliedElsewhereSerializer(serializers.ModelSerializer[SuppliedElsewhere]):
    class Meta:
        model = SuppliedElsewhere
        fields = ["id", "starts_on", "ends_on", "reason", "recorded_by", "created_at"]
        read_only_fields = ["recorded_by", "created_at"]


class ReachQuerySerializer(serializers.Serializer[Any]):
    date_of_birth = serializers.DateField(required=False)


# The answer for an unknown id, and for a patient the caller may not open (api.md: the same).
PATIENT_NOT_FOUND = "No Patient matches the given query."


def pharmacist_may_open(
    request: Request, patient: Patient, date_of_birth: Any, *, by_id_alone: bool
) -> None:
    """A pharmacist reaches a patient by last name and date of birth, by id and date of birth,
    or from its own pharmacy's dispenses; any other patient is a 404, like an unknown id. An
    id with the right date of birth opens the patient for the rest of the sign-in.
    `by_id_alone`: the dispensing decision, which names no one and is audited, takes the id
    alone (api.md; CLOZREMS_PHARMACIST_DECISION_BY_ID)."""
    user = user_of(request)
    if not pharmacist_bound(user):
        return
    if date_of_birth is not None:
        if date_of_birth != patient.date_of_birth:
            raise Http404(PATIENT_NOT_FOUND)
        patient_reach_record(user=user, patient_ids=[patient.pk], credential=credential_of(request))
        return
    if by_id_alone:
        return
    reachable = patient_reachable(
        user=user, patient_id=patient.pk, credential=credential_of(request), now=timezone.now()
    )
    if not reachable:
        raise Http404(PATIENT_NOT_FOUND)


class PatientViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet[Patient],
):
    permission_classes = [ActionRoles]
    filterset_class = PatientFilter
    everyone = {Role.AUDITOR, Role.PRESCRIBER, Role.DESIGNEE, Role.PHARMACIST}
    action_roles = {
        "list": everyone,
        "retrieve": everyone,
        "create": {Role.PRESCRIBER, Role.DESIGNEE},
        "enroll": {Role.PRESCRIBER, Role.DESIGNEE},
        "consult_acknowledgement": {Role.PRESCRIBER},
        "review_acknowledgement": {Role.PRESCRIBER},
        "supplied_elsewhere": {Role.PRESCRIBER, Role.PHARMACIST},
        "step_down": {Role.PRESCRIBER},
    }

    def get_queryset(self) -> QuerySet[Patient]:
        if getattr(self, "swagger_fake_view", False):  # schema generation, no user
            return Patient.objects.none()
        return patient_list_visible(user=user_of(self.request))

    def filter_queryset(self, queryset: QuerySet[Patient, Any]) -> QuerySet[Patient, Any]:
        # The lookup filters are the list's; a detail route names its patient by id.
        return super().filter_queryset(queryset) if self.action == "list" else queryset

    def get_serializer_class(self) -> type[PatientSerializer]:
        if (
            self.request
            and getattr(self.request, "user", None)
            and (
                getattr(self.request.user, "role", None) == Role.PHARMACIST
                and not getattr(self.request.user, "is_admin", False)
            )
        ):
            return PharmacistPatientSerializer
        return PatientSerializer

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        user = user_of(request)
        if user.role == Role.PHARMACIST and not user.is_admin:
            missing = [f for f in ("last_name", "date_of_birth") if not request.query_params.get(f)]
            if missing:
                raise ValidationError(
                    {
                        f: ["Pharmacists look patients up by last name and date of birth."]
                        for f in missing
                    }
                )
            response = super().list(request, *args, **kwargs)
            found = [row["id"] for row in (response.data or {}).get("results", [])]
            patient_lookup_record(
                user=user,
                patient_ids=found,
                credential=credential_of(request),
                criteria={
                    "last_name": request.query_params.get("last_name", ""),
                    "date_of_birth": request.query_params.get("date_of_birth", ""),
                },
            )
            return response
        return super().list(request, *args, **kwargs)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "date_of_birth",
                OpenApiTypes.DATE,
                description="pharmacists: the patient's date of birth, which opens a patient "
                "not found by name and date of birth in this sign-in (404 when it differs)",
            )
        ]
    )
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        patient = self.get_object()
        params = ReachQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        pharmacist_may_open(
            request, patient, params.validated_data.get("date_of_birth"), by_id_alone=False
        )
        patient_read_audit(actor=user_of(request), patient_id=patient.pk, what="patient")
        return Response(self.get_serializer(patient).data)

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = PatientSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        patient = serializer.save()
        patient = self.get_queryset().get(pk=patient.pk)
        body = PatientSerializer(patient, context=self.get_serializer_context()).data
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(request=EnrollSerializer, responses={200: PatientSerializer})
    @action(detail=True, methods=["post"])
    def enroll(self, request: Request, pk: str | None = None) -> Response:
        patient = self.get_object()
        params = EnrollSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        acts.patient_enroll(
            patient=patient,
            actor=user_of(request),
            effective_date=params.validated_data.get("effective_date"),
            reason=params.validated_data.get("reason", ""),
            protocol=params.validated_data.get("protocol"),
        )
        patient = self.get_queryset().get(pk=patient.pk)
        return Response(PatientSerializer(patient, context=self.get_serializer_context()).data)

    @extend_schema(request=ConsultAcknowledgementSerializer, responses={201: PatientSerializer})
    @action(detail=True, methods=["post"], url_path="consult-acknowledgement")
    def consult_acknowledgement(self, request: Request, pk: str | None = None) -> Response:
        """The prescriber acknowledges the recommended hematology consult for the open episode;
        its daily reminder stops."""
        patient = self.get_object()
        params = ConsultAcknowledgementSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        consult_acknowledge(patient=patient, actor=user_of(request), **params.validated_data)
        patient = self.get_queryset().get(pk=patient.pk)
        body = PatientSerializer(patient, context=self.get_serializer_context()).data
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(request=ConsultAcknowledgementSerializer, responses={201: PatientSerializer})
    @action(detail=True, methods=["post"], url_path="review-acknowledgement")
    def review_acknowledgement(self, request: Request, pk: str | None = None) -> Response:
        """The prescriber has reviewed what `review_needed` lists (recorded acts that results
        filed later conflict with); exactly those are acknowledged. 409 when nothing waits."""
        patient = self.get_object()
        params = ConsultAcknowledgementSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        review_acknowledge(patient=patient, actor=user_of(request), **params.validated_data)
        patient = self.get_queryset().get(pk=patient.pk)
        body = PatientSerializer(patient, context=self.get_serializer_context()).data
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=SuppliedElsewhereSerializer, responses={201: SuppliedElsewhereSerializer}
    )
    @action(detail=True, methods=["post"], url_path="supplied-elsewhere")
    def supplied_elsewhere(self, request: Request, pk: str | None = None) -> Response:
        """A period the patient was supplied outside this system (an inpatient stay, another
        pharmacy system): its days count as on treatment for the supply-based lapse, and never
        make a result current."""
        patient = self.get_object()
        params = SuppliedElsewhereSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        period = supplied_elsewhere_record(
            patient=patient, actor=user_of(request), **params.validated_data
        )
        return Response(SuppliedElsewhereSerializer(period).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=StepDownSerializer, responses={201: PatientSerializer})
    @action(detail=True, methods=["post"], url_path="step-down")
    def step_down(self, request: Request, pk: str | None = None) -> Response:
        """The prescriber confirms the longer monitoring interval the schedule offers (uk-cpms:
        every 2 weeks from week 18, every 4 weeks from week 52); 409 when it is not offered on
        that date."""
        patient = self.get_object()
        params = StepDownSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        step_down_confirm(patient=patient, actor=user_of(request), **params.validated_data)
        patient = self.get_queryset().get(pk=patient.pk)
        body = PatientSerializer(patient, context=self.get_serializer_context()).data
        return Response(body, status=status.HTTP_201_CREATED)


class TreatmentEventSerializer(serializers.ModelSerializer[TreatmentEvent]):
    kind = serializers.ChoiceField(choices=choices(TreatmentEventKind))

    class Meta:
        model = TreatmentEvent
        fields = ["id", "kind", "effective_date", "reason", "actor", "created_at"]
        read_only_fields = ["actor", "created_at"]


class PatientRecordsWithMonitoring(PatientRecords):
    """Records written through `service(patient=, actor=, **data)`; the 201 also carries the
    patient's monitoring picture after the write."""

    service: ClassVar[Callable[..., Any]]

    def record(self, patient: Patient, actor: User, data: dict[str, Any]) -> Any:
        return type(self).service(patient=patient, actor=actor, **data)

    def created_body(self, patient: Patient, made: Any) -> dict[str, Any]:
        body = super().created_body(patient, made)
        body["monitoring"] = monitoring_payload(patient.pk, patient_monitoring_reload(patient.pk))
        return body


class TreatmentEventViewSet(PatientRecordsWithMonitoring):
    serializer_class = TreatmentEventSerializer
    action_roles = {"list": READERS, "create": {Role.PRESCRIBER}}
    model = TreatmentEvent
    ordering = ("-effective_date", "-id")
    service = staticmethod(acts.treatment_event_record)


class AuthorizationSerializer(serializers.ModelSerializer[Authorization]):
    kind = serializers.ChoiceField(choices=choices(AuthorizationKind))
    starts_on = serializers.DateField(required=False)

    class Meta:
        model = Authorization
        fields = [
            "id",
            "kind",
            "rationale",
            "starts_on",
            "expires_on",
            "prescriber",
            "recorded_by",
            "created_at",
        ]
        read_only_fields = ["prescriber", "recorded_by", "created_at"]


class AuthorizationViewSet(PatientRecordsWithMonitoring):
    serializer_class = AuthorizationSerializer
    action_roles = {"list": READERS, "create": {Role.PRESCRIBER}}
    model = Authorization
    ordering = ("-starts_on", "-id")
    service = staticmethod(acts.authorization_record)


# --- per-patient limits (uk-cpms) ---------------------------------------------------------------


class LimitAgreementSerializer(serializers.ModelSerializer[LimitAgreement]):
    limits = serializers.DictField(child=serializers.IntegerField(min_value=0))
    agreed_on = serializers.DateField(required=False)
    second_haematologist = serializers.CharField(
        max_length=200,
        required=False,
        allow_blank=True,
        help_text="A second haematologist's signature: needed for a red limit below the "
        "protocol's floor (uk-cpms: neutrophils 1000/µL, WBC 2000/µL).",
    )

    class Meta:
        model = LimitAgreement
        fields = [
            "id",
            "limits",
            "haematologist",
            "second_haematologist",
            "agreed_on",
            "note",
            "recorded_by",
            "created_at",
        ]
        read_only_fields = ["recorded_by", "created_at"]


class LimitAgreementViewSet(PatientRecordsWithMonitoring):
    """Band limits a haematologist agreed for a BEN patient (uk-cpms), with who and when."""

    serializer_class = LimitAgreementSerializer
    action_roles = {"list": READERS, "create": {Role.PRESCRIBER}}
    model = LimitAgreement
    ordering = ("-agreed_on", "-id")
    service = staticmethod(acts.limit_agreement_record)
