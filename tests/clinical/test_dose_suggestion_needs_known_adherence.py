"""The one sentence that suggests raising the dose ("below_response_threshold") appears only for
a valid steady-state trough whose doses the records show taken: never when the records cannot
say (no supply recorded), never while a noted doubt about adherence is open, and never for a
level in the two weeks in which stopping smoking (or an inducer) is still wearing off. Through
the API, as the clinic records a level."""

from datetime import timedelta

from tests.clinical.conftest import dispensed
from tests.conftest import NOW, TODAY


def _level(client, patient, **kw):
    body = {
        "sampled_at": (NOW - timedelta(hours=1)).isoformat(),
        "clozapine": "200",
        "unit": "ng/mL",
        "last_dose_at": (NOW - timedelta(hours=13)).isoformat(),
        "daily_dose_mg": "300",
        "dose_stable_days": 30,
        **kw,
    }
    response = client.post(f"/api/v1/patients/{patient.pk}/levels/", body, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def _codes(level):
    return {f["code"] for f in level["interpretation"]["flags"]}


def test_a_low_trough_suggests_a_higher_dose_only_when_the_doses_are_known_taken(
    api, alice, phil, pharmacy, patient
):
    client = api(alice)
    unknown = _level(client, patient)  # no supply recorded: the records cannot say
    assert unknown["interpretation"]["adherence_doubt"] is True
    assert "below_response_threshold" not in _codes(unknown)
    assert "below_response_threshold_unconfirmed" in _codes(unknown)

    dispensed(patient, pharmacy, phil, days_ago=3, days_supply=28)  # the week's end only
    partly = _level(client, patient, sampled_at=(NOW - timedelta(minutes=45)).isoformat())
    assert partly["interpretation"]["adherence_doubt"] is True
    assert "below_response_threshold" not in _codes(partly)

    dispensed(patient, pharmacy, phil, days_ago=10, days_supply=7)  # and the days before
    known = _level(client, patient, sampled_at=(NOW - timedelta(minutes=30)).isoformat())
    assert known["interpretation"]["adherence_doubt"] is False
    assert "below_response_threshold" in _codes(known)


def test_a_noted_doubt_about_adherence_holds_until_a_level_answers_it(
    api, alice, phil, pharmacy, patient
):
    client = api(alice)
    dispensed(patient, pharmacy, phil, days_ago=10, days_supply=7)
    dispensed(patient, pharmacy, phil, days_ago=3, days_supply=28)
    noted = client.post(
        f"/api/v1/patients/{patient.pk}/level-indications/",
        {"reason": "adherence_doubt", "noted_on": str(TODAY - timedelta(days=1))},
    )
    assert noted.status_code == 201, noted.json()
    level = _level(client, patient)
    assert level["interpretation"]["adherence_doubt"] is True
    assert "below_response_threshold" not in _codes(level)


def test_a_level_twelve_days_after_stopping_smoking_is_not_at_steady_state(
    api, alice, phil, pharmacy, patient
):
    client = api(alice)
    dispensed(patient, pharmacy, phil, days_ago=10, days_supply=7)
    dispensed(patient, pharmacy, phil, days_ago=3, days_supply=28)
    for status, days_ago in (("smoker", 200), ("non_smoker", 12)):
        changed = client.post(
            f"/api/v1/patients/{patient.pk}/smoking-status/",
            {"status": status, "effective_on": str(TODAY - timedelta(days=days_ago))},
            format="json",
        )
        assert changed.status_code == 201, changed.json()
    level = _level(client, patient)
    assert "steady_state_recent_change" in _codes(level)
    assert level["valid_trough"] is False
    assert "below_response_threshold" not in _codes(level)
