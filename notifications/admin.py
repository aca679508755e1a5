from django.contrib import admin

from notifications.models import (
    Notification,
    NotificationPreference,
    PendingTask,
    ScanRun,
    ScheduledTask,
)


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
    readonly_fields = [f.name for f in Notification._meta.fields] + ["message_id"]


@admin.register(NotificationPreference)
class NotificationPreferenceAdmin(admin.ModelAdmin):
    """Read-only here: each user changes their own at /api/v1/notifications/preferences/."""

    list_display = ("user", "digest_at", "email_digest", "digest_limit", "updated_at")
    readonly_fields = [f.name for f in NotificationPreference._meta.fields]

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(PendingTask)
class PendingTaskAdmin(admin.ModelAdmin):
    """Work queued by a write: open rows older than a minute are the ones the broker lost (the
    catch-up does them); a row that keeps failing shows its error here."""

    list_display = ("created_at", "task", "args", "done_at", "attempts", "last_error")
    list_filter = ("task",)
    readonly_fields = [f.name for f in PendingTask._meta.fields]


@admin.register(ScheduledTask)
class ScheduledTaskAdmin(admin.ModelAdmin):
    """The declared periodic tasks by stable key; an empty link is one an administrator
    deleted (`manage.py sync_periodic_tasks --reset` restores it)."""

    list_display = ("key", "periodic_task", "created_at")
    readonly_fields = ("key", "periodic_task", "created_at")


admin.site.register(ScanRun)
