"""The token endpoint (api.md: POST /api/v1/auth/token/ with {"username", "password"} ->
{"token"}), with the administrators' second factor, and revocation."""

from __future__ import annotations

from typing import Any

from django_otp import devices_for_user, match_token
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.authtoken.models import Token
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.exceptions import Throttled
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from clozrems.auth import needs_second_factor, token_expired
from clozrems.throttles import AuthRateThrottle


class TokenRequestSerializer(AuthTokenSerializer):
    otp_token = serializers.CharField(
        required=False,
        allow_blank=True,
        write_only=True,
        help_text="The TOTP code; required of administrators when the second factor is on.",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = super().validate(attrs)
        user = attrs["user"]
        if needs_second_factor(user):
            code = (attrs.get("otp_token") or "").strip()
            if not any(True for _ in devices_for_user(user, confirmed=True)):
                raise serializers.ValidationError(
                    {"otp_token": ["An administrator needs a TOTP device: manage.py otp_enroll."]}
                )
            if not code or match_token(user, code) is None:
                raise serializers.ValidationError(
                    {"otp_token": ["Give the current code from your authenticator app."]}
                )
        return attrs


class TokenObtainView(ObtainAuthToken):
    """A fresh token when the old one has expired; throttled per address (scope auth)."""

    serializer_class = TokenRequestSerializer
    throttle_classes = [AuthRateThrottle]

    @extend_schema(
        request=TokenRequestSerializer,
        responses={200: inline_serializer("TokenResponse", {"token": serializers.CharField()})},
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = self.get_serializer(data=request.data)
        valid = serializer.is_valid()
        if getattr(request, "axes_locked_out", False):
            # django-axes refused even a right password: too many failures for this account
            # from this address.
            raise Throttled(
                detail="Too many failed logins: this account is locked out for a while."
            )
        if not valid:
            raise serializers.ValidationError(serializer.errors)
        user = serializer.validated_data["user"]
        token, created = Token.objects.get_or_create(user=user)
        if not created and token_expired(token):
            token.delete()
            token = Token.objects.create(user=user)
        return Response({"token": token.key})


class TokenRevokeView(APIView):
    """POST /api/v1/auth/token/revoke/: the caller's token stops working at once."""

    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses={204: None})
    def post(self, request: Request) -> Response:
        Token.objects.filter(user_id=request.user.pk or 0).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)
