from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from patients.models import (
    Authorization,
    EnrollmentEvent,
    LimitAgreement,
    Patient,
    Prescriber,
    TreatmentEvent,
    User,
)


@admin.register(User)
class ClozremsUserAdmin(UserAdmin):
    fieldsets = [
        *list(UserAdmin.fieldsets or []),
        ("clozrems", {"fields": ("role", "prescriber", "pharmacy")}),
    ]
    list_display = ("username", "role", "prescriber", "pharmacy", "is_active")


@admin.register(Prescriber)
class PrescriberAdmin(admin.ModelAdmin):
    list_display = ("name", "npi", "certified", "active", "certification_expires_on")
    search_fields = ("name", "npi")


@admin.register(Patient)
class PatientAdmin(admin.ModelAdmin):
    list_display = ("last_name", "first_name", "date_of_birth", "population", "enrollment_status")
    list_filter = ("enrollment_status", "population", "protocol")
    search_fields = ("last_name", "first_name")
    readonly_fields = ("enrollment_status", "treatment_status")


for model in (EnrollmentEvent, TreatmentEvent, Authorization):
    admin.site.register(model)


@admin.register(LimitAgreement)
class LimitAgreementAdmin(admin.ModelAdmin):
    """Read here; recorded through the API (the service checks and re-runs the rules)."""

    list_display = ("patient", "haematologist", "agreed_on", "recorded_by", "created_at")
    readonly_fields = [f.name for f in LimitAgreement._meta.fields]

    def has_add_permission(self, request: object) -> bool:
        return False
