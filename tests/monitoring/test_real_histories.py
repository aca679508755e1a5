"""docs/rules.md §9 and §10 through HTTP: the messier histories an outside clinical tester found
wrong answers on, recorded the way a clinic records them - results filed late, twice, in pieces,
a protocol switched - with the clock moved to each recording's moment.

Each test names the finding it pins (the numbered list of the clinical-safety work in
docs/rules.md terms)."""

from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from monitoring.models import LabResult
from patients.models import Dispense
from tests import factories
from tests.conftest import NOW, TODAY
from tests.engine.builders import ZONE


def at(day, hour=9, minute=0):
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZONE)


class Clinic:
    """One patient's record, written through the API as a clinic would, in time order."""

    def __init__(self, api, clock, prescriber, pharmacist, patient):
        self.clock = clock
        self.doctor = api(prescriber)
        self.counter = api(pharmacist)
        self.pharmacy = pharmacist.pharmacy_id
        self.patient = patient

    def now(self, moment):
        self.clock.move_to(moment, tick=False)
        return self

    def result(self, value, drawn_at, *, unit="/uL", analyte="anc", accession="", status=201):
        path = "anc-results" if analyte == "anc" else "wbc-results"
        body = {
            "drawn_at": drawn_at.isoformat(),
            "value": str(value),
            "unit": unit,
            "accession": accession,
            "confirm_unusual": True,
        }
        response = self.doctor.post(
            f"/api/v1/patients/{self.patient.pk}/{path}/", body, format="json"
        )
        assert response.status_code == status, response.json()
        return response.json()

    def enroll(self, day, protocol=None, status=200):
        body = {"effective_date": day.isoformat()}
        if protocol:
            body["protocol"] = protocol
        response = self.doctor.post(
            f"/api/v1/patients/{self.patient.pk}/enroll/", body, format="json"
        )
        assert response.status_code == status, response.json()
        return response.json()

    def event(self, kind, day, status=201):
        response = self.doctor.post(
            f"/api/v1/patients/{self.patient.pk}/treatment-events/",
            {"kind": kind, "effective_date": day.isoformat(), "reason": "clinical decision"},
            format="json",
        )
        assert response.status_code == status, response.json()
        return response.json()

    def authorize(self, kind, starts_on, expires_on, status=201):
        response = self.doctor.post(
            f"/api/v1/patients/{self.patient.pk}/authorizations/",
            {
                "kind": kind,
                "rationale": "benefit outweighs risk",
                "starts_on": starts_on.isoformat(),
                "expires_on": expires_on.isoformat(),
            },
            format="json",
        )
        assert response.status_code == status, response.json()
        return response.json()

    def decision(self, days_supply=7):
        response = self.counter.get(
            f"/api/v1/patients/{self.patient.pk}/eligibility/",
            {"pharmacy": self.pharmacy, "days_supply": days_supply},
        )
        assert response.status_code == 200, response.json()
        return response.json()

    def dispense(self, days, status=201, emergency=None):
        body = {"patient": self.patient.pk, "pharmacy": self.pharmacy, "days_supply": days}
        if emergency is not None:
            body["emergency"] = emergency
        response = self.counter.post("/api/v1/dispenses/", body, format="json")
        assert response.status_code == status, response.json()
        return response.json()


def codes(decision):
    return [r["code"] for r in decision["reasons"]]


@pytest.fixture
def clinic(api, clock, alice, phil):
    def make(**fields):
        patient = factories.PatientFactory.create(
            actor=alice, prescriber=alice.prescriber, **fields
        )
        return Clinic(api, clock, alice, phil, patient)

    return make


D0 = TODAY - timedelta(days=60)  # the start day of most scenarios


def started(clinic, **fields):
    """Enrolled and started on D0 on a 2000 drawn two days before."""
    c = clinic(**fields)
    c.now(at(D0 - timedelta(days=2), 12)).result(2000, at(D0 - timedelta(days=2)))
    c.now(at(D0, 10)).enroll(D0)
    c.event("start", D0)
    return c


# --- 1. a late result never erases a clinician's act ------------------------------------------


