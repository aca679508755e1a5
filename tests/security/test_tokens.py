"""API tokens: stored only as digests and shown once, never listed (the admin shows who holds
one, not the token); one query authenticates a call; a password change revokes every token;
a token records whether it was minted with the second factor, and an administrator's without
it is refused once the second factor is required; the accounts of a deactivated prescriber or
pharmacy are refused with a clear message; second-factor devices stay with their owners."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice
from knox.crypto import hash_token

from audit.models import Action, AuditEntry
from patients.auth import ExpiringTokenAuthentication, api_token_create
from patients.models import ApiToken
from tests.factories import PASSWORD, AdminUserFactory

TOKEN = "/api/v1/auth/token/"
PING = "/api/v1/ping/"


def sign_in(api, username: str, password: str = PASSWORD, **extra):
    return api().post(TOKEN, {"username": username, "password": password, **extra}, format="json")


def bearer(api, token: str):
    client = api()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def code_for(device: TOTPDevice) -> str:
    return f"{totp(device.bin_key, device.step, device.t0, device.digits, device.drift):06d}"


# --- stored hashed, shown once --------------------------------------------------------------


def test_a_token_is_stored_only_as_its_digest(api, alice):
    token = sign_in(api, "alice").json()["token"]
    row = ApiToken.objects.get(user=alice)
    assert row.digest == hash_token(token) != token
    stored = [str(value) for value in ApiToken.objects.values_list().get()]
    assert token not in stored
    assert bearer(api, token).get(PING).status_code == 200


def test_the_admin_lists_who_holds_tokens_but_never_a_token(api, client, alice, root):
    token = sign_in(api, "alice").json()["token"]
    client.force_login(root)
    listing = client.get("/admin/patients/apitoken/")
    assert listing.status_code == 200 and "alice" in listing.content.decode()
    assert token not in listing.content.decode()
    assert token[:15] not in listing.content.decode()
    row = ApiToken.objects.get(user=alice)
    detail = client.get(f"/admin/patients/apitoken/{row.pk}/change/").content.decode()
    # The digest names the row (it is the key in the admin's URLs): it gives the token away no
    # more than a password hash does.
    assert token[:15] not in detail
    # Nobody mints a token for someone else, and DRF's clear-text token pages are gone.
    assert client.get("/admin/patients/apitoken/add/").status_code == 403
    assert client.get("/admin/authtoken/tokenproxy/").status_code == 404


def test_deleting_a_token_in_the_admin_revokes_it(api, client, alice, root):
    token = sign_in(api, "alice").json()["token"]
    row = ApiToken.objects.get(user=alice)
    client.force_login(root)
    client.post(f"/admin/patients/apitoken/{row.pk}/delete/", {"post": "yes"})
    assert bearer(api, token).get(PING).status_code == 401


def test_token_authentication_costs_one_query_with_the_users_links(alice, phil):
    for user in (alice, phil):
        key = api_token_create(user=user, otp_verified=False)
        with CaptureQueriesContext(connection) as queries:
            found, _ = ExpiringTokenAuthentication().authenticate_credentials(key)
            # What the role rules read next is already loaded.
            _ = (found.role, found.prescriber and found.prescriber.active)
            _ = found.pharmacy and found.pharmacy.active
        assert len(queries) == 1, [q["sql"] for q in queries.captured_queries]


def test_a_call_authenticated_by_token_costs_one_query(api, phil):
    client = api(phil)
    with CaptureQueriesContext(connection) as queries:
        assert client.get(PING).status_code == 200
    assert len(queries) == 1, [q["sql"] for q in queries.captured_queries]


def test_a_token_expires_after_its_lifetime_and_is_deleted(api, alice, clock, settings):
    settings.CLOZREMS_TOKEN_TTL = timedelta(hours=12)
    token = sign_in(api, "alice").json()["token"]
    clock.shift(timedelta(hours=12, seconds=1))
    expired = bearer(api, token).get(PING)
    assert expired.status_code == 401 and "expired" in expired.json()["detail"]
    assert not ApiToken.objects.filter(digest=hash_token(token)).exists()


def test_revoking_ends_the_callers_token_or_with_all_every_token(api, alice):
    first, second, third = (sign_in(api, "alice").json()["token"] for _ in range(3))
    assert bearer(api, first).post("/api/v1/auth/token/revoke/").status_code == 204
    assert bearer(api, first).get(PING).status_code == 401
    assert bearer(api, second).get(PING).status_code == 200
    revoke_all = bearer(api, second).post(
        "/api/v1/auth/token/revoke/", {"all": True}, format="json"
    )
    assert revoke_all.status_code == 204
    assert [bearer(api, t).get(PING).status_code for t in (second, third)] == [401, 401]


# --- password change, second factor ---------------------------------------------------------


def test_a_password_change_revokes_every_token(api, alice):
    tokens = [sign_in(api, "alice").json()["token"] for _ in range(2)]
    alice.set_password("A-new-password-2026!")
    alice.save()
    assert [bearer(api, t).get(PING).status_code for t in tokens] == [401, 401]


def test_a_password_change_in_the_admin_revokes_tokens_and_is_audited(api, client, alice, root):
    token = sign_in(api, "alice").json()["token"]
    client.force_login(root)
    new = "Another-new-password-2026!"
    response = client.post(
        f"/admin/patients/user/{alice.pk}/password/", {"password1": new, "password2": new}
    )
    assert response.status_code == 302
    assert bearer(api, token).get(PING).status_code == 401
    entry = AuditEntry.objects.get(action=Action.USER_UPDATE, object_id=str(alice.pk))
    assert entry.output["password_changed"] is True and entry.actor_username == "root"


def test_other_saves_of_the_user_keep_its_tokens(api, alice):
    token = sign_in(api, "alice").json()["token"]
    alice.email = "alice@example.org"
    alice.save()
    assert bearer(api, token).get(PING).status_code == 200


def test_a_token_minted_before_the_second_factor_was_required_is_refused(api, admin, settings):
    settings.CLOZREMS_ADMIN_OTP = False
    old = sign_in(api, "admin").json()["token"]
    assert bearer(api, old).get(PING).status_code == 200
    settings.CLOZREMS_ADMIN_OTP = True
    refused = bearer(api, old).get(PING)
    assert refused.status_code == 401 and "second factor" in refused.json()["detail"]
    device = TOTPDevice.objects.create(user=admin, name="phone", confirmed=True)
    fresh = sign_in(api, "admin", otp_token=code_for(device)).json()["token"]
    assert ApiToken.objects.get(digest=hash_token(fresh)).otp_verified is True
    assert bearer(api, fresh).get(PING).status_code == 200


def test_other_roles_tokens_need_no_second_factor(api, alice, settings):
    settings.CLOZREMS_ADMIN_OTP = True
    token = sign_in(api, "alice").json()["token"]
    assert bearer(api, token).get(PING).status_code == 200


def test_an_administrators_session_without_the_second_factor_may_not_call_the_api(
    client, admin, settings
):
    settings.CLOZREMS_ADMIN_OTP = True
    client.force_login(admin)  # a password alone, or a session from before the switch
    refused = client.get(PING)
    assert refused.status_code in (401, 403) and "second factor" in refused.json()["detail"]


# --- the refusal does not tell that the password was right ----------------------------------


@pytest.fixture
def admin_with_device(admin, settings):
    settings.CLOZREMS_ADMIN_OTP = True
    return TOTPDevice.objects.create(user=admin, name="phone", confirmed=True)


def test_the_token_endpoint_answers_every_failed_sign_in_alike(api, admin_with_device, db):
    AdminUserFactory.create(username="no-device-admin")
    answers = [
        sign_in(api, "admin", "wrong-password-12"),
        sign_in(api, "admin"),  # right password, no code
        sign_in(api, "admin", otp_token="000000"),  # right password, wrong code
        sign_in(api, "no-device-admin"),  # right password, no authenticator at all
        sign_in(api, "nobody-at-all"),
    ]
    assert {a.status_code for a in answers} == {400}
    assert len({a.content for a in answers}) == 1, [a.json() for a in answers]


def test_the_login_pages_answer_every_failed_sign_in_alike(client, admin_with_device, settings):
    settings.AXES_FAILURE_LIMIT = 50  # six failures here; the lockout has its own test
    for url in ("/login/", "/admin/login/"):
        wrong_password = client.post(url, {"username": "admin", "password": "wrong-pass-123"})
        right_password = client.post(url, {"username": "admin", "password": PASSWORD})
        wrong_code = client.post(
            url, {"username": "admin", "password": PASSWORD, "otp_token": "000000"}
        )
        messages = [
            r.context["form"].non_field_errors()
            for r in (wrong_password, right_password, wrong_code)
        ]
        assert messages[0] == messages[1] == messages[2], (url, messages)
        assert "Unable to sign in" in str(messages[0])


def test_wrong_codes_count_toward_the_lockout(api, admin_with_device, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        sign_in(api, "admin", otp_token="000000")
    locked = sign_in(api, "admin", otp_token=code_for(admin_with_device))
    assert locked.status_code == 429 and "token" not in locked.json()


# --- a deactivated prescriber or pharmacy ---------------------------------------------------


@pytest.mark.parametrize("who", ["alice", "designee", "phil"])
def test_the_accounts_of_a_deactivated_prescriber_or_pharmacy_are_refused(
    request, api, client, who
):
    user = request.getfixturevalue(who)
    token = sign_in(api, user.username).json()["token"]
    assert bearer(api, token).get(PING).status_code == 200
    link = user.pharmacy if user.pharmacy_id else user.prescriber
    link.active = False
    link.save()
    word = "pharmacy" if user.pharmacy_id else "prescriber"
    refused = bearer(api, token).get(PING)
    assert refused.status_code == 401 and f"{word} is deactivated" in refused.json()["detail"]
    new_token = sign_in(api, user.username)
    assert new_token.status_code == 403 and "token" not in new_token.json()
    assert f"{word} is deactivated" in new_token.json()["detail"]
    login = client.post("/login/", {"username": user.username, "password": PASSWORD})
    assert login.status_code == 200 and f"{word} is deactivated" in login.content.decode()
    client.force_login(user)  # a session opened before the deactivation
    page = client.get("/counter/" if word == "pharmacy" else "/clinic/")
    assert page.status_code == 403
    assert client.get(PING).status_code in (401, 403)


# --- second-factor devices stay with their owners -------------------------------------------


def test_an_administrator_sees_and_changes_only_its_own_second_factor(client, admin, root):
    mine = TOTPDevice.objects.create(user=root, name="root's phone", confirmed=True)
    theirs = TOTPDevice.objects.create(user=admin, name="admin's phone", confirmed=True)
    client.force_login(root)
    listing = client.get("/admin/otp_totp/totpdevice/").content.decode()
    assert "root&#x27;s phone" in listing and "admin&#x27;s phone" not in listing
    assert client.get(f"/admin/otp_totp/totpdevice/{theirs.pk}/change/").status_code == 302
    assert client.get(f"/admin/otp_totp/totpdevice/{theirs.pk}/config/").status_code == 403
    assert client.get(f"/admin/otp_totp/totpdevice/{theirs.pk}/qrcode/").status_code == 403
    assert client.get(f"/admin/otp_totp/totpdevice/{mine.pk}/config/").status_code == 200
    add_form = client.get("/admin/otp_totp/totpdevice/add/").content.decode()
    assert 'name="user"' not in add_form
    client.post(
        "/admin/otp_totp/totpdevice/add/",
        {
            "name": "second",
            "confirmed": "on",
            "key": "3132333435363738393031323334353637383930",
            "step": 30,
            "t0": 0,
            "digits": 6,
            "tolerance": 1,
            "drift": 0,
            "throttling_failure_count": 0,
            "user": admin.pk,  # ignored: the device is the signed-in administrator's
        },
    )
    added = TOTPDevice.objects.get(name="second")
    assert added.user_id == root.pk
    assert AuditEntry.objects.filter(
        action=Action.SECOND_FACTOR_ENROLL, object_id=str(added.pk), actor_username="root"
    ).exists()


def test_otp_enroll_will_not_replace_an_existing_second_factor_unless_told(admin, capsys):
    call_command("otp_enroll", "admin")
    assert "otpauth://totp/" in capsys.readouterr().out
    first = TOTPDevice.objects.get(user=admin)
    with pytest.raises(CommandError, match="already has a second factor"):
        call_command("otp_enroll", "admin")
    call_command("otp_enroll", "admin", "--replace")
    assert list(TOTPDevice.objects.filter(user=admin).values_list("pk", flat=True)) != [first.pk]
    actions = list(
        AuditEntry.objects.filter(object_type="otp_device")
        .order_by("seq")
        .values_list("action", flat=True)
    )
    assert actions == [
        Action.SECOND_FACTOR_ENROLL,
        Action.SECOND_FACTOR_REMOVE,
        Action.SECOND_FACTOR_ENROLL,
    ]
