"""GET /api/v1/patients/{id}/eligibility/: the dispensing decision (docs/api.md; docs/rules.md
§7)."""

from datetime import datetime, timedelta
from urllib.parse import quote

import pytest
from dateutil.relativedelta import relativedelta

from monitoring.models import MonitoringState
from tests import factories
from tests.conftest import NOW, TODAY

# Every key of docs/api.md's example decision.
DECISION_KEYS = {
    "patient",
    "as_of",
    "protocol",
    "decision",
    "max_days_supply",
    "reasons",
    "population",
    "band",
    "monitoring_frequency",
    "latest_anc",
    "next_draw_due",
    "confirmation_due",
    "hematology_consult",
    "authorization",
    "enrollment_status",
    "treatment_status",
}


def _decide(client, patient, **query):
    parts = [f"{k}={quote(str(v))}" for k, v in query.items()]
    url = f"/api/v1/patients/{patient.pk}/eligibility/"
    return client.get(url + ("?" + "&".join(parts) if parts else ""))


def _codes(decision):
    return [r["code"] for r in decision["reasons"]]


def test_the_decision_has_the_exact_shape_of_api_md(api, alice, phil, pharmacy):
    start = TODAY - relativedelta(months=7)
    drawn = TODAY - timedelta(days=3)
    patient = factories.enrolled_patient(actor=alice, start=start, draws=[(drawn, 2100)])

    response = _decide(api(phil), patient, pharmacy=pharmacy.pk, days_supply=14)

    assert response.status_code == 200
    decision = response.json()
    assert DECISION_KEYS <= set(decision)
    assert datetime.fromisoformat(decision["as_of"]) == NOW
    latest = decision["latest_anc"]
    assert latest["value_per_ul"] == 2100
    assert datetime.fromisoformat(latest["drawn_at"]) == factories.at(drawn)
    assert {k: decision[k] for k in DECISION_KEYS - {"as_of", "latest_anc"}} == {
        "patient": str(patient.pk),
        "protocol": "us-label-2015",
        "decision": "allowed",
        "max_days_supply": 14,
        "reasons": [],
        "population": "general",
        "band": "normal",
        "monitoring_frequency": "every_2_weeks",
        "next_draw_due": (drawn + timedelta(days=14)).isoformat(),
        "confirmation_due": None,
        "hematology_consult": False,
        "authorization": None,
        "enrollment_status": "enrolled",
        "treatment_status": "active",
    }


def test_a_reason_has_a_code_and_a_message(api, phil, alice, active_patient):
    decision = _decide(api(phil), active_patient, days_supply=14).json()

    assert decision["reasons"] == [
        {"code": "days_supply_exceeds_limit", "message": decision["reasons"][0]["message"]}
    ]
    assert decision["reasons"][0]["message"]


def test_too_long_a_supply_is_blocked_but_says_what_could_be_dispensed(api, phil, active_patient):
    decision = _decide(api(phil), active_patient, days_supply=14).json()

    assert decision["decision"] == "blocked"
    assert _codes(decision) == ["days_supply_exceeds_limit"]
    assert decision["max_days_supply"] == 7


def test_blocked_for_another_reason_means_max_days_supply_0(api, phil, alice):
    start = TODAY - timedelta(days=30)
    patient = factories.enrolled_patient(
        actor=alice, start=start, draws=[(TODAY - timedelta(days=8), 2100)]
    )

    decision = _decide(api(phil), patient, days_supply=14).json()

    assert decision["decision"] == "blocked"
    assert _codes(decision) == ["anc_not_current", "days_supply_exceeds_limit"]
    assert decision["max_days_supply"] == 0


@pytest.mark.parametrize(("days_ago", "current"), [(7, True), (8, False)])
def test_a_weekly_anc_is_current_for_7_days(api, phil, alice, days_ago, current):
    start = TODAY - timedelta(days=30)
    patient = factories.enrolled_patient(
        actor=alice, start=start, draws=[(TODAY - timedelta(days=days_ago), 2100)]
    )

    decision = _decide(api(phil), patient).json()

    assert (decision["decision"] == "allowed") is current
    assert ("anc_not_current" in _codes(decision)) is not current


def test_the_defaults_are_now_and_the_largest_supply(api, phil, active_patient):
    decision = _decide(api(phil), active_patient).json()

    assert datetime.fromisoformat(decision["as_of"]) == NOW
    assert decision["decision"] == "allowed"
    assert decision["max_days_supply"] == 7


def test_a_pharmacist_decides_for_its_own_pharmacy_by_default(api, phil, active_patient):
    response = _decide(api(phil), active_patient)

    assert response.status_code == 200
    assert response.json()["pharmacy"] == phil.pharmacy_id


