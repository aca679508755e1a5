"""The prescriber page's result form under the manual entry guards (docs/rules.md §8): a
fraction of a cell is refused on the value, naming the likely unit; a very low count or a steep
fall shows the warning and a confirm checkbox in place, keeps what was typed, and writes nothing
until the checkbox is ticked."""

from __future__ import annotations

import re

import pytest

from monitoring.models import LabResult


@pytest.fixture
def clinic_page(client, alice, allowed_patient):
    client.force_login(alice)
    return client, f"/clinic/patients/{allowed_patient.pk}/"


def _typed(html: str, name: str) -> str | None:
    found = re.search(rf'<input[^>]*name="{name}"[^>]*value="([^"]*)"', html) or re.search(
        rf'<input[^>]*value="([^"]*)"[^>]*name="{name}"', html
    )
    return found.group(1) if found else None


def test_the_confirm_checkbox_is_not_shown_until_a_count_is_held_back(clinic_page):
    client, url = clinic_page

    html = client.get(url).content.decode()

    assert 'name="confirm_unusual"' not in html


def test_a_fraction_in_cells_is_refused_on_the_value_naming_the_likely_unit(
    clinic_page, allowed_patient
):
    client, url = clinic_page
    before = LabResult.objects.filter(patient=allowed_patient).count()

    response = client.post(
        url + "results/", {"drawn_at": "2026-05-20T08:30", "value": "2.1", "unit": "/uL"}
    )

    assert response.status_code == 422
    html = response.content.decode()
    assert "2.1 is almost certainly 10*3/uL" in html
    assert _typed(html, "value") == "2.1"
    assert LabResult.objects.filter(patient=allowed_patient).count() == before


def test_a_steep_fall_shows_the_warning_and_the_checkbox_and_keeps_what_was_typed(
    clinic_page, allowed_patient
):
    client, url = clinic_page
    before = LabResult.objects.filter(patient=allowed_patient).count()
    typed = {"drawn_at": "2026-05-20T08:30", "value": "300", "unit": "/uL", "accession": "W-1"}

    response = client.post(url + "results/", typed)

    assert response.status_code == 422
    html = response.content.decode()
    assert 'data-testid="unusual-warning"' in html
    assert "300/µL is 85% below the previous result (2100/µL)" in html
    assert re.search(
        r'<input type="checkbox" name="confirm_unusual" id="id_confirm_unusual">', html
    )
    assert '<label for="id_confirm_unusual">' in html
    assert _typed(html, "value") == "300"
    assert _typed(html, "accession") == "W-1"
    assert _typed(html, "drawn_at") == "2026-05-20T08:30"
    assert LabResult.objects.filter(patient=allowed_patient).count() == before


def test_ticking_the_checkbox_stores_the_count(clinic_page, allowed_patient):
    client, url = clinic_page

    response = client.post(
        url + "results/",
        {"drawn_at": "2026-05-20T08:30", "value": "300", "unit": "/uL", "confirm_unusual": "on"},
    )

    assert response.status_code == 302 and response["Location"] == url
    latest = LabResult.objects.filter(patient=allowed_patient).latest("drawn_at")
    assert latest.value_per_ul == 300
    assert 'data-testid="band">severe<' in client.get(url).content.decode()


def test_the_htmx_form_shows_the_warning_in_place(clinic_page, allowed_patient):
    client, url = clinic_page

    response = client.post(
        url + "results/",
        {"drawn_at": "2026-05-20T08:30", "value": "40", "unit": "/uL"},
        HTTP_HX_REQUEST="true",
    )

    html = response.content.decode()
    assert html.lstrip().startswith("<form")
    assert "40/µL is below 100/µL" in html and 'name="confirm_unusual"' in html
    assert _typed(html, "value") == "40"
