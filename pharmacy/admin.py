from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.forms import ModelForm
from django.http import HttpRequest

from audit.admin import ReadOnlyAdmin
from patients.models import Dispense, Pharmacy, User
from pharmacy.services import pharmacy_save


@admin.register(Pharmacy)
class PharmacyAdmin(admin.ModelAdmin):
    """Saves go through `pharmacy_save` (certification changes are audited); never deleted."""

    list_display = ("name", "ncpdp_id", "certified", "active", "certification_expires_on")
    list_filter = ("certified", "active")
    search_fields = ("name", "ncpdp_id")

    def save_model(
        self, request: HttpRequest, obj: Pharmacy, form: ModelForm, change: bool
    ) -> None:
        current = Pharmacy.objects.get(pk=obj.pk) if change else None
        actor = request.user
        if not isinstance(actor, User):  # the admin requires a signed-in user
            raise PermissionDenied("Sign in first.")
        saved = pharmacy_save(actor=actor, pharmacy=current, data=dict(form.cleaned_data))
        obj.pk = saved.pk

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class EmergencyFilter(admin.SimpleListFilter):
    title = "emergency supply"
    parameter_name = "emergency"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("unreviewed", "to review"), ("reviewed", "reviewed"), ("regular", "regular")]

    def queryset(self, request: HttpRequest, queryset: Any) -> Any:
        if self.value() == "unreviewed":
            return queryset.exclude(emergency_reason="").filter(reviewed_at__isnull=True)
        if self.value() == "reviewed":
            return queryset.exclude(emergency_reason="").filter(reviewed_at__isnull=False)
        if self.value() == "regular":
            return queryset.filter(emergency_reason="")
        return queryset


@admin.register(Dispense)
class DispenseAdmin(ReadOnlyAdmin):
    """Emergency supplies are reviewed through the API (POST /api/v1/dispenses/{id}/review/),
    which writes the audit entry."""

    list_display = (
        "id",
        "patient",
        "pharmacy",
        "days_supply",
        "dispensed_at",
        "authorization_code",
        "emergency_reason",
        "reviewed_at",
        "recorded_by",
    )
    list_filter = (EmergencyFilter, "emergency_reason", "pharmacy", "dispensed_at")
    search_fields = ("=authorization_code", "=patient__id", "patient__last_name")
    date_hierarchy = "dispensed_at"
    list_select_related = ("patient", "pharmacy", "recorded_by")
