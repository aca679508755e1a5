"""The pages in a real browser: Debian's Chromium driven by Playwright against a live server.

On a machine without Chromium these skip and say why; CI installs it (.ci/run) and sets CI=true,
which turns a missing browser into a failure instead."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from monitoring.models import LabResult
from patients.models import Dispense
from tests.factories import PASSWORD

CHROMIUM = os.environ.get("CLOZREMS_CHROMIUM", "/usr/bin/chromium")
REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.browser

if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
    if os.environ.get("CI") == "true":
        raise RuntimeError(f"CI=true but no Chromium at {CHROMIUM}: .ci/run installs it")
    pytest.skip(
        f"needs Chromium at {CHROMIUM} (apt-get install chromium; .ci/run does this)",
        allow_module_level=True,
    )

# Playwright's sync API runs an event loop in this thread; the ORM calls in the tests (and the
# session-scoped live server's set-up) are ordinary synchronous ones made between browser
# steps. Set for the process at import; subprocess-based tests drop it from their environment.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    }


@pytest.fixture
def shots(tmp_path):
    """Screenshots go to tmp, or to docs/screenshots/ with CLOZREMS_SCREENSHOTS=1."""
    target = REPO / "docs" / "screenshots" if os.environ.get("CLOZREMS_SCREENSHOTS") else tmp_path

    def shot(page, name: str) -> Path:
        target.mkdir(parents=True, exist_ok=True)
        path = target / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        assert path.stat().st_size > 1000
        return path

    return shot


def log_in(page, live_server, username: str) -> None:
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def test_a_pharmacist_checks_a_blocked_and_an_allowed_patient_and_dispenses(
    page, live_server, phil, stale_patient, allowed_patient, shots
):
    prescriber = allowed_patient.prescriber
    prescriber.phone = "+1 555 0100 22"  # recorded by an administrator
    prescriber.save(update_fields=["phone"])
    log_in(page, live_server, "phil")
    page.wait_for_url(re.compile(r"/counter/$"))
    shots(page, "counter-search")

    page.get_by_label("Last name").fill("Stale")
    page.get_by_label("Date of birth").fill("1985-06-15")
    page.get_by_role("button", name="Find").click()
    # One patient matches: the counter opens it straight away.
    page.wait_for_url(re.compile(rf"/counter/patients/{stale_patient.pk}/$"))
    banner = page.locator(".banner")
    banner.get_by_text("BLOCKED").wait_for()
    assert "The latest ANC is older than the monitoring frequency allows." in banner.inner_text()
    assert "To unblock" in banner.inner_text()
    assert page.get_by_role("button", name="Record dispense").count() == 0
    assert page.get_by_test_id("prescriber-phone").inner_text() == "Phone +1 555 0100 22"
    shots(page, "counter-blocked")

    page.goto(f"{live_server.url}/counter/")
    page.get_by_label("Or patient id").fill(str(allowed_patient.pk))
    page.get_by_label("Date of birth").fill("1985-06-15")  # an id goes with the date of birth
    page.get_by_role("button", name="Find").click()
    page.get_by_text("ALLOWED — up to 7 days").wait_for()
    options = page.get_by_label("Days' supply").locator("option").all_inner_texts()
    assert options == ["7 days"]
    shots(page, "counter-allowed")
    page.get_by_role("button", name="Record dispense").click()
    code = page.get_by_test_id("authorization-code")
    code.wait_for()
    dispense = Dispense.objects.get(patient=allowed_patient)
    assert code.inner_text() == dispense.authorization_code
    shots(page, "counter-dispensed")


def test_a_prescriber_enters_a_low_anc_and_sees_the_worklist_and_chart_change(
    page, live_server, alice, allowed_patient, stale_patient, shots
):
    log_in(page, live_server, "alice")
    page.wait_for_url(re.compile(r"/clinic/$"))
    assert page.locator(".count.confirmation .n").inner_text() == "0"
    shots(page, "clinic-worklist")
    page.get_by_role("link", name="Allowed, Alma").click()
    assert page.get_by_test_id("band").inner_text() == "normal"
    page.get_by_label("Drawn at (clinic time)").fill("2026-05-20T08:30")
    page.get_by_label("Value").fill("0.8")
    page.get_by_label("Unit").select_option("10*3/uL")
    page.get_by_role("button", name="Save result").click()
    page.get_by_test_id("band").filter(has_text="moderate").wait_for()
    assert page.locator("svg .point-moderate").count() == 1
    assert page.locator("svg .episode").count() == 1
    shots(page, "clinic-patient-low")
    assert serious_violations(page) == []  # the page after the result entry
    assert LabResult.objects.filter(patient=allowed_patient, value_per_ul=800).exists()
    page.get_by_role("link", name="My patients").click()
    assert page.locator(".count.confirmation .n").inner_text() == "1"
    first_row = page.locator("table.worklist tbody tr").first
    assert "Allowed, Alma" in first_row.inner_text()
    assert "Confirmation repeat due" in first_row.inner_text()
    shots(page, "clinic-worklist-after")


def test_a_refused_result_shows_the_rule_in_place(page, live_server, alice, allowed_patient):
    log_in(page, live_server, "alice")
    page.goto(f"{live_server.url}/clinic/patients/{allowed_patient.pk}/")
    page.get_by_label("Drawn at (clinic time)").fill("2026-07-01T08:30")
    page.get_by_label("Value").fill("2.0")
    page.get_by_role("button", name="Save result").click()
    page.get_by_text("The draw time is in the future.").wait_for()
    assert not LabResult.objects.filter(patient=allowed_patient, value_per_ul=2000).exists()


def test_a_prescriber_cannot_open_another_prescribers_patient(
    page, live_server, alice, bobs_patient
):
    log_in(page, live_server, "alice")
    page.wait_for_url(re.compile(r"/clinic/$"))
    assert page.get_by_text("Bobson").count() == 0
    response = page.goto(f"{live_server.url}/clinic/patients/{bobs_patient.pk}/")
    assert response is not None and response.status == 404


def test_the_pages_work_at_phone_width(page, live_server, phil, stale_patient, shots):
    page.set_viewport_size({"width": 375, "height": 740})
    log_in(page, live_server, "phil")
    page.goto(
        f"{live_server.url}/counter/?last_name={stale_patient.last_name}"
        f"&date_of_birth={stale_patient.date_of_birth}"
    )
    banner = page.locator(".banner")
    banner.get_by_text("BLOCKED").wait_for()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, f"the page scrolls sideways at phone width ({width}px)"
    shots(page, "phone-blocked")


def test_the_oversight_page_for_an_auditor(
    page, live_server, aud, allowed_patient, stale_patient, shots
):
    log_in(page, live_server, "aud")
    page.wait_for_url(re.compile(r"/oversight/$"))
    assert "Dr Alice Adams" in page.content()
    shots(page, "oversight")


def test_a_prescriber_sees_the_last_level_and_records_an_overdue_check(
    page, live_server, alice, allowed_patient, shots
):
    """The patient page shows the last clozapine level with its interpretation and
    ratio, and the monitoring plan; recording the overdue baseline ECG completes it."""
    from datetime import timedelta
    from decimal import Decimal

    from clinical.services import level_result_record
    from tests.conftest import NOW

    sampled = NOW - timedelta(hours=3)
    level_result_record(
        patient=allowed_patient,
        actor=alice,
        sampled_at=sampled,
        clozapine=Decimal(1100),
        norclozapine=Decimal(500),
        unit="ng/mL",
        last_dose_at=sampled - timedelta(hours=12),
        dose_stable_days=10,
    )
    log_in(page, live_server, "alice")
    page.goto(f"{live_server.url}/clinic/patients/{allowed_patient.pk}/")
    assert "1100.00 ng/mL" in page.get_by_test_id("last-level").inner_text()
    assert page.get_by_test_id("metabolic-ratio").inner_text().startswith("2.20")
    assert page.locator('[data-code="high_level"]').count() == 1
    assert "overdue" in page.get_by_test_id("plan-ecg").inner_text()
    shots(page, "clinic-patient-levels-and-plan")
    page.locator("#plan_item").select_option("ecg")
    page.locator("#plan_done_on").fill("2026-05-20")
    page.locator("#plan_answers").fill("qtc_ms=430")
    page.get_by_role("button", name="Record check done").click()
    page.get_by_test_id("plan-ecg").filter(has_text="complete").wait_for()


# --- journeys, the crawl and accessibility ----------------------------------------------------


def serious_violations(page) -> list[str]:
    """axe-core's serious and critical findings on the page as it stands."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        f"{v['id']}: {v['help']} ({len(v['nodes'])}x, e.g. {v['nodes'][0]['target']})"
        for v in results.response["violations"]
        if v.get("impact") in ("serious", "critical")
    ]


