"""The administrators' second factor (django-otp, TOTP): login forms for the pages and the
admin site that ask for the code only of those who need it, and the admin site that admits an
administrator only once verified."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.admin import AdminSite
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.signals import user_login_failed
from django.http import HttpRequest
from django_otp import devices_for_user
from django_otp.forms import OTPAuthenticationFormMixin

from patients.auth import deactivated_link, needs_second_factor, second_factor_missing

USERNAME_MAX_LENGTH = 150  # patients.User.username


class _SecondFactor(OTPAuthenticationFormMixin, forms.Form):
    # A Form, so that Django collects the fields below into the login forms that mix it in.
    otp_device = forms.CharField(required=False, widget=forms.HiddenInput)
    otp_token = forms.CharField(
        required=False,
        label="Authenticator code (administrators)",
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )
    otp_challenge = forms.CharField(required=False, widget=forms.HiddenInput)

    def clean_username(self) -> str:
        # Django's login form sets the length limit on the widget only: a longer name would
        # reach authentication and django-axes' failure log (a 255-character column), a
        # database error on PostgreSQL.
        username = str(self.cleaned_data.get("username") or "")
        if len(username) > USERNAME_MAX_LENGTH:
            raise forms.ValidationError(
                f"A username has at most {USERNAME_MAX_LENGTH} characters.", code="max_length"
            )
        return username

    def check_second_factor(self, user: Any) -> None:
        """The code of an administrator's authenticator. Any failure here is answered like a
        wrong password (the page must not tell that the password was right) and counted as a
        failed login by django-axes."""
        if user is None or not needs_second_factor(user):
            return
        devices = list(devices_for_user(user, confirmed=True))
        try:
            if not devices:
                raise forms.ValidationError("no authenticator enrolled", code="device_required")
            if not self.cleaned_data.get("otp_device"):
                # The page has no device picker: the administrator's first device answers.
                self.cleaned_data["otp_device"] = devices[0].persistent_id
            self.clean_otp(user)
        except forms.ValidationError:
            user_login_failed.send(
                sender=__name__,
                credentials={"username": user.get_username()},
                request=getattr(self, "request", None),
            )
            raise self.invalid_login_error() from None

    def invalid_login_error(self) -> forms.ValidationError:
        raise NotImplementedError


SIGN_IN_REFUSED = (
    "Unable to sign in with what was given. Check the username and password (both are "
    "case-sensitive); administrators also give the current code of their authenticator."
)


def _refuse_deactivated_link(user: Any) -> None:
    reason = deactivated_link(user)
    if reason:
        raise forms.ValidationError(reason, code="inactive")


class LoginForm(_SecondFactor, AuthenticationForm):
    error_messages = {**AuthenticationForm.error_messages, "invalid_login": SIGN_IN_REFUSED}

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        self.check_second_factor(self.get_user())
        return data

    def confirm_login_allowed(self, user: Any) -> None:
        super().confirm_login_allowed(user)
        _refuse_deactivated_link(user)

    def invalid_login_error(self) -> forms.ValidationError:
        return self.get_invalid_login_error()


class AdminLoginForm(_SecondFactor, AdminAuthenticationForm):
    error_messages = {**AdminAuthenticationForm.error_messages, "invalid_login": SIGN_IN_REFUSED}

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        self.check_second_factor(self.get_user())
        return data

    def confirm_login_allowed(self, user: Any) -> None:
        super().confirm_login_allowed(user)
        _refuse_deactivated_link(user)

    def invalid_login_error(self) -> forms.ValidationError:
        return self.get_invalid_login_error()


class ClozremsAdminSite(AdminSite):
    """Django's admin; with CLOZREMS_ADMIN_OTP an administrator must also be OTP-verified."""

    login_form = AdminLoginForm
    login_template = "otp/admin111/login.html"

    def has_permission(self, request: HttpRequest) -> bool:
        allowed = super().has_permission(request)
        if allowed and needs_second_factor(request.user):
            return bool(request.user.is_verified())  # type: ignore[union-attr]
        return allowed


__all__ = ["AdminLoginForm", "ClozremsAdminSite", "LoginForm", "second_factor_missing"]
