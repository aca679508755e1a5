"""The pages in a real browser: Debian's Chromium driven by Playwright against a live server.

On a machine without Chromium these skip and say why; CI installs it (.ci/run) and sets CI=true,
which turns a missing browser into a failure instead."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from monitoring.models import AncResult
from pharmacy.models import Dispense
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
    assert AncResult.objects.filter(patient=allowed_patient, value_per_ul=800).exists()
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
    assert not AncResult.objects.filter(patient=allowed_patient, value_per_ul=2000).exists()


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
    page.get_by_role("button", name="Record check done").click()
    page.get_by_test_id("plan-ecg").filter(has_text="complete").wait_for()