def find_at_counter(page, live_server, patient) -> None:
    page.goto(f"{live_server.url}/counter/")
    page.get_by_label("Last name").fill(patient.last_name[:3])  # the start is enough
    page.get_by_label("Date of birth").fill(patient.date_of_birth.isoformat())
    page.get_by_role("button", name="Find").click()
    page.wait_for_url(re.compile(rf"/counter/patients/{patient.pk}/$"))


def test_journey_dispense_then_recheck_by_keyboard(page, live_server, phil, allowed_patient, shots):
    """Keyboard only: the days, the button, and the focus lands on the result; the page then
    says no more today, as the API does, and offers no form."""
    log_in(page, live_server, "phil")
    find_at_counter(page, live_server, allowed_patient)
    assert "Dr Alice Adams" in page.get_by_test_id("prescriber").inner_text()
    page.get_by_label("Days' supply").focus()
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    result = page.get_by_test_id("dispensed")
    result.wait_for()
    assert page.evaluate("document.activeElement.dataset.testid") == "dispensed"
    assert "DISPENSED 7 days" in result.inner_text()
    verdict = page.get_by_test_id("verdict").inner_text()
    assert "NO SUPPLY NOW" in verdict and "ALLOWED" not in verdict
    assert page.get_by_role("button", name="Record dispense").count() == 0
    shots(page, "counter-dispensed-recheck")
    assert serious_violations(page) == []  # the page after the POST
    page.reload()
    assert "NO SUPPLY NOW" in page.get_by_test_id("verdict").inner_text()
    # The printable record carries the authorization code.
    code = Dispense.objects.get(patient=allowed_patient).authorization_code
    page.goto(
        f"{live_server.url}/counter/patients/{allowed_patient.pk}/dispenses/"
        f"{Dispense.objects.get(patient=allowed_patient).pk}/"
    )
    assert page.get_by_test_id("record-code").inner_text() == code
    shots(page, "counter-dispense-record")


