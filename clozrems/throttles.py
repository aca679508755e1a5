"""Rate limits beyond DRF's per-user and per-anonymous ones."""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle


class AddressRateThrottle(SimpleRateThrottle):
    """Per client address, signed in or not: one address cannot spread a flood over many
    accounts' tokens."""

    scope = "address"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class AuthRateThrottle(AddressRateThrottle):
    """The token endpoint: per address, much stricter (password guessing)."""

    scope = "auth"
