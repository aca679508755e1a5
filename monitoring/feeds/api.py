"""HTTP for the lab feeds: HL7 v2 and CSV batches under /api/v1/feeds/, the quarantine and the
kept messages for administrators, local code mappings, a patient's lab identifiers, and FHIR R4
at /fhir/."""

from __future__ import annotations

import json
from typing import Any

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import mixins, parsers, renderers, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException, ParseError, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from clozrems.api import ActionRoles, PatientScoped, user_of
from clozrems.errors import StateConflict
from monitoring.feeds import fhir_r4, hl7v2
from monitoring.feeds.csv_batch import csv_ingest
from monitoring.feeds.retry import message_retry
from monitoring.feeds.services import (
    lab_code_mapping_remove,
    lab_code_mapping_save,
    patient_identifier_add,
    patient_identifier_remove,
    quarantine_dismiss,
    quarantine_resolve,
)
from monitoring.models import (
    FeedMessage,
    FeedMessageOutcome,
    LabCodeMapping,
    QuarantinedResult,
)
from patients.models import Patient, PatientIdentifier, Role
from patients.selectors import patient_list_visible

FEEDERS = {Role.LAB}
READERS = {Role.AUDITOR}


class PlainTextParser(parsers.BaseParser):
    """HL7 v2 ER7 (or any text) as the body."""

    media_type = "text/plain"

    def parse(  # type: ignore[override]
        self, stream: Any, media_type: str | None = None, parser_context: Any = None
    ) -> str:
        data = stream.read() if stream is not None else b""
        try:
            return str(data.decode("utf-8"))
        except UnicodeDecodeError:
            return str(data.decode("latin-1"))


class Hl7Parser(PlainTextParser):
    media_type = "x-application/hl7-v2+er7"


class Hl7AltParser(PlainTextParser):
    media_type = "application/hl7-v2"


class CsvParser(PlainTextParser):
    media_type = "text/csv"


MESSAGE_RESULT = inline_serializer(
    "FeedMessageResult",
    {
        "control_id": serializers.CharField(),
        "message": serializers.IntegerField(),
        "ack_code": serializers.ChoiceField(choices=["AA", "AE", "AR"]),
        "outcome": serializers.ChoiceField(choices=FeedMessageOutcome.choices),
        "detail": serializers.CharField(),
        "results": serializers.ListField(child=serializers.DictField()),
        "ack": serializers.CharField(),
    },
)


class Hl7FeedView(APIView):
    """POST /api/v1/feeds/hl7/: one or more ORU^R01 messages (ER7); each is answered with its
    ACK (AA stored, AE held in quarantine or failed and kept, AR unreadable or not ORU^R01)."""

    permission_classes = [ActionRoles]
    action_roles = {"post": FEEDERS}
    parser_classes = [Hl7Parser, Hl7AltParser, PlainTextParser]

    @extend_schema(
        request={"x-application/hl7-v2+er7": OpenApiTypes.STR, "text/plain": OpenApiTypes.STR},
        responses={
            200: inline_serializer(
                "Hl7FeedResponse",
                {
                    "messages": serializers.ListField(child=MESSAGE_RESULT),
                    "summary": serializers.DictField(child=serializers.IntegerField()),
                },
            )
        },
    )
    def post(self, request: Request) -> Response:
        text = request.data if isinstance(request.data, str) else ""
        if not text.strip():
            raise ValidationError({"body": ["Send one or more HL7 v2 messages as text."]})
        answers = hl7v2.hl7_ingest(text=text, actor=user_of(request))
        summary: dict[str, int] = {"messages": len(answers)}
        for answer in answers:
            summary[answer.code] = summary.get(answer.code, 0) + 1
        return Response({"messages": [a.as_dict() for a in answers], "summary": summary})


