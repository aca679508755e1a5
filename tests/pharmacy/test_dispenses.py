"""POST /api/v1/dispenses/ (docs/api.md, Dispensing; docs/rules.md §7)."""

from datetime import datetime, timedelta

import pytest

from monitoring.models import MonitoringState
from patients.models import Dispense
from tests import factories
from tests.conftest import NOW, TODAY

URL = "/api/v1/dispenses/"


def _dispense(client, patient, pharmacy, days_supply=7, key=None, **extra):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    body = {"patient": patient.pk, "pharmacy": pharmacy.pk, "days_supply": days_supply, **extra}
    return client.post(URL, body, format="json", **headers)


def test_an_allowed_dispense_is_recorded_with_an_authorization_code(
    api, phil, pharmacy, active_patient
):
    response = _dispense(api(phil), active_patient, pharmacy)

    assert response.status_code == 201, response.json()
    data = response.json()
    assert {"id", "authorization_code", "decision"} <= set(data)
    assert data["authorization_code"]
    assert data["decision"]["decision"] == "allowed"
    assert data["decision"]["max_days_supply"] == 7
    assert data["decision"]["patient"] == str(active_patient.pk)
    dispense = Dispense.objects.get()
    assert dispense.pk == data["id"]
    assert dispense.authorization_code == data["authorization_code"]
    assert (dispense.patient, dispense.pharmacy, dispense.days_supply) == (
        active_patient,
        pharmacy,
        7,
    )
    assert dispense.recorded_by == phil
    assert dispense.dispensed_at == NOW
    state = MonitoringState.objects.get(patient=active_patient)
    assert state.snapshot["supply_until"] == (TODAY + timedelta(days=7)).isoformat()


def test_every_authorization_code_is_different(api, phil, pharmacy, alice):
    codes = set()
    for _ in range(3):
        patient = factories.enrolled_patient(
            actor=alice, start=TODAY - timedelta(days=3), last_name="Code"
        )
        codes.add(_dispense(api(phil), patient, pharmacy).json()["authorization_code"])

    assert len(codes) == 3


def test_a_blocked_dispense_is_a_422_with_reasons_and_writes_nothing(api, phil, pharmacy, alice):
    start = TODAY - timedelta(days=30)
    stale = factories.enrolled_patient(
        actor=alice, start=start, draws=[(TODAY - timedelta(days=10), 2100)]
    )
    snapshot = MonitoringState.objects.get(patient=stale).snapshot

    response = _dispense(api(phil), stale, pharmacy)

    assert response.status_code == 422
    body = response.json()
    assert body["code"]
    assert body["message"]
    assert [r["code"] for r in body["reasons"]] == ["anc_not_current"]
    assert all(r["message"] for r in body["reasons"])
    assert not Dispense.objects.exists()
    assert MonitoringState.objects.get(patient=stale).snapshot == snapshot


def test_too_long_a_supply_is_refused_with_what_could_be_dispensed(
    api, phil, pharmacy, active_patient
):
    response = _dispense(api(phil), active_patient, pharmacy, days_supply=14)

    assert response.status_code == 422
    assert [r["code"] for r in response.json()["reasons"]] == ["days_supply_exceeds_limit"]
    assert response.json()["decision"]["max_days_supply"] == 7
    assert not Dispense.objects.exists()


def test_a_second_full_supply_the_same_day_is_refused(api, phil, pharmacy, active_patient):
    client = api(phil)
    assert _dispense(client, active_patient, pharmacy).status_code == 201

    second = _dispense(client, active_patient, pharmacy)

    assert second.status_code == 422
    assert [r["code"] for r in second.json()["reasons"]] == ["days_supply_exceeds_limit"]
    assert Dispense.objects.count() == 1


# --- idempotency ----------------------------------------------------------------------------


def test_a_replayed_idempotency_key_returns_the_first_answer_and_records_nothing(
    api, phil, pharmacy, active_patient
):
    client = api(phil)
    first = _dispense(client, active_patient, pharmacy, key="rx-1001")
    snapshot = MonitoringState.objects.get(patient=active_patient).snapshot

    replay = _dispense(client, active_patient, pharmacy, key="rx-1001")

    assert first.status_code == 201
    assert replay.status_code == first.status_code
    assert replay.json() == first.json()
    assert Dispense.objects.count() == 1
    assert MonitoringState.objects.get(patient=active_patient).snapshot == snapshot


def test_a_replay_still_answers_after_the_clock_moved_on(
    api, phil, pharmacy, active_patient, clock
):
    client = api(phil)
    first = _dispense(client, active_patient, pharmacy, key="rx-late")
    clock.shift(timedelta(days=3))

    replay = _dispense(client, active_patient, pharmacy, key="rx-late")

    assert replay.json() == first.json()
    assert Dispense.objects.count() == 1


def test_the_same_key_with_another_body_is_a_409(api, phil, pharmacy, active_patient):
    client = api(phil)
    _dispense(client, active_patient, pharmacy, days_supply=7, key="rx-1002")

    response = _dispense(client, active_patient, pharmacy, days_supply=5, key="rx-1002")

    assert response.status_code == 409
    assert set(response.json()) >= {"code", "message", "reasons"}
    assert Dispense.objects.count() == 1


