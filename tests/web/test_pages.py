"""The pages through Django's test client: each role lands on its page, sees only what it may,
and the forms go through the services (refusals shown in place, nothing written)."""

from __future__ import annotations

import re

import pytest

from monitoring.models import LabResult
from patients.models import Dispense


@pytest.fixture
def browse(client):
    """`browse(user, *patients)`: the client signed in as `user`; a pharmacist first finds each
    patient at the counter by last name and date of birth (the only way to a patient's page,
    but for those dispensed at its pharmacy)."""

    def as_user(user, *patients):
        client.force_login(user)
        for patient in patients:
            find(client, patient)
        return client

    return as_user


def find(client, patient):
    return client.get(
        "/counter/", {"last_name": patient.last_name, "date_of_birth": patient.date_of_birth}
    )


def test_anonymous_visitors_are_sent_to_the_login_page(client, db):
    for url in ("/", "/counter/", "/clinic/", "/oversight/", "/clinic/patients/1/"):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert client.get("/login/").status_code == 200


def test_each_role_lands_on_its_own_page(browse, alice, designee, phil, aud, admin, lab_user_page):
    expected = {
        alice: "/clinic/",
        designee: "/clinic/",
        phil: "/counter/",
        aud: "/oversight/",
        admin: "/oversight/",
    }
    for user, url in expected.items():
        assert browse(user).get("/")["Location"] == url
    assert "through the API" in browse(lab_user_page).get("/").content.decode()


@pytest.fixture
def lab_user_page(db):
    from tests import factories

    return factories.LabUserFactory.create(username="lab-page")


def test_login_with_a_password_lands_the_pharmacist_on_the_counter(client, phil):
    response = client.post(
        "/login/", {"username": "phil", "password": "Clozrems-test-pass-2026!"}, follow=True
    )
    assert response.redirect_chain[-1][0] == "/counter/"


def test_a_pharmacist_finds_a_patient_by_name_and_birth_date(browse, phil, allowed_patient):
    page = browse(phil).get("/counter/", {"last_name": "allowed", "date_of_birth": "1985-06-15"})
    assert (
        page.status_code == 302 and page["Location"] == f"/counter/patients/{allowed_patient.pk}/"
    )
    missing = browse(phil).get("/counter/", {"last_name": "Nobody", "date_of_birth": "1985-06-15"})
    assert "No enrolled patient matches" in missing.content.decode()
    incomplete = browse(phil).get("/counter/", {"last_name": "Allowed"})
    assert "Give the date of birth, with the last name or the patient id" in (
        incomplete.content.decode()
    )


def test_a_blocked_decision_shows_every_reason_and_how_to_unblock(browse, phil, stale_patient):
    html = (
        browse(phil, stale_patient).get(f"/counter/patients/{stale_patient.pk}/").content.decode()
    )
    assert "BLOCKED" in html and "ALLOWED" not in html
    assert "The latest ANC is older than the monitoring frequency allows." in html
    assert "To unblock: A new blood draw is needed" in html
    assert "Record dispense" not in html


def test_an_allowed_decision_records_a_dispense_and_shows_its_code(browse, phil, allowed_patient):
    client = browse(phil, allowed_patient)
    html = client.get(f"/counter/patients/{allowed_patient.pk}/").content.decode()
    assert "ALLOWED — up to 7 days" in html
    # The days offered are only those allowed.
    assert 'value="7"' in html and 'value="14"' not in html
    found = re.search(r'name="idempotency_key" value="([0-9a-f]+)"', html)
    assert found is not None
    key = found.group(1)
    response = client.post(
        f"/counter/patients/{allowed_patient.pk}/dispense/",
        {"days_supply": 7, "idempotency_key": key},
    )
    page = response.content.decode()
    dispense = Dispense.objects.get(patient=allowed_patient)
    assert dispense.authorization_code in page and "DISPENSED 7 days" in page
    # The same form sent twice (a double click) records one dispense.
    client.post(
        f"/counter/patients/{allowed_patient.pk}/dispense/",
        {"days_supply": 7, "idempotency_key": key},
    )
    assert Dispense.objects.filter(patient=allowed_patient).count() == 1


def test_a_dispense_above_the_limit_is_refused_in_place(browse, phil, allowed_patient):
    response = browse(phil, allowed_patient).post(
        f"/counter/patients/{allowed_patient.pk}/dispense/", {"days_supply": 28}
    )
    html = response.content.decode()
    assert "At most 7 days may be dispensed now; choose one of the days offered." in html
    assert "Select a valid choice" not in html
    assert not Dispense.objects.exists()