class CsvFeedView(APIView):
    """POST /api/v1/feeds/csv/: a CSV batch (text/csv body, or a multipart `file`)."""

    permission_classes = [ActionRoles]
    action_roles = {"post": FEEDERS}
    parser_classes = [CsvParser, parsers.MultiPartParser, PlainTextParser]

    @extend_schema(
        request={"text/csv": OpenApiTypes.STR, "multipart/form-data": OpenApiTypes.OBJECT},
        responses={
            200: inline_serializer(
                "CsvFeedResponse",
                {
                    "rows": serializers.ListField(child=serializers.DictField()),
                    "summary": serializers.DictField(child=serializers.IntegerField()),
                },
            )
        },
    )
    def post(self, request: Request) -> Response:
        if isinstance(request.data, str):
            text = request.data
        else:
            upload = request.data.get("file") if isinstance(request.data, dict) else None
            if upload is None or not hasattr(upload, "read"):
                raise ValidationError({"file": ["Attach the CSV as `file`, or send text/csv."]})
            content = upload.read()
            text = content.decode("utf-8-sig", errors="replace")
        if not text.strip():
            raise ValidationError({"file": ["The CSV is empty."]})
        outcome = csv_ingest(text=text.lstrip("\ufeff"), actor=user_of(request))
        return Response({"rows": [r.as_dict() for r in outcome.rows], "summary": outcome.summary()})


class FeedMessageSerializer(serializers.ModelSerializer[FeedMessage]):
    class Meta:
        model = FeedMessage
        fields = [
            "id",
            "channel",
            "control_id",
            "lab",
            "outcome",
            "ack_code",
            "detail",
            "attempts",
            "received_by",
            "received_at",
            "raw",
        ]
        read_only_fields = fields


class FeedMessageViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[FeedMessage]
):
    """Every message a feed received, as received; administrators retry failed ones."""

    serializer_class = FeedMessageSerializer
    permission_classes = [ActionRoles]
    action_roles = {"list": READERS, "retrieve": READERS}
    filterset_fields = ["channel", "outcome", "lab"]
    queryset = FeedMessage.objects.all()

    @extend_schema(request=None, responses={200: MESSAGE_RESULT})
    @action(detail=True, methods=["post"])
    def retry(self, request: Request, pk: str) -> Response:
        message = self.get_object()
        if message.outcome != FeedMessageOutcome.FAILED:
            raise StateConflict("Only a message whose processing failed is retried.")
        return Response(message_retry(message=message).as_dict())


class QuarantinedResultSerializer(serializers.ModelSerializer[QuarantinedResult]):
    class Meta:
        model = QuarantinedResult
        fields = [
            "id",
            "status",
            "reason",
            "detail",
            "lab",
            "accession",
            "analyte",
            "value",
            "unit",
            "drawn_at",
            "result_status",
            "derivation",
            "patient_identifiers",
            "last_name",
            "date_of_birth",
            "patient",
            "result",
            "resolution_note",
            "resolved_by",
            "resolved_at",
            "created_at",
            "message",
        ]
        read_only_fields = fields


class ResolveSerializer(serializers.Serializer[Any]):
    patient = serializers.IntegerField(required=False)
    unit = serializers.CharField(max_length=20, required=False)
    drawn_at = serializers.DateTimeField(required=False)
    result_status = serializers.ChoiceField(
        choices=["final", "corrected", "preliminary"], required=False
    )
    note = serializers.CharField(max_length=500, required=False, allow_blank=True)


class DismissSerializer(serializers.Serializer[Any]):
    reason = serializers.CharField(max_length=500)


class QuarantineViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[QuarantinedResult]
):
    """Results a feed could not apply; an administrator files (resolve) or dismisses each."""

    serializer_class = QuarantinedResultSerializer
    permission_classes = [ActionRoles]
    action_roles = {"list": READERS, "retrieve": READERS}
    filterset_fields = ["status", "reason", "lab"]
    queryset = QuarantinedResult.objects.select_related("message")

    @extend_schema(request=ResolveSerializer, responses={200: QuarantinedResultSerializer})
    @action(detail=True, methods=["post"])
    def resolve(self, request: Request, pk: str) -> Response:
        entry = self.get_object()
        params = ResolveSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        data = params.validated_data
        patient = None
        if "patient" in data:
            patient = Patient.objects.filter(pk=data["patient"]).first()
            if patient is None:
                raise ValidationError({"patient": ["No such patient."]})
        resolution = quarantine_resolve(
            entry=entry,
            actor=user_of(request),
            patient=patient,
            unit=data.get("unit"),
            drawn_at=data.get("drawn_at"),
            result_status=data.get("result_status"),
            note=data.get("note", ""),
        )
        return Response(self.get_serializer(resolution.entry).data)

    @extend_schema(request=DismissSerializer, responses={200: QuarantinedResultSerializer})
    @action(detail=True, methods=["post"])
    def dismiss(self, request: Request, pk: str) -> Response:
        entry = self.get_object()
        params = DismissSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        entry = quarantine_dismiss(
            entry=entry, actor=user_of(request), reason=params.validated_data["reason"]
        )
        return Response(self.get_serializer(entry).data)