def test_a_pharmacist_may_name_its_own_pharmacy(api, phil, active_patient):
    assert _decide(api(phil), active_patient, pharmacy=phil.pharmacy_id).status_code == 200


def test_a_pharmacist_naming_another_pharmacy_is_a_400(api, phil, other_pharmacy, active_patient):
    response = _decide(api(phil), active_patient, pharmacy=other_pharmacy.pk)

    assert response.status_code == 400
    assert list(response.json()) == ["pharmacy"]


def test_a_prescriber_names_the_pharmacy(api, alice, pharmacy, active_patient):
    missing = _decide(api(alice), active_patient)
    named = _decide(api(alice), active_patient, pharmacy=pharmacy.pk)

    assert missing.status_code == 400
    assert "pharmacy" in missing.json()
    assert named.status_code == 200
    assert named.json()["pharmacy"] == pharmacy.pk


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"pharmacy": 999999}, "pharmacy"),
        ({"pharmacy": "abc"}, "pharmacy"),
        ({"days_supply": 0}, "days_supply"),
        ({"days_supply": -7}, "days_supply"),
        ({"days_supply": "week"}, "days_supply"),
        ({"as_of": "tomorrow"}, "as_of"),
        ({"as_of": "2026-02-30T10:00:00Z"}, "as_of"),
        # Before 1970: no history is that old, and the clinic's zone then had an offset in
        # seconds that no RFC 3339 reader takes back (found by the schema fuzzer).
        ({"as_of": "0073-01-16T04:22:42.8-19:16"}, "as_of"),
        ({"as_of": "1969-12-31T23:59:59Z"}, "as_of"),
    ],
)
def test_bad_query_parameters_are_a_400_naming_the_field(
    api, admin, pharmacy, active_patient, query, field
):
    query = {"pharmacy": pharmacy.pk, **query}

    response = _decide(api(admin), active_patient, **query)

    assert response.status_code == 400
    assert field in response.json()


def test_as_of_in_the_past_uses_only_data_effective_then(api, alice, phil, active_patient):
    client = api(alice)
    moderate = client.post(
        f"/api/v1/patients/{active_patient.pk}/anc-results/",
        {"drawn_at": (NOW - timedelta(hours=3)).isoformat(), "value": 800, "unit": "/uL"},
        format="json",
    )
    assert moderate.status_code == 201
    stored = MonitoringState.objects.get(patient=active_patient).snapshot
    earlier = factories.at(TODAY - timedelta(days=3), 18)

    then = _decide(api(phil), active_patient, as_of=earlier.isoformat()).json()
    now = _decide(api(phil), active_patient).json()

    assert datetime.fromisoformat(then["as_of"]) == earlier
    assert then["decision"] == "allowed", then
    assert then["band"] == "normal"
    assert then["latest_anc"]["value_per_ul"] == 2100
    assert now["decision"] == "blocked"
    assert now["band"] == "moderate"
    assert now["latest_anc"]["value_per_ul"] == 800
    assert "treatment_interrupted" in _codes(now)
    # deciding never writes
    assert MonitoringState.objects.get(patient=active_patient).snapshot == stored


def test_as_of_before_enrollment_is_not_enrolled(api, phil, active_patient):
    before = factories.at(TODAY - timedelta(days=25))

    decision = _decide(api(phil), active_patient, as_of=before.isoformat()).json()

    assert decision["enrollment_status"] == "pending"
    assert decision["decision"] == "blocked"
    assert "patient_not_enrolled" in _codes(decision)
    assert decision["max_days_supply"] == 0


def test_as_of_in_utc_is_accepted(api, phil, active_patient):
    decision = _decide(api(phil), active_patient, as_of="2026-05-19T22:00:00Z").json()

    assert decision["decision"] == "allowed"


# --- one reason at a time -------------------------------------------------------------------


def test_an_uncertified_pharmacy_is_blocked(api, alice, pharmacy, active_patient):
    pharmacy.certified = False
    pharmacy.save()

    decision = _decide(api(alice), active_patient, pharmacy=pharmacy.pk).json()

    assert _codes(decision) == ["pharmacy_not_certified"]
    assert decision["max_days_supply"] == 0


def test_an_uncertified_prescriber_is_blocked(api, alice, phil, active_patient):
    prescriber = alice.prescriber
    prescriber.certification_expires_on = TODAY - timedelta(days=1)
    prescriber.save()

    decision = _decide(api(phil), active_patient).json()

    assert _codes(decision) == ["prescriber_not_certified"]