def test_journey_allowed_but_capped(page, live_server, phil, allowed_patient, clock, shots):
    from datetime import timedelta

    from pharmacy.services import dispense_record

    dispense_record(patient=allowed_patient, pharmacy=phil.pharmacy, actor=phil, days_supply=7)
    clock.shift(timedelta(days=4))
    log_in(page, live_server, "phil")
    find_at_counter(page, live_server, allowed_patient)
    assert page.get_by_label("Days' supply").locator("option").all_inner_texts() == ["4 days"]
    assert "supply on hand through 2026-05-26" in page.get_by_test_id("supply-cap").inner_text()
    shots(page, "counter-capped")
    page.get_by_role("button", name="Record dispense").click()
    page.get_by_test_id("dispensed").filter(has_text="DISPENSED 4 days").wait_for()


def test_journey_the_session_expires_before_dispensing(
    page, live_server, phil, allowed_patient, shots
):
    log_in(page, live_server, "phil")
    find_at_counter(page, live_server, allowed_patient)
    page.context.clear_cookies()  # the session is gone, as after the idle timeout
    page.get_by_role("button", name="Record dispense").click()
    message = page.get_by_test_id("session-expired")
    message.wait_for()
    assert "NOT DISPENSED — your session expired" in message.inner_text()
    assert page.get_by_label("Password").count() == 0  # no login page inside this one
    assert not Dispense.objects.exists()
    shots(page, "counter-session-expired")
    page.get_by_role("link", name="Log in again").click()
    page.get_by_label("Username").fill("phil")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/counter/"))