def test_the_same_key_for_another_patient_is_a_409(api, phil, pharmacy, alice, active_patient):
    other = factories.enrolled_patient(actor=alice, start=TODAY - timedelta(days=3))
    client = api(phil)
    _dispense(client, active_patient, pharmacy, key="rx-1003")

    response = _dispense(client, other, pharmacy, key="rx-1003")

    assert response.status_code == 409
    assert Dispense.objects.count() == 1


def test_an_overlong_idempotency_key_is_a_400(api, phil, pharmacy, active_patient):
    response = _dispense(api(phil), active_patient, pharmacy, key="k" * 201)

    assert response.status_code == 400
    assert not Dispense.objects.exists()


# --- who, and for which pharmacy and patient ------------------------------------------------


def test_a_pharmacist_for_another_pharmacy_is_a_403(api, phil, other_pharmacy, active_patient):
    response = _dispense(api(phil), active_patient, other_pharmacy)

    assert response.status_code == 403
    assert not Dispense.objects.exists()


def test_an_unknown_patient_is_not_enrolled(api, phil, pharmacy):
    response = api(phil).post(
        URL, {"patient": 999999, "pharmacy": pharmacy.pk, "days_supply": 7}, format="json"
    )

    assert response.status_code == 422
    assert [r["code"] for r in response.json()["reasons"]] == ["patient_not_enrolled"]
    assert not Dispense.objects.exists()


def test_a_pending_patient_is_not_enrolled(api, phil, pharmacy, pending_patient):
    response = _dispense(api(phil), pending_patient, pharmacy)

    assert response.status_code == 422
    assert "patient_not_enrolled" in [r["code"] for r in response.json()["reasons"]]
    assert not Dispense.objects.exists()


def test_an_unknown_pharmacy_is_a_400(api, admin, active_patient):
    response = api(admin).post(
        URL, {"patient": active_patient.pk, "pharmacy": 999999, "days_supply": 7}, format="json"
    )

    assert response.status_code == 400
    assert "pharmacy" in response.json()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"days_supply": 0}, "days_supply"),
        ({"days_supply": 91}, "days_supply"),
        ({"days_supply": "week"}, "days_supply"),
        ({"patient": "abc"}, "patient"),
        ({"patient": None}, "patient"),
    ],
)
def test_bad_dispense_input_is_a_400(api, phil, pharmacy, active_patient, change, field):
    body = {"patient": active_patient.pk, "pharmacy": pharmacy.pk, "days_supply": 7, **change}

    response = api(phil).post(URL, body, format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert not Dispense.objects.exists()


# --- imported history -----------------------------------------------------------------------


def test_an_admin_imports_a_past_dispense(api, admin, pharmacy, active_patient):
    when = factories.at(TODAY - timedelta(days=2), 15)

    response = _dispense(api(admin), active_patient, pharmacy, dispensed_at=when.isoformat())

    assert response.status_code == 201, response.json()
    assert datetime.fromisoformat(response.json()["dispensed_at"]) == when
    assert Dispense.objects.get().dispensed_at == when
    assert response.json()["decision"]["decision"] == "allowed"


def test_an_imported_dispense_is_checked_as_of_its_date(api, admin, pharmacy, active_patient):
    before_enrollment = factories.at(TODAY - timedelta(days=25), 15)

    response = _dispense(
        api(admin), active_patient, pharmacy, dispensed_at=before_enrollment.isoformat()
    )

    assert response.status_code == 422
    assert "patient_not_enrolled" in [r["code"] for r in response.json()["reasons"]]
    assert not Dispense.objects.exists()


def test_an_admin_may_not_import_a_future_dispense(api, admin, pharmacy, active_patient):
    later = (NOW + timedelta(days=1)).isoformat()

    response = _dispense(api(admin), active_patient, pharmacy, dispensed_at=later)

    assert response.status_code == 400
    assert "dispensed_at" in response.json()
    assert not Dispense.objects.exists()


def test_a_pharmacist_may_not_give_dispensed_at(api, phil, pharmacy, active_patient):
    response = _dispense(api(phil), active_patient, pharmacy, dispensed_at=NOW.isoformat())

    assert response.status_code == 400
    assert list(response.json()) == ["dispensed_at"]
    assert not Dispense.objects.exists()


# --- reading dispenses ----------------------------------------------------------------------


def test_dispenses_are_listed_for_the_pharmacy_and_the_prescriber(
    api, phil, alice, bob, pharmacy, active_patient
):
    _dispense(api(phil), active_patient, pharmacy)

    for user, count in ((phil, 1), (alice, 1), (bob, 0)):
        data = api(user).get(URL).json()
        assert set(data) == {"count", "next", "previous", "results"}
        assert data["count"] == count, user


def test_a_pharmacist_does_not_see_another_pharmacys_dispenses(
    api, admin, other_pharmacy, active_patient
):
    other_rph = factories.PharmacistUserFactory.create(pharmacy=other_pharmacy)
    _dispense(api(other_rph), active_patient, other_pharmacy)
    phil_view = factories.PharmacistUserFactory.create()

    assert api(other_rph).get(URL).json()["count"] == 1
    assert api(phil_view).get(URL).json()["count"] == 0
