"""POST /api/v1/patients/{id}/enroll/ (docs/api.md; docs/rules.md §4)."""

from datetime import timedelta

import pytest

from patients.models import EnrollmentEvent
from tests import factories
from tests.conftest import TODAY


def _enroll(client, patient, body=None):
    return client.post(f"/api/v1/patients/{patient.pk}/enroll/", body or {}, format="json")


def _patient_with_anc(alice, days_ago, value=2000, population="general"):
    patient = factories.PatientFactory.create(
        actor=alice, prescriber=alice.prescriber, population=population
    )
    factories.record_anc(patient, alice, TODAY - timedelta(days=days_ago), value)
    return patient


def _assert_refused(response, patient, *codes):
    assert response.status_code == 422, response.json()
    body = response.json()
    assert set(body) >= {"code", "message", "reasons"}
    assert body["message"]
    assert [r["code"] for r in body["reasons"]] == list(codes)
    assert all(r["message"] for r in body["reasons"])
    assert not EnrollmentEvent.objects.filter(patient=patient).exists()
    patient.monitoring.refresh_from_db()
    assert patient.monitoring.enrollment_status == "pending"


def test_enrolling_with_a_recent_normal_anc_returns_the_enrolled_patient(api, alice):
    patient = _patient_with_anc(alice, days_ago=3)

    response = _enroll(api(alice), patient)

    assert response.status_code == 200, response.json()
    data = response.json()
    assert data["id"] == patient.pk
    assert data["enrollment_status"] == "enrolled"
    assert data["treatment_status"] == "not_started"
    assert data["monitoring"]["monitoring_frequency"] == "weekly"
    event = EnrollmentEvent.objects.get(patient=patient)
    assert (event.kind, event.effective_date, event.actor) == ("enroll", TODAY, alice)


def test_an_anc_drawn_30_days_before_enrollment_is_recent_enough(api, alice):
    patient = _patient_with_anc(alice, days_ago=30)

    assert _enroll(api(alice), patient).status_code == 200


def test_an_anc_drawn_31_days_before_enrollment_is_not_recent(api, alice):
    patient = _patient_with_anc(alice, days_ago=31)

    _assert_refused(_enroll(api(alice), patient), patient, "anc_not_recent")


def test_no_anc_at_all_is_not_recent(api, alice):
    patient = factories.PatientFactory.create(actor=alice, prescriber=alice.prescriber)

    _assert_refused(_enroll(api(alice), patient), patient, "anc_not_recent")


@pytest.mark.parametrize(("value", "ok"), [(1499, False), (1500, True)])
def test_a_general_patient_needs_an_anc_of_at_least_1500(api, alice, value, ok):
    patient = _patient_with_anc(alice, days_ago=2, value=value)

    response = _enroll(api(alice), patient)

    if ok:
        assert response.status_code == 200
    else:
        _assert_refused(response, patient, "anc_below_threshold")


def test_a_normal_result_followed_by_a_low_one_does_not_qualify(api, alice):
    patient = _patient_with_anc(alice, days_ago=10, value=2500)
    factories.record_anc(patient, alice, TODAY - timedelta(days=2), 1200)

    _assert_refused(_enroll(api(alice), patient), patient, "anc_below_threshold")


def test_a_ben_patient_with_one_baseline_is_refused(api, alice):
    patient = _patient_with_anc(alice, days_ago=2, value=1200, population="ben")

    _assert_refused(_enroll(api(alice), patient), patient, "baseline_incomplete")


def test_a_ben_patient_with_two_baselines_at_1000_is_enrolled(api, alice):
    patient = _patient_with_anc(alice, days_ago=6, value=1100, population="ben")
    factories.record_anc(patient, alice, TODAY - timedelta(days=2), 1000)

    response = _enroll(api(alice), patient)

    assert response.status_code == 200, response.json()
    assert response.json()["monitoring"]["band"] == "normal"


def test_an_uncertified_prescriber_may_not_enroll(api, db):
    uncertified = factories.PrescriberFactory.create(certified=False, certified_on=None)
    user = factories.PrescriberUserFactory.create(prescriber=uncertified)
    patient = _patient_with_anc(user, days_ago=2)

    _assert_refused(_enroll(api(user), patient), patient, "prescriber_not_certified")