def test_a_late_result_from_the_start_day_leaves_the_start_and_a_later_interrupt_standing(clinic):
    c = started(clinic)
    c.now(at(D0 + timedelta(days=1), 9)).result(1800, at(D0 + timedelta(days=1), 8))
    # The lab files the start day's 07:00 draw a week late.
    c.now(at(D0 + timedelta(days=7), 10)).result(1200, at(D0, 7))
    c.result(1700, at(D0 + timedelta(days=7), 8))
    c.now(at(D0 + timedelta(days=8), 10)).event("interrupt", D0 + timedelta(days=8))
    # ("suspected myocarditis")
    c.now(at(D0 + timedelta(days=10), 12))

    decision = c.decision()

    assert decision["decision"] == "blocked"
    assert "treatment_interrupted" in codes(decision)
    assert decision["clock_started_on"] == D0.isoformat()
    with pytest.raises(AssertionError):
        c.dispense(7)
    assert not Dispense.objects.exists()


def test_a_late_moderate_result_from_before_the_start_is_flagged_for_review(clinic):
    c = started(clinic)
    c.now(at(D0 + timedelta(days=3), 10)).result(800, at(D0 - timedelta(days=1)))
    c.result(1600, at(D0 + timedelta(days=3), 8))

    decision = c.decision()

    assert "treatment_interrupted" in codes(decision)
    assert [r["code"] for r in decision["review_needed"]] == [
        "enrollment_conflicts_with_results",
        "start_conflicts_with_results",
    ]
    assert "review_needed" in [w["code"] for w in decision["warnings"]]
    # The prescriber reviews, then resumes.
    reviewed = c.doctor.post(
        f"/api/v1/patients/{c.patient.pk}/review-acknowledgement/", {"note": "seen"}, format="json"
    )
    assert reviewed.status_code == 201, reviewed.json()
    assert reviewed.json()["monitoring"]["review_needed"] == []
    c.event("resume", D0 + timedelta(days=3))
    assert c.decision()["decision"] == "allowed"


# --- 2. two results of one draw --------------------------------------------------------------


@pytest.mark.parametrize("normal_first", [True, False])
def test_a_normal_value_with_the_same_draw_time_never_refutes_a_severe_one(clinic, normal_first):
    c = started(clinic)
    drawn = at(D0 + timedelta(days=5), 9)
    c.now(at(D0 + timedelta(days=5), 11))
    for value in (2400, 300) if normal_first else (300, 2400):
        c.result(value, drawn)

    decision = c.decision()

    assert decision["band"] == "severe"
    assert decision["decision"] == "blocked"
    assert decision["latest_anc"]["value_per_ul"] == 300


# --- 3. authorizations have a scope --------------------------------------------------------------


def test_a_continuation_written_at_800_does_not_cover_a_severe_episode_two_weeks_later(clinic):
    c = started(clinic)
    low = D0 + timedelta(days=20)
    c.now(at(low, 10)).result(800, at(low, 9))
    c.now(at(low, 16)).result(800, at(low, 15))
    c.authorize("continuation", low, low + timedelta(days=30))
    assert c.decision()["decision"] == "allowed"
    c.now(at(low + timedelta(days=3), 10)).result(1600, at(low + timedelta(days=3), 9))
    c.now(at(low + timedelta(days=14), 10)).result(250, at(low + timedelta(days=14), 9))

    decision = c.decision()

    assert decision["band"] == "severe"
    assert decision["decision"] == "blocked"
    assert "treatment_interrupted" in codes(decision)
    assert decision["authorization"]["applies"] is False


def test_a_rechallenge_authorization_is_not_used_twice(clinic):
    c = started(clinic)
    low = D0 + timedelta(days=10)
    c.now(at(low, 10)).result(300, at(low, 9))
    c.now(at(low, 16)).result(300, at(low, 15))
    c.now(at(low + timedelta(days=6), 10)).result(1600, at(low + timedelta(days=6), 9))
    c.authorize("rechallenge", low + timedelta(days=6), low + timedelta(days=30))
    c.event("resume", low + timedelta(days=6))
    second = low + timedelta(days=13)
    c.now(at(second, 10)).result(300, at(second, 9))
    c.now(at(second, 16)).result(300, at(second, 15))
    c.now(at(second + timedelta(days=5), 10)).result(1600, at(second + timedelta(days=5), 9))

    refused = c.event("resume", second + timedelta(days=5), status=422)

    assert "rechallenge_not_authorized" in [r["code"] for r in refused["reasons"]]
    assert "rechallenge_not_authorized" in codes(c.decision())


