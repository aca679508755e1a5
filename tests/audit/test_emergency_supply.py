"""A pharmacist's emergency supply: only when the decision is blocked solely because the ANC is
not current, at most the protocol's 4 days, once per ANC; the prescriber is told, the supply is
listed for review and only an administrator marks it reviewed. Every refusal is a 422 with its
reasons (or a 403 for a caller who may not ask) and writes only its audit entry."""

from datetime import timedelta

import pytest

from audit.models import Action
from engine.protocols import us_label_2015
from monitoring.services import monitoring_state_refresh
from notifications.models import Kind, Notification
from patients.models import Dispense, Pharmacy, Prescriber
from tests import factories
from tests.audit.conftest import entries_after, head
from tests.conftest import TODAY


def _emergency(client, patient, pharmacy, days=4, reason="lab_delay", remark="", key=None):
    # These patients have no supply recorded here, so the pharmacist confirms the last dose
    # (docs/rules.md §10; tests/engine/test_engine_emergency.py has the rest).
    extra = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return client.post(
        "/api/v1/dispenses/",
        {
            "patient": patient.pk,
            "pharmacy": pharmacy.pk,
            "days_supply": days,
            "emergency": {"reason": reason, "remark": remark, "last_dose_confirmed": True},
        },
        format="json",
        **extra,
    )


def _codes(response):
    return [r["code"] for r in response.json()["reasons"]]


def test_the_protocol_allows_four_days():
    assert us_label_2015.emergency_supply_max_days == 4


def test_the_decision_offers_it_only_when_the_anc_alone_is_stale(api, phil, stale_patient):
    decision = api(phil).get(f"/api/v1/patients/{stale_patient.pk}/eligibility/").json()

    assert decision["decision"] == "blocked"
    assert [r["code"] for r in decision["reasons"]] == ["anc_not_current"]
    assert decision["emergency_supply"] == {
        "available": True,
        "max_days_supply": 4,
        "needs_last_dose_confirmation": True,
    }


def test_the_decision_does_not_offer_it_when_the_supply_is_allowed(api, phil, active_patient):
    decision = api(phil).get(f"/api/v1/patients/{active_patient.pk}/eligibility/").json()
    assert decision["decision"] == "allowed"
    assert decision["emergency_supply"] is None


def test_a_pharmacist_makes_one_and_the_prescriber_is_told(
    api, phil, alice, pharmacy, stale_patient
):
    before = head()
    response = _emergency(api(phil), stale_patient, pharmacy, days=4, reason="weather")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["emergency"]["reason"] == "weather"
    assert body["emergency"]["reviewed_at"] is None
    assert body["decision"]["decision"] == "blocked"  # the decision in force, stored as it was
    assert body["decision"]["emergency_supply"] == {
        "available": True,
        "max_days_supply": 4,
        "needs_last_dose_confirmation": False,  # the request confirmed it
    }
    dispense = Dispense.objects.get(pk=body["id"])
    assert (dispense.days_supply, dispense.emergency_reason) == (4, "weather")

    [entry] = entries_after(before)
    assert entry.action == Action.EMERGENCY_SUPPLY_RECORD
    assert entry.outcome == "allowed"
    assert entry.inputs["emergency"] == {
        "reason": "weather",
        "remark": "",
        "last_dose_confirmed": True,
    }
    assert entry.output["reasons"] == ["anc_not_current"]

    told = Notification.objects.filter(kind=Kind.EMERGENCY_SUPPLY, patient=stale_patient)
    assert alice.pk in {n.recipient_id for n in told}
    assert {n.channel for n in told} == {"in_app", "email"}
    assert all("4 day(s)" in n.subject for n in told)


def test_a_second_one_on_the_same_anc_is_refused(api, phil, pharmacy, stale_patient):
    assert _emergency(api(phil), stale_patient, pharmacy, days=2).status_code == 201
    clock_free = _emergency(api(phil), stale_patient, pharmacy, days=2)
    assert clock_free.status_code == 422
    assert "emergency_supply_already_used" in _codes(clock_free)


