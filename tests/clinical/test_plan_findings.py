"""Items 6-8: the plan's bowel check at every contact (urgent for 3+ days without a movement or
abdominal pain, laxative prompting), the Ronaldson myocarditis watch (troponin and CRP with their
thresholds, a positive checklist never "complete", restarted with treatment), vital signs
through titration, the ECG's QTc flag, the scheduled clozapine level, seizure, eosinophil and
pregnancy checks. Through the API, as a clinic records them."""

from datetime import timedelta
from decimal import Decimal

import pytest

from clinical import messages as say
from clinical.models import LevelIndication, PlanEntry
from clinical.services import level_result_record
from monitoring.acts import treatment_event_record
from notifications.models import Notification
from tests import factories
from tests.conftest import NOW, TODAY


def url(patient, suffix=""):
    return f"/api/v1/patients/{patient.pk}/plan/{suffix}"


def record(api, user, patient, item, day=TODAY, **data):
    return api(user).post(url(patient), {"item": item, "done_on": str(day), **data}, format="json")


def status(api, user, patient, code):
    return next(i for i in api(user).get(url(patient)).json() if i["code"] == code)


@pytest.fixture
def new_patient(alice, clock):
    """Started 7 days ago: in the first weeks' watch."""
    return factories.enrolled_patient(
        actor=alice,
        start=TODAY - timedelta(days=7),
        draws=factories.weekly_draws(TODAY - timedelta(days=7), TODAY - timedelta(days=1)),
        last_name="Newstart",
    )


# --- item 6: the bowel check ---------------------------------------------------------------


def test_a_bowel_check_is_accepted_and_due_at_every_contact(api, alice, new_patient):
    item = status(api, alice, new_patient, "bowel")
    assert item["status"] in ("due", "overdue")
    assert [a["name"] for a in item["answers"]] == [
        "days_since_bowel_movement",
        "abdominal_pain",
        "laxative",
    ]
    calm = record(
        api,
        alice,
        new_patient,
        "bowel",
        answers={"days_since_bowel_movement": 0, "abdominal_pain": False, "laxative": True},
    )
    assert calm.status_code == 201, calm.json()
    assert calm.json()["needs_action"] is False and calm.json()["prompt"] == ""
    assert status(api, alice, new_patient, "bowel")["status"] == "up_to_date"


