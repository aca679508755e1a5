"""HTTP for lab results: ANC results (docs/api.md) and, next to them, WBC results (read by
uk-cpms): record (with unit conversion and plausibility checks), list, void."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from monitoring import services
from monitoring.models import LabResult, ResultAnalyte, ResultStatus
from monitoring.presenters import monitoring_payload
from patients.access import PatientRecords, user_of
from patients.models import Patient, Role

ENTERERS = {Role.PRESCRIBER, Role.DESIGNEE}
# The statuses a result may be entered with; named in the schema (settings.SPECTACULAR_SETTINGS)
# because the ANC and WBC results share them.
ENTRY_STATUSES = [ResultStatus.FINAL, ResultStatus.CORRECTED]


class AncResultSerializer(serializers.ModelSerializer[LabResult]):
    value = serializers.DecimalField(max_digits=14, decimal_places=4)
    unit = serializers.CharField(max_length=20, allow_blank=True)
    accession = serializers.CharField(max_length=100, required=False, allow_blank=True)
    # Every status can be read back (a voided result is entered_in_error); a new result is sent
    # as final or corrected only (validate_status).
    status = serializers.ChoiceField(choices=ResultStatus.choices, required=False)
    corrects: serializers.PrimaryKeyRelatedField[LabResult] = serializers.PrimaryKeyRelatedField(
        read_only=True, allow_null=True
    )
    # docs/rules.md §8, manual entry guards: sent only to store a count the guards hold back.
    confirm_unusual = serializers.BooleanField(
        required=False,
        default=False,
        write_only=True,
        help_text="Store a count below 100/µL, or more than 75% below the previous result of "
        "the same analyte, that the user has checked. Without it such a count is refused "
        "(400 naming confirm_unusual) and nothing is written. A fractional value in /uL, "
        "/mm3, cells/uL or cells/mm3 is always refused (400 naming value): cells are whole.",
    )

    class Meta:
        model = LabResult
        fields = [
            "id",
            "analyte",
            "drawn_at",
            "value",
            "unit",
            "value_per_ul",
            "accession",
            "source",
            "status",
            "superseded",
            "corrects",
            "void_reason",
            "recorded_by",
            "created_at",
            "confirm_unusual",
        ]
        read_only_fields = [
            "analyte",
            "value_per_ul",
            "source",
            "superseded",
            "void_reason",
            "recorded_by",
            "created_at",
        ]

    def validate_status(self, value: str) -> str:
        if value not in ENTRY_STATUSES:
            raise ValidationError("Send a new result as final or corrected.")
        return value

    def validate_drawn_at(self, value: Any) -> Any:
        raw = self.initial_data.get("drawn_at") if hasattr(self, "initial_data") else None
        if isinstance(raw, str) and not _has_offset(raw):
            raise ValidationError(
                "Give the draw time with a UTC offset, e.g. 2026-03-04T08:15:00-05:00."
            )
        return value


def _has_offset(text: str) -> bool:
    tail = text.strip()[10:]
    return tail.endswith(("Z", "z")) or "+" in tail or "-" in tail


class VoidSerializer(serializers.Serializer[Any]):
    reason = serializers.CharField(max_length=500)


VOID_REFUSED = inline_serializer(
    "VoidRefused",
    {
        "code": serializers.CharField(),
        "message": serializers.CharField(),
        "reasons": serializers.ListField(child=serializers.DictField()),
    },
)
# A 403 is either the rule's refusal (above) or DRF's for a role that may not void at all.
VOID_FORBIDDEN = inline_serializer(
    "VoidForbidden",
    {
        "code": serializers.CharField(required=False),
        "message": serializers.CharField(required=False),
        "reasons": serializers.ListField(child=serializers.DictField(), required=False),
        "detail": serializers.CharField(required=False),
    },
)
VOID_RULES = (
    "Mark a result entered in error, with a reason (never deleted). A result entered by hand is "
    "voided by whoever entered it or by the patient's prescriber; a lab's result only by the "
    "lab's correction or by the prescriber. Anyone else: 403 `void_not_permitted`. Voiding a "
    "low result (or one whose void changes the band, treatment status, episode or consult) "
    "tells the prescriber at once."
)


class AncResultViewSet(mixins.RetrieveModelMixin, PatientRecords):
    serializer_class = AncResultSerializer
    analyte: str = ResultAnalyte.ANC
    model = LabResult
    ordering = ("-drawn_at", "-id")
    action_roles = {
        "list": {Role.AUDITOR, *ENTERERS},
        "retrieve": {Role.AUDITOR, *ENTERERS},
        "create": ENTERERS,
        "void": ENTERERS,
    }

    def scope(self) -> dict[str, Any]:
        return {"analyte": self.analyte}

    def _monitoring(self, patient: Patient) -> dict[str, Any]:
        return monitoring_payload(patient.pk, services.patient_monitoring_reload(patient.pk))

    @extend_schema(
        responses={
            201: inline_serializer(
                "RecordedAncResult",
                {"monitoring": serializers.DictField()},
            )
        }
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        patient = self.get_patient()
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        recorded = services.anc_result_record(
            patient=patient,
            actor=user_of(request),
            drawn_at=data["drawn_at"],
            value=data["value"],
            unit=data["unit"],
            accession=data.get("accession", ""),
            status=data.get("status", ResultStatus.FINAL),
            analyte=self.analyte,
            confirm_unusual=data.get("confirm_unusual", False),
        )
        body = dict(self.get_serializer(recorded.result).data)
        body["monitoring"] = self._monitoring(patient)
        return Response(body, status=status.HTTP_201_CREATED if recorded.created else 200)

    @extend_schema(
        request=VoidSerializer,
        responses={200: AncResultSerializer, 403: VOID_FORBIDDEN, 409: VOID_REFUSED},
        description=VOID_RULES,
    )
    @action(detail=True, methods=["post"])
    def void(self, request: Request, patient_pk: str, pk: str) -> Response:
        return self._void(request)

    def _void(self, request: Request) -> Response:
        result = self.get_object()
        params = VoidSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        services.anc_result_void(
            result=result, actor=user_of(request), reason=params.validated_data["reason"]
        )
        body = dict(self.get_serializer(result).data)
        body["monitoring"] = self._monitoring(self.get_patient())
        return Response(body)


class WbcResultSerializer(AncResultSerializer):
    """A white cell count (uk-cpms reads it): the ANC result's shape; `value_per_ul` in cells/µL."""

    class Meta(AncResultSerializer.Meta):
        ref_name = "WbcResult"


class WbcResultViewSet(AncResultViewSet):
    """/patients/{id}/wbc-results/: white cell counts, read by uk-cpms with the neutrophil count
    of the same draw (same `drawn_at`, and the same accession when both have one)."""

    serializer_class = WbcResultSerializer
    analyte = ResultAnalyte.WBC

    @extend_schema(
        responses={
            201: inline_serializer("RecordedWbcResult", {"monitoring": serializers.DictField()})
        }
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().create(request, *args, **kwargs)

    @extend_schema(
        request=VoidSerializer,
        responses={200: WbcResultSerializer, 403: VOID_FORBIDDEN, 409: VOID_REFUSED},
        description=VOID_RULES,
    )
    @action(detail=True, methods=["post"])
    def void(self, request: Request, patient_pk: str, pk: str) -> Response:  # type: ignore[override]
        return self._void(request)