def test_journey_a_unit_slip_is_refused(page, live_server, alice, allowed_patient):
    """2.1 typed with /uL (meant 10*3/uL) is refused with the unit it almost certainly is."""
    log_in(page, live_server, "alice")
    page.goto(f"{live_server.url}/clinic/patients/{allowed_patient.pk}/")
    page.get_by_label("Drawn at (clinic time)").fill("2026-05-20T08:30")
    page.get_by_label("Value").fill("2.1")
    page.get_by_label("Unit").select_option("/uL")
    page.get_by_role("button", name="Save result").click()
    page.get_by_text(re.compile("is almost certainly 10\\*3/uL")).wait_for()
    assert not LabResult.objects.filter(patient=allowed_patient, value_per_ul__lt=100).exists()
    assert serious_violations(page) == []  # the refusal, in place
    # Entered as meant, it is stored.
    page.get_by_label("Unit").select_option("10*3/uL")
    with page.expect_navigation():  # saved: htmx reloads the page
        page.get_by_role("button", name="Save result").click()
    stored = LabResult.objects.filter(patient=allowed_patient).order_by("-id").first()
    assert stored is not None and (stored.unit, stored.value_per_ul) == ("10*3/uL", 2100), (
        page.locator("form .error").all_inner_texts()
    )


def test_journey_emergency_supply_confirmed_then_reviewed(
    page, live_server, phil, admin, stale_patient, shots
):
    log_in(page, live_server, "phil")
    find_at_counter(page, live_server, stale_patient)
    section = page.get_by_test_id("emergency")
    assert "BLOCKED" in page.get_by_test_id("verdict").inner_text()
    section.locator("summary").click()
    reason = section.get_by_label("Reason")
    assert reason.input_value() == ""  # no reason chosen for the pharmacist
    reason.select_option("lab_delay")
    section.get_by_label("The patient's last dose was taken within the last 48 hours").check()
    section.get_by_role("button", name="Record emergency supply").click()
    section.get_by_text("Tick the box to confirm the emergency supply.").wait_for()
    assert not Dispense.objects.exists()
    assert serious_violations(page) == []  # the refusal, in place
    section = page.get_by_test_id("emergency")
    section.get_by_label("Reason").select_option("lab_delay")
    section.get_by_label("The patient's last dose was taken within the last 48 hours").check()
    section.get_by_label("I am dispensing an emergency supply without a current ANC").check()
    section.get_by_role("button", name="Record emergency supply").click()
    done = page.get_by_test_id("dispensed")
    done.wait_for()
    assert "EMERGENCY SUPPLY RECORDED" in done.inner_text() and "✓" not in done.inner_text()
    shots(page, "counter-emergency-recorded")
    assert serious_violations(page) == []
    page.get_by_role("button", name="Log out").click()

    log_in(page, live_server, "admin")
    page.wait_for_url(re.compile(r"/oversight/$"))
    page.get_by_test_id("unreviewed").click()
    page.get_by_label("Review note").fill("lab closed for the storm")
    page.get_by_role("button", name="Mark reviewed").click()
    page.wait_for_url(re.compile(r"reviewed=false"))
    assert page.get_by_role("button", name="Mark reviewed").count() == 0
    dispense = Dispense.objects.get(patient=stale_patient)
    assert dispense.reviewed_by == admin and dispense.review_note == "lab closed for the storm"


def test_journey_consult_acknowledged_from_the_page(page, live_server, alice, allowed_patient):
    from datetime import timedelta
    from decimal import Decimal

    from monitoring.services import anc_result_record
    from tests.conftest import NOW

    anc_result_record(
        patient=allowed_patient,
        actor=alice,
        drawn_at=NOW - timedelta(hours=3),
        value=Decimal("300"),
        unit="/uL",
        confirm_unusual=True,
    )
    log_in(page, live_server, "alice")
    page.get_by_role("link", name="Allowed, Alma").click()
    assert "hematology consult is recommended" in page.get_by_test_id("attention").inner_text()
    page.get_by_role("button", name="Acknowledge the consult").click()
    page.get_by_role("link", name="My patients").click()
    assert page.get_by_test_id("count-consult").locator(".n").inner_text() == "0"


