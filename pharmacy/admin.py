from django.contrib import admin

from pharmacy.models import Dispense, Pharmacy


@admin.register(Pharmacy)
class PharmacyAdmin(admin.ModelAdmin):
    list_display = ("name", "ncpdp_id", "certified", "active")


@admin.register(Dispense)
class DispenseAdmin(admin.ModelAdmin):
    list_display = ("patient", "pharmacy", "days_supply", "dispensed_at", "authorization_code")
    readonly_fields = [f.name for f in Dispense._meta.fields]
