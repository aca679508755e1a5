from django.contrib import admin

from notifications.models import Notification


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    """Every reminder with its delivery state: failed sends are found with the status filter."""

    list_display = (
        "created_at",
        "kind",
        "channel",
        "recipient_key",
        "status",
        "attempts",
        "last_error",
        "next_attempt_at",
    )
    list_filter = ("status", "channel", "kind", "urgent")
    search_fields = ("recipient_key", "subject_key", "subject")
    readonly_fields = [f.name for f in Notification._meta.fields]