def test_an_authorization_may_not_start_in_the_future(clinic):
    c = started(clinic)
    low = D0 + timedelta(days=20)
    c.now(at(low, 10)).result(800, at(low, 9))

    response = c.doctor.post(
        f"/api/v1/patients/{c.patient.pk}/authorizations/",
        {
            "kind": "continuation",
            "rationale": "benefit",
            "starts_on": (low + timedelta(days=1)).isoformat(),
            "expires_on": (low + timedelta(days=10)).isoformat(),
        },
        format="json",
    )

    assert response.status_code == 400
    assert "starts_on" in response.json()


# --- 4 and 14. uk-cpms result sets ------------------------------------------------------------


def uk_started(clinic):
    c = clinic(protocol="uk-cpms")
    c.now(at(D0 - timedelta(days=1), 12))
    c.result("2.5", at(D0 - timedelta(days=1)), unit="10*9/L")
    c.result("5.0", at(D0 - timedelta(days=1)), unit="10*9/L", analyte="wbc")
    c.now(at(D0, 10)).enroll(D0)
    c.event("start", D0)
    return c


def test_uk_one_amber_count_alone_never_keeps_the_patient_current(clinic):
    c = uk_started(clinic)
    full = D0 + timedelta(days=7)
    c.now(at(full, 10)).result("2.5", at(full), unit="10*9/L")
    c.result("5.0", at(full), unit="10*9/L", analyte="wbc")
    c.now(at(full + timedelta(days=2), 10)).result(
        "1.8", at(full + timedelta(days=2)), unit="10*9/L"
    )
    c.now(at(full + timedelta(days=9), 12))

    decision = c.decision()

    assert decision["band"] == "amber"
    assert decision["latest_anc"]["drawn_at"].startswith(full.isoformat())
    assert "anc_not_current" in codes(decision)


def test_uk_counts_of_one_accession_a_minute_apart_are_one_full_blood_count(clinic):
    c = uk_started(clinic)
    day = D0 + timedelta(days=7)
    c.now(at(day, 10)).result("2.5", at(day, 9, 0), unit="10*9/L", accession="A-77")
    c.result("5.0", at(day, 9, 1), unit="10*9/L", analyte="wbc", accession="A-77")

    decision = c.decision()

    assert decision["band"] == "green"
    assert decision["latest_wbc"]["value_per_ul"] == 5000
    assert decision["decision"] == "allowed"


# --- 5. a continuation does not pause the lapse under the prescriber's own interruption -----


def test_a_continuation_does_not_keep_an_interrupted_patient_enrolled_past_30_days(clinic):
    c = started(clinic)
    low = D0 + timedelta(days=10)
    c.now(at(low, 10)).result(800, at(low, 9))
    c.now(at(low, 16)).result(800, at(low, 15))
    c.authorize("continuation", low, low + timedelta(days=30))
    c.now(at(low + timedelta(days=1), 10)).event("interrupt", low + timedelta(days=1))
    c.now(at(low + timedelta(days=44), 12))

    decision = c.decision(days_supply=28)

    assert decision["enrollment_status"] == "reenrollment_required"
    assert decision["decision"] == "blocked"


# --- 7. the emergency supply ----------------------------------------------------------------


def withheld(decision):
    return [r["code"] for r in decision["emergency_supply_withheld"]]


def test_no_emergency_supply_on_an_anc_75_days_old(clinic):
    c = started(clinic)
    c.now(at(D0 + timedelta(days=73), 12))

    decision = c.decision()

    assert codes(decision) == ["anc_not_current"]
    assert decision["emergency_supply"] is None
    assert "emergency_supply_anc_too_old" in withheld(decision)