def test_it_is_idempotent_like_a_dispense(api, phil, pharmacy, stale_patient):
    first = _emergency(api(phil), stale_patient, pharmacy, key="em-1")
    again = _emergency(api(phil), stale_patient, pharmacy, key="em-1")
    assert first.status_code == again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert Dispense.objects.filter(patient=stale_patient).count() == 1


def _refused(api, phil, patient, pharmacy, expected, days=4):
    before = head()
    count = Dispense.objects.count()
    response = _emergency(api(phil), patient, pharmacy, days=days)
    assert response.status_code == 422, response.json()
    assert response.json()["code"] == "emergency_supply_refused"
    for code in expected:
        assert code in _codes(response), _codes(response)
    assert Dispense.objects.count() == count
    assert not Notification.objects.filter(kind=Kind.EMERGENCY_SUPPLY).exists()
    [entry] = entries_after(before)
    assert (entry.action, entry.outcome) == (Action.EMERGENCY_SUPPLY_RECORD, "blocked")
    return response


def test_more_days_than_allowed_are_refused(api, phil, pharmacy, stale_patient):
    _refused(api, phil, stale_patient, pharmacy, ["emergency_supply_days_exceed_limit"], days=5)


def test_a_low_band_is_refused(api, phil, alice, pharmacy):
    start = TODAY - timedelta(days=20)
    mild = factories.enrolled_patient(
        actor=alice, start=start, draws=[(TODAY - timedelta(days=13), 1200)]
    )
    decision = api(phil).get(f"/api/v1/patients/{mild.pk}/eligibility/").json()
    assert decision["band"] == "mild"
    assert "anc_not_current" in [r["code"] for r in decision["reasons"]]
    assert decision["emergency_supply"] is None
    _refused(api, phil, mild, pharmacy, ["emergency_supply_band_not_normal"])


def test_an_uncertified_prescriber_is_refused(api, phil, pharmacy, stale_patient):
    Prescriber.objects.filter(pk=stale_patient.prescriber_id).update(certified=False)
    _refused(api, phil, stale_patient, pharmacy, ["prescriber_not_certified"])


def test_an_uncertified_pharmacy_is_refused(api, phil, pharmacy, stale_patient):
    Pharmacy.objects.filter(pk=pharmacy.pk).update(certified=False)
    _refused(api, phil, stale_patient, pharmacy, ["pharmacy_not_certified"])


def test_a_patient_not_enrolled_is_refused(api, phil, alice, pharmacy):
    patient = factories.PatientFactory.create(actor=alice, prescriber=alice.prescriber)
    factories.record_anc(patient, alice, TODAY - timedelta(days=20), 2300)
    _refused(api, phil, patient, pharmacy, ["patient_not_enrolled"])


def test_an_interrupted_patient_is_refused(api, phil, alice, pharmacy, stale_patient):
    factories.treatment_event_record(
        patient=stale_patient,
        actor=alice,
        kind="interrupt",
        effective_date=TODAY - timedelta(days=1),
        reason="admitted",
    )
    _refused(api, phil, stale_patient, pharmacy, ["treatment_interrupted"])


def test_a_current_anc_needs_no_emergency_supply(api, phil, pharmacy, active_patient):
    _refused(api, phil, active_patient, pharmacy, ["emergency_supply_not_needed"])


def test_supply_on_hand_caps_it(api, phil, pharmacy, active_patient, clock):
    ok = api(phil).post(
        "/api/v1/dispenses/",
        {"patient": active_patient.pk, "pharmacy": pharmacy.pk, "days_supply": 7},
        format="json",
    )
    assert ok.status_code == 201
    clock.shift(timedelta(days=2))  # the ANC is stale now; 5 days are still on hand
    decision = api(phil).get(f"/api/v1/patients/{active_patient.pk}/eligibility/").json()
    assert [r["code"] for r in decision["reasons"]] == ["anc_not_current"]
    assert decision["emergency_supply"] == {
        "available": True,
        "max_days_supply": 2,
        "needs_last_dose_confirmation": False,
    }
    _refused(api, phil, active_patient, pharmacy, ["emergency_supply_days_exceed_limit"], days=3)


