"""The pages speak traffic-light for a uk-cpms patient: the counter and the clinic show the
band (green, amber, red) and the WBC; the prescriber enters a WBC on the page."""

from __future__ import annotations

from datetime import timedelta

import pytest

from monitoring.models import LabResult
from tests.conftest import NOW
from tests.monitoring.test_uk_cpms import UK, create, enroll_and_start, fbc


@pytest.fixture
def uk_patient(api, alice, clock):
    client = api(alice)
    patient = create(client, alice, protocol=UK, last_name="Green")
    fbc(client, patient["id"], "2.5", "5.0", when=NOW - timedelta(days=2))
    enroll_and_start(client, patient["id"])
    return patient["id"]


def test_the_counter_shows_the_traffic_light_and_the_wbc(client, phil, uk_patient):
    from patients.models import Patient

    client.force_login(phil)
    patient = Patient.objects.get(pk=uk_patient)
    client.get("/counter/", {"patient_id": patient.pk, "date_of_birth": patient.date_of_birth})
    html = client.get(f"/counter/patients/{uk_patient}/").content.decode()
    assert "ALLOWED" in html
    assert "<dd>green</dd>" in html and "Latest WBC</dt><dd>5000/µL" in html
    assert "uk-cpms" in html


def test_a_prescriber_enters_a_low_wbc_on_the_page_and_the_band_turns_red(
    client, alice, uk_patient
):
    client.force_login(alice)
    url = f"/clinic/patients/{uk_patient}/"
    page = client.get(url).content.decode()
    assert "Enter a blood count" in page and 'class="point point-green"' in page
    response = client.post(
        url + "results/",
        {"analyte": "wbc", "drawn_at": "2026-05-20T08:30", "value": "2.9", "unit": "10*9/L"},
    )
    assert response.status_code == 302
    assert LabResult.objects.filter(
        patient_id=uk_patient, analyte="wbc", value_per_ul=2900
    ).exists()
    after = client.get(url).content.decode()
    assert 'data-testid="band">red<' in after


def _text(html: str) -> str:
    """What a reader sees: the page without its tags and attributes."""
    import re

    return re.sub(r"<[^>]+>", " ", html)


def test_a_uk_patients_pages_use_the_protocols_words_not_the_us_labels(
    client, alice, phil, uk_patient
):
    """uk-cpms calls the draw a blood count and its neutrophil count "neutrophils", spells its
    consult "haematology", and has no 24-hour repeat: neither page of a uk-cpms patient says
    "ANC", "hematology" or "24-hour"."""
    from patients.models import Patient

    patient = Patient.objects.get(pk=uk_patient)
    client.force_login(alice)
    clinic = _text(client.get(f"/clinic/patients/{uk_patient}/").content.decode())
    client.force_login(phil)
    client.get("/counter/", {"patient_id": patient.pk, "date_of_birth": patient.date_of_birth})
    counter = _text(client.get(f"/counter/patients/{uk_patient}/").content.decode())

    for page in (clinic, counter):
        assert " ANC" not in page and "ANC " not in page
        assert "24-hour" not in page
        assert "hematology" not in page.lower()
    assert "Blood count history" in clinic and "Latest neutrophils" in counter
    assert "Haematology consult" in clinic
