from django.contrib import admin

from monitoring.models import AncResult, ConsultAcknowledgement, MonitoringState


@admin.register(AncResult)
class AncResultAdmin(admin.ModelAdmin):
    list_display = ("patient", "value_per_ul", "drawn_at", "status", "superseded", "source")
    list_filter = ("status", "source")


@admin.register(MonitoringState)
class MonitoringStateAdmin(admin.ModelAdmin):
    list_display = ("patient", "band", "monitoring_frequency", "next_draw_due", "enrollment_status")
    readonly_fields = [f.name for f in MonitoringState._meta.fields]


@admin.register(ConsultAcknowledgement)
class ConsultAcknowledgementAdmin(admin.ModelAdmin):
    list_display = ("patient", "episode_opened_at", "acknowledged_by", "acknowledged_at")


# The feeds keep their admin pages beside their code.
from monitoring.feeds import admin as feeds_admin  # noqa: E402, F401