class LabCodeMappingSerializer(serializers.ModelSerializer[LabCodeMapping]):
    """`loinc`: the LOINC code the local code means; or, for one lab, no LOINC and
    `analyte: "segmented_neutrophil_percent"` with `confirmed: true` (see feeds/codes.py)."""

    confirmed = serializers.BooleanField(write_only=True, required=False, default=False)

    class Meta:
        model = LabCodeMapping
        fields = [
            "id",
            "lab",
            "local_code",
            "loinc",
            "analyte",
            "description",
            "confirmed",
            "confirmed_by",
            "confirmed_at",
        ]
        read_only_fields = ["confirmed_by", "confirmed_at"]
        # The service answers a taken code with 409, as for other conflicts.
        validators: list[Any] = []


class LabCodeMappingViewSet(viewsets.ModelViewSet[LabCodeMapping]):
    """A lab's local test codes and the LOINC each means (administrators); every change goes
    through the service, which audits it."""

    serializer_class = LabCodeMappingSerializer
    permission_classes = [ActionRoles]
    action_roles = {"list": READERS, "retrieve": READERS}
    queryset = LabCodeMapping.objects.all()

    def perform_create(self, serializer: Any) -> None:
        data = dict(serializer.validated_data)
        confirmed = data.pop("confirmed", False)
        serializer.instance = lab_code_mapping_save(
            mapping=LabCodeMapping(**data),
            actor=user_of(self.request),
            created=True,
            confirmed=confirmed,
        )

    def perform_update(self, serializer: Any) -> None:
        mapping = serializer.instance
        data = dict(serializer.validated_data)
        confirmed = data.pop("confirmed", False)
        for name, value in data.items():
            setattr(mapping, name, value)
        lab_code_mapping_save(
            mapping=mapping, actor=user_of(self.request), created=False, confirmed=confirmed
        )

    def perform_destroy(self, instance: LabCodeMapping) -> None:
        lab_code_mapping_remove(mapping=instance, actor=user_of(self.request))


class PatientIdentifierSerializer(serializers.ModelSerializer[PatientIdentifier]):
    class Meta:
        model = PatientIdentifier
        fields = ["id", "issuer", "value", "recorded_by", "created_at"]
        read_only_fields = ["recorded_by", "created_at"]
        # The service answers a taken identifier with 409, as for other conflicts.
        validators: list[Any] = []


class PatientIdentifierViewSet(
    PatientScoped,
    mixins.ListModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet[PatientIdentifier],
):
    """/patients/{id}/identifiers/: the MRNs labs know the patient by (prescriber, designee)."""

    serializer_class = PatientIdentifierSerializer
    permission_classes = [ActionRoles]
    action_roles = {
        "list": {Role.PRESCRIBER, Role.DESIGNEE, Role.AUDITOR},
        "create": {Role.PRESCRIBER, Role.DESIGNEE},
        "destroy": {Role.PRESCRIBER, Role.DESIGNEE},
    }

    def get_queryset(self) -> QuerySet[PatientIdentifier]:
        if getattr(self, "swagger_fake_view", False):
            return PatientIdentifier.objects.none()
        return PatientIdentifier.objects.filter(patient=self.get_patient())

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        patient = self.get_patient()
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        identifier = patient_identifier_add(
            patient=patient,
            actor=user_of(request),
            issuer=serializer.validated_data["issuer"],
            value=serializer.validated_data["value"],
        )
        return Response(self.get_serializer(identifier).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance: PatientIdentifier) -> None:
        patient_identifier_remove(identifier=instance, actor=user_of(self.request))


# --- FHIR R4 ------------------------------------------------------------------------------


class FhirJsonRenderer(renderers.JSONRenderer):
    media_type = "application/fhir+json"
    format = "fhir"


class FhirJsonParser(parsers.JSONParser):
    media_type = "application/fhir+json"


