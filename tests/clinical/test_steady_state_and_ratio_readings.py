"""Item 2: a change in smoking or an interacting drug within the steady-state window makes a
level not at steady state (and it does not count towards the adequate trial). Item 3: the ratio
bands are read on trough samples only; a ratio of 3 or more, and a recorded serious infection
at any ratio, remind the prescriber. Item 10: 600-999 ng/mL is named, not called toxic."""

from datetime import timedelta
from decimal import Decimal

import pytest

from clinical.levels import FlagCode, LevelInput, Severity, interpret
from clinical.messages import RATIO_NOT_TROUGH, STEADY_STATE_RECENT_CHANGE, UPPER_REFERENCE_RANGE
from notifications.models import Notification
from tests.conftest import NOW, TODAY


def url(patient, name="levels"):
    return f"/api/v1/patients/{patient.pk}/{name}/"


def trough(**kw):
    data = {
        "sampled_at": (NOW - timedelta(hours=1)).isoformat(),
        "clozapine": "450",
        "norclozapine": "300",
        "unit": "ng/mL",
        "last_dose_at": (NOW - timedelta(hours=13)).isoformat(),
        "dose_stable_days": 30,
    }
    data.update(kw)
    return data


def flags(level):
    return {f["code"]: f for f in level["interpretation"]["flags"]}


def test_a_level_two_days_after_stopping_smoking_and_one_after_ciprofloxacin_is_not_steady(
    api, alice, patient
):
    client = api(alice)
    client.post(
        url(patient, "smoking-status"),
        {"status": "smoker", "effective_on": str(TODAY - timedelta(days=200))},
    )
    client.post(
        url(patient, "smoking-status"),
        {"status": "non_smoker", "effective_on": str(TODAY - timedelta(days=2))},
    )
    client.post(
        url(patient, "medications"),
        {"drug": "ciprofloxacin", "kind": "start", "effective_on": str(TODAY - timedelta(days=1))},
    )
    level = client.post(url(patient), trough(), format="json").json()
    assert level["valid_trough"] is False
    changes = [
        f for f in level["interpretation"]["flags"] if f["code"] == "steady_state_recent_change"
    ]
    assert [c["message"] for c in changes] == [
        STEADY_STATE_RECENT_CHANGE.say(
            change="Smoking stopped", on=str(TODAY - timedelta(days=2)), days=2
        ),
        STEADY_STATE_RECENT_CHANGE.say(
            change="ciprofloxacin (inhibitor) started", on=str(TODAY - timedelta(days=1)), days=1
        ),
    ]
    assert "does not count towards the adequate trial" in changes[0]["message"]
    trial = client.get(url(patient) + "summary/").json()["adequate_trial"]
    assert trial["qualifying_levels"] == 0 and trial["uncounted_levels"] == 1


@pytest.mark.parametrize(("days_before", "steady"), [(6, False), (7, True)])
def test_a_change_a_week_before_the_draw_has_settled(days_before, steady):
    from clinical.levels import RecentChange

    drawn = NOW
    reading = interpret(
        LevelInput(
            retitration_after_hours=48,
            sampled_at=drawn,
            clozapine_ng_ml=Decimal(450),
            last_dose_at=drawn - timedelta(hours=12),
            dose_stable_days=30,
            recent_changes=(RecentChange("Smoking stopped", TODAY, days_before),),
        )
    )
    assert reading.valid_trough is steady


def test_a_draw_three_hours_after_the_dose_has_its_ratio_shown_not_read(api, alice, patient):
    level = (
        api(alice)
        .post(
            url(patient),
            trough(
                clozapine="700",
                norclozapine="300",
                last_dose_at=(NOW - timedelta(hours=4)).isoformat(),
            ),
            format="json",
        )
        .json()
    )
    found = flags(level)
    assert level["metabolic_ratio"] == "2.33"
    assert "ratio_inhibition" not in found
    assert found["ratio_not_trough"]["message"] == RATIO_NOT_TROUGH.say(ratio="2.33")


def test_a_ratio_of_3_or_more_on_a_trough_reminds_the_prescriber(
    api, alice, patient, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        level = (
            api(alice)
            .post(url(patient), trough(clozapine="900", norclozapine="300"), format="json")
            .json()
        )
    assert "ratio_strong_inhibition" in flags(level)
    assert level["interpretation"]["unexpected"] is True
    [alert] = Notification.objects.filter(
        kind="level_unexpected", recipient=alice, channel="in_app"
    )
    assert "strong CYP1A2 inhibitor" in alert.body


def test_a_recorded_serious_infection_reminds_below_a_ratio_of_3(
    api, alice, patient, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        level = (
            api(alice)
            .post(
                url(patient),
                trough(clozapine="450", norclozapine="300", serious_infection=True),
                format="json",
            )
            .json()
        )
    found = flags(level)
    assert "ratio_expected" in found  # 1.50
    assert found["infection_recorded"]["severity"] == "warning"
    assert "levels can rise sharply" in found["infection_recorded"]["message"]
    [alert] = Notification.objects.filter(
        kind="level_unexpected", recipient=alice, channel="in_app"
    )
    assert "serious infection" in alert.body


@pytest.mark.parametrize(
    ("value", "named"), [("599.99", False), ("600", True), ("999.99", True), ("1000", False)]
)
def test_the_band_600_to_999_is_named_without_calling_it_toxic(value, named):
    reading = interpret(
        LevelInput(
            retitration_after_hours=48,
            sampled_at=NOW,
            clozapine_ng_ml=Decimal(value),
            last_dose_at=NOW - timedelta(hours=12),
            dose_stable_days=7,
        )
    )
    band = [f for f in reading.flags if f.code == FlagCode.UPPER_REFERENCE_RANGE]
    assert bool(band) is named
    if named:
        [flag] = band
        assert flag.severity == Severity.WARNING
        assert flag.message == UPPER_REFERENCE_RANGE.say(value=Decimal(value))
        assert "seizure risk rises" in flag.message
        assert "not a toxic level" in flag.message
        assert "AGNP" in flag.source
        assert not reading.urgent
