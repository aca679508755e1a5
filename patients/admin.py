from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.forms import ModelForm
from django.http import HttpRequest, HttpResponse
from django_otp.plugins.otp_totp.admin import TOTPDeviceAdmin
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.admin import ReadOnlyAdmin
from audit.models import Action
from audit.services import audit_record
from patients.models import (
    ApiToken,
    Authorization,
    EnrollmentEvent,
    LimitAgreement,
    Patient,
    Prescriber,
    TreatmentEvent,
    User,
)
from patients.services import (
    prescriber_save,
    second_factor_audit,
    user_change_audit,
    user_facts,
)


@admin.register(User)
class ClozremsUserAdmin(UserAdmin):
    """Every account created or changed here (role, links, flags, groups, password) writes its
    audit entry, in the admin's transaction, as the API's `POST /users/` does."""

    fieldsets = [
        *list(UserAdmin.fieldsets or []),
        ("clozrems", {"fields": ("role", "prescriber", "pharmacy")}),
    ]
    list_display = ("username", "role", "prescriber", "pharmacy", "is_active")

    def save_model(self, request: HttpRequest, obj: User, form: ModelForm, change: bool) -> None:
        if change:
            before = user_facts(User.objects.get(pk=obj.pk))
            request._clozrems_user_before = before  # type: ignore[attr-defined]
        super().save_model(request, obj, form, change)

    def log_addition(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        user_change_audit(actor=_actor(request), user=obj, before=None)
        return super().log_addition(request, obj, message)

    def log_change(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        before = getattr(request, "_clozrems_user_before", None)
        if before is None:  # the password form changes nothing else
            user_change_audit(
                actor=_actor(request), user=obj, before=user_facts(obj), password_changed=True
            )
        else:
            user_change_audit(actor=_actor(request), user=obj, before=before)
        return super().log_change(request, obj, message)


def _actor(request: HttpRequest) -> User:
    if not isinstance(request.user, User):  # the admin requires a signed-in user
        raise PermissionDenied("Sign in first.")
    return request.user


admin.site.unregister(Group)


@admin.register(Group)
class AuditedGroupAdmin(GroupAdmin):
    """Permission groups (roles in Django's sense): each creation or change is audited."""

    def log_addition(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        self._audit(request, obj)
        return super().log_addition(request, obj, message)

    def log_change(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        self._audit(request, obj)
        return super().log_change(request, obj, message)

    def _audit(self, request: HttpRequest, group: Group) -> None:
        audit_record(
            action=Action.GROUP_SAVE,
            actor=_actor(request),
            object_type="group",
            object_id=group.pk,
            inputs={
                "name": group.name,
                "permissions": sorted(group.permissions.values_list("codename", flat=True)),
            },
        )


@admin.register(Prescriber)
class PrescriberAdmin(admin.ModelAdmin):
    """Saves go through `prescriber_save` (certification changes are audited); prescribers are
    deactivated, never deleted."""

    list_display = (
        "name",
        "npi",
        "phone",
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


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Who holds a token, since when and until when; never the token, which is stored only as
    its digest. Deleting one revokes it. Tokens are minted only by their owners, at the token
    endpoint."""

    list_display = ("user", "created", "expiry", "otp_verified")
    list_filter = ("otp_verified",)
    search_fields = ("user__username",)
    list_select_related = ("user",)
    fields = ("user", "created", "expiry", "otp_verified")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


admin.site.unregister(TOTPDevice)


@admin.register(TOTPDevice)
class OwnTOTPDeviceAdmin(TOTPDeviceAdmin):
    """Second-factor devices stay with their owners: each administrator sees, adds and removes
    only its own (an administrator who could enroll one on another account, or read its key,
    could pass that account's second factor). The first device comes from
    `manage.py otp_enroll`, run by whoever holds the server."""

    raw_id_fields: list[str] = []

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).filter(user_id=request.user.pk or 0)

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        return [
            (name, {**options, "fields": [f for f in options["fields"] if f != "user"]})
            for name, options in super().get_fieldsets(request, obj)
        ]

    def save_model(
        self, request: HttpRequest, obj: TOTPDevice, form: ModelForm, change: bool
    ) -> None:
        if not change:
            obj.user = request.user
        elif obj.user_id != request.user.pk:
            raise PermissionDenied("Only its owner may change a second-factor device.")
        super().save_model(request, obj, form, change)

    def log_addition(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        second_factor_audit(actor=_actor(request), device=obj, enrolled=True)
        return super().log_addition(request, obj, message)

    def log_deletion(self, request: HttpRequest, obj: Any, object_repr: str) -> Any:
        second_factor_audit(actor=_actor(request), device=obj, enrolled=False)
        return super().log_deletion(request, obj, object_repr)

    def _own(self, request: HttpRequest, pk: int) -> None:
        if not TOTPDevice.objects.filter(pk=pk, user_id=request.user.pk or 0).exists():
            raise PermissionDenied("Only its owner may see a second-factor device's key.")

    def config_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        self._own(request, pk)
        return super().config_view(request, pk)

    def qrcode_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        self._own(request, pk)
        return super().qrcode_view(request, pk)