def test_report_pages_open_in_a_browser(page, live_server, aud, phil, allowed_patient, shots):
    from pharmacy.services import dispense_record

    dispense_record(patient=allowed_patient, pharmacy=phil.pharmacy, actor=phil, days_supply=7)
    log_in(page, live_server, "aud")
    page.wait_for_url(re.compile(r"/oversight/$"))
    names = page.locator("h3 + ul a:not([href*='format=csv'])").all_inner_texts()
    assert len(names) == 6
    for name in names:
        page.goto(f"{live_server.url}/oversight/")
        with page.expect_navigation() as nav:
            page.get_by_role("link", name=name, exact=True).click()
        assert nav.value is not None and nav.value.status == 200, name
        page.get_by_test_id("report").wait_for()
    page.goto(f"{live_server.url}/oversight/reports/dispenses/")
    shots(page, "oversight-report-dispenses")
    response = page.goto(f"{live_server.url}/api/v1/reports/dispenses/")
    assert response is not None and response.status == 200  # DRF's browsable page


def test_the_api_docs_render_with_no_network_but_this_site(page, live_server, db, shots):
    outside: list[str] = []

    def only_here(route):
        if route.request.url.startswith(live_server.url):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", only_here)
    page.goto(f"{live_server.url}/api/docs/")
    page.locator(".opblock").first.wait_for()
    assert page.locator(".opblock").count() > 10
    assert outside == []
    shots(page, "api-docs")


def test_no_csp_refusal_and_the_button_is_disabled_while_posting(
    page, live_server, phil, allowed_patient
):
    refused: list[str] = []
    page.on(
        "console",
        lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None,
    )
    log_in(page, live_server, "phil")
    find_at_counter(page, live_server, allowed_patient)
    held = []
    page.route("**/dispense/", lambda route: held.append(route))
    button = page.get_by_role("button", name="Record dispense")
    with page.expect_request("**/dispense/"):
        button.click()
    page.wait_for_function("document.querySelector('form[hx-post] button').disabled")
    assert button.is_disabled()
    held[0].continue_()
    page.get_by_test_id("dispensed").wait_for()
    assert refused == []


def test_phone_tables_label_every_cell(page, live_server, alice, allowed_patient, stale_patient):
    page.set_viewport_size({"width": 375, "height": 740})
    log_in(page, live_server, "alice")
    page.wait_for_url(re.compile(r"/clinic/$"))
    first = page.locator("table.worklist tbody tr").first.locator("td").nth(1)
    before = page.evaluate(
        "(el) => getComputedStyle(el, '::before').content", first.element_handle()
    )
    assert before == '"Patient: "'
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, f"the worklist scrolls sideways at phone width ({width}px)"


@pytest.fixture
def crawl_scene(alice, phil, aud, admin, allowed_patient, stale_patient, bobs_patient):
    """Something behind every link: a dispense, an emergency supply waiting for review."""
    from pharmacy.services import EmergencyRequest, dispense_record

    dispense_record(patient=allowed_patient, pharmacy=phil.pharmacy, actor=phil, days_supply=7)
    dispense_record(
        patient=stale_patient,
        pharmacy=phil.pharmacy,
        actor=phil,
        days_supply=4,
        emergency=EmergencyRequest("lab_delay", "", True),
    )
    return {"allowed": allowed_patient, "stale": stale_patient, "bobs": bobs_patient}


SKIP = ("/logout/", "/admin/", "/static/", "mailto:")


