"""Item 1: an undetectable level is never a valid trough, alerts the prescriber, and says to
suspect non-adherence or a sample error first (re-titration after 48 hours off), never to raise
the dose; a value that looks like mg/L sent as ng/mL is asked to be confirmed."""

from datetime import timedelta
from decimal import Decimal

from audit.models import Action
from clinical.levels import FlagCode, LevelInput, Severity, interpret
from clinical.messages import LEVEL_UNDETECTABLE
from clinical.models import LevelResult
from notifications.models import Notification
from tests.audit.conftest import entries_after, head
from tests.clinical.conftest import dispensed
from tests.conftest import NOW


def url(patient):
    return f"/api/v1/patients/{patient.pk}/levels/"


def body(**kw):
    data = {
        "sampled_at": (NOW - timedelta(hours=1)).isoformat(),
        "clozapine": "0",
        "unit": "ng/mL",
        "last_dose_at": (NOW - timedelta(hours=13)).isoformat(),
        "daily_dose_mg": "600",
        "dose_stable_days": 30,
    }
    data.update(kw)
    return data


def test_zero_on_600_mg_is_not_a_trough_and_says_adherence_first(
    api, alice, patient, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = api(alice).post(url(patient), body(), format="json")
    assert response.status_code == 201, response.json()
    level = response.json()
    assert level["valid_trough"] is False
    flags = {f["code"]: f for f in level["interpretation"]["flags"]}
    assert "below_response_threshold" not in flags
    undetectable = flags["level_undetectable"]
    assert undetectable["severity"] == "urgent"
    assert undetectable["message"] == LEVEL_UNDETECTABLE.say(value="0.00", dose=" on 600.00 mg/day")
    assert undetectable["message"].startswith(
        "Clozapine 0.00 ng/mL is undetectable or nearly so on 600.00 mg/day. Suspect "
        "non-adherence or a laboratory or sample error first"
    )
    assert "re-titration from 12.5 mg" in undetectable["message"]
    assert "Do not increase the dose" in undetectable["message"]
    assert level["interpretation"]["adherence_doubt"] is True
    [alert] = Notification.objects.filter(kind="level_high", recipient=alice, channel="in_app")
    assert alert.urgent and "Undetectable" in alert.subject


def test_a_level_of_50_is_low_not_undetectable():
    reading = interpret(
        LevelInput(
            retitration_after_hours=48,
            sampled_at=NOW,
            clozapine_ng_ml=Decimal(50),
            last_dose_at=NOW - timedelta(hours=12),
            dose_stable_days=7,
        )
    )
    assert FlagCode.LEVEL_UNDETECTABLE not in reading.codes
    assert reading.valid_trough is True


def test_a_value_that_looks_like_mg_per_l_asks_for_confirmation(api, alice, patient):
    client = api(alice)
    before = head()
    refused = client.post(url(patient), body(clozapine="0.42"), format="json")
    assert refused.status_code == 400
    assert "clozapine" in refused.json()
    assert "looks like a value in mg/L" in str(refused.json())
    assert not LevelResult.objects.exists()
    assert not [e for e in entries_after(before) if e.action == Action.LEVEL_RESULT_RECORD]
    as_mg = client.post(url(patient), body(clozapine="0.42", unit="mg/L"), format="json")
    assert as_mg.status_code == 201 and as_mg.json()["clozapine_ng_ml"] == "420.00"
    confirmed = client.post(
        url(patient), body(clozapine="0.42", unit_confirmed=True), format="json"
    )
    assert confirmed.status_code == 201
    codes = [f["code"] for f in confirmed.json()["interpretation"]["flags"]]
    assert "level_undetectable" in codes


def test_a_gap_in_supply_before_the_draw_puts_adherence_in_doubt(
    api, alice, phil, pharmacy, patient
):
    # A week's supply dispensed 10 days ago ran out 3 days before the draw.
    dispensed(patient, pharmacy, phil, days_ago=10, days_supply=7)
    level = api(alice).post(url(patient), body(clozapine="250"), format="json").json()
    flags = {f["code"]: f for f in level["interpretation"]["flags"]}
    assert level["valid_trough"] is False
    assert "adherence_gap_retitration" in flags
    assert flags["adherence_gap_retitration"]["severity"] == "urgent"
    assert "below_response_threshold_unconfirmed" in flags
    assert "below_response_threshold" not in flags
    assert "cannot guide a dose change" in flags["below_response_threshold_unconfirmed"]["message"]


def test_a_covered_week_is_no_gap(api, alice, phil, pharmacy, patient):
    # A supply from before the week began, through the draw: every day of it is known.
    dispensed(patient, pharmacy, phil, days_ago=8, days_supply=14)
    level = api(alice).post(url(patient), body(clozapine="250"), format="json").json()
    codes = [f["code"] for f in level["interpretation"]["flags"]]
    assert level["valid_trough"] is True
    assert "below_response_threshold" in codes
    assert not [c for c in codes if c.startswith("adherence")]


def test_a_missed_day_in_the_week_before_the_draw_is_a_gap_of_its_own():
    reading = interpret(
        LevelInput(
            retitration_after_hours=48,
            sampled_at=NOW,
            clozapine_ng_ml=Decimal(200),
            last_dose_at=NOW - timedelta(hours=12),
            dose_stable_days=7,
            gap_hours=Decimal("20.0"),
        )
    )
    flag = next(f for f in reading.flags if f.code == FlagCode.ADHERENCE_GAP)
    assert flag.severity == Severity.WARNING
    assert "20.0 hours without clozapine" in flag.message
    assert reading.valid_trough is False and reading.adherence_doubt is True
