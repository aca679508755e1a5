"""The client's address for the rate limits and the login lockout: X-Forwarded-For is believed
only from the proxies named in CLOZREMS_TRUSTED_PROXIES, read from its right end (the rightmost
hop that is not a trusted proxy is the client)."""

from __future__ import annotations

import pytest
from axes.helpers import get_client_ip_address
from django.test import RequestFactory
from hypothesis import given
from hypothesis import strategies as st
from rest_framework.throttling import SimpleRateThrottle

from clozrems.addresses import client_address

PROXY = "10.0.0.5"


def request_from(peer: str, forwarded: str | None = None):
    request = RequestFactory().get("/")
    request.META["REMOTE_ADDR"] = peer
    if forwarded is not None:
        request.META["HTTP_X_FORWARDED_FOR"] = forwarded
    return request


@pytest.mark.parametrize(
    ("trusted", "peer", "forwarded", "client"),
    [
        # No proxy trusted: the header is anyone's to write and is ignored.
        ([], "203.0.113.9", "198.51.100.1", "203.0.113.9"),
        # The peer is not a trusted proxy: ignored too.
        (["10.0.0.0/8"], "203.0.113.9", "198.51.100.1", "203.0.113.9"),
        # Behind the trusted proxy: the hop it saw.
        (["10.0.0.0/8"], PROXY, "198.51.100.1", "198.51.100.1"),
        # A client's forged entries stand left of the real one: the rightmost untrusted wins.
        (["10.0.0.0/8"], PROXY, "1.2.3.4, 5.6.7.8, 198.51.100.1", "198.51.100.1"),
        # Two trusted proxies in a row.
        (["10.0.0.0/8", "192.0.2.7"], PROXY, "198.51.100.1, 192.0.2.7", "198.51.100.1"),
        # Only trusted hops: the leftmost of them.
        (["10.0.0.0/8"], PROXY, "10.1.1.1", "10.1.1.1"),
        # The trusted proxy sent no header: the proxy itself.
        (["10.0.0.0/8"], PROXY, None, PROXY),
        # Junk in the header stops the walk at the last proxy that vouched.
        (["10.0.0.0/8"], PROXY, "198.51.100.1, not-an-address", PROXY),
        (["2001:db8::/32"], "2001:db8::1", "[2001:db8:ffff::9]:443, 2600::1", "2600::1"),
    ],
)
def test_the_client_is_the_rightmost_hop_no_trusted_proxy_vouches_for(
    settings, trusted, peer, forwarded, client
):
    settings.CLOZREMS_TRUSTED_PROXIES = trusted
    assert client_address(request_from(peer, forwarded)) == client


@given(forged=st.lists(st.ip_addresses().map(str), max_size=5))
def test_whatever_a_client_puts_in_the_header_the_address_seen_is_its_own(forged):
    from django.conf import settings

    settings.CLOZREMS_TRUSTED_PROXIES = ["10.0.0.0/8"]
    try:
        header = ", ".join([*forged, "198.51.100.1"])
        assert client_address(request_from(PROXY, header)) == "198.51.100.1"
        assert client_address(request_from("198.51.100.1", header)) == "198.51.100.1"
    finally:
        settings.CLOZREMS_TRUSTED_PROXIES = []


def test_the_lockout_uses_the_same_address(settings):
    settings.CLOZREMS_TRUSTED_PROXIES = ["10.0.0.0/8"]
    assert get_client_ip_address(request_from(PROXY, "6.6.6.6, 198.51.100.1")) == "198.51.100.1"
    assert get_client_ip_address(request_from("203.0.113.9", "198.51.100.1")) == "203.0.113.9"


@pytest.fixture
def rates(monkeypatch):
    def set_rates(**values: str) -> None:
        for scope, rate in values.items():
            monkeypatch.setitem(SimpleRateThrottle.THROTTLE_RATES, scope, rate)

    return set_rates


def test_rotating_x_forwarded_for_does_not_escape_the_token_endpoints_limit(api, alice, rates):
    rates(auth="3/min")
    client = api()
    body = {"username": "alice", "password": "not-the-password-12"}
    statuses = [
        client.post(
            "/api/v1/auth/token/", body, format="json", HTTP_X_FORWARDED_FOR=f"198.51.100.{i}"
        ).status_code
        for i in range(4)
    ]
    assert statuses == [400, 400, 400, 429]


def test_behind_a_trusted_proxy_each_client_has_its_own_limit(api, alice, rates, settings):
    rates(auth="2/min")
    settings.CLOZREMS_TRUSTED_PROXIES = ["127.0.0.0/8"]  # the test client's peer
    body = {"username": "alice", "password": "not-the-password-12"}

    def attempt(client_ip: str) -> int:
        return (
            api()
            .post("/api/v1/auth/token/", body, format="json", HTTP_X_FORWARDED_FOR=client_ip)
            .status_code
        )

    assert [attempt("198.51.100.1") for _ in range(3)] == [400, 400, 429]
    assert attempt("198.51.100.2") == 400
    # A forged entry left of the real one changes nothing.
    assert attempt("198.51.100.2, 198.51.100.1") == 429


def test_a_bad_trusted_proxy_setting_is_refused_at_start(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    result = subprocess.run(  # noqa: S603 - our own manage.py
        [sys.executable, "manage.py", "check"],
        cwd=repo,
        env={**os.environ, "CLOZREMS_TRUSTED_PROXIES": "10.0.0.0/8,not-a-network"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0 and "not-a-network" in result.stderr