def test_a_prescriber_sees_a_worklist_sorted_by_urgency(
    browse, alice, allowed_patient, stale_patient
):
    html = browse(alice).get("/clinic/").content.decode()
    assert html.index("Stale, Stan") < html.index("Allowed, Alma")
    assert re.search(r'<span class="n">1</span> Draw overdue', html)


def test_a_prescriber_cannot_open_another_prescribers_patient(browse, alice, bobs_patient, phil):
    assert browse(alice).get(f"/clinic/patients/{bobs_patient.pk}/").status_code == 404
    assert browse(alice).post(f"/clinic/patients/{bobs_patient.pk}/results/", {}).status_code == 404
    assert browse(phil).get(f"/clinic/patients/{bobs_patient.pk}/").status_code == 403
    assert browse(alice).get("/counter/").status_code == 403
    assert browse(phil).get("/oversight/").status_code == 403


def test_a_low_anc_entered_on_the_page_changes_the_chart_and_the_worklist(
    browse, alice, allowed_patient
):
    client = browse(alice)
    url = f"/clinic/patients/{allowed_patient.pk}/"
    before = client.get(url).content.decode()
    assert before.count('class="point point-normal"') >= 5 and "<title>a low episode" not in before
    response = client.post(
        url + "results/", {"drawn_at": "2026-05-20T08:30", "value": "0.8", "unit": "10*3/uL"}
    )
    assert response.status_code == 302
    after = client.get(url).content.decode()
    assert 'class="point point-moderate"' in after and "<title>a low episode" in after
    assert LabResult.objects.filter(patient=allowed_patient, value_per_ul=800).exists()
    worklist = client.get("/clinic/").content.decode()
    assert re.search(r'<span class="n">1</span> Confirmation repeat due', worklist)


def test_a_refused_form_shows_the_rule_in_place_and_writes_nothing(browse, alice, allowed_patient):
    client = browse(alice)
    url = f"/clinic/patients/{allowed_patient.pk}/"
    count = LabResult.objects.count()
    response = client.post(
        url + "results/", {"drawn_at": "2026-06-30T08:30", "value": "2.0", "unit": "10*3/uL"}
    )
    assert response.status_code == 422
    assert "The draw time is in the future." in response.content.decode()
    resume = client.post(
        url + "events/", {"kind": "resume", "effective_date": "2026-05-20", "reason": "x"}
    )
    assert resume.status_code == 422
    assert LabResult.objects.count() == count


def test_htmx_form_errors_come_back_as_the_form_alone(browse, alice, allowed_patient):
    response = browse(alice).post(
        f"/clinic/patients/{allowed_patient.pk}/results/",
        {"drawn_at": "2026-06-30T08:30", "value": "2.0", "unit": "10*3/uL"},
        HTTP_HX_REQUEST="true",
    )
    html = response.content.decode()
    assert html.lstrip().startswith("<form") and "The draw time is in the future." in html
    ok = browse(alice).post(
        f"/clinic/patients/{allowed_patient.pk}/results/",
        {"drawn_at": "2026-05-20T08:30", "value": "2.0", "unit": "10*3/uL"},
        HTTP_HX_REQUEST="true",
    )
    assert ok.status_code == 204 and ok["HX-Redirect"] == f"/clinic/patients/{allowed_patient.pk}/"


def test_a_designee_enters_results_but_not_authorizations(browse, designee, allowed_patient):
    client = browse(designee)
    url = f"/clinic/patients/{allowed_patient.pk}/"
    html = client.get(url).content.decode()
    assert "Enter an ANC result" in html and "Record an authorization" not in html
    response = client.post(
        url + "authorizations/",
        {"kind": "continuation", "rationale": "x", "expires_on": "2026-06-01"},
    )
    assert response.status_code == 403


def test_the_oversight_page_counts_and_lists_the_directory(
    browse, aud, allowed_patient, stale_patient, pharmacy
):
    html = browse(aud).get("/oversight/").content.decode()
    assert re.search(r'<span class="n">2</span> enrolled', html)
    assert re.search(r'<span class="n">1</span> draws overdue', html)
    assert "Dr Alice Adams" in html and "Main Street Pharmacy" in html


