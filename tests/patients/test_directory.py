"""The directory (admin): prescribers, pharmacies, users (docs/api.md, Directory)."""

from datetime import timedelta

import pytest

from patients.models import Pharmacy, Prescriber, User
from tests.conftest import TODAY
from tests.factories import PASSWORD, bad_npi, npi_with_check_digit

VALID_NPI = npi_with_check_digit("987654321")


# --- prescribers ----------------------------------------------------------------------------


def test_the_npi_check_digit_helper_matches_a_known_npi():
    # 1234567893 is the CMS documentation's example NPI.
    assert npi_with_check_digit("123456789") == "1234567893"


def test_admin_creates_a_certified_prescriber(api, admin):
    body = {"name": "Dr New", "npi": VALID_NPI, "email": "new@example.org", "certified": True}

    response = api(admin).post("/api/v1/prescribers/", body, format="json")

    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["id"]
    assert data["certified"] is True
    assert data["npi"] == VALID_NPI
    # No start given: certified with no recorded start, so history can be brought in with
    # past dates (the outside walk-through enrolls 40 days back).
    assert data["certified_on"] is None
    assert Prescriber.objects.get(pk=data["id"]).is_certified_on(TODAY - timedelta(days=400))


def test_a_superuser_creates_a_prescriber(api, root):
    body = {"name": "Dr Root", "npi": VALID_NPI, "email": "r@example.org", "certified": False}

    response = api(root).post("/api/v1/prescribers/", body, format="json")

    assert response.status_code == 201
    assert response.json()["certified"] is False