def test_a_pending_patient_is_not_enrolled(api, alice, pharmacy, pending_patient):
    decision = _decide(api(alice), pending_patient, pharmacy=pharmacy.pk).json()

    assert decision["enrollment_status"] == "pending"
    assert decision["monitoring_frequency"] is None
    assert _codes(decision) == ["patient_not_enrolled"]


def test_a_pending_ben_patient_without_labs(api, alice, pharmacy):
    patient = factories.PatientFactory.create(
        actor=alice, prescriber=alice.prescriber, population="ben"
    )

    decision = _decide(api(alice), patient, pharmacy=pharmacy.pk).json()

    assert _codes(decision) == ["patient_not_enrolled", "no_anc_on_file", "baseline_incomplete"]
    assert decision["latest_anc"] is None
    assert decision["band"] is None
    assert decision["population"] == "ben"


def test_a_mild_result_asks_for_a_repeat_within_24_hours(api, alice, phil, active_patient):
    drawn = NOW - timedelta(hours=2)
    api(alice).post(
        f"/api/v1/patients/{active_patient.pk}/anc-results/",
        {"drawn_at": drawn.isoformat(), "value": 1200, "unit": "/uL"},
        format="json",
    )

    decision = _decide(api(phil), active_patient).json()

    assert decision["decision"] == "allowed"
    assert decision["band"] == "mild"
    assert decision["monitoring_frequency"] == "three_times_weekly"
    assert decision["max_days_supply"] == 7
    assert datetime.fromisoformat(decision["confirmation_due"]) == drawn + timedelta(hours=24)
    assert decision["next_draw_due"] == (TODAY + timedelta(days=1)).isoformat()
    assert decision["hematology_consult"] is False


def test_a_moderate_result_interrupts_and_flags_a_consult(api, alice, phil, active_patient):
    api(alice).post(
        f"/api/v1/patients/{active_patient.pk}/anc-results/",
        {"drawn_at": (NOW - timedelta(hours=2)).isoformat(), "value": 700, "unit": "/uL"},
        format="json",
    )

    decision = _decide(api(phil), active_patient).json()

    assert decision["decision"] == "blocked"
    assert decision["band"] == "moderate"
    assert decision["monitoring_frequency"] == "daily"
    assert decision["hematology_consult"] is True
    assert decision["treatment_status"] == "interrupted"
    assert _codes(decision) == ["treatment_interrupted"]


def test_a_monthly_patient_may_have_28_days(api, alice, phil):
    start = TODAY - relativedelta(months=13)
    patient = factories.enrolled_patient(
        actor=alice, start=start, draws=[(TODAY - timedelta(days=20), 2600)]
    )

    decision = _decide(api(phil), patient).json()

    assert (decision["monitoring_frequency"], decision["max_days_supply"]) == ("monthly", 28)


def test_a_discontinued_patient_is_blocked(api, alice, phil, active_patient):
    api(alice).post(
        f"/api/v1/patients/{active_patient.pk}/treatment-events/",
        {"kind": "discontinue", "effective_date": TODAY.isoformat(), "reason": "stopped"},
        format="json",
    )

    decision = _decide(api(phil), active_patient).json()

    assert "treatment_discontinued" in _codes(decision)
    assert decision["max_days_supply"] == 0


@pytest.mark.parametrize(
    ("days_ago", "enrollment", "reason"),
    [
        (29, "enrolled", "treatment_interrupted"),
        (30, "reenrollment_required", "patient_not_enrolled"),
    ],
)
def test_an_interruption_of_30_days_needs_re_enrollment(
    api, alice, phil, days_ago, enrollment, reason
):
    start = TODAY - timedelta(days=60)
    patient = factories.enrolled_patient(
        actor=alice, start=start, draws=[(TODAY - timedelta(days=3), 2100)]
    )
    api(alice).post(
        f"/api/v1/patients/{patient.pk}/treatment-events/",
        {
            "kind": "interrupt",
            "effective_date": (TODAY - timedelta(days=days_ago)).isoformat(),
            "reason": "stopped taking it",
        },
        format="json",
    )

    decision = _decide(api(phil), patient).json()

    assert decision["enrollment_status"] == enrollment
    assert reason in _codes(decision)


def test_supply_on_hand_counts_against_the_largest_supply(api, phil, active_patient):
    client = api(phil)
    first = client.post(
        "/api/v1/dispenses/",
        {"patient": active_patient.pk, "pharmacy": phil.pharmacy_id, "days_supply": 5},
        format="json",
    )
    assert first.status_code == 201

    decision = _decide(client, active_patient).json()

    # 5 days dispensed today cover today and four more: 5 on hand, 7 - 5 = 2 (docs/rules.md
    # §9.13)
    assert decision["decision"] == "allowed"
    assert decision["max_days_supply"] == 2