def crawl(
    page, base: str, starts: list[str], *, read_only: bool = False, limit: int = 80
) -> dict[str, int]:
    """Every same-site link and GET form reachable from `starts`: {url: status}. Each HTML page
    is also checked by axe-core (no serious or critical finding) and, for a reader, offers no
    form that writes (the log-out form aside)."""
    seen: dict[str, int] = {}
    queue = list(starts)
    problems: list[str] = []
    while queue and len(seen) < limit:
        url = queue.pop(0)
        if url in seen:
            continue
        if "format=csv" in url:
            seen[url] = page.request.get(url).status
            continue
        response = page.goto(url)
        seen[url] = response.status if response is not None else 0
        if "/api/" not in url:
            problems += [f"{url}: {v}" for v in serious_violations(page)]
            if read_only:
                writes = page.locator("form[method=post]:not(.logout)").count()
                if writes:
                    problems.append(f"{url}: {writes} write form(s) shown to a reader")
        hrefs = page.eval_on_selector_all(
            "a[href], form[method=get][action]",
            "els => els.map(e => e.href || e.action)",
        )
        for href in hrefs:
            href = href.split("#")[0]
            if href.startswith(base) and not any(s in href for s in SKIP) and href not in seen:
                if "/api/v1/" in href and "format=csv" not in href:
                    continue  # the API's browsable pages are the API's, checked on their own
                queue.append(href)
    assert problems == [], "\n".join(problems)
    return seen


@pytest.mark.parametrize("username", ["alice", "phil", "aud", "admin"])
def test_crawl_every_page_reachable_as_each_role(page, live_server, crawl_scene, username):
    log_in(page, live_server, username)
    page.wait_for_load_state()
    base = live_server.url
    starts = [page.url]
    if username == "phil":
        # The counter's patients are reached by a search (name and date of birth).
        for p in (crawl_scene["allowed"], crawl_scene["stale"]):
            starts.append(
                f"{base}/counter/?last_name={p.last_name}&date_of_birth={p.date_of_birth}"
            )
    seen = crawl(page, base, starts, read_only=username == "aud")
    # What each role's landing page leads to (its patients, its reports, its lists).
    expected = {
        "alice": ["/clinic/", "/clinic/patients/"],
        "phil": ["/counter/worklist/", "/counter/patients/"],
        "aud": ["/oversight/reports/dispenses/", "/oversight/patients/?need=consult", "/timeline/"],
        "admin": ["/oversight/reports/overrides/", "/oversight/patients/?need=overdue"],
    }[username]
    for part in expected:
        assert any(part in url for url in seen), (part, sorted(seen))
    broken = {url: status for url, status in seen.items() if status >= 400}
    assert broken == {}, broken
    # The intended refusals: another prescriber's patient, a patient not found at the counter,
    # a page of another role.
    other = crawl_scene["bobs"].pk
    intended = {
        "alice": [(f"/clinic/patients/{other}/", 404), ("/oversight/", 403), ("/counter/", 403)],
        "phil": [(f"/counter/patients/{other}/", 404), ("/clinic/", 403)],
        "aud": [("/counter/", 403), (f"/clinic/patients/{other}/results/", 403)],
        "admin": [("/no-such-page/", 404)],
    }[username]
    for path, status in intended:
        response = page.goto(base + path)
        assert response is not None and response.status == status, path
        assert page.get_by_role("link", name="Go to your start page").count() == 1


def test_journey_batch_entry_of_ten_results(
    page, live_server, alice, allowed_patient, stale_patient, shots
):
    """Ten rows typed into the grid, one with a unit nobody knows: nine are filed, the tenth is
    held in the quarantine with its reason, all ten kept in one feed message."""
    from feeds.models import FeedMessage, QuarantinedResult

    log_in(page, live_server, "alice")
    page.get_by_role("link", name="Enter several results").click()
    for i in range(10):
        patient = allowed_patient if i % 2 else stale_patient
        page.get_by_label(f"Patient, row {i + 1}", exact=True).select_option(str(patient.pk))
        page.get_by_label(f"Drawn at, row {i + 1}", exact=True).fill(f"2026-05-19T{8 + i:02d}:00")
        page.get_by_label(f"Value, row {i + 1}", exact=True).fill("2.2")
    page.get_by_label("Unit, row 10", exact=True).fill("10*3/ul mistyped")
    shots(page, "clinic-batch-entry")
    before = LabResult.objects.count()
    page.get_by_role("button", name="File these results").click()
    outcome = page.get_by_test_id("batch-outcome")
    outcome.filter(has_text="9 of 10 filed").wait_for()
    assert LabResult.objects.count() == before + 9
    [held] = QuarantinedResult.objects.all()
    assert held.reason == "unknown_unit" and held.unit == "10*3/ul mistyped"
    assert FeedMessage.objects.get().pk == held.message_id
    row = outcome.locator("tr[data-outcome='quarantined']")
    assert f"reference Q{held.pk}" in row.inner_text() and "unknown unit" in row.inner_text()
    assert outcome.locator("tr[data-outcome='stored']").count() == 9
    shots(page, "clinic-batch-filed")
    assert serious_violations(page) == []