def test_no_emergency_supply_in_the_weeks_after_a_moderate_episode(clinic):
    c = started(clinic)
    low = D0 + timedelta(days=10)
    c.now(at(low, 10)).result(800, at(low, 9))
    c.now(at(low, 16)).result(800, at(low, 15))
    back = low + timedelta(days=2)
    c.now(at(back, 10)).result(1600, at(back, 9))
    c.event("resume", back)
    c.now(at(back + timedelta(days=8), 12))

    decision = c.decision()

    assert codes(decision) == ["anc_not_current"]
    assert decision["emergency_supply"] is None
    assert "emergency_supply_after_episode" in withheld(decision)


def test_no_emergency_supply_to_a_patient_16_days_without_clozapine(clinic):
    c = started(clinic)
    last = D0 + timedelta(days=2)
    c.now(at(last, 10)).result(2100, at(last, 9))
    c.dispense(7)
    c.now(at(last + timedelta(days=23), 12))  # ran out on day 9: 16 days without

    decision = c.decision()

    assert decision["emergency_supply"] is None
    assert "emergency_supply_off_clozapine" in withheld(decision)
    assert "retitration_needed" in [w["code"] for w in decision["warnings"]]


def test_an_emergency_supply_within_48_hours_of_running_out_is_offered(clinic):
    c = started(clinic)
    last = D0 + timedelta(days=2)
    c.now(at(last, 10)).result(2100, at(last, 9))
    c.dispense(7)
    c.now(at(last + timedelta(days=8), 12))  # ran out yesterday morning

    decision = c.decision()

    assert decision["emergency_supply"] == {
        "available": True,
        "max_days_supply": 4,
        "needs_last_dose_confirmation": False,
    }
    made = c.dispense(4, emergency={"reason": "lab_delay"})
    assert made["emergency"]["reason"] == "lab_delay"


# --- 8. a result drawn minutes "in the future" -----------------------------------------------


def test_a_result_drawn_four_minutes_ahead_of_the_clock_counts_at_once(clinic):
    c = started(clinic)
    when = at(D0 + timedelta(days=5), 10)
    c.now(when)
    recorded = c.result(300, when + timedelta(minutes=4))

    assert recorded["monitoring"]["band"] == "severe"
    decision = c.decision()
    assert decision["band"] == "severe"
    assert decision["decision"] == "blocked"


# --- 10. the BEN baseline ----------------------------------------------------------------------


def test_the_ben_baseline_uses_the_last_two_pre_dose_results_only(clinic):
    c = clinic(population="ben")
    c.now(at(D0 - timedelta(days=540), 12)).result(600, at(D0 - timedelta(days=540)))
    c.now(at(D0 - timedelta(days=14), 12)).result(1100, at(D0 - timedelta(days=14)))
    c.now(at(D0 - timedelta(days=2), 12)).result(1050, at(D0 - timedelta(days=2)))
    c.now(at(D0, 10)).enroll(D0)
    c.event("start", D0)

    decision = c.decision()

    assert decision["ben_baseline_per_ul"] == 1075
    assert decision["ben_baseline_count"] == 2


# --- 11. exposure comes first ------------------------------------------------------------------


def test_a_severe_count_from_before_any_clozapine_needs_no_rechallenge_to_start(clinic):
    c = clinic()
    c.now(at(D0 - timedelta(days=20), 12)).result(400, at(D0 - timedelta(days=20)))
    c.now(at(D0 - timedelta(days=2), 12)).result(2000, at(D0 - timedelta(days=2)))
    c.now(at(D0, 10)).enroll(D0)

    c.event("start", D0)

    decision = c.decision()
    assert decision["rechallenge_required"] is False
    assert decision["decision"] == "allowed"


# --- 12. a protocol switch ----------------------------------------------------------------------