def test_a_full_supply_on_hand_is_refused(api, phil, pharmacy, stale_patient):
    Dispense.objects.create(
        patient=stale_patient,
        pharmacy=pharmacy,
        days_supply=8,  # imported: 7 days on hand after today, the weekly limit
        dispensed_at=factories.at(TODAY),
        authorization_code="CLZ-IMPORTED1",
        decision_as_answered={},
        recorded_by=phil,
    )
    monitoring_state_refresh(patient=stale_patient)
    _refused(api, phil, stale_patient, pharmacy, ["days_supply_exceeds_limit"], days=1)


@pytest.mark.parametrize("who", ["alice", "admin", "aud"])
def test_only_a_pharmacist_may_make_one(api, request, pharmacy, stale_patient, who):
    user = request.getfixturevalue(who)
    before = head()
    response = _emergency(api(user), stale_patient, pharmacy)
    assert response.status_code == 403
    assert not Dispense.objects.exists()
    assert entries_after(before) == []


def test_other_needs_a_remark_and_a_bad_reason_is_named(api, phil, pharmacy, stale_patient):
    no_remark = _emergency(api(phil), stale_patient, pharmacy, reason="other")
    assert no_remark.status_code == 400
    assert "remark" in no_remark.json()["emergency"]
    bad = _emergency(api(phil), stale_patient, pharmacy, reason="because")
    assert bad.status_code == 400
    assert "reason" in bad.json()["emergency"]
    ok = _emergency(api(phil), stale_patient, pharmacy, reason="other", remark="courier lost it")
    assert ok.status_code == 201, ok.json()
    assert ok.json()["emergency"]["remark"] == "courier lost it"


def test_only_an_administrator_marks_it_reviewed(
    api, phil, alice, aud, admin, pharmacy, stale_patient
):
    made = _emergency(api(phil), stale_patient, pharmacy).json()
    url = f"/api/v1/dispenses/{made['id']}/review/"

    assert api(phil).post(url, {"note": "ok"}).status_code == 403
    assert api(aud).post(url, {"note": "ok"}).status_code == 403
    assert api(alice).post(url, {"note": "ok"}).status_code == 403

    before = head()
    reviewed = api(admin).post(url, {"note": "lab confirmed the delay"})
    assert reviewed.status_code == 200, reviewed.json()
    assert reviewed.json()["emergency"]["review_note"] == "lab confirmed the delay"
    assert reviewed.json()["emergency"]["reviewed_by"] == admin.pk
    [entry] = entries_after(before)
    assert entry.action == Action.EMERGENCY_SUPPLY_REVIEW

    assert api(admin).post(url, {}).status_code == 409  # once


def test_a_regular_dispense_cannot_be_reviewed(api, phil, admin, pharmacy, active_patient):
    made = (
        api(phil)
        .post(
            "/api/v1/dispenses/",
            {"patient": active_patient.pk, "pharmacy": pharmacy.pk, "days_supply": 7},
            format="json",
        )
        .json()
    )
    assert api(admin).post(f"/api/v1/dispenses/{made['id']}/review/", {}).status_code == 409


def test_a_blocked_dispense_says_the_emergency_option_exists(api, phil, pharmacy, stale_patient):
    response = api(phil).post(
        "/api/v1/dispenses/",
        {"patient": stale_patient.pk, "pharmacy": pharmacy.pk, "days_supply": 7},
        format="json",
    )
    assert response.status_code == 422
    assert response.json()["decision"]["emergency_supply"] == {
        "available": True,
        "max_days_supply": 4,
        "needs_last_dose_confirmation": True,
    }


def test_a_null_emergency_is_a_regular_dispense(api, phil, pharmacy, active_patient):
    response = api(phil).post(
        "/api/v1/dispenses/",
        {
            "patient": active_patient.pk,
            "pharmacy": pharmacy.pk,
            "days_supply": 7,
            "emergency": None,
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["emergency"] is None
    assert response.json()["decision"]["emergency_supply"] is None
