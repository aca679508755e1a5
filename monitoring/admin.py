from django.contrib import admin

from audit.admin import ReadOnlyAdmin
from monitoring.models import (
    ConsultAcknowledgement,
    LabResult,
    MonitoringState,
    StepDownConfirmation,
)


@admin.register(LabResult)
class AncResultAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "patient",
        "analyte",
        "value_per_ul",
        "value",
        "unit",
        "drawn_at",
        "status",
        "superseded",
        "source",
        "accession",
    )
    list_filter = ("analyte", "status", "superseded", "source", "drawn_at")
    search_fields = ("=accession", "=patient__id", "patient__last_name")
    date_hierarchy = "drawn_at"
    list_select_related = ("patient",)


@admin.register(MonitoringState)
class MonitoringStateAdmin(ReadOnlyAdmin):
    list_display = (
        "patient",
        "protocol",
        "band",
        "monitoring_frequency",
        "next_draw_due",
        "enrollment_status",
    )
    list_filter = ("protocol", "band", "monitoring_frequency", "enrollment_status")


@admin.register(ConsultAcknowledgement)
class ConsultAcknowledgementAdmin(ReadOnlyAdmin):
    list_display = ("patient", "episode_opened_at", "acknowledged_by", "acknowledged_at")


@admin.register(StepDownConfirmation)
class StepDownConfirmationAdmin(ReadOnlyAdmin):
    """Read here; confirmed through the API (the service checks the interval is offered)."""

    list_display = ("patient", "frequency", "effective_date", "confirmed_by", "created_at")
