from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.core.exceptions import PermissionDenied
from django.forms import ModelForm
from django.http import HttpRequest

from audit.admin import ReadOnlyAdmin
from patients.models import (
    Authorization,
    EnrollmentEvent,
    LimitAgreement,
    Patient,
    Prescriber,
    TreatmentEvent,
    User,
)
from patients.services import prescriber_save


@admin.register(User)
class ClozremsUserAdmin(UserAdmin):
    fieldsets = [
        *list(UserAdmin.fieldsets or []),
        ("clozrems", {"fields": ("role", "prescriber", "pharmacy")}),
    ]
    list_display = ("username", "role", "prescriber", "pharmacy", "is_active")


@admin.register(Prescriber)
class PrescriberAdmin(admin.ModelAdmin):
    """Saves go through `prescriber_save` (certification changes are audited); prescribers are
    deactivated, never deleted."""

    list_display = (
        "name",
        "npi",
        "certified",
        "active",
        "certified_on",
        "certification_expires_on",
    )
    list_filter = ("certified", "active")
    search_fields = ("name", "npi")

    def save_model(
        self, request: HttpRequest, obj: Prescriber, form: ModelForm, change: bool
    ) -> None:
        current = Prescriber.objects.get(pk=obj.pk) if change else None
        actor = request.user
        if not isinstance(actor, User):  # the admin requires a signed-in user
            raise PermissionDenied("Sign in first.")
        saved = prescriber_save(actor=actor, prescriber=current, data=dict(form.cleaned_data))
        obj.pk = saved.pk

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Patient)
class PatientAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "last_name",
        "first_name",
        "date_of_birth",
        "population",
        "prescriber",
        "enrollment_status",
        "treatment_status",
    )
    list_filter = ("enrollment_status", "treatment_status", "population", "protocol")
    search_fields = ("last_name", "first_name", "=id")
    list_select_related = ("prescriber",)


@admin.register(EnrollmentEvent)
class EnrollmentEventAdmin(ReadOnlyAdmin):
    list_display = ("patient", "kind", "effective_date", "actor", "created_at")
    list_filter = ("kind",)
    list_select_related = ("patient", "actor")


@admin.register(TreatmentEvent)
class TreatmentEventAdmin(ReadOnlyAdmin):
    list_display = ("patient", "kind", "effective_date", "reason", "actor")
    list_filter = ("kind",)
    list_select_related = ("patient", "actor")


@admin.register(Authorization)
class AuthorizationAdmin(ReadOnlyAdmin):
    list_display = ("patient", "kind", "starts_on", "expires_on", "prescriber")
    list_filter = ("kind",)
    list_select_related = ("patient", "prescriber")


@admin.register(LimitAgreement)
class LimitAgreementAdmin(ReadOnlyAdmin):
    """Read here; recorded through the API (the service checks and re-runs the rules)."""

    list_display = (
        "patient",
        "haematologist",
        "second_haematologist",
        "agreed_on",
        "recorded_by",
        "created_at",
    )