def test_journey_a_csv_batch_is_previewed_then_filed(
    page, live_server, alice, allowed_patient, stale_patient, tmp_path, shots
):
    from feeds.models import QuarantinedResult

    csv_file = tmp_path / "results.csv"
    csv_file.write_text(
        "last_name,date_of_birth,drawn_at,value,unit\n"
        "Stale,1985-06-15,2026-05-19 09:00,2.3,10*3/uL\n"
        "Allowed,1985-06-15,2026-05-19 10:00,2.4,10*3/uL\n"
        "Nobody,1970-01-01,2026-05-19 10:00,2.4,10*3/uL\n"
    )
    before = LabResult.objects.count()
    log_in(page, live_server, "alice")
    page.goto(f"{live_server.url}/clinic/results/batch/")
    page.locator("input[type=file]").set_input_files(str(csv_file))
    page.get_by_role("button", name="Read into the grid").click()
    page.get_by_text("No patient of yours is Nobody, born 1970-01-01").wait_for()
    assert page.get_by_label("Patient, row 1", exact=True).input_value() == str(stale_patient.pk)
    assert page.get_by_label("Patient, row 2", exact=True).input_value() == str(allowed_patient.pk)
    assert LabResult.objects.count() == before  # the preview writes nothing
    shots(page, "clinic-batch-preview")
    assert serious_violations(page) == []
    page.get_by_role("button", name="File these results").click()
    page.get_by_test_id("batch-outcome").filter(has_text="2 of 3 filed").wait_for()
    assert LabResult.objects.count() == before + 2
    [held] = QuarantinedResult.objects.all()
    assert held.reason == "unmatched_patient" and held.last_name == "Nobody"
    assert serious_violations(page) == []


def test_journey_a_result_is_corrected_from_the_patient_page(
    page, live_server, alice, allowed_patient, shots
):
    """0.9 typed for 1.9: blocked by a moderate band until the prescriber corrects it, with a
    reason; the correction decides and the slip stays in the history, replaced."""
    from datetime import timedelta
    from decimal import Decimal

    from monitoring.services import anc_result_record
    from tests.conftest import NOW

    slip = anc_result_record(
        patient=allowed_patient,
        actor=alice,
        drawn_at=NOW - timedelta(hours=3),
        value=Decimal("0.9"),
        unit="10*3/uL",
        confirm_unusual=True,
    ).result
    log_in(page, live_server, "alice")
    page.get_by_role("link", name="Allowed, Alma").click()
    assert page.get_by_test_id("band").inner_text() == "moderate"
    page.get_by_test_id(f"correct-{slip.pk}").click()
    page.get_by_label("Value").fill("1.9")
    page.get_by_role("button", name="Save the correction").click()
    page.get_by_text("Reason for the correction: This field is required.").wait_for()
    assert serious_violations(page) == []  # the refusal, in place
    page.get_by_label("Reason for the correction").fill("typed 0.9 for 1.9")
    shots(page, "clinic-correct-result")
    page.get_by_role("button", name="Save the correction").click()
    page.get_by_test_id("band").filter(has_text="normal").wait_for()
    slip.refresh_from_db()
    corrected = LabResult.objects.get(corrects=slip)
    assert slip.superseded and corrected.value_per_ul == 1900
    rows = page.locator("#results-h + table tbody tr")
    assert "corrected" in rows.first.inner_text() and "1900" in rows.first.inner_text()
    assert "replaced" in page.locator("#results-h + table").inner_text()
    shots(page, "clinic-result-corrected")
    assert serious_violations(page) == []
