"""API tokens that expire (revocation and the token endpoint: clozrems/auth_views.py), and who
needs the administrators' second factor. Imported by DRF's settings: keep it free of views."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token


def token_expired(token: Token) -> bool:
    return token.created < timezone.now() - settings.CLOZREMS_TOKEN_TTL


class ExpiringTokenAuthentication(TokenAuthentication):
    """DRF's token, refused (and deleted) once older than CLOZREMS_TOKEN_TTL."""

    def authenticate_credentials(self, key: str) -> tuple[Any, Token]:
        user, token = super().authenticate_credentials(key)
        if token_expired(token):
            token.delete()
            raise exceptions.AuthenticationFailed("The token has expired; ask for a new one.")
        return user, token


def needs_second_factor(user: Any) -> bool:
    return bool(settings.CLOZREMS_ADMIN_OTP) and bool(
        getattr(user, "is_admin", False) or getattr(user, "is_superuser", False)
    )
