"""HTTP for the audit trail and the compliance reports: administrators and auditors only.

The trail itself (writing, sealing, verifying) is `audit`'s; this is its read side for
inspectors, above the domain apps it reports on (docs/architecture.md).

Every report answers JSON (paginated) or, with `?format=csv` (or `Accept: text/csv`), the whole
result as CSV with a header row."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any

import django_filters
from django.db.models import QuerySet
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import mixins, serializers, viewsets
from rest_framework.generics import GenericAPIView
from rest_framework.renderers import BaseRenderer, BrowsableAPIRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from audit.models import AuditEntry, Outcome
from clozrems.db_router import replica_reads
from clozrems.zones import clinic_zone
from engine.core import local_date
from oversight import reports
from patients.access import ActionRoles
from patients.models import Role

READERS = {Role.AUDITOR}  # and administrators, whom ActionRoles always lets through


class CSVRenderer(BaseRenderer):
    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: Mapping[str, Any] | None = None,
    ) -> bytes:
        view = (renderer_context or {}).get("view")
        if isinstance(data, dict) and isinstance(data.get("results"), list):
            rows = data["results"]
        elif isinstance(data, list):
            rows = data
        else:
            rows = [data]  # an error body
        columns: list[str] = list(getattr(view, "columns", []) or [])
        if not columns or (rows and not set(rows[0]) <= set(columns)):
            columns = list(rows[0]) if rows else columns
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _cell(row.get(k)) for k in columns})
        return out.getvalue().encode(self.charset)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return ";".join(_cell(v) for v in value)
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        # Free text (a remark, a name) must not run as a formula when the export is opened in
        # a spreadsheet (CSV injection): quote it as text.
        return "'" + value
    return str(value)


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class ReportQuerySerializer(serializers.Serializer[Any]):
    # `from` is a Python keyword: declared below under its wire name.
    to = serializers.DateField(required=False)
    prescriber = serializers.IntegerField(required=False, min_value=1)
    pharmacy = serializers.IntegerField(required=False, min_value=1)
    reviewed = serializers.BooleanField(required=False, allow_null=True, default=None)

    def get_fields(self) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
        fields = super().get_fields()
        fields["from"] = serializers.DateField(required=False)
        return fields

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        today = local_date(timezone.now(), clinic_zone())
        end = attrs.get("to") or today
        start = attrs.get("from") or end - timedelta(days=30)
        if start > end:
            raise serializers.ValidationError({"from": ["The range starts after it ends."]})
        attrs["filter"] = reports.ReportFilter(
            start=start,
            end=end,
            prescriber_id=attrs.get("prescriber"),
            pharmacy_id=attrs.get("pharmacy"),
        )
        return attrs


REPORT_PARAMETERS = [
    OpenApiParameter("from", OpenApiTypes.DATE, description="first day (default: to - 30 days)"),
    OpenApiParameter("to", OpenApiTypes.DATE, description="last day, inclusive (default today)"),
    OpenApiParameter("prescriber", OpenApiTypes.INT),
    OpenApiParameter("pharmacy", OpenApiTypes.INT),
    OpenApiParameter(
        "format", OpenApiTypes.STR, enum=["json", "csv"], description="csv: the whole report"
    ),
]


def _row_schema(name: str, columns: list[str]) -> serializers.Serializer[Any]:
    def field(column: str) -> serializers.Field[Any, Any, Any, Any]:
        if column.endswith(("_at",)):
            return serializers.DateTimeField(allow_null=True)
        if column in ("date",):
            return serializers.DateField()
        if column.endswith(("_id", "days_supply", "_per_ul", "dispenses", "_draws", "patients")):
            return serializers.IntegerField(allow_null=True)
        if column in ("id", "with_acceptable_anc", "emergency_supplies", "disagreements"):
            return serializers.IntegerField(allow_null=True)
        if column.startswith(("days_", "hours_")) or column == "compliance_rate":
            return serializers.FloatField(allow_null=True)
        if column in ("disagrees", "acceptable_anc", "reviewed", "consult_recommended"):
            return serializers.BooleanField()
        if column.endswith("_reasons"):
            return serializers.ListField(child=serializers.CharField())
        return serializers.CharField(allow_null=True)

    return inline_serializer(name, {c: field(c) for c in columns})


class ReportView(GenericAPIView[Any]):
    permission_classes = [ActionRoles]
    action_roles = {"get": READERS}
    renderer_classes = [JSONRenderer, BrowsableAPIRenderer, CSVRenderer]
    # The reports filter by their own query (ReportQuerySerializer), not django-filter. The
    # browsable page asks for a queryset to draw filter forms with: without one it was a 500.
    filter_backends: list[Any] = []

    def get_queryset(self) -> QuerySet[AuditEntry]:
        return AuditEntry.objects.none()

    columns: list[str] = []
    title = "report"

    def rows(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        raise NotImplementedError

    def get(self, request: Request) -> Response:
        params = ReportQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        # Reports read the read replica when one is configured (clozrems.db_router); the
        # decision and every write never do.
        with replica_reads():
            rows = self.rows(params.validated_data)
        if request.accepted_renderer.format == "csv":
            response = Response(rows)
            f = params.validated_data["filter"]
            response["Content-Disposition"] = (
                f'attachment; filename="{self.title}-{f.start}-{f.end}.csv"'
            )
            return response
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(page)


def _documented(view: type[ReportView], summary: str, extra: list[OpenApiParameter]) -> None:
    row = _row_schema(f"{view.__name__.removesuffix('View')}Row", view.columns)
    paginated = inline_serializer(
        f"{view.__name__.removesuffix('View')}Page",
        {
            "count": serializers.IntegerField(),
            "next": serializers.URLField(allow_null=True),
            "previous": serializers.URLField(allow_null=True),
            "results": serializers.ListField(child=row),
        },
    )
    view.get = extend_schema(  # type: ignore[method-assign]
        summary=summary,
        description=view.__doc__,
        parameters=[*REPORT_PARAMETERS, *extra],
        responses={(200, "application/json"): paginated, (200, "text/csv"): OpenApiTypes.STR},
    )(view.get)


class DispenseReportView(ReportView):
    """Dispenses with the decision stored at the time and the engine's re-evaluation as of the
    dispense time; `disagrees` flags any difference."""

    columns = reports.DISPENSE_COLUMNS
    title = "dispenses"

    def rows(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        return reports.report_dispenses(params["filter"])


class OverrideReportView(ReportView):
    """Emergency supplies (overrides of a stale-ANC block), reviewed or not (`reviewed`)."""

    columns = reports.OVERRIDE_COLUMNS
    title = "overrides"

    def rows(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        return reports.report_overrides(params["filter"], reviewed=params.get("reviewed"))


class OverdueReportView(ReportView):
    """Overdue draws now and over the range, by prescriber and by pharmacy."""

    columns = reports.OVERDUE_COLUMNS
    title = "overdue"

    def rows(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        return reports.report_overdue(params["filter"], now=timezone.now())


class LowAncEpisodeReportView(ReportView):
    """Low-ANC episodes opened in the range: times to confirmation, consult, resolution."""

    columns = reports.EPISODE_COLUMNS
    title = "low-anc-episodes"

    def rows(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        return reports.report_low_anc_episodes(params["filter"])


class EnrollmentGapReportView(ReportView):
    """BEN without documentation, enrollments without recent labs, lapses."""

    columns = reports.GAP_COLUMNS
    title = "enrollment-gaps"

    def rows(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        return reports.report_enrollment_gaps(params["filter"])


class ComplianceReportView(ReportView):
    """Per pharmacy and per prescriber: the share of dispenses with a current acceptable ANC."""

    columns = reports.COMPLIANCE_COLUMNS
    title = "compliance"

    def rows(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        return reports.report_compliance(params["filter"])


REVIEWED = [OpenApiParameter("reviewed", OpenApiTypes.BOOL, description="only (un)reviewed")]
for _view, _summary, _extra in (
    (DispenseReportView, "Dispenses and the decision in force, re-evaluated", []),
    (OverrideReportView, "Overrides and emergency supplies", REVIEWED),
    (OverdueReportView, "Overdue draws now and over a period", []),
    (LowAncEpisodeReportView, "Low-ANC episodes", []),
    (EnrollmentGapReportView, "Enrollment gaps", []),
    (ComplianceReportView, "Compliance rates per pharmacy and prescriber", []),
):
    _documented(_view, _summary, _extra)


# --- the trail itself -------------------------------------------------------------------------


class AuditEntrySerializer(serializers.ModelSerializer[AuditEntry]):
    # An entry is listed as soon as its transaction commits; `seq`, `prev_hash`, `hash`,
    # `key_id` and `sealed_at` are null (or empty) until the sealer chains it (docs/audit.md).
    sealed = serializers.BooleanField(read_only=True)

    class Meta:
        model = AuditEntry
        fields = [
            "id",
            "seq",
            "created_at",
            "actor_id",
            "actor_username",
            "role",
            "request_id",
            "action",
            "outcome",
            "object_type",
            "object_id",
            "patient_id",
            "inputs",
            "output",
            "prev_hash",
            "hash",
            "key_id",
            "sealed_at",
            "sealed",
        ]


class AuditEntryFilter(django_filters.FilterSet):
    action = django_filters.CharFilter()
    outcome = django_filters.ChoiceFilter(choices=Outcome.choices)
    patient = django_filters.NumberFilter(field_name="patient_id")
    actor = django_filters.NumberFilter(field_name="actor_id")
    request_id = django_filters.CharFilter()
    since = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    until = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lte")

    class Meta:
        model = AuditEntry
        fields = ["action", "outcome", "patient", "actor", "request_id", "since", "until"]


class AuditEntryViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[AuditEntry]
):
    """The audit trail, newest first (administrators and auditors), sealed or not yet."""

    serializer_class = AuditEntrySerializer
    permission_classes = [ActionRoles]
    action_roles = {"list": READERS, "retrieve": READERS}
    filterset_class = AuditEntryFilter

    def get_queryset(self) -> QuerySet[AuditEntry]:
        return AuditEntry.objects.order_by("-id")
