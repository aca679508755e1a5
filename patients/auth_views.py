"""The token endpoint (docs/api.md: POST /api/v1/auth/token/ with {"username", "password"} ->
{"token"}), with the administrators' second factor, and revocation.

Every failed sign-in gets the same answer, whatever was wrong (the username, the password, the
second factor's code, or a missing authenticator), so the answer never tells that a password
was right. A wrong code counts as a failed login for the lockout (django-axes)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import authenticate
from django.contrib.auth.signals import user_login_failed
from django_otp import devices_for_user, match_token
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied, Throttled
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from clozrems.throttles import AuthRateThrottle
from patients.auth import api_token_create, deactivated_link, needs_second_factor
from patients.models import ApiToken, User

SIGN_IN_REFUSED = (
    "Unable to sign in with what was given. Check the username and password; administrators "
    "also give the current code of their authenticator (enrolled with manage.py otp_enroll)."
)
# The longest username the user table holds: a longer one is a 400, never a database error.
USERNAME_MAX_LENGTH = User._meta.get_field("username").max_length or 150


class TokenRequestSerializer(serializers.Serializer[Any]):
    username = serializers.CharField(max_length=USERNAME_MAX_LENGTH, trim_whitespace=False)
    password = serializers.CharField(
        max_length=4096, trim_whitespace=False, style={"input_type": "password"}
    )
    otp_token = serializers.CharField(
        required=False,
        allow_blank=True,
        write_only=True,
        max_length=16,
        help_text="The TOTP code; required of administrators when the second factor is on.",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        request = self.context["request"]
        credentials = {"username": attrs["username"], "password": attrs["password"]}
        user = authenticate(request=request, **credentials)
        if user is None:
            raise serializers.ValidationError(SIGN_IN_REFUSED, code="authorization")
        attrs["otp_verified"] = False
        if needs_second_factor(user):
            code = (attrs.get("otp_token") or "").strip()
            has_device = any(True for _ in devices_for_user(user, confirmed=True))
            if not (has_device and code and match_token(user, code) is not None):
                # The password was right but the second factor is not: a failed login all
                # the same, counted by django-axes, and answered like a wrong password.
                user_login_failed.send(
                    sender=__name__,
                    credentials={"username": attrs["username"]},
                    request=getattr(request, "_request", request),
                )
                raise serializers.ValidationError(SIGN_IN_REFUSED, code="authorization")
            attrs["otp_verified"] = True
        attrs["user"] = user
        return attrs


class TokenObtainView(APIView):
    """A new token for each sign-in, shown once; throttled per address (scope auth)."""

    authentication_classes: list[type] = []
    permission_classes = [AllowAny]
    throttle_classes = [AuthRateThrottle]

    @extend_schema(
        request=TokenRequestSerializer,
        responses={200: inline_serializer("TokenResponse", {"token": serializers.CharField()})},
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = TokenRequestSerializer(data=request.data, context={"request": request})
        valid = serializer.is_valid()
        if getattr(request, "axes_locked_out", False):
            # django-axes refused even a right password: too many failures for this account
            # from this address.
            raise Throttled(
                detail="Too many failed logins: this account is locked out for a while."
            )
        if not valid:
            raise serializers.ValidationError(serializer.errors)
        user: User = serializer.validated_data["user"]
        reason = deactivated_link(user)
        if reason:
            raise PermissionDenied(reason)
        token = api_token_create(user=user, otp_verified=serializer.validated_data["otp_verified"])
        return Response({"token": token})


class TokenRevokeSerializer(serializers.Serializer[Any]):
    all = serializers.BooleanField(
        required=False, default=False, help_text="Revoke every token of the caller, not just this."
    )


class TokenRevokeView(APIView):
    """POST /api/v1/auth/token/revoke/: the caller's token stops working at once (with
    `{"all": true}`, or from a browser session, every token of the caller)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(request=TokenRevokeSerializer, responses={204: None})
    def post(self, request: Request) -> Response:
        params = TokenRevokeSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        tokens = ApiToken.objects.filter(user_id=request.user.pk or 0)
        if isinstance(request.auth, ApiToken) and not params.validated_data["all"]:
            tokens = tokens.filter(digest=request.auth.digest)
        tokens.delete()
        return Response(status=status.HTTP_204_NO_CONTENT)
