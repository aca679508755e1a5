from django.contrib import admin

from monitoring.models import (
    AncResult,
    ConsultAcknowledgement,
    MonitoringState,
    StepDownConfirmation,
)


@admin.register(AncResult)
class AncResultAdmin(admin.ModelAdmin):
    list_display = (
        "patient",
        "analyte",
        "value_per_ul",
        "drawn_at",
        "status",
        "superseded",
        "source",
    )
    list_filter = ("analyte", "status", "source")


@admin.register(MonitoringState)
class MonitoringStateAdmin(admin.ModelAdmin):
    list_display = (
        "patient",
        "protocol",
        "band",
        "monitoring_frequency",
        "next_draw_due",
        "enrollment_status",
    )
    list_filter = ("protocol", "band")
    readonly_fields = [f.name for f in MonitoringState._meta.fields]


@admin.register(ConsultAcknowledgement)
class ConsultAcknowledgementAdmin(admin.ModelAdmin):
    list_display = ("patient", "episode_opened_at", "acknowledged_by", "acknowledged_at")


@admin.register(StepDownConfirmation)
class StepDownConfirmationAdmin(admin.ModelAdmin):
    """Read here; confirmed through the API (the service checks the interval is offered)."""

    list_display = ("patient", "frequency", "effective_date", "confirmed_by", "created_at")
    readonly_fields = [f.name for f in StepDownConfirmation._meta.fields]

    def has_add_permission(self, request: object) -> bool:
        return False


# The feeds keep their admin pages beside their code.
from monitoring.feeds import admin as feeds_admin  # noqa: E402, F401
