"""Item 9: level prompts for poor response, more side effects, doubtful adherence, infection and
pregnancy; smoking-change prompts that say what to do and persist until a steady-state level is
in; interacting-drug advice that says what to do, from the maintained list."""

from datetime import timedelta
from decimal import Decimal

import pytest

from clinical import messages as say
from clinical.models import InteractingDrug, MedicationEvent
from clinical.selectors import medication_prompt
from clinical.services import level_result_record
from tests.conftest import NOW, TODAY


def summary(api, user, patient):
    return api(user).get(f"/api/v1/patients/{patient.pk}/levels/summary/").json()


def stop_smoking(api, user, patient, days_ago, **more):
    client = api(user)
    client.post(
        f"/api/v1/patients/{patient.pk}/smoking-status/",
        {"status": "smoker", "effective_on": str(TODAY - timedelta(days=days_ago + 100))},
    )
    return client.post(
        f"/api/v1/patients/{patient.pk}/smoking-status/",
        {"status": "non_smoker", "effective_on": str(TODAY - timedelta(days=days_ago)), **more},
        format="json",
    )


def trough_on(patient, actor, days_ago, valid=True):
    sampled = NOW - timedelta(days=days_ago)
    return level_result_record(
        patient=patient,
        actor=actor,
        sampled_at=sampled,
        clozapine=Decimal(500),
        unit="ng/mL",
        last_dose_at=sampled - timedelta(hours=12 if valid else 3),
        dose_stable_days=30,
    )


def smoking_prompts(api, user, patient):
    return [
        p
        for p in summary(api, user, patient)["level_suggested"]
        if p["kind"] == "smoking_status_change"
    ]


def test_stopping_smoking_says_levels_rise_by_about_half_and_what_to_do(api, alice, patient):
    response = stop_smoking(api, alice, patient, 2, nicotine="nicotine_replacement")
    assert response.status_code == 201, response.json()
    [_, stopped] = smoking_prompts(api, alice, patient)
    assert stopped["code"] == say.SMOKING_STOPPED.code
    text = stopped["message"]
    assert text == say.SMOKING_STOPPED.say(
        on=str(TODAY - timedelta(days=2)), context=" (now nicotine replacement)"
    )
    for words in (
        "rise by about half",
        "nicotine replacement and vaping count as stopping",
        "Review the dose now",
        "trough level one week after stopping",
    ):
        assert words in text
    # The induction wears off over about two weeks: the steady-state level is asked from then.
    assert stopped["level_from"] == str(TODAY + timedelta(days=12))


def test_the_smoking_prompt_persists_until_a_steady_state_level_two_weeks_after(
    api, alice, patient, clock
):
    stop_smoking(api, alice, patient, 16)
    trough_on(patient, alice, 14)  # two days after stopping: too early
    assert len(smoking_prompts(api, alice, patient)) == 2
    trough_on(patient, alice, 4)  # twelve days on: levels still rising, not at steady state
    assert len(smoking_prompts(api, alice, patient)) == 2
    trough_on(patient, alice, 1, valid=False)  # fifteen days on, but not a trough
    assert len(smoking_prompts(api, alice, patient)) == 2
    trough_on(patient, alice, 0)  # sixteen days on, a valid trough
    assert [p["code"] for p in smoking_prompts(api, alice, patient)] == []


@pytest.mark.parametrize(
    ("drug", "kind", "message"),
    [
        ("fluvoxamine", "start", say.STRONG_INHIBITOR_STARTED),
        ("ciprofloxacin", "start", say.STRONG_INHIBITOR_STARTED),
        ("fluoxetine", "start", say.INHIBITOR_STARTED),
        ("fluvoxamine", "stop", say.INHIBITOR_STOPPED),
        ("rifampicin", "start", say.STRONG_INDUCER_STARTED),
        ("St John's wort", "start", say.STRONG_INDUCER_STARTED),
        ("omeprazole", "start", say.INDUCER_STARTED),
        ("phenytoin", "stop", say.INDUCER_STOPPED),
        ("carbamazepine", "start", say.MARROW_RISK_INDUCER_STARTED),
    ],
)
def test_interacting_drug_advice_says_what_to_do(alice, patient, drug, kind, message):
    event = MedicationEvent(
        patient=patient,
        drug=InteractingDrug.objects.get(name=drug),
        kind=kind,
        effective_on=TODAY,
        recorded_by=alice,
    )
    text = medication_prompt(event)
    assert text.startswith(drug)
    drug_row = InteractingDrug.objects.get(name=drug)
    assert text == message.say(drug=drug, enzyme=drug_row.enzyme, on=str(TODAY))


def test_an_inducer_prompt_waits_two_weeks_for_its_level(api, alice, patient):
    api(alice).post(
        f"/api/v1/patients/{patient.pk}/medications/",
        {"drug": "rifampicin", "kind": "start", "effective_on": str(TODAY - timedelta(days=10))},
    )
    trough_on(patient, alice, 0)  # 10 days on: induction still building
    [prompt] = summary(api, alice, patient)["level_suggested"]
    assert prompt["level_from"] == str(TODAY + timedelta(days=4))


@pytest.mark.parametrize(
    ("reason", "message"),
    [
        ("poor_response", say.INDICATION_POOR_RESPONSE),
        ("side_effects", say.INDICATION_SIDE_EFFECTS),
        ("adherence_doubt", say.INDICATION_ADHERENCE_DOUBT),
        ("infection", say.INDICATION_INFECTION),
        ("pregnancy", say.INDICATION_PREGNANCY),
    ],
)
def test_each_indication_prompts_a_level_until_one_is_drawn(
    api, alice, patient, reason, message, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = api(alice).post(
            f"/api/v1/patients/{patient.pk}/level-indications/",
            {"reason": reason, "noted_on": str(TODAY - timedelta(days=1))},
        )
    assert response.status_code == 201, response.json()
    [prompt] = summary(api, alice, patient)["level_suggested"]
    assert prompt["code"] == message.code
    assert prompt["message"] == message.say(on=str(TODAY - timedelta(days=1)))
    trough_on(patient, alice, 0)
    assert summary(api, alice, patient)["level_suggested"] == []


def test_an_unknown_indication_is_refused(api, alice, patient):
    response = api(alice).post(
        f"/api/v1/patients/{patient.pk}/level-indications/",
        {"reason": "curiosity", "noted_on": str(TODAY)},
    )
    assert response.status_code == 400 and "reason" in response.json()
