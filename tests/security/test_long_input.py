"""Input no column can hold is the client's mistake: a username longer than the user table's
column (150) is a 400 or a form error on the token endpoint and both login pages (it used to
reach django-axes' failure log and break PostgreSQL with a 500), and an eligibility route whose
id is not a number is a 404."""

from __future__ import annotations

LONG = "u" * 300


def test_the_token_endpoint_refuses_an_overlong_username_with_a_400(api, db):
    response = api().post(
        "/api/v1/auth/token/", {"username": LONG, "password": "whatever-it-is-1"}, format="json"
    )
    assert response.status_code == 400
    assert "username" in response.json()


def test_the_login_pages_refuse_an_overlong_username_as_a_form_error(client, db):
    for url in ("/login/", "/admin/login/"):
        response = client.post(url, {"username": LONG, "password": "whatever-it-is-1"})
        assert response.status_code == 200, url
        assert response.context["form"].errors


def test_an_eligibility_route_with_a_non_numeric_id_is_a_404(api, phil, alice):
    for bad in ("abc", "1.5", "%20"):
        response = api(phil).get(f"/api/v1/patients/{bad}/eligibility/")
        assert response.status_code == 404, bad
    assert api(alice).get("/api/v1/patients/abc/").status_code == 404


def test_a_nul_character_in_a_looked_up_value_is_a_400(api, alice):
    from tests import factories

    patient = factories.PatientFactory.create(actor=alice, prescriber=alice.prescriber)
    response = api(alice).post(
        f"/api/v1/patients/{patient.pk}/medications/",
        {"drug": "flu\x00voxamine", "kind": "start", "effective_on": "2026-05-01"},
    )
    assert response.status_code == 400