class FhirView(APIView):
    """Answers errors as OperationOutcome, as FHIR clients expect."""

    permission_classes = [ActionRoles]
    parser_classes = [FhirJsonParser, parsers.JSONParser]
    renderer_classes = [FhirJsonRenderer, renderers.JSONRenderer]

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, fhir_r4.Invalid):
            return Response(fhir_r4.operation_outcome(exc.issues), status=400)
        if isinstance(exc, ParseError):
            body = fhir_r4.operation_outcome(
                [fhir_r4.issue("error", "structure", f"The body is not JSON: {exc.detail}")]
            )
            return Response(body, status=400)
        response = super().handle_exception(exc)
        if isinstance(exc, APIException) and response.status_code >= 400:
            code = {401: "login", 403: "forbidden", 404: "not-found"}.get(
                response.status_code, "processing"
            )
            response.data = fhir_r4.operation_outcome(
                [fhir_r4.issue("error", code, str(exc.detail))]
            )
        return response

    def _raw(self, request: Request) -> str:
        raw = json.dumps(request.data, sort_keys=True, default=str)
        if "\\u0000" in raw:
            raise fhir_r4.Invalid(
                [fhir_r4.issue("error", "invalid", "NUL (\\u0000) characters are not allowed.")]
            )
        return raw


class FhirObservationView(FhirView):
    """POST /fhir/Observation (a lab feed) and GET /fhir/Observation?patient=&code= (export)."""

    action_roles = {"post": FEEDERS, "get": {Role.PRESCRIBER, Role.DESIGNEE, Role.AUDITOR}}

    @extend_schema(
        request=OpenApiTypes.OBJECT,
        responses={200: OpenApiTypes.OBJECT, 201: OpenApiTypes.OBJECT, 202: OpenApiTypes.OBJECT},
    )
    def post(self, request: Request) -> Response:
        outcome = fhir_r4.observation_ingest(
            body=request.data, raw=self._raw(request), actor=user_of(request)
        )
        code, body = fhir_r4.outcome_status(outcome)
        return Response(body, status=code)

    @extend_schema(
        parameters=[
            OpenApiParameter("patient", str, required=True),
            OpenApiParameter("code", str, required=False),
        ],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request: Request) -> Response:
        reference = request.query_params.get("patient", "").removeprefix("Patient/")
        if not (reference.isascii() and reference.isdigit() and len(reference) <= 18):
            raise fhir_r4.Invalid(
                [fhir_r4.issue("error", "required", "patient=<id> is required.", "patient")]
            )
        code = request.query_params.get("code", "")
        wanted = {c.rsplit("|", 1)[-1] for c in code.split(",") if c}
        visible = patient_list_visible(user=user_of(request)).filter(pk=int(reference))
        results = fhir_r4.AncResult.objects.filter(
            patient__in=visible.values("pk"), superseded=False
        ).order_by("-drawn_at", "-id")
        from monitoring.feeds.codes import LOINC_ANALYTES, Analyte

        # An ANC search by default (as before issue 9); a WBC code asks for the WBC results.
        asked = (
            {LOINC_ANALYTES[c] for c in wanted if c in LOINC_ANALYTES} if wanted else {Analyte.ANC}
        )
        results = results.filter(
            analyte__in=[a.value for a in asked if a != Analyte.NEUTROPHIL_PERCENT]
        )
        found = list(results)
        return Response(fhir_r4.searchset(found, len(found)))


class FhirBundleView(FhirView):
    """POST /fhir: a Bundle of type batch or transaction holding Observations."""

    action_roles = {"post": FEEDERS}

    @extend_schema(request=OpenApiTypes.OBJECT, responses={200: OpenApiTypes.OBJECT})
    def post(self, request: Request) -> Response:
        kind, outcomes = fhir_r4.bundle_ingest(
            body=request.data, raw=self._raw(request), actor=user_of(request)
        )
        entries = []
        for outcome in outcomes:
            if isinstance(outcome, list):
                body = fhir_r4.operation_outcome(outcome)
                entries.append({"response": {"status": "400", "outcome": body}})
                continue
            code, body = fhir_r4.outcome_status(outcome)
            entries.append({"response": {"status": str(code), "outcome": body}})
        return Response(
            {"resourceType": "Bundle", "type": f"{kind}-response", "entry": entries},
            status=200,
        )
