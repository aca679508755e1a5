"""Rate limits: per user, per address, and stricter on the token endpoint (DRF throttling)."""

from __future__ import annotations

import pytest
from rest_framework.throttling import SimpleRateThrottle


@pytest.fixture
def rates(monkeypatch):
    """DRF reads the rates once; the tests set their own, small ones."""

    def set_rates(**values: str) -> None:
        for scope, rate in values.items():
            monkeypatch.setitem(SimpleRateThrottle.THROTTLE_RATES, scope, rate)

    return set_rates


def test_a_user_is_throttled_past_its_rate_and_told_when_to_retry(api, alice, rates):
    rates(user="5/min")
    client = api(alice)
    answers = [client.get("/api/v1/ping/").status_code for _ in range(6)]
    assert answers == [200] * 5 + [429]
    response = client.get("/api/v1/ping/")
    assert response.status_code == 429 and int(response["Retry-After"]) > 0


def test_one_address_is_throttled_whichever_accounts_it_uses(api, alice, bob, rates):
    rates(address="4/min")
    statuses = [
        api(user).get("/api/v1/ping/").status_code for user in (alice, bob, alice, bob, alice)
    ]
    assert statuses == [200, 200, 200, 200, 429]


def test_the_token_endpoint_is_throttled_more_strictly(api, alice, rates):
    rates(auth="3/min")
    body = {"username": "alice", "password": "not-the-password-12"}
    statuses = [
        api().post("/api/v1/auth/token/", body, format="json").status_code for _ in range(4)
    ]
    assert statuses == [400, 400, 400, 429]