@pytest.mark.parametrize(
    "npi",
    [
        bad_npi(VALID_NPI),  # wrong Luhn check digit
        VALID_NPI[:9],  # 9 digits
        VALID_NPI + "0",  # 11 digits
        "12345678a3",  # not all digits
        "",
    ],
)
def test_an_invalid_npi_is_a_400_naming_npi(api, admin, npi):
    body = {"name": "Dr Bad", "npi": npi, "email": "bad@example.org", "certified": True}

    response = api(admin).post("/api/v1/prescribers/", body, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["npi"]
    assert not Prescriber.objects.exists()


def test_a_duplicate_npi_is_a_400(api, admin, alice_prescriber):
    body = {"name": "Dr Twin", "npi": alice_prescriber.npi, "email": "t@example.org"}

    response = api(admin).post("/api/v1/prescribers/", body, format="json")

    assert response.status_code == 400
    assert "npi" in response.json()


def test_a_prescriber_sees_only_itself_in_the_directory(api, alice, bob):
    response = api(alice).get("/api/v1/prescribers/")

    assert response.status_code == 200
    assert [p["id"] for p in response.json()["results"]] == [alice.prescriber_id]


def test_an_auditor_sees_every_prescriber(api, alice, bob, aud):
    response = api(aud).get("/api/v1/prescribers/")

    assert response.json()["count"] == 2


def test_admin_may_decertify_a_prescriber(api, admin, alice_prescriber):
    response = api(admin).patch(
        f"/api/v1/prescribers/{alice_prescriber.pk}/", {"certified": False}, format="json"
    )

    assert response.status_code == 200
    alice_prescriber.refresh_from_db()
    assert alice_prescriber.certified is False


# --- pharmacies -----------------------------------------------------------------------------


def test_admin_creates_a_certified_pharmacy(api, admin):
    body = {"name": "Corner Pharmacy", "ncpdp_id": "7654321", "certified": True}

    response = api(admin).post("/api/v1/pharmacies/", body, format="json")

    assert response.status_code == 201
    data = response.json()
    assert data["id"]
    assert data["ncpdp_id"] == "7654321"
    assert data["certified"] is True


@pytest.mark.parametrize("ncpdp_id", ["765432", "76543210", "76a4321", "", "7654 21"])
def test_an_ncpdp_id_that_is_not_7_digits_is_a_400(api, admin, ncpdp_id):
    body = {"name": "Bad Pharmacy", "ncpdp_id": ncpdp_id, "certified": True}

    response = api(admin).post("/api/v1/pharmacies/", body, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["ncpdp_id"]
    assert not Pharmacy.objects.exists()


def test_a_pharmacist_sees_only_its_own_pharmacy(api, phil, other_pharmacy):
    response = api(phil).get("/api/v1/pharmacies/")

    assert [p["id"] for p in response.json()["results"]] == [phil.pharmacy_id]


# --- users ----------------------------------------------------------------------------------


def _user(username, role, **links):
    return {"username": username, "password": PASSWORD, "role": role, **links}


@pytest.mark.parametrize(
    ("role", "link"),
    [("prescriber", "prescriber"), ("designee", "prescriber"), ("pharmacist", "pharmacy")],
)
def test_admin_creates_a_user_with_its_role_link_and_the_user_can_sign_in(
    api, admin, alice_prescriber, pharmacy, role, link
):
    target = {"prescriber": alice_prescriber.pk, "pharmacy": pharmacy.pk}[link]

    response = api(admin).post(
        "/api/v1/users/", _user("newbie", role, **{link: target}), format="json"
    )

    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["role"] == role
    assert data[link] == target
    assert "password" not in data
    token = api().post(
        "/api/v1/auth/token/", {"username": "newbie", "password": PASSWORD}, format="json"
    )
    assert token.status_code == 200


@pytest.mark.parametrize("role", ["auditor", "admin"])
def test_admin_creates_an_auditor_or_admin_without_links(api, admin, role):
    response = api(admin).post("/api/v1/users/", _user("plain", role), format="json")

    assert response.status_code == 201
    assert User.objects.get(username="plain").role == role


@pytest.mark.parametrize(
    ("role", "missing"),
    [("prescriber", "prescriber"), ("designee", "prescriber"), ("pharmacist", "pharmacy")],
)
def test_a_role_without_its_link_is_a_400(api, admin, role, missing):
    response = api(admin).post("/api/v1/users/", _user("linkless", role), format="json")

    assert response.status_code == 400
    assert missing in response.json()
    assert not User.objects.filter(username="linkless").exists()


def test_a_link_the_role_does_not_have_is_a_400(api, admin, pharmacy, alice_prescriber):
    client = api(admin)

    auditor = client.post(
        "/api/v1/users/", _user("x1", "auditor", pharmacy=pharmacy.pk), format="json"
    )
    pharmacist = client.post(
        "/api/v1/users/",
        _user("x2", "pharmacist", pharmacy=pharmacy.pk, prescriber=alice_prescriber.pk),
        format="json",
    )

    assert auditor.status_code == 400
    assert "pharmacy" in auditor.json()
    assert pharmacist.status_code == 400
    assert "prescriber" in pharmacist.json()


@pytest.mark.parametrize("password", ["password", "12345678", "short", "weakling1"])
def test_a_weak_password_is_a_400_naming_password(api, admin, pharmacy, password):
    body = {"username": "weakling1", "password": password, "role": "pharmacist"}
    body["pharmacy"] = pharmacy.pk

    response = api(admin).post("/api/v1/users/", body, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["password"]
    assert not User.objects.filter(username="weakling1").exists()


def test_an_unknown_role_is_a_400(api, admin):
    response = api(admin).post("/api/v1/users/", _user("odd", "nurse"), format="json")

    assert response.status_code == 400
    assert "role" in response.json()


def test_a_duplicate_username_is_a_400(api, admin, aud):
    response = api(admin).post("/api/v1/users/", _user("aud", "auditor"), format="json")

    assert response.status_code == 400
    assert "username" in response.json()


def test_the_user_list_never_shows_passwords(api, aud, alice):
    response = api(aud).get("/api/v1/users/")

    assert response.status_code == 200
    assert all("password" not in u for u in response.json()["results"])