def test_an_expired_certification_counts_as_not_certified(api, db):
    expired = factories.PrescriberFactory.create(certification_expires_on=TODAY - timedelta(days=1))
    user = factories.PrescriberUserFactory.create(prescriber=expired)
    patient = _patient_with_anc(user, days_ago=2)

    _assert_refused(_enroll(api(user), patient), patient, "prescriber_not_certified")


def test_every_refusal_reason_is_given_at_once(api, db):
    uncertified = factories.PrescriberFactory.create(certified=False, certified_on=None)
    user = factories.PrescriberUserFactory.create(prescriber=uncertified)
    patient = _patient_with_anc(user, days_ago=40, value=1200, population="ben")

    _assert_refused(
        _enroll(api(user), patient),
        patient,
        "prescriber_not_certified",
        "anc_not_recent",
        "baseline_incomplete",
    )


def test_enrolling_an_enrolled_patient_is_a_409(api, alice, active_patient):
    response = _enroll(api(alice), active_patient)

    assert response.status_code == 409
    body = response.json()
    assert set(body) >= {"code", "message", "reasons"}
    assert EnrollmentEvent.objects.filter(patient=active_patient).count() == 1


def test_a_future_effective_date_is_a_400(api, alice):
    patient = _patient_with_anc(alice, days_ago=2)
    tomorrow = (TODAY + timedelta(days=1)).isoformat()

    response = _enroll(api(alice), patient, {"effective_date": tomorrow})

    assert response.status_code == 400
    assert list(response.json()) == ["effective_date"]
    assert not EnrollmentEvent.objects.exists()


def test_a_malformed_effective_date_is_a_400(api, alice):
    patient = _patient_with_anc(alice, days_ago=2)

    response = _enroll(api(alice), patient, {"effective_date": "next tuesday"})

    assert response.status_code == 400
    assert "effective_date" in response.json()


def test_a_past_effective_date_is_checked_against_labs_of_that_date(api, alice):
    # A patient moving from another system: labs 50 days ago, enrolled as of 40 days ago.
    patient = _patient_with_anc(alice, days_ago=50)
    effective = TODAY - timedelta(days=40)

    response = _enroll(api(alice), patient, {"effective_date": effective.isoformat()})

    assert response.status_code == 200, response.json()
    assert EnrollmentEvent.objects.get(patient=patient).effective_date == effective


def test_labs_drawn_after_a_past_effective_date_do_not_count(api, alice):
    patient = _patient_with_anc(alice, days_ago=2)
    effective = TODAY - timedelta(days=10)

    response = _enroll(api(alice), patient, {"effective_date": effective.isoformat()})

    _assert_refused(response, patient, "anc_not_recent")


def test_the_designee_may_enroll(api, designee, alice):
    patient = _patient_with_anc(alice, days_ago=2)

    assert _enroll(api(designee), patient).status_code == 200


def test_another_prescriber_gets_404(api, alice, bob):
    patient = _patient_with_anc(alice, days_ago=2)

    assert _enroll(api(bob), patient).status_code == 404
    assert not EnrollmentEvent.objects.exists()


def test_a_patient_discontinued_today_is_re_enrolled_the_same_day(api, alice, active_patient):
    client = api(alice)
    stopped = client.post(
        f"/api/v1/patients/{active_patient.pk}/treatment-events/",
        {"kind": "discontinue", "effective_date": TODAY.isoformat(), "reason": "stopped"},
        format="json",
    )
    assert stopped.status_code == 201

    response = _enroll(client, active_patient, {"reason": "restarting"})

    assert response.status_code == 200, response.json()
    assert response.json()["enrollment_status"] == "enrolled"
    assert response.json()["treatment_status"] == "not_started"
    kinds = list(
        EnrollmentEvent.objects.filter(patient=active_patient).values_list("kind", flat=True)
    )
    assert kinds == ["enroll", "reenroll"]


def test_a_patient_discontinued_yesterday_is_re_enrolled_today(api, alice, active_patient):
    client = api(alice)
    yesterday = (TODAY - timedelta(days=1)).isoformat()
    stopped = client.post(
        f"/api/v1/patients/{active_patient.pk}/treatment-events/",
        {"kind": "discontinue", "effective_date": yesterday, "reason": "stopped"},
        format="json",
    )
    assert stopped.status_code == 201

    response = _enroll(client, active_patient, {"reason": "restarting"})

    assert response.status_code == 200, response.json()
    assert response.json()["enrollment_status"] == "enrolled"
    assert response.json()["treatment_status"] == "not_started"