@pytest.mark.parametrize(
    ("answers", "finding"),
    [
        (
            {"days_since_bowel_movement": 3, "abdominal_pain": False},
            "no bowel movement for 3 days",
        ),
        ({"days_since_bowel_movement": 0, "abdominal_pain": True}, "abdominal pain"),
    ],
)
def test_three_days_without_a_movement_or_abdominal_pain_is_urgent(
    api, alice, new_patient, answers, finding, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = record(api, alice, new_patient, "bowel", answers=answers)
    assert response.status_code == 201, response.json()
    body = response.json()
    [found] = body["finding"]["findings"]
    assert found["code"] == say.BOWEL_URGENT.code and found["severity"] == "urgent"
    assert finding in found["message"] and "same-day medical review" in found["message"]
    assert body["needs_action"] is True
    assert status(api, alice, new_patient, "bowel")["status"] == "action_needed"
    [alert] = Notification.objects.filter(recipient=alice, channel="in_app", urgent=True)
    assert "Bowel habit" in alert.subject


def test_two_days_prompts_laxatives_and_no_laxative_prompts_one(api, alice, new_patient):
    two = record(
        api,
        alice,
        new_patient,
        "bowel",
        answers={"days_since_bowel_movement": 2, "abdominal_pain": False},
    ).json()
    assert two["prompt"] == say.BOWEL_CONSTIPATED.text
    none = record(
        api,
        alice,
        new_patient,
        "bowel",
        answers={"days_since_bowel_movement": 1, "abdominal_pain": False, "laxative": False},
    ).json()
    assert none["prompt"] == say.BOWEL_NO_LAXATIVE.text
    assert none["needs_action"] is False  # information: the check itself is done


@pytest.mark.parametrize(
    ("answers", "field"),
    [
        ({"abdominal_pain": False}, "answers.days_since_bowel_movement"),
        (
            {"days_since_bowel_movement": -1, "abdominal_pain": False},
            "answers.days_since_bowel_movement",
        ),
        (
            {"days_since_bowel_movement": "two", "abdominal_pain": False},
            "answers.days_since_bowel_movement",
        ),
        ({"days_since_bowel_movement": 1, "abdominal_pain": "no"}, "answers.abdominal_pain"),
        ({"days_since_bowel_movement": 1, "abdominal_pain": False, "colour": 1}, "answers.colour"),
    ],
)
def test_bad_answers_are_refused_naming_the_answer(api, alice, new_patient, answers, field):
    response = record(api, alice, new_patient, "bowel", answers=answers)
    assert response.status_code == 400 and field in response.json(), response.json()
    assert not PlanEntry.objects.exists()


# --- item 7: myocarditis (Ronaldson) -------------------------------------------------------


@pytest.mark.parametrize(
    ("troponin", "crp", "code"),
    [
        ("10", "5", None),
        ("31", "5", say.MYOCARDITIS_STOP.code),  # > 2 x 15
        ("30", "5", say.MYOCARDITIS_DAILY.code),  # 2 x 15 itself: a smaller rise
        ("16", "5", say.MYOCARDITIS_DAILY.code),
        ("10", "101", say.MYOCARDITIS_STOP.code),
        ("10", "100", say.MYOCARDITIS_DAILY.code),
        ("10", "51", say.MYOCARDITIS_DAILY.code),
        ("10", "50", None),
    ],
)
def test_troponin_and_crp_thresholds(api, alice, new_patient, troponin, crp, code):
    response = record(
        api,
        alice,
        new_patient,
        "troponin_crp",
        answers={"troponin_ng_l": troponin, "troponin_uln_ng_l": "15", "crp_mg_l": crp},
    )
    assert response.status_code == 201, response.json()
    codes = [f["code"] for f in response.json()["finding"]["findings"]]
    assert codes == ([code] if code else [])
    if code == say.MYOCARDITIS_STOP.code:
        assert "stop clozapine" in response.json()["prompt"]
    if code == say.MYOCARDITIS_DAILY.code:
        assert "daily" in response.json()["prompt"]


def test_the_watch_is_baseline_then_weekly_for_four_weeks(api, alice, new_patient):
    tests = status(api, alice, new_patient, "troponin_crp")
    start = TODAY - timedelta(days=7)
    assert tests["due_on"] == str(start + timedelta(days=7))
    assert tests["next_due_on"] == str(start + timedelta(days=14))


def test_a_positive_checklist_is_never_complete_until_a_later_clean_one(api, alice, new_patient):
    record(api, alice, new_patient, "myocarditis_watch", symptoms=True)
    assert status(api, alice, new_patient, "myocarditis_watch")["status"] == "action_needed"
    record(api, alice, new_patient, "myocarditis_watch", day=TODAY, symptoms=False)
    assert status(api, alice, new_patient, "myocarditis_watch")["status"] == "up_to_date"


def test_the_watch_restarts_with_a_restart_of_treatment(api, alice, patient):
    # Alice's patient started 100 days ago: the first weeks' tests are long missed.
    assert status(api, alice, patient, "troponin_crp")["status"] == "missed"
    treatment_event_record(
        patient=patient,
        actor=alice,
        kind="interrupt",
        effective_date=TODAY - timedelta(days=10),
        reason="admitted",
    )
    treatment_event_record(
        patient=patient, actor=alice, kind="resume", effective_date=TODAY, reason="restarted"
    )
    restarted = status(api, alice, patient, "troponin_crp")
    assert restarted["status"] == "due" and restarted["due_on"] == str(TODAY)
    assert status(api, alice, patient, "myocarditis_watch")["next_due_on"] == str(
        TODAY + timedelta(days=7)
    )


# --- item 8: vital signs, ECG, the level, seizures, eosinophils, pregnancy ------------------


def vitals(**kw):
    data = {
        "temperature_c": "36.8",
        "systolic_mmhg": 120,
        "diastolic_mmhg": 75,
        "pulse_per_min": 80,
    }
    data.update(kw)
    return {"answers": data}


@pytest.mark.parametrize(
    ("answers", "codes"),
    [
        (vitals(), []),
        (vitals(temperature_c="38.0"), [say.FEVER.code]),
        (vitals(temperature_c="37.9"), []),
        (vitals(pulse_per_min=120), [say.TACHYCARDIA.code]),
        (vitals(standing_systolic_mmhg=100), [say.HYPOTENSION.code]),
        (vitals(standing_systolic_mmhg=101), []),
        (vitals(systolic_mmhg=88), [say.HYPOTENSION.code]),
    ],
)
def test_vital_signs_through_titration(api, alice, new_patient, answers, codes):
    response = record(api, alice, new_patient, "vitals", **answers)
    assert response.status_code == 201, response.json()
    assert [f["code"] for f in response.json()["finding"]["findings"]] == codes


def test_vital_signs_are_due_daily_in_the_first_two_weeks(api, alice, new_patient):
    item = status(api, alice, new_patient, "vitals")
    assert item["due_on"] == str(TODAY)
    assert item["next_due_on"] == str(TODAY + timedelta(days=1))
    assert "Temperature" in item["label"]


def test_the_qtc_flag_at_500_or_a_rise_of_60(api, alice, new_patient):
    first = record(
        api, alice, new_patient, "ecg", day=TODAY - timedelta(days=7), answers={"qtc_ms": 420}
    )
    assert first.json()["needs_action"] is False
    rise = record(api, alice, new_patient, "ecg", answers={"qtc_ms": 480}).json()
    assert rise["finding"]["findings"][0]["code"] == say.QTC_LONG.code
    assert "60 ms above the first ECG's 420 ms" in rise["prompt"]
    small = record(api, alice, new_patient, "ecg", answers={"qtc_ms": 479}).json()
    assert small["finding"]["findings"] == []
    long = record(api, alice, new_patient, "ecg", answers={"qtc_ms": 500}).json()
    assert "QTc 500 ms (500 ms or more)" in long["prompt"]


def test_the_scheduled_level_is_done_by_a_valid_trough_not_a_plan_entry(api, alice, patient):
    assert status(api, alice, patient, "clozapine_level")["status"] == "overdue"
    refused = record(api, alice, patient, "clozapine_level")
    assert refused.status_code == 400 and "item" in refused.json()
    level_result_record(
        patient=patient,
        actor=alice,
        sampled_at=NOW - timedelta(hours=1),
        clozapine=Decimal(400),
        unit="ng/mL",
        last_dose_at=NOW - timedelta(hours=13),
        dose_stable_days=10,
    )
    assert status(api, alice, patient, "clozapine_level")["status"] == "up_to_date"


def test_seizures_eosinophils_and_pregnancy(
    api, alice, patient, django_capture_on_commit_callbacks
):
    seizure = record(api, alice, patient, "seizure", symptoms=True).json()
    assert seizure["finding"]["findings"][0]["code"] == say.SEIZURE.code
    eos = record(api, alice, patient, "eosinophils", answers={"eosinophils_10e9_l": "0.6"}).json()
    assert eos["finding"]["findings"][0]["code"] == say.EOSINOPHILIA.code
    normal = record(
        api, alice, patient, "eosinophils", answers={"eosinophils_10e9_l": "0.5"}
    ).json()
    assert normal["finding"]["findings"] == []
    assert patient.sex == "female"
    with django_capture_on_commit_callbacks(execute=True):
        pregnant = record(api, alice, patient, "pregnancy", answers={"pregnant": True}).json()
    assert pregnant["finding"]["findings"][0]["code"] == say.PREGNANCY.code
    assert LevelIndication.objects.get(patient=patient).reason == "pregnancy"
    prompts = (
        api(alice).get(f"/api/v1/patients/{patient.pk}/levels/summary/").json()["level_suggested"]
    )
    assert [p["code"] for p in prompts] == [say.INDICATION_PREGNANCY.code]


def test_the_pregnancy_check_is_not_for_male_patients(api, alice):
    male = factories.enrolled_patient(actor=alice, start=TODAY - timedelta(days=10), sex="male")
    assert "pregnancy" not in [i["code"] for i in api(alice).get(url(male)).json()]
    refused = record(api, alice, male, "pregnancy", answers={"pregnant": False})
    assert refused.status_code == 400 and "item" in refused.json()
