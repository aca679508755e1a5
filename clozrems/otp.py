"""The administrators' second factor (django-otp, TOTP): login forms for the pages and the
admin site that ask for the code only of those who need it, and the admin site that admits an
administrator only once verified."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib.admin import AdminSite
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest
from django_otp import devices_for_user
from django_otp.forms import OTPAuthenticationFormMixin

from clozrems.auth import needs_second_factor


class _SecondFactor(OTPAuthenticationFormMixin, forms.Form):
    # A Form, so that Django collects the fields below into the login forms that mix it in.
    otp_device = forms.CharField(required=False, widget=forms.HiddenInput)
    otp_token = forms.CharField(
        required=False,
        label="Authenticator code (administrators)",
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )
    otp_challenge = forms.CharField(required=False, widget=forms.HiddenInput)

    def check_second_factor(self, user: Any) -> None:
        if user is None or not needs_second_factor(user):
            return
        devices = list(devices_for_user(user, confirmed=True))
        if not devices:
            raise forms.ValidationError(
                "An administrator needs a TOTP device first: manage.py otp_enroll USERNAME.",
                code="device_required",
            )
        if not self.cleaned_data.get("otp_device"):
            # The page has no device picker: the administrator's first device answers.
            self.cleaned_data["otp_device"] = devices[0].persistent_id
        self.clean_otp(user)


class LoginForm(_SecondFactor, AuthenticationForm):
    def clean(self) -> dict[str, Any]:
        data = super().clean()
        self.check_second_factor(self.get_user())
        return data


class AdminLoginForm(_SecondFactor, AdminAuthenticationForm):
    def clean(self) -> dict[str, Any]:
        data = super().clean()
        self.check_second_factor(self.get_user())
        return data


class ClozremsAdminSite(AdminSite):
    """Django's admin; with CLOZREMS_ADMIN_OTP an administrator must also be OTP-verified."""

    login_form = AdminLoginForm
    login_template = "otp/admin111/login.html"

    def has_permission(self, request: HttpRequest) -> bool:
        allowed = super().has_permission(request)
        if allowed and needs_second_factor(request.user):
            return bool(request.user.is_verified())  # type: ignore[union-attr]
        return allowed


def second_factor_missing(request: HttpRequest) -> bool:
    user = request.user
    return bool(
        settings.CLOZREMS_ADMIN_OTP and needs_second_factor(user) and not user.is_verified()  # type: ignore[union-attr]
    )
