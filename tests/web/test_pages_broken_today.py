"""What broke when the pages were tried as each role would: each test failed before its fix."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest

from monitoring.models import LabResult
from patients.models import Dispense
from tests import factories
from tests.conftest import NOW, TODAY
from tests.web.test_pages import find


@pytest.fixture
def lapsed_patient(alice, clock):
    """Interrupted 40 days ago: re-enrollment is required (docs/rules.md, the lapse)."""
    from monitoring.acts import treatment_event_record

    start = TODAY - timedelta(days=100)
    patient = factories.enrolled_patient(
        actor=alice,
        start=start,
        draws=factories.weekly_draws(start, TODAY - timedelta(days=44)),
        last_name="Lapsed",
        first_name="Ines",
        date_of_birth=TODAY.replace(year=1970),
    )
    treatment_event_record(
        patient=patient,
        actor=alice,
        kind="interrupt",
        effective_date=TODAY - timedelta(days=40),
        reason="stopped taking it",
    )
    patient.refresh_from_db()
    assert patient.monitoring.enrollment_status == "reenrollment_required"
    return patient


@pytest.fixture
def severe_patient(alice, allowed_patient):
    """A severe count this morning: a 24-hour repeat is due and a consult is recommended."""
    from monitoring.services import anc_result_record

    anc_result_record(
        patient=allowed_patient,
        actor=alice,
        drawn_at=NOW - timedelta(hours=3),
        value=Decimal("300"),
        unit="/uL",
        confirm_unusual=True,
    )
    return allowed_patient


def _signed_in(client, user, *patients):
    client.force_login(user)
    for patient in patients:
        find(client, patient)
    return client


def _verdicts(html: str) -> list[str]:
    return [
        re.sub(r"<[^>]+>", "", v).strip()
        for v in re.findall(r'<p class="verdict"[^>]*>(.*?)</p>', html, re.S)
    ]


# --- the oversight page's report links ----------------------------------------------------


def test_every_report_link_on_the_oversight_page_opens(client, aud, phil, allowed_patient):
    from pharmacy.services import dispense_record

    dispense_record(patient=allowed_patient, pharmacy=phil.pharmacy, actor=phil, days_supply=7)
    html = _signed_in(client, aud).get("/oversight/").content.decode()
    links = [h.replace("&amp;", "&") for h in re.findall(r'href="([^"]*reports/[^"]*)"', html)]
    pages = [h for h in links if "format=csv" not in h]
    slugs = ("dispenses", "overrides", "overdue", "low-anc-episodes", "enrollment-gaps")
    for slug in (*slugs, "compliance"):
        assert any(f"/oversight/reports/{slug}/" in h for h in pages), slug
        assert any(f"/api/v1/reports/{slug}/" in h and "format=csv" in h for h in links), slug
    for url in links:
        response = client.get(url)
        assert response.status_code == 200, url
    dispenses = client.get(next(h for h in pages if "/dispenses/" in h)).content.decode()
    assert allowed_patient.prescriber.name in dispenses and "Main Street Pharmacy" in dispenses


def test_the_api_reports_open_in_a_browser_too(client, aud):
    """DRF's browsable page (a browser's Accept) answered 500 for every report."""
    _signed_in(client, aud)
    for slug in ("dispenses", "overrides", "overdue", "low-anc-episodes", "compliance"):
        response = client.get(f"/api/v1/reports/{slug}/", HTTP_ACCEPT="text/html")
        assert response.status_code == 200, slug
        assert "text/html" in response["Content-Type"]


def test_a_report_page_refuses_a_bad_period_naming_the_field(client, aud):
    _signed_in(client, aud)
    backwards = client.get("/oversight/reports/dispenses/?from=2026-05-20&to=2026-05-01")
    assert backwards.status_code == 400
    assert "From: The period starts after it ends" in backwards.content.decode()
    unknown = client.get("/oversight/reports/dispenses/?colour=red")
    assert unknown.status_code == 400 and "Unknown filter: colour" in unknown.content.decode()
    assert client.get("/oversight/?from=yesterday").status_code == 400
    assert client.get("/oversight/reports/nothing/").status_code == 404


# --- the counter's verdict after a dispense, and capped days ------------------------------


def test_after_a_dispense_the_page_shows_the_new_verdict_not_the_old(client, phil, allowed_patient):
    _signed_in(client, phil, allowed_patient)
    url = f"/counter/patients/{allowed_patient.pk}/"
    response = client.post(url + "dispense/", {"days_supply": 7, "idempotency_key": "k-1"})
    html = response.content.decode()
    assert _verdicts(html) == ["✓ DISPENSED 7 days", "■ NO SUPPLY NOW — enough on hand"]
    assert "ALLOWED" not in html and "Record dispense" not in html
    assert "supply on hand through 2026-05-26" in html
    # The same page opened again says the same (and the API's decision agrees: 0 days).
    assert _verdicts(client.get(url).content.decode()) == ["■ NO SUPPLY NOW — enough on hand"]
    again = client.post(url + "dispense/", {"days_supply": 7, "idempotency_key": "k-2"})
    assert "Select a valid choice" not in again.content.decode()
    assert "No supply may be dispensed now." in again.content.decode()
    assert Dispense.objects.filter(patient=allowed_patient).count() == 1


def test_a_capped_supply_offers_exactly_the_days_allowed_and_says_why(
    client, phil, allowed_patient, clock
):
    from pharmacy.services import dispense_record

    dispense_record(patient=allowed_patient, pharmacy=phil.pharmacy, actor=phil, days_supply=7)
    clock.shift(timedelta(days=4))
    _signed_in(client, phil, allowed_patient)
    url = f"/counter/patients/{allowed_patient.pk}/"
    html = client.get(url).content.decode()
    # 3 days left of the 7 dispensed: 4 more may go out (docs/rules.md §9.13).
    assert "ALLOWED — up to 4 days" in html
    options = re.findall(r'<option value="(\d+)"[^>]*>([^<]*)</option>', html)
    assert options == [("4", "4 days")]
    assert (
        "Why only 4 days: the patient has supply on hand through 2026-05-26, and a patient "
        "monitored weekly may hold at most 7 days." in html
    )
    done = client.post(url + "dispense/", {"days_supply": 4, "idempotency_key": "k-3"})
    assert "DISPENSED 4 days" in done.content.decode()
    assert Dispense.objects.filter(patient=allowed_patient, days_supply=4).count() == 1


# --- the clinic's worklist --------------------------------------------------------------------


def test_a_lapsed_patient_is_not_up_to_date_on_the_worklist(client, alice, lapsed_patient):
    html = _signed_in(client, alice).get("/clinic/").content.decode()
    row = html[html.index(f'data-testid="row-{lapsed_patient.pk}"') :]
    row = row[: row.index("</tr>")]
    assert "Re-enrollment needed" in row and "Up to date" not in row
    assert "re-enrollment needed, treatment interrupted" in row
    assert "reenrollment_required" not in html
    assert re.search(r'<span class="n">0</span> Up to date', html)


def test_each_row_shows_every_need_and_the_consult_counts_agree(client, alice, aud, severe_patient):
    html = _signed_in(client, alice).get("/clinic/").content.decode()
    row = html[html.index(f'data-testid="row-{severe_patient.pk}"') :]
    row = row[: row.index("</tr>")]
    assert "Confirmation repeat due" in row and "Specialist consult needed" in row
    clinic = re.search(
        r'data-testid="count-consult"><a href="\?need=consult"><span class="n">(\d+)</span>', html
    )
    oversight = _signed_in(client, aud).get("/oversight/").content.decode()
    counted = re.search(r'data-testid="consults"><span class="n">(\d+)</span>', oversight)
    assert clinic is not None and counted is not None
    assert clinic.group(1) == counted.group(1) == "1"


def test_an_acknowledged_consult_leaves_both_counts(client, alice, aud, severe_patient):
    _signed_in(client, alice)
    url = f"/clinic/patients/{severe_patient.pk}/"
    page = client.get(url).content.decode()
    assert "A hematology consult is recommended for this episode." in page
    response = client.post(url + "consult/", {"note": "booked with Dr Hem"})
    assert response.status_code == 302
    clinic = client.get("/clinic/").content.decode()
    assert re.search(
        r'data-testid="count-consult"><a href="\?need=consult"><span class="n">0</span>', clinic
    )
    oversight = _signed_in(client, aud).get("/oversight/").content.decode()
    assert re.search(r'data-testid="consults"><span class="n">0</span>', oversight)


# --- an expired session -----------------------------------------------------------------------


def test_an_expired_session_on_dispense_says_not_dispensed(client, phil, allowed_patient):
    url = f"/counter/patients/{allowed_patient.pk}/dispense/"
    response = client.post(
        url,
        {"days_supply": 7},
        HTTP_HX_REQUEST="true",
        HTTP_HX_CURRENT_URL=f"http://testserver/counter/patients/{allowed_patient.pk}/",
    )
    html = response.content.decode()
    assert "NOT DISPENSED — your session expired" in html
    assert 'name="password"' not in html and "<html" not in html
    assert f"/login/?next=%2Fcounter%2Fpatients%2F{allowed_patient.pk}%2F" in html
    assert not Dispense.objects.exists()
    # Without htmx it is the ordinary redirect to the login page.
    plain = client.post(url, {"days_supply": 7})
    assert plain.status_code == 302 and plain["Location"].startswith("/login/")


# --- the API docs -----------------------------------------------------------------------------


def test_the_api_docs_are_served_from_this_site(client, db):
    response = client.get("/api/docs/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert "cdn" not in html.lower() and "@latest" not in html
    # Not exempt from the CSP any more: its start-up script is a file of this site's.
    assert "script-src 'self'" in response["Content-Security-Policy"]
    init = re.search(r'<script src="([^"]*\?script=)"', html)
    assert init is not None and client.get(init.group(1)).status_code == 200


# --- words, phones, the busy indicator, 404 and 403 -------------------------------------------


def test_codes_are_shown_in_words():
    from web.templatetags.clozrems_words import days, words

    assert words("three_times_weekly") == "three times a week"
    assert words("every_2_weeks") == "every 2 weeks"
    assert words("reenrollment_required") == "re-enrollment needed"
    assert words(None) == "—" and words("nodata") == "no data yet"
    assert days(1) == "1 day" and days(3) == "3 days"


def test_no_raw_code_is_on_the_pages(client, alice, phil, aud, lapsed_patient, allowed_patient):
    raw = ("threetimesweekly", "every2weeks", "nodata", "reenrollment_required", " 1 days")
    pages = [
        _signed_in(client, alice).get("/clinic/"),
        client.get(f"/clinic/patients/{lapsed_patient.pk}/"),
        _signed_in(client, phil, allowed_patient).get(f"/counter/patients/{allowed_patient.pk}/"),
        _signed_in(client, aud).get("/oversight/"),
    ]
    for response in pages:
        text = re.sub(r"<[^>]+>", " ", response.content.decode())
        for code in raw:
            assert code not in text, code


def test_every_table_cell_names_its_column_for_phones(
    client, alice, aud, phil, allowed_patient, stale_patient
):
    from pharmacy.services import dispense_record

    dispense_record(patient=allowed_patient, pharmacy=phil.pharmacy, actor=phil, days_supply=7)
    LabResult.objects.filter(patient=allowed_patient).count()
    pages = {
        "clinic": _signed_in(client, alice).get("/clinic/"),
        "patient": client.get(f"/clinic/patients/{allowed_patient.pk}/"),
        "oversight": _signed_in(client, aud).get("/oversight/"),
        "report": client.get("/oversight/reports/dispenses/"),
        "patients": client.get("/oversight/patients/?need=enrolled"),
        "worklist": _signed_in(client, phil).get("/counter/worklist/"),
    }
    for name, response in pages.items():
        html = response.content.decode()
        for body in re.findall(r'<table class="list[^"]*".*?<tbody>(.*?)</tbody>', html, re.S):
            cells = re.findall(r"<td(?![^>]*colspan)([^>]*)>", body)
            assert cells, name
            assert all("data-label=" in c for c in cells), name


def test_htmx_keeps_the_csp_and_forms_are_disabled_while_sent(client, phil, allowed_patient):
    html = (
        _signed_in(client, phil, allowed_patient)
        .get(f"/counter/patients/{allowed_patient.pk}/")
        .content.decode()
    )
    assert '<meta name="htmx-config" content=\'{"includeIndicatorStyles": false}\'>' in html
    forms = re.findall(r"<form[^>]*hx-post[^>]*>", html)
    assert forms and all('hx-disabled-elt="find button"' in f for f in forms)
    from django.contrib.staticfiles import finders

    found = finders.find("web/site.css")
    assert isinstance(found, str)
    with open(found, encoding="utf-8") as stylesheet:
        css = stylesheet.read()
    assert ".htmx-request .htmx-indicator" in css


def test_404_and_403_are_the_sites_own_pages_with_debug_on(client, settings, phil):
    settings.DEBUG = True
    _signed_in(client, phil)
    missing = client.get("/no-such-page/")
    assert missing.status_code == 404
    body = missing.content.decode()
    assert "Not found" in body and "URLconf" not in body and "Go to your start page" in body
    unknown_patient = client.get("/counter/patients/999999/")
    assert unknown_patient.status_code == 404 and "Not found" in unknown_patient.content.decode()
    forbidden = client.get("/oversight/")
    assert forbidden.status_code == 403
    page = forbidden.content.decode()
    assert "Not allowed" in page and "Your role may not open this page." in page
    assert "Check a patient" in page  # the site's navigation, not a bare page
    # The API keeps its JSON errors.
    api = client.get("/api/v1/no-such-thing/")
    assert api.status_code == 404 and "Not allowed" not in api.content.decode()


# --- the pharmacist's counter -------------------------------------------------------------------


def test_the_counter_search_finds_by_prefix_and_shows_each_verdict(
    client, phil, allowed_patient, stale_patient
):
    _signed_in(client, phil)
    page = client.get("/counter/").content.decode()
    assert re.search(r'<input type="text" name="last_name"[^>]*autofocus', page)
    # Both born 1985-06-15: "S" finds one (straight to it), "" with the id finds one; a prefix
    # shared by two lists both, each with its verdict.
    one = client.get("/counter/", {"last_name": "sta", "date_of_birth": "1985-06-15"})
    assert one.status_code == 302 and one["Location"] == f"/counter/patients/{stale_patient.pk}/"
    htmx = client.get(
        "/counter/", {"last_name": "sta", "date_of_birth": "1985-06-15"}, HTTP_HX_REQUEST="true"
    )
    assert htmx.status_code == 204
    assert htmx["HX-Redirect"] == f"/counter/patients/{stale_patient.pk}/"
    allowed_patient.last_name = "Stalwart"
    allowed_patient.save(update_fields=["last_name"])
    both = client.get("/counter/", {"last_name": "Sta", "date_of_birth": "1985-06-15"})
    html = both.content.decode()
    assert both.status_code == 200
    assert "✓ allowed, up to 7 days" in html and "✕ blocked" in html
    # Never by the id alone.
    alone = client.get("/counter/", {"patient_id": stale_patient.pk})
    assert "Give the date of birth" in alone.content.decode()


def test_the_counter_names_the_prescriber_and_cautions_about_a_due_repeat(
    client, phil, alice, allowed_patient
):
    from monitoring.services import anc_result_record

    # A mild result: the supply is still allowed, and a 24-hour repeat is due.
    anc_result_record(
        patient=allowed_patient,
        actor=alice,
        drawn_at=NOW - timedelta(hours=2),
        value=Decimal("1300"),
        unit="/uL",
        confirm_unusual=True,
    )
    html = (
        _signed_in(client, phil, allowed_patient)
        .get(f"/counter/patients/{allowed_patient.pk}/")
        .content.decode()
    )
    assert "ALLOWED" in html
    assert 'data-testid="prescriber">Dr Alice Adams' in html
    cautions = html[html.index('data-testid="cautions"') :]
    assert "A 24-hour repeat ANC is due by 2026-05-21 10:00" in cautions


def test_the_dispense_record_is_printable_and_its_read_audited(client, phil, allowed_patient):
    from audit.models import AuditEntry
    from pharmacy.services import dispense_record

    dispense = dispense_record(
        patient=allowed_patient, pharmacy=phil.pharmacy, actor=phil, days_supply=7
    ).dispense
    _signed_in(client, phil, allowed_patient)
    html = client.get(
        f"/counter/patients/{allowed_patient.pk}/dispenses/{dispense.pk}/"
    ).content.decode()
    assert dispense.authorization_code in html and "7 days" in html
    assert AuditEntry.objects.filter(
        action="patient.read", patient_id=allowed_patient.pk, inputs__what="dispense_record"
    ).exists()


# --- the prescriber -------------------------------------------------------------------------


def test_a_prescriber_creates_a_patient_then_enrolls_it(client, alice, clock):
    from patients.models import Patient

    _signed_in(client, alice)
    assert client.get("/clinic/patients/new/").status_code == 200
    future = client.post(
        "/clinic/patients/new/",
        {
            "first_name": "Nia",
            "last_name": "Newcome",
            "date_of_birth": "2030-01-01",
            "sex": "female",
            "population": "general",
        },
    )
    assert future.status_code == 422
    assert "The date of birth may not be in the future." in future.content.decode()
    assert not Patient.objects.filter(last_name="Newcome").exists()
    made = client.post(
        "/clinic/patients/new/",
        {
            "first_name": "Nia",
            "last_name": "Newcome",
            "date_of_birth": "1990-02-03",
            "sex": "female",
            "population": "general",
        },
    )
    patient = Patient.objects.get(last_name="Newcome")
    assert made.status_code == 302 and made["Location"] == f"/clinic/patients/{patient.pk}/"
    url = made["Location"]
    page = client.get(url).content.decode()
    assert "enrollment pending" in page and "Enroll" in page
    refused = client.post(url + "enroll/", {})
    assert refused.status_code == 422  # no baseline ANC yet: the rule, in place
    client.post(
        url + "results/", {"drawn_at": "2026-05-19T09:00", "value": "2.4", "unit": "10*3/uL"}
    )
    assert client.post(url + "enroll/", {}).status_code == 302
    patient.refresh_from_db()
    assert patient.monitoring.enrollment_status == "enrolled"


def test_my_patients_filter_and_sort_and_refuse_unknown_values(
    client, alice, phil, allowed_patient, stale_patient
):
    from pharmacy.services import dispense_record

    dispense_record(patient=allowed_patient, pharmacy=phil.pharmacy, actor=phil, days_supply=7)
    _signed_in(client, alice)
    html = client.get("/clinic/", {"q": "sta"}).content.decode()
    assert "Stale, Stan" in html and "Allowed, Alma" not in html
    overdue = client.get("/clinic/", {"need": "overdue"}).content.decode()
    assert "Stale, Stan" in overdue and "Allowed, Alma" not in overdue
    by_name = client.get("/clinic/", {"sort": "name"}).content.decode()
    assert by_name.index("Allowed, Alma") < by_name.index("Stale, Stan")
    row = by_name[by_name.index(f'data-testid="row-{allowed_patient.pk}"') :]
    row = row[: row.index("</tr>")]
    assert 'data-label="Born">1985-06-15' in row
    assert 'data-label="Last dispense">2026-05-20' in row
    assert 'data-label="Supply runs out">2026-05-27' in row
    assert client.get("/clinic/", {"sort": "shoe size"}).status_code == 400
    unknown = client.get("/clinic/", {"colour": "red"})
    assert unknown.status_code == 400 and "Unknown filter: colour" in unknown.content.decode()


# --- everyone's inbox; the auditors' trail ----------------------------------------------------


def test_the_inbox_shows_the_unread_badge_and_marks_read(client, alice, stale_patient):
    from notifications.models import Channel, Notification, Status

    note = Notification.objects.create(
        kind="draw_overdue",
        channel=Channel.IN_APP,
        recipient=alice,
        recipient_key=f"user:{alice.pk}",
        patient=stale_patient,
        subject_key="draw",
        key_date=TODAY,
        subject="A draw is overdue",
        body="Stan Stale's draw is 5 days overdue.",
        status=Status.SENT,
    )
    _signed_in(client, alice)
    page = client.get("/clinic/").content.decode()
    assert re.search(r'data-testid="unread">1<', page)
    inbox = client.get("/inbox/").content.decode()
    assert "A draw is overdue" in inbox and f"/clinic/patients/{stale_patient.pk}/" in inbox
    assert client.post(f"/inbox/{note.pk}/read/").status_code == 302
    note.refresh_from_db()
    assert note.read_at is not None
    assert 'data-testid="unread"' not in client.get("/clinic/").content.decode()


def test_the_audit_trail_page_filters_refuses_unknown_values_and_verifies(
    client, aud, phil, allowed_patient
):
    _signed_in(client, phil, allowed_patient)  # a lookup: one entry in the trail
    _signed_in(client, aud)
    page = client.get("/oversight/audit/", {"action": "patient.lookup"}).content.decode()
    assert "patient.lookup" in page and "phil" in page
    bad = client.get("/oversight/audit/", {"action": "patient.steal"})
    assert bad.status_code == 400
    assert "Action: Select a valid choice" in bad.content.decode()
    unknown = client.get("/oversight/audit/", {"colour": "red"})
    assert unknown.status_code == 400 and "Unknown filter: colour" in unknown.content.decode()
    verified = client.get("/oversight/audit/", {"verify": "1"}).content.decode()
    assert "✓ intact" in verified


def test_compliance_as_known_then_and_in_hindsight_side_by_side(
    client, aud, alice, phil, allowed_patient, stale_patient, clock
):
    """A dispense on a current ANC counts both ways; an emergency supply never counts as known
    then; a result drawn before a dispense but entered after it moves only the hindsight."""
    from monitoring.services import anc_result_record
    from pharmacy.services import EmergencyRequest, dispense_record

    dispense_record(patient=allowed_patient, pharmacy=phil.pharmacy, actor=phil, days_supply=7)
    dispense_record(
        patient=stale_patient,
        pharmacy=phil.pharmacy,
        actor=phil,
        days_supply=4,
        emergency=EmergencyRequest("lab_delay", "", True),
    )

    def pharmacy_row():
        html = _signed_in(client, aud).get("/oversight/").content.decode()
        html = re.sub(r' data-label="[^"]*"', "", html)
        row = re.search(
            r"<td>pharmacy</td><td>Main Street Pharmacy</td><td>(\d+)</td>"
            r"<td>(\d+) \((\d+)%\)</td><td>(\d+) \((\d+)%\)</td><td>(\d+)</td>",
            html,
        )
        assert row is not None
        return row.groups()

    assert pharmacy_row() == ("2", "1", "50", "1", "50", "1")
    # The stale patient's draw of yesterday morning, entered only now.
    anc_result_record(
        patient=stale_patient,
        actor=alice,
        drawn_at=NOW - timedelta(days=1),
        value=Decimal("2100"),
        unit="/uL",
    )
    clock.shift(timedelta(minutes=5))
    dispenses, then, then_rate, hindsight, hindsight_rate, emergency = pharmacy_row()
    assert (dispenses, then, then_rate, emergency) == ("2", "1", "50", "1")
    assert (hindsight, hindsight_rate) == ("2", "100")


def test_the_chart_puts_today_the_next_draw_dispenses_and_interruptions_on_one_timeline(
    client, alice, phil, allowed_patient, lapsed_patient
):
    from pharmacy.services import dispense_record

    dispense_record(patient=allowed_patient, pharmacy=phil.pharmacy, actor=phil, days_supply=7)
    _signed_in(client, alice)
    html = client.get(f"/clinic/patients/{allowed_patient.pk}/").content.decode()
    # The chart and the entry form come before the status and the results.
    assert html.index('id="chart-h"') < html.index('id="result-h"') < html.index('id="status-h"')
    svg = html[html.index("<svg") : html.index("</svg>")]
    assert 'class="today-line"' in svg and 'class="next-due"' in svg
    assert "next draw 05-26" in svg
    assert "<title>2026-05-20: 7 days dispensed</title>" in svg
    assert len(re.findall(r'class="axis date-label"', svg)) >= 4
    lapsed = client.get(f"/clinic/patients/{lapsed_patient.pk}/").content.decode()
    assert "<title>interrupted from 2026-04-10</title>" in lapsed


# Batch entry (through the feed path): tests/web/test_batch_entry.py
