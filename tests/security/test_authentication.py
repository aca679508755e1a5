"""Authentication: tokens expire and can be revoked; repeated failures lock the login out
(django-axes); administrators need their TOTP second factor when it is on (django-otp);
passwords must be strong; sessions end when idle."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice
from knox.crypto import hash_token

from patients.models import ApiToken
from tests.factories import PASSWORD

TOKEN = "/api/v1/auth/token/"


def token_for(api, username: str, password: str = PASSWORD, **extra):
    return api().post(TOKEN, {"username": username, "password": password, **extra}, format="json")


def test_a_token_expires_after_its_lifetime_and_a_new_one_is_issued(api, alice, clock, settings):
    settings.CLOZREMS_TOKEN_TTL = timedelta(hours=12)
    key = token_for(api, "alice").json()["token"]
    client = api()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/v1/ping/").status_code == 200
    clock.shift(timedelta(hours=12, seconds=1))
    expired = client.get("/api/v1/ping/")
    assert expired.status_code == 401 and "expired" in expired.json()["detail"]
    assert not ApiToken.objects.filter(digest=hash_token(key)).exists()
    fresh = token_for(api, "alice").json()["token"]
    assert fresh != key


def test_a_revoked_token_stops_working_at_once(api, alice):
    key = token_for(api, "alice").json()["token"]
    client = api()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.post("/api/v1/auth/token/revoke/").status_code == 204
    assert client.get("/api/v1/ping/").status_code == 401


def test_repeated_failures_lock_the_token_endpoint_even_for_the_right_password(api, alice):
    for _ in range(django_settings.AXES_FAILURE_LIMIT - 1):
        assert token_for(api, "alice", "wrong-password-123").status_code == 400
    # The failure that reaches the limit locks the account out (from this address).
    assert token_for(api, "alice", "wrong-password-123").status_code == 429
    locked = token_for(api, "alice")
    assert locked.status_code == 429
    assert "token" not in locked.json() and "locked" in locked.json()["detail"]
    # Another account from the same address is not locked by alice's failures.
    assert token_for(api, "bob").status_code in (200, 400)


def test_repeated_failures_lock_the_login_page(client, alice):
    for _ in range(django_settings.AXES_FAILURE_LIMIT):
        client.post("/login/", {"username": "alice", "password": "wrong-password-123"})
    locked = client.post("/login/", {"username": "alice", "password": PASSWORD})
    assert locked.status_code == 429
    assert "Too many failed logins" in locked.content.decode()


def test_a_weak_password_is_refused_when_an_admin_creates_a_user(api, admin):
    response = api(admin).post(
        "/api/v1/users/",
        {"username": "weak", "password": "short1", "role": "auditor"},
        format="json",
    )
    assert response.status_code == 400 and "password" in response.json()
    common = api(admin).post(
        "/api/v1/users/",
        {"username": "common", "password": "password1234", "role": "auditor"},
        format="json",
    )
    assert common.status_code == 400


def test_browser_sessions_end_when_idle():
    assert django_settings.SESSION_COOKIE_AGE <= 30 * 60
    assert (
        django_settings.SESSION_SAVE_EVERY_REQUEST
        and django_settings.SESSION_EXPIRE_AT_BROWSER_CLOSE
    )


@pytest.fixture
def second_factor(settings):
    settings.CLOZREMS_ADMIN_OTP = True


def code_for(device: TOTPDevice) -> str:
    return f"{totp(device.bin_key, device.step, device.t0, device.digits, device.drift):06d}"


def test_an_administrator_needs_a_device_and_its_code_for_a_token(api, admin, alice, second_factor):
    no_device = token_for(api, "admin")
    assert no_device.status_code == 400 and "authenticator" in str(no_device.json())
    device = TOTPDevice.objects.create(user=admin, name="phone", confirmed=True)
    assert token_for(api, "admin").status_code == 400
    assert token_for(api, "admin", otp_token=code_for(device)).status_code == 200
    # A wrong code is refused (and django-otp then slows further tries down).
    assert token_for(api, "admin", otp_token="000000").status_code == 400
    # Other roles are not asked for a code.
    assert token_for(api, "alice").status_code == 200


def test_an_administrator_needs_the_second_factor_for_the_pages_and_the_admin(
    client, admin, second_factor
):
    device = TOTPDevice.objects.create(user=admin, name="phone", confirmed=True)
    refused = client.post("/login/", {"username": "admin", "password": PASSWORD})
    assert refused.status_code == 200 and "Unable to sign in" in refused.content.decode()
    assert client.get("/oversight/").status_code == 302
    ok = client.post(
        "/login/", {"username": "admin", "password": PASSWORD, "otp_token": code_for(device)}
    )
    assert ok.status_code == 302
    assert client.get("/oversight/").status_code == 200


def test_the_admin_site_admits_an_administrator_only_once_verified(client, root, second_factor):
    client.force_login(root)  # a password login without the second factor
    assert client.get("/admin/").status_code == 302
    device = TOTPDevice.objects.create(user=root, name="phone", confirmed=True)
    client.logout()
    response = client.post(
        "/admin/login/?next=/admin/",
        {
            "username": "root",
            "password": PASSWORD,
            "otp_token": code_for(device),
            "next": "/admin/",
        },
    )
    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200