def test_a_us_label_patient_re_enrolls_under_uk_cpms_on_a_green_full_blood_count(clinic):
    c = started(clinic)
    low = D0 + timedelta(days=10)
    c.now(at(low, 10)).result(800, at(low, 9))
    c.now(at(low, 16)).result(800, at(low, 15))
    back = low + timedelta(days=3)
    c.now(at(back, 10)).result(1600, at(back, 9))
    c.event("resume", back)
    c.now(at(back + timedelta(days=1), 10)).event("discontinue", back + timedelta(days=1))
    fbc = back + timedelta(days=5)
    c.now(at(fbc, 10)).result("2.5", at(fbc, 9), unit="10*9/L")
    c.result("5.0", at(fbc, 9), unit="10*9/L", analyte="wbc")

    enrolled = c.enroll(fbc, protocol="uk-cpms")
    c.event("start", fbc)

    assert enrolled["protocol"] == "uk-cpms"
    decision = c.decision()
    assert decision["protocol"] == "uk-cpms"
    assert decision["band"] == "green"
    assert decision["decision"] == "allowed"


def test_a_uk_red_patient_stays_non_rechallengeable_after_switching_to_us_label(clinic):
    c = uk_started(clinic)
    red = D0 + timedelta(days=10)
    c.now(at(red, 10)).result("2.9", at(red, 9), unit="10*9/L", analyte="wbc")
    c.result("2.5", at(red, 9), unit="10*9/L")
    for offset in (1, 2):
        day = red + timedelta(days=offset)
        c.now(at(day, 10)).result("2.5", at(day, 9), unit="10*9/L")
        c.result("5.0", at(day, 9), unit="10*9/L", analyte="wbc")
    c.now(at(red + timedelta(days=3), 10)).event("discontinue", red + timedelta(days=3))
    c.now(at(red + timedelta(days=6), 10)).result(2400, at(red + timedelta(days=6), 9))
    c.enroll(red + timedelta(days=6), protocol="us-label-2015")

    refused = c.event("start", red + timedelta(days=6), status=422)

    assert "rechallenge_not_authorized" in [r["code"] for r in refused["reasons"]]


# --- 13. supply on hand counts the day of dispensing -------------------------------------------


def test_after_a_full_supply_no_more_today_and_one_day_tomorrow(clinic):
    c = started(clinic)
    day = D0 + timedelta(days=20)
    c.now(at(day, 10)).result(2100, at(day, 9))
    c.dispense(7)

    assert c.decision(days_supply=1)["decision"] == "blocked"
    c.dispense(1, status=422)
    c.now(at(day + timedelta(days=1), 10))
    assert c.decision(days_supply=1)["decision"] == "allowed"
    assert c.decision(days_supply=2)["max_days_supply"] == 1


# --- §9.14 supply from elsewhere -------------------------------------------------------------


def test_a_stay_supplied_elsewhere_keeps_the_patient_enrolled(clinic):
    c = started(clinic)
    day = D0 + timedelta(days=2)
    c.now(at(day, 10)).result(2100, at(day, 9))
    c.dispense(7)
    c.now(at(day + timedelta(days=35), 10))
    stay = c.counter.post(
        f"/api/v1/patients/{c.patient.pk}/supplied-elsewhere/",
        {
            "starts_on": (day + timedelta(days=7)).isoformat(),
            "ends_on": (day + timedelta(days=34)).isoformat(),
            "reason": "inpatient stay",
        },
        format="json",
    )
    assert stay.status_code == 201, stay.json()

    decision = c.decision()

    assert decision["enrollment_status"] == "enrolled"
    assert "anc_not_current" in codes(decision)  # the stay never makes a result current


def test_a_stay_supplied_elsewhere_cannot_end_in_the_future(clinic):
    c = started(clinic).now(NOW)

    response = c.doctor.post(
        f"/api/v1/patients/{c.patient.pk}/supplied-elsewhere/",
        {
            "starts_on": (TODAY - timedelta(days=3)).isoformat(),
            "ends_on": (TODAY + timedelta(days=3)).isoformat(),
            "reason": "inpatient stay",
        },
        format="json",
    )

    assert response.status_code == 400
    assert "ends_on" in response.json()


def test_recording_time_is_what_the_store_keeps_for_each_result(clinic):
    # The engine reads each result's recording time from the store (docs/rules.md §9.6).
    c = started(clinic)
    c.now(NOW)
    c.result(2100, NOW - timedelta(days=1))
    assert LabResult.objects.filter(value=Decimal(2100), created_at=NOW).exists()
