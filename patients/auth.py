"""Who is calling: API tokens stored hashed (django-rest-knox's storage, patients.ApiToken), the
session alternative, and the refusals both share (a deactivated prescriber or pharmacy, an
administrator without the second factor). The token endpoint and revocation are in
patients/auth_views.py. Imported by DRF's settings: keep it free of views."""

from __future__ import annotations

from datetime import timedelta
from hmac import compare_digest
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone
from drf_spectacular.authentication import SessionScheme
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from knox.crypto import hash_token
from knox.settings import CONSTANTS
from rest_framework import exceptions
from rest_framework.authentication import (
    BaseAuthentication,
    SessionAuthentication,
    get_authorization_header,
)
from rest_framework.request import Request

if TYPE_CHECKING:
    from patients.models import ApiToken, User

KEYWORD = "Token"
# A token is 64 hexadecimal characters (knox's default); anything much longer is not one.
LONGEST_TOKEN = 128


def needs_second_factor(user: Any) -> bool:
    return bool(settings.CLOZREMS_ADMIN_OTP) and bool(
        getattr(user, "is_admin", False) or getattr(user, "is_superuser", False)
    )


def deactivated_link(user: Any) -> str | None:
    """Why a user may not work at all although its own account is active: the prescriber or
    pharmacy it acts for was deactivated. Reads the links already loaded with the user."""
    if getattr(user, "prescriber_id", None) is not None and not user.prescriber.active:
        return "Your prescriber is deactivated: this account may not be used. Ask an administrator."
    if getattr(user, "pharmacy_id", None) is not None and not user.pharmacy.active:
        return "Your pharmacy is deactivated: this account may not be used. Ask an administrator."
    return None


def credential_of(request: Any) -> str:
    """Which sign-in a request belongs to: its token, or its browser session (digests, never the
    secrets). A new sign-in is a new credential."""
    import hashlib

    auth = getattr(request, "auth", None)
    digest = getattr(auth, "digest", None)
    if digest:
        return f"token:{digest[:64]}"
    session = getattr(getattr(request, "_request", request), "session", None)
    key = getattr(session, "session_key", None) or ""
    return f"session:{hashlib.sha256(key.encode()).hexdigest()[:64]}"


def api_token_create(*, user: User, otp_verified: bool) -> str:
    """Mint a token for `user` and return it: the only time it is ever seen. The user's expired
    tokens are cleared on the way (one DELETE), so none is kept past its lifetime."""
    from patients.models import ApiToken

    ApiToken.objects.filter(user=user, expiry__lt=timezone.now()).delete()
    ttl: timedelta = settings.CLOZREMS_TOKEN_TTL
    _, token = ApiToken.objects.create(user=user, expiry=ttl, otp_verified=otp_verified)
    return str(token)


class ExpiringTokenAuthentication(BaseAuthentication):
    """`Authorization: Token <token>`: the token's row, its user and the user's prescriber and
    pharmacy in one query; refused once expired (and deleted), when the user or its prescriber
    or pharmacy is deactivated, and for an administrator whose token was minted without the
    second factor while it is required."""

    def authenticate(self, request: Request) -> tuple[User, ApiToken] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != KEYWORD.lower().encode():
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed(
                "Invalid token header: give `Token <token>`, with no spaces in the token."
            )
        try:
            key = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Invalid token.") from None
        return self.authenticate_credentials(key)

    def authenticate_credentials(self, key: str) -> tuple[User, ApiToken]:
        from patients.models import ApiToken

        if not key or len(key) > LONGEST_TOKEN:
            raise exceptions.AuthenticationFailed("Invalid token.")
        digest = hash_token(key)
        candidates = ApiToken.objects.select_related(
            "user", "user__prescriber", "user__pharmacy"
        ).filter(token_key=key[: CONSTANTS.TOKEN_KEY_LENGTH])
        for token in candidates:
            if not compare_digest(digest, token.digest):
                continue
            if token.expiry is not None and token.expiry <= timezone.now():
                token.delete()
                raise exceptions.AuthenticationFailed("The token has expired; ask for a new one.")
            user = token.user
            refuse_inactive(user)
            if needs_second_factor(user) and not token.otp_verified:
                raise exceptions.AuthenticationFailed(
                    "This token was issued without the administrators' second factor; ask "
                    "for a new one with your authenticator code."
                )
            return user, token
        raise exceptions.AuthenticationFailed("Invalid token.")

    def authenticate_header(self, request: Request) -> str:
        return KEYWORD


def refuse_inactive(user: Any) -> None:
    if not user.is_active:
        raise exceptions.AuthenticationFailed("This account is deactivated.")
    reason = deactivated_link(user)
    if reason:
        raise exceptions.AuthenticationFailed(reason)


class VerifiedSessionAuthentication(SessionAuthentication):
    """A browser session calling the API: refused, like a token, for a user whose prescriber or
    pharmacy is deactivated and for an administrator not verified by the second factor while it
    is required (a session opened before it was switched on, or by a password alone)."""

    def authenticate(self, request: Request) -> tuple[Any, None] | None:
        found = super().authenticate(request)
        if found is None:
            return None
        user = found[0]
        refuse_inactive(user)
        if second_factor_missing(request._request):
            raise exceptions.AuthenticationFailed(
                "Sign in again with your authenticator code: administrators need the second factor."
            )
        return found


def second_factor_missing(request: HttpRequest) -> bool:
    user = request.user
    return bool(
        needs_second_factor(user)
        and not getattr(user, "is_verified", lambda: False)()  # django-otp's middleware
    )


class TokenScheme(OpenApiAuthenticationExtension):
    """The schema's name for the token header: `Authorization: Token <token>`."""

    target_class = ExpiringTokenAuthentication
    name = "tokenAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return build_bearer_security_scheme_object(
            header_name="Authorization", token_prefix=KEYWORD
        )


class VerifiedSessionScheme(SessionScheme):
    target_class = "patients.auth.VerifiedSessionAuthentication"
