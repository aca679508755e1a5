"""POST /api/v1/auth/token/ and token authentication (docs/api.md, Conventions)."""

from tests.factories import PASSWORD

TOKEN_URL = "/api/v1/auth/token/"


def test_good_password_returns_a_token_that_authenticates(api, alice):
    response = api().post(TOKEN_URL, {"username": "alice", "password": PASSWORD}, format="json")

    assert response.status_code == 200
    token = response.json()["token"]
    client = api()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get("/api/v1/patients/").status_code == 200


def test_each_sign_in_gets_its_own_token_and_both_work(api, alice):
    # Tokens are stored as digests: the server cannot hand the same one out twice.
    first = api().post(TOKEN_URL, {"username": "alice", "password": PASSWORD}, format="json")
    second = api().post(TOKEN_URL, {"username": "alice", "password": PASSWORD}, format="json")

    assert first.json()["token"] != second.json()["token"]
    for token in (first.json()["token"], second.json()["token"]):
        client = api()
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        assert client.get("/api/v1/ping/").status_code == 200


def test_bad_password_gets_no_token(api, alice):
    response = api().post(TOKEN_URL, {"username": "alice", "password": "wrong"}, format="json")

    assert response.status_code == 400
    assert "token" not in response.json()
    assert "non_field_errors" in response.json()


def test_unknown_user_gets_no_token(api, db):
    response = api().post(TOKEN_URL, {"username": "nobody", "password": PASSWORD}, format="json")

    assert response.status_code == 400
    assert "token" not in response.json()


def test_missing_fields_are_named(api, db):
    response = api().post(TOKEN_URL, {}, format="json")

    assert response.status_code == 400
    assert set(response.json()) == {"username", "password"}


def test_an_inactive_user_gets_no_token(api, alice):
    alice.is_active = False
    alice.save()

    response = api().post(TOKEN_URL, {"username": "alice", "password": PASSWORD}, format="json")

    assert response.status_code == 400


def test_no_credentials_is_401_with_a_token_challenge(api, db):
    response = api().get("/api/v1/patients/")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


def test_an_invalid_token_is_401(api, db):
    client = api()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")

    assert client.get("/api/v1/patients/").status_code == 401


def test_ping_answers_a_constant_to_any_signed_in_user_and_nothing_to_anyone_else(api, phil):
    assert api(phil).get("/api/v1/ping/").json() == {"pong": True}
    assert api().get("/api/v1/ping/").status_code == 401
