from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from patients.models import (
    Authorization,
    EnrollmentEvent,
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
