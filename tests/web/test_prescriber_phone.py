"""The counter shows the prescriber's name and phone (the number a pharmacist calls), recorded by
an administrator; a prescriber without one says so rather than showing nothing."""

from __future__ import annotations

import re

from audit.models import Action, AuditEntry


def _counter_prescriber(client, patient) -> str:
    client.get(
        "/counter/", {"last_name": patient.last_name, "date_of_birth": patient.date_of_birth}
    )
    page = client.get(f"/counter/patients/{patient.pk}/").content.decode()
    card = re.search(r'<section class="card facts prescriber".*?</section>', page, re.S)
    assert card, page
    return re.sub(r"\s+", " ", card.group(0))


def test_a_blank_phone_says_none_is_recorded(client, phil, allowed_patient):
    client.force_login(phil)
    card = _counter_prescriber(client, allowed_patient)
    assert allowed_patient.prescriber.name in card
    assert "No phone recorded for this prescriber" in card
    assert "tel:" not in card


def test_an_administrator_records_the_phone_and_the_counter_shows_it(
    client, root, phil, allowed_patient
):
    prescriber = allowed_patient.prescriber
    client.force_login(root)
    url = f"/admin/patients/prescriber/{prescriber.pk}/change/"
    form = client.get(url).context["adminform"].form
    data = {k: ("" if v is None else v) for k, v in form.initial.items()}
    data.update({"phone": "+1 555 0100 22", "active": "on", "certified": "on"})
    data.pop("created_at", None)
    saved = client.post(url, data)
    assert saved.status_code == 302, saved.context["adminform"].form.errors
    entry = AuditEntry.objects.get(action=Action.PRESCRIBER_UPDATE, object_id=str(prescriber.pk))
    assert entry.output["changed"]["phone"] == ["", "+1 555 0100 22"]

    client.force_login(phil)
    card = _counter_prescriber(client, allowed_patient)
    assert prescriber.name in card
    assert 'href="tel:+1555010022"' in card
    assert "+1 555 0100 22" in card
    assert "No phone recorded" not in card


def test_the_prescribers_api_reads_and_writes_the_phone(api, admin, alice):
    client = api(admin)
    prescriber = alice.prescriber
    changed = client.patch(
        f"/api/v1/prescribers/{prescriber.pk}/", {"phone": "555-0199"}, format="json"
    )
    assert changed.status_code == 200, changed.content
    assert client.get(f"/api/v1/prescribers/{prescriber.pk}/").json()["phone"] == "555-0199"
