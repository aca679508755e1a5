"""Rate limits beyond DRF's per-user and per-anonymous ones."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import AnonRateThrottle, SimpleRateThrottle, UserRateThrottle

from clozrems.addresses import client_address


class _TrustedAddress:
    """DRF's throttles read X-Forwarded-For from anyone; these read the address the trusted
    proxies vouch for (clozrems/addresses.py), as the login lockout does. All of them are off
    when `CLOZREMS_RATE_LIMITS` is off (benchmark and outside-test runs only; `check --deploy`
    warns)."""

    def get_ident(self, request: Request) -> str:
        return client_address(request)

    def allow_request(self, request: Request, view: Any) -> bool:
        if not settings.CLOZREMS_RATE_LIMITS:
            return True
        return bool(super().allow_request(request, view))  # type: ignore[misc]


class ClientUserRateThrottle(_TrustedAddress, UserRateThrottle):
    """Per user; per trusted address when anonymous."""


class ClientAnonRateThrottle(_TrustedAddress, AnonRateThrottle):
    """Per trusted address, for anonymous callers."""


class AddressRateThrottle(_TrustedAddress, SimpleRateThrottle):
    """Per client address, signed in or not: one address cannot spread a flood over many
    accounts' tokens."""

    scope = "address"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class AuthRateThrottle(AddressRateThrottle):
    """The token endpoint: per address, much stricter (password guessing)."""

    scope = "auth"
