"""Oversight for administrators and auditors: every counter opens the list behind it (and the
list agrees with the count), a date range on the page, and a patient found by name and date of
birth has a printable, audited timeline of results, decisions, dispenses, overrides and events."""

from __future__ import annotations

import re
from datetime import timedelta

from audit.models import Action, AuditEntry
from pharmacy.services import EmergencyRequest, dispense_record
from tests.conftest import TODAY


def test_every_patient_counter_opens_its_list_and_the_list_agrees(
    client, admin, allowed_patient, stale_patient, bobs_patient
):
    client.force_login(admin)
    html = client.get("/oversight/").content.decode()
    counters = re.findall(
        r'<a href="/oversight/patients/\?need=(\w+)"[^>]*><span class="n">(\d+)</span>', html
    )
    assert {need for need, _ in counters} >= {"enrolled", "overdue", "consult", "confirmation"}
    for need, shown in counters:
        listed = client.get(f"/oversight/patients/?need={need}")
        assert listed.status_code == 200, need
        caption = re.search(r"<caption>(\d+) patients?</caption>", listed.content.decode())
        assert caption and caption.group(1) == shown, need
    assert 'href="/oversight/reports/dispenses/?' in html  # the period's dispenses, listed


def test_the_oversight_page_takes_a_date_range(client, aud, phil, allowed_patient, clock):
    dispense_record(patient=allowed_patient, pharmacy=phil.pharmacy, actor=phil, days_supply=7)
    client.force_login(aud)

    def dispensed(**period):
        html = client.get("/oversight/", period).content.decode()
        found = re.search(r'<span class="n">(\d+)</span> dispenses in the period', html)
        assert found, html[:500]
        return int(found.group(1))

    assert dispensed(**{"from": str(TODAY), "to": str(TODAY)}) == 1
    before = TODAY - timedelta(days=10)
    assert dispensed(**{"from": str(before), "to": str(TODAY - timedelta(days=1))}) == 0
    assert client.get("/oversight/", {"from": "soon"}).status_code == 400


def test_a_patient_found_by_name_and_birth_date_has_a_printable_audited_timeline(
    client, aud, phil, stale_patient
):
    dispense_record(
        patient=stale_patient,
        pharmacy=phil.pharmacy,
        actor=phil,
        days_supply=4,
        emergency=EmergencyRequest("lab_delay", "", True),
    )
    client.force_login(aud)
    found = client.get(
        "/oversight/patients/", {"name": "Sta", "date_of_birth": stale_patient.date_of_birth}
    ).content.decode()
    timeline_url = f"/oversight/patients/{stale_patient.pk}/timeline/"
    assert f'href="{timeline_url}"' in found
    page = client.get(timeline_url)
    html = page.content.decode()
    assert page.status_code == 200
    kinds = set(re.findall(r'<td data-label="What">([^<]+)</td>', html))
    assert {"result", "event", "emergency supply"} <= kinds
    assert "decision then: blocked" in html and "reason lab delay" in html
    assert "Print" in html and 'class="no-print"' in html
    assert AuditEntry.objects.filter(
        action=Action.PATIENT_READ, patient_id=stale_patient.pk, inputs__what="timeline"
    ).exists()
    # A reader's page: the log-out form is the only one that posts.
    assert re.findall(r'<form method="post" action="([^"]*)"', html) == ["/logout/"]


def _hl7(lab_user, *, mrn: str, last_name: str, control: str) -> None:
    """One ORU^R01 through the lab feed, as the lab's interface sends it."""
    from rest_framework.test import APIClient

    from patients.auth import api_token_create
    from tests.feeds.conftest import message, msh, obr, obx, pid

    client = APIClient()
    client.credentials(
        HTTP_AUTHORIZATION=f"Token {api_token_create(user=lab_user, otp_verified=False)}"
    )
    text = message(msh(control), pid(mrn=mrn, name=f"{last_name}^PAT"), obr(control), obx(1))
    answer = client.post("/api/v1/feeds/hl7/", data=text.encode(), content_type="text/plain")
    assert answer.status_code == 200, answer.content


def test_the_lab_feed_counters_open_their_lists_for_an_auditor_too(client, aud, admin, clock):
    """The quarantine and the failed messages are counters like the others: each opens a read-
    only list that agrees with it, for the auditor as for the administrator, and shows nothing a
    message said about who the patient is."""
    from feeds.models import FeedMessage, FeedMessageOutcome
    from tests import factories

    lab_user = factories.LabUserFactory.create(username="acme-interface")
    for n in range(3):
        _hl7(lab_user, mrn=f"X{n}^^^ACMELAB^MR", last_name="Nobodyhere", control=f"Q{n}")
    failed = FeedMessage.objects.filter(outcome=FeedMessageOutcome.QUARANTINED).first()
    assert failed is not None
    FeedMessage.objects.filter(pk=failed.pk).update(outcome=FeedMessageOutcome.FAILED)

    for person in (aud, admin):
        client.force_login(person)
        html = client.get("/oversight/").content.decode()
        for show, testid in (("quarantine", "quarantine"), ("failed", "failed-messages")):
            found = re.search(
                rf'<a href="/oversight/feeds/\?show={show}" data-testid="{testid}">'
                r'<span class="n">(\d+)</span>',
                html,
            )
            assert found, (person.username, show)
            listed = client.get("/oversight/feeds/", {"show": show})
            assert listed.status_code == 200
            page = listed.content.decode()
            rows = re.findall(r"<tr>\s*<td data-label=\"(?:Entry|Message)\">(\d+)</td>", page)
            assert len(rows) == int(found.group(1)), (person.username, show)
            assert "Nobodyhere" not in page and "NOBODYHERE" not in page
            # A reader's page: the log-out form is the only one that posts.
            assert re.findall(r'<form method="post" action="([^"]*)"', page) == ["/logout/"]
    assert client.get("/oversight/feeds/", {"show": "everything"}).status_code == 400
    assert client.get("/oversight/feeds/", {"shwo": "failed"}).status_code == 400
