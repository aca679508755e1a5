"""The audit trail in the admin: read-only (no add, change or delete), searchable, filterable.

`ReadOnlyAdmin` is also what the clinical models use: in the admin they can be looked at, never
written, so no admin path goes around the services (and their audit entries)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from audit.models import AuditCheckpoint, AuditEntry, FieldChange


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "seq",
        "created_at",
        "action",
        "outcome",
        "actor_username",
        "role",
        "patient_id",
        "object_type",
        "object_id",
        "request_id",
    )
    list_filter = ("action", "outcome", "role", "created_at")
    search_fields = ("=request_id", "=object_id", "=patient_id", "actor_username", "hash")
    date_hierarchy = "created_at"
    ordering = ("-id",)


@admin.register(FieldChange)
class FieldChangeAdmin(ReadOnlyAdmin):
    list_display = (
        "changed_at",
        "table_name",
        "row_id",
        "field",
        "old_value",
        "new_value",
        "actor_id",
        "request_id",
    )
    list_filter = ("table_name", "field", "changed_at")
    search_fields = ("=row_id", "=request_id", "field")


@admin.register(AuditCheckpoint)
class AuditCheckpointAdmin(ReadOnlyAdmin):
    list_display = ("seq", "created_at", "sealed", "hash", "key_id")
    date_hierarchy = "created_at"
