"""HTTP for the lab feeds: HL7 v2 and CSV batches under /api/v1/feeds/, the quarantine and the
kept messages for administrators, local code mappings, a patient's lab identifiers, and FHIR R4
at /fhir/."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import mixins, parsers, renderers, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import (
    APIException,
    ParseError,
    UnsupportedMediaType,
    ValidationError,
)
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from clozrems.errors import StateConflict
from feeds import fhir_r4, hl7v2
from feeds.batches import batch_answers, batch_summary, feed_batch_accept
from feeds.csv_batch import csv_apply, csv_read
from feeds.ingest import message_keep_refused
from feeds.models import (
    FeedBatch,
    FeedBatchStatus,
    FeedMessage,
    FeedMessageOutcome,
    LabCodeMapping,
    PatientIdentifier,
    QuarantinedResult,
)
from feeds.retry import message_retry
from feeds.services import (
    lab_code_mapping_remove,
    lab_code_mapping_save,
    patient_identifier_add,
    patient_identifier_remove,
    quarantine_dismiss,
    quarantine_resolve,
)
from monitoring.models import ResultSource
from patients.access import ActionRoles, PatientRecords, user_of
from patients.models import Patient, Role, User
from patients.selectors import patient_list_visible

FEEDERS = {Role.LAB}
READERS = {Role.AUDITOR}


class PayloadTooLarge(APIException):
    status_code = 413
    default_code = "payload_too_large"
    default_detail = "The body is larger than this feed takes."


# What is kept of a body refused for its size.
_KEEP_OF_REFUSED = 65_536


def feed_body(request: Request, channel: ResultSource) -> bytes:
    """The request body, read no further than the channel's limit (settings
    CLOZREMS_FEED_MAX_BYTES): a larger one is kept as a refused message (its first 64 KiB and
    its size) and answered 413."""
    limit = settings.CLOZREMS_FEED_MAX_BYTES[channel]
    django_request = request._request
    try:
        declared = int(django_request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        _refuse_size(request, channel, django_request.read(_KEEP_OF_REFUSED), declared, limit)
    data = django_request.read(limit + 1)
    if len(data) > limit:
        _refuse_size(request, channel, data[:_KEEP_OF_REFUSED], max(declared, len(data)), limit)
    return bytes(data)


def _refuse_size(request: Request, channel: str, head: bytes, size: int, limit: int) -> None:
    detail = (
        f"refused: the body is {size} bytes, over the {limit}-byte limit of the {channel} feed; "
        f"its first {len(head)} bytes are kept. Send it in smaller parts."
    )
    message_keep_refused(
        channel=ResultSource(channel), raw=_decode(head), actor=user_of(request), detail=detail
    )
    raise PayloadTooLarge(
        f"The body is {size} bytes; the {channel} feed takes at most {limit}. Send it in "
        "smaller parts."
    )


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def media_supported(request: Request) -> None:
    """415 for a body type the view does not read (it reads the raw body itself)."""
    negotiator, readers = request.negotiator, request.parsers or ()
    if negotiator is None or negotiator.select_parser(request, readers) is None:
        raise UnsupportedMediaType(request.content_type)


def wants_async(request: Request) -> bool:
    """`Prefer: respond-async` (RFC 7240) asks for a batch resource whatever the size."""
    return "respond-async" in request.headers.get("Prefer", "").lower()


def batch_accepted(batch: FeedBatch) -> Response:
    url = f"/api/v1/feeds/batches/{batch.pk}/"
    body = {"batch": batch.pk, "status": batch.status, "size": batch.size, "url": url}
    return Response(body, status=202, headers={"Location": url})


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


BATCH_ACCEPTED = inline_serializer(
    "FeedBatchAccepted",
    {
        "batch": serializers.IntegerField(),
        "status": serializers.ChoiceField(choices=FeedBatchStatus.choices),
        "size": serializers.IntegerField(),
        "url": serializers.CharField(),
    },
)

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
            202: BATCH_ACCEPTED,
            413: OpenApiTypes.OBJECT,
            200: inline_serializer(
                "Hl7FeedResponse",
                {
                    "messages": serializers.ListField(child=MESSAGE_RESULT),
                    "summary": serializers.DictField(child=serializers.IntegerField()),
                },
            ),
        },
    )
    def post(self, request: Request) -> Response:
        media_supported(request)
        text = _decode(feed_body(request, ResultSource.HL7))
        if not text.strip():
            raise ValidationError({"body": ["Send one or more HL7 v2 messages as text."]})
        size = len(hl7v2.split_messages(text))
        if size > settings.CLOZREMS_FEED_SYNC_MAX_ITEMS or wants_async(request):
            batch = feed_batch_accept(
                channel=ResultSource.HL7, raw=text, actor=user_of(request), size=size
            )
            return batch_accepted(batch)
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
            202: BATCH_ACCEPTED,
            413: OpenApiTypes.OBJECT,
            200: inline_serializer(
                "CsvFeedResponse",
                {
                    "rows": serializers.ListField(child=serializers.DictField()),
                    "summary": serializers.DictField(child=serializers.IntegerField()),
                },
            ),
        },
    )
    def post(self, request: Request) -> Response:
        if request.content_type.startswith("multipart/"):
            limit = settings.CLOZREMS_FEED_MAX_BYTES[ResultSource.CSV]
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
            if declared > limit:
                _refuse_size(request, ResultSource.CSV, b"", declared, limit)
            upload = request.data.get("file") if hasattr(request.data, "get") else None
            if upload is None or not hasattr(upload, "read"):
                raise ValidationError({"file": ["Attach the CSV as `file`, or send text/csv."]})
            text = upload.read(limit + 1).decode("utf-8-sig", errors="replace")
        else:
            media_supported(request)
            text = _decode(feed_body(request, ResultSource.CSV))
        if not text.strip():
            raise ValidationError({"file": ["The CSV is empty."]})
        text = text.lstrip("\ufeff")
        actor = user_of(request)
        header, groups = csv_read(text, actor=actor)
        size = sum(len(rows) for rows in groups)
        if size > settings.CLOZREMS_FEED_SYNC_MAX_ITEMS or wants_async(request):
            batch = feed_batch_accept(channel=ResultSource.CSV, raw=text, actor=actor, size=size)
            return batch_accepted(batch)
        outcome = csv_apply(header=header, groups=groups, actor=actor)
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
            "ack",
            "results",
            "batch",
            "position",
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


class FeedBatchSerializer(serializers.ModelSerializer[FeedBatch]):
    class Meta:
        model = FeedBatch
        fields = [
            "id",
            "channel",
            "status",
            "size",
            "processed",
            "received_by",
            "received_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields


class FeedBatchViewSet(mixins.RetrieveModelMixin, viewsets.GenericViewSet[FeedBatch]):
    """GET /api/v1/feeds/batches/{id}/: a batch taken asynchronously, with the acknowledgements
    of its messages so far (`messages` for HL7, `rows` for CSV, the same shapes as a small
    batch's answer) and a summary; `?offset=&limit=` pages them (at most 5000). A lab account
    sees its own batches only."""

    serializer_class = FeedBatchSerializer
    permission_classes = [ActionRoles]
    action_roles = {"retrieve": FEEDERS | READERS}
    queryset = FeedBatch.objects.all()

    def get_queryset(self) -> QuerySet[FeedBatch]:
        user = user_of(self.request)
        batches = FeedBatch.objects.all()
        if user.role in FEEDERS and not user.is_admin:
            batches = batches.filter(received_by=user)
        return batches

    @extend_schema(
        parameters=[
            OpenApiParameter("offset", int, required=False),
            OpenApiParameter("limit", int, required=False),
        ],
        responses={200: OpenApiTypes.OBJECT},
    )
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        batch = self.get_object()
        offset, limit = _page(request, "offset", 0), _page(request, "limit", 1000)
        limit = min(max(limit, 1), 5000)
        body: dict[str, Any] = dict(self.get_serializer(batch).data)
        key = "rows" if batch.channel == ResultSource.CSV else "messages"
        body[key] = batch_answers(batch, offset=offset, limit=limit)
        body["summary"] = batch_summary(batch)
        body["offset"], body["limit"] = offset, limit
        return Response(body)


def _page(request: Request, name: str, default: int) -> int:
    value = request.query_params.get(name, "")
    if not value:
        return default
    if not (value.isascii() and value.isdigit() and len(value) <= 9):
        raise ValidationError({name: ["A whole number."]})
    return int(value)


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


class PatientIdentifierViewSet(mixins.DestroyModelMixin, PatientRecords):
    """/patients/{id}/identifiers/: the MRNs labs know the patient by (prescriber, designee)."""

    serializer_class = PatientIdentifierSerializer
    model = PatientIdentifier
    action_roles = {
        "list": {Role.PRESCRIBER, Role.DESIGNEE, Role.AUDITOR},
        "create": {Role.PRESCRIBER, Role.DESIGNEE},
        "destroy": {Role.PRESCRIBER, Role.DESIGNEE},
    }

    def record(self, patient: Patient, actor: User, data: dict[str, Any]) -> PatientIdentifier:
        return patient_identifier_add(
            patient=patient, actor=actor, issuer=data["issuer"], value=data["value"]
        )

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
            return Response(fhir_r4.operation_outcome(exc.issues), status=exc.status)
        if isinstance(exc, ParseError):
            body = fhir_r4.operation_outcome(
                [fhir_r4.issue("error", "structure", f"The body is not JSON: {exc.detail}")]
            )
            return Response(body, status=400)
        response = super().handle_exception(exc)
        if isinstance(exc, APIException) and response.status_code >= 400:
            code = {
                401: "login",
                403: "forbidden",
                404: "not-found",
                413: "too-costly",
                415: "not-supported",
            }.get(response.status_code, "processing")
            response.data = fhir_r4.operation_outcome(
                [fhir_r4.issue("error", code, str(exc.detail))]
            )
        return response

    def _body(self, request: Request) -> tuple[Any, str]:
        """(the parsed body, the body as received). Bounded in size (413) and nesting (400);
        whatever is refused is kept first, as received."""
        media_supported(request)
        raw = _decode(feed_body(request, ResultSource.FHIR))
        try:
            return fhir_r4.fhir_load(raw), raw
        except fhir_r4.Invalid as invalid:
            self._keep_refused(request, raw, invalid)
            raise

    def _keep_refused(self, request: Request, raw: str, invalid: fhir_r4.Invalid) -> None:
        message_keep_refused(
            channel=ResultSource.FHIR,
            raw=raw,
            actor=user_of(request),
            detail="; ".join(i["diagnostics"] for i in invalid.issues),
        )


class FhirObservationView(FhirView):
    """POST /fhir/Observation (a lab feed) and GET /fhir/Observation?patient=&code= (export)."""

    action_roles = {"post": FEEDERS, "get": {Role.PRESCRIBER, Role.DESIGNEE, Role.AUDITOR}}

    @extend_schema(
        request=OpenApiTypes.OBJECT,
        responses={200: OpenApiTypes.OBJECT, 201: OpenApiTypes.OBJECT, 202: OpenApiTypes.OBJECT},
    )
    def post(self, request: Request) -> Response:
        body, raw = self._body(request)
        try:
            outcome = fhir_r4.observation_ingest(body=body, raw=raw, actor=user_of(request))
        except fhir_r4.Invalid as invalid:
            self._keep_refused(request, raw, invalid)
            raise
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
        results = fhir_r4.LabResult.objects.filter(
            patient__in=visible.values("pk"), superseded=False
        ).order_by("-drawn_at", "-id")
        from feeds.codes import LOINC_ANALYTES, Analyte

        # An ANC search by default; a WBC code asks for the WBC results.
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
        body, raw = self._body(request)
        try:
            kind, outcomes = fhir_r4.bundle_ingest(body=body, raw=raw, actor=user_of(request))
        except fhir_r4.Invalid as invalid:
            self._keep_refused(request, raw, invalid)
            raise
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
