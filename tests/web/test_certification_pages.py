"""The pages read certification as the decisions do (docs/rules.md §9.12): from `certified_on`
through the expiry. A certification recorded to start tomorrow is "not yet" today."""

from __future__ import annotations

import re
from datetime import timedelta

from tests.conftest import TODAY

TOMORROW = TODAY + timedelta(days=1)


def test_the_counter_blocks_a_patient_whose_prescriber_is_certified_only_from_tomorrow(
    client, phil, allowed_patient
):
    prescriber = allowed_patient.prescriber
    prescriber.certified_on = TOMORROW
    prescriber.save(update_fields=["certified_on"])
    client.force_login(phil)

    html = _found_at_the_counter(client, allowed_patient)

    assert "BLOCKED" in html and "ALLOWED" not in html
    assert "To unblock: The prescriber&#x27;s certification must be renewed." in html
    assert "Record dispense" not in html


def test_the_counter_blocks_at_a_pharmacy_certified_only_from_tomorrow(
    client, phil, pharmacy, allowed_patient
):
    pharmacy.certified_on = TOMORROW
    pharmacy.save(update_fields=["certified_on"])
    client.force_login(phil)

    html = _found_at_the_counter(client, allowed_patient)

    assert "BLOCKED" in html
    assert "Your pharmacy&#x27;s certification must be renewed." in html


def test_the_clinic_page_says_a_pharmacy_would_be_blocked(client, alice, allowed_patient):
    prescriber = allowed_patient.prescriber
    prescriber.certified_on = TOMORROW
    prescriber.save(update_fields=["certified_on"])
    client.force_login(alice)

    html = client.get(f"/clinic/patients/{allowed_patient.pk}/").content.decode()

    assert "A pharmacy would get</dt><dd>blocked:" in html


def test_the_oversight_directory_says_not_yet_certified(
    client, clock, aud, alice_prescriber, pharmacy
):
    alice_prescriber.certified_on = TOMORROW
    alice_prescriber.save(update_fields=["certified_on"])
    client.force_login(aud)

    html = client.get("/oversight/").content.decode()

    assert f"not yet (from {TOMORROW.isoformat()})" in html
    assert '<th scope="col">Certified today</th>' in html
    # The pharmacy, certified since 2020, is certified today.
    row = re.sub(r' data-label="[^"]*"', "", html[html.index("Main Street Pharmacy") :])
    assert row[: row.index("</tr>")].count("<td>yes</td>") == 1


def _found_at_the_counter(client, patient):
    """The pharmacist finds the patient by last name and date of birth, as the counter asks."""
    response = client.get(
        "/counter/",
        {"last_name": patient.last_name, "date_of_birth": patient.date_of_birth.isoformat()},
        follow=True,
    )
    return response.content.decode()
