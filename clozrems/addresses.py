"""The client's address, for the rate limits and the login lockout (django-axes) alike.

`X-Forwarded-For` is anyone's to write, so it is believed only as far as the proxies the
deployment names in ``CLOZREMS_TRUSTED_PROXIES`` (addresses or CIDR networks, comma-separated;
none by default). When the direct peer is one of them, the header is read from its right end
(the hop the nearest proxy saw), skipping further trusted proxies: the first address that is
not one is the client. Otherwise the client is the direct peer and the header is ignored."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from django.conf import settings

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def trusted_networks(spec: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(item, strict=False) for item in spec)


def _parse(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # [v6]:port
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # v4:port
        text = text.split(":", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _trusted(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address | None, nets: Sequence[Network]
) -> bool:
    return address is not None and any(address in net for net in nets)


def client_address(request: Any) -> str:
    """The address a request came from, as far as the trusted proxies vouch for it."""
    meta = getattr(request, "META", {})
    peer_text = str(meta.get("REMOTE_ADDR") or "")
    nets = trusted_networks(tuple(settings.CLOZREMS_TRUSTED_PROXIES))
    peer = _parse(peer_text)
    if not nets or not _trusted(peer, nets):
        return peer_text
    forwarded = str(meta.get("HTTP_X_FORWARDED_FOR") or "")
    hops = [hop for hop in (h.strip() for h in forwarded.split(",")) if hop]
    for hop in reversed(hops):
        address = _parse(hop)
        if address is None:
            # A proxy we trust wrote something that is not an address: stop believing the
            # header there, and count the request against the last proxy that vouched.
            break
        if not _trusted(address, nets):
            return str(address)
        peer = address
    return str(peer)