def test_the_oversight_page_shows_compliance_and_links_the_reports(
    browse, aud, phil, allowed_patient, pharmacy
):
    from pharmacy.services import dispense_record

    dispense_record(patient=allowed_patient, pharmacy=pharmacy, actor=phil, days_supply=7)
    client = browse(aud)
    html = re.sub(r' data-label="[^"]*"', "", client.get("/oversight/").content.decode())
    assert re.search(
        r"<td>pharmacy</td><td>Main Street Pharmacy</td><td>1</td><td>1 \(100%\)</td>"
        r"<td>1 \(100%\)</td>",
        html,
    )
    link = re.search(
        r'href="(/api/v1/reports/compliance/\?from=[0-9-]+&amp;to=[0-9-]+)&amp;format=csv"', html
    )
    assert link is not None
    csv_response = client.get(link.group(1).replace("&amp;", "&") + "&format=csv")
    assert csv_response.status_code == 200
    assert "Main Street Pharmacy" in csv_response.content.decode()


def test_a_stale_anc_offers_the_emergency_supply_on_the_counter(browse, phil, stale_patient):
    from audit.models import AuditEntry

    client = browse(phil, stale_patient)
    html = client.get(f"/counter/patients/{stale_patient.pk}/").content.decode()
    assert "Emergency supply" in html and "at most 4 days" in html
    assert (
        AuditEntry.objects.filter(action="eligibility.check", patient_id=stale_patient.pk).count()
        == 1
    )
    refused = client.post(
        f"/counter/patients/{stale_patient.pk}/emergency/",
        {"days_supply": 4, "reason": "other", "remark": "", "confirm_emergency": "on"},
    )
    assert "remark" in refused.content.decode().lower() and not Dispense.objects.exists()
    too_long = client.post(
        f"/counter/patients/{stale_patient.pk}/emergency/",
        {"days_supply": 7, "reason": "lab_delay"},
    )
    assert "At most 4 days may be dispensed now" in too_long.content.decode()
    assert not Dispense.objects.exists()
    # No reason is chosen for the pharmacist, and the emergency supply is confirmed in words.
    assert '<option value="" selected>Choose a reason</option>' in html
    no_reason = client.post(
        f"/counter/patients/{stale_patient.pk}/emergency/",
        {"days_supply": 4, "last_dose_confirmed": "on", "confirm_emergency": "on"},
    )
    assert "This field is required" in no_reason.content.decode() and not Dispense.objects.exists()
    unconfirmed_emergency = client.post(
        f"/counter/patients/{stale_patient.pk}/emergency/",
        {"days_supply": 4, "reason": "lab_delay", "last_dose_confirmed": "on"},
    )
    assert "Tick the box to confirm the emergency supply." in (
        unconfirmed_emergency.content.decode()
    )
    assert not Dispense.objects.exists()
    # No supply is recorded here: the pharmacist confirms the last dose (docs/rules.md §10).
    assert "last dose was taken within" in html
    unconfirmed = client.post(
        f"/counter/patients/{stale_patient.pk}/emergency/",
        {"days_supply": 4, "reason": "lab_delay", "confirm_emergency": "on"},
    )
    assert "confirm" in unconfirmed.content.decode() and not Dispense.objects.exists()
    done = client.post(
        f"/counter/patients/{stale_patient.pk}/emergency/",
        {
            "days_supply": 4,
            "reason": "lab_delay",
            "last_dose_confirmed": "on",
            "confirm_emergency": "on",
        },
    )
    page = done.content.decode()
    assert "EMERGENCY SUPPLY RECORDED — 4 days" in page
    # Never a green tick over the red BLOCKED that still stands.
    assert "✓" not in page and "BLOCKED" in page
    dispense = Dispense.objects.get(patient=stale_patient)
    assert dispense.emergency_reason == "lab_delay" and dispense.days_supply == 4


def test_a_low_band_never_offers_the_emergency_supply(browse, alice, phil, allowed_patient):
    from datetime import datetime
    from decimal import Decimal
    from zoneinfo import ZoneInfo

    from monitoring.services import anc_result_record

    anc_result_record(
        patient=allowed_patient,
        actor=alice,
        drawn_at=datetime(2026, 5, 20, 8, tzinfo=ZoneInfo("America/New_York")),
        value=Decimal("800"),
        unit="/uL",
    )
    html = (
        browse(phil, allowed_patient)
        .get(f"/counter/patients/{allowed_patient.pk}/")
        .content.decode()
    )
    assert "BLOCKED" in html and "Emergency supply" not in html
    response = browse(phil).post(
        f"/counter/patients/{allowed_patient.pk}/emergency/",
        {"days_supply": 4, "reason": "lab_delay"},
    )
    assert not Dispense.objects.exists() and response.status_code == 200
