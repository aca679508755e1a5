"""uk-cpms through the API: a us-label-2015 patient and a uk-cpms patient side by side; WBC
results, the traffic-light decision, step-down confirmation, haematologist-agreed limits, the
protocol chosen at (re-)enrollment, and the deployment's default protocol."""

from datetime import timedelta

import pytest

from monitoring.models import LabResult, MonitoringState
from patients.models import EnrollmentEvent, Patient
from tests.conftest import NOW, TODAY

UK = "uk-cpms"
US = "us-label-2015"


def _patient_body(alice, **extra):
    return {
        "first_name": "Pat",
        "last_name": extra.pop("last_name", "Sample"),
        "date_of_birth": "1980-02-03",
        "sex": "female",
        "population": extra.pop("population", "general"),
        "prescriber": alice.prescriber.pk,
        **extra,
    }


@pytest.fixture
def prescriber_api(api, alice, clock):
    return api(alice)


def create(client, alice, **extra):
    response = client.post("/api/v1/patients/", _patient_body(alice, **extra), format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def post_count(client, patient_id, kind, value, *, when=None, unit="10*9/L", **extra):
    drawn = (when or NOW - timedelta(hours=2)).isoformat()
    response = client.post(
        f"/api/v1/patients/{patient_id}/{kind}-results/",
        {"drawn_at": drawn, "value": value, "unit": unit, **extra},
        format="json",
    )
    assert response.status_code == 201, response.json()
    return response.json()


def fbc(client, patient_id, neutrophils, wbc, *, when=None):
    post_count(client, patient_id, "anc", neutrophils, when=when)
    return post_count(client, patient_id, "wbc", wbc, when=when)


def enroll_and_start(client, patient_id, on=None):
    body = {"effective_date": on.isoformat()} if on else {}
    response = client.post(f"/api/v1/patients/{patient_id}/enroll/", body, format="json")
    assert response.status_code == 200, response.json()
    response = client.post(
        f"/api/v1/patients/{patient_id}/treatment-events/",
        {"kind": "start", "effective_date": (on or TODAY).isoformat(), "reason": "first dose"},
        format="json",
    )
    assert response.status_code == 201, response.json()


def decision(api, phil, patient_id, **query):
    response = api(phil).get(f"/api/v1/patients/{patient_id}/eligibility/", query)
    assert response.status_code == 200, response.json()
    return response.json()


def test_a_patient_on_each_protocol_side_by_side(api, alice, phil, prescriber_api):
    client = prescriber_api
    us = create(client, alice, last_name="Usher")
    uk = create(client, alice, last_name="Kent", protocol=UK)
    assert (us["protocol"], uk["protocol"]) == (US, UK)

    week_ago = NOW - timedelta(days=3)  # within the week
    post_count(client, us["id"], "anc", "2.1", when=week_ago)
    fbc(client, uk["id"], "2.1", "4.0", when=week_ago)
    # Started yesterday: a same-day result replays before that day's start (engine reading 12).
    enroll_and_start(client, us["id"], on=TODAY - timedelta(days=1))
    enroll_and_start(client, uk["id"], on=TODAY - timedelta(days=1))

    us_green = decision(api, phil, us["id"])
    uk_green = decision(api, phil, uk["id"])
    assert (us_green["protocol"], us_green["band"]) == (US, "normal")
    assert (uk_green["protocol"], uk_green["band"]) == (UK, "green")
    for body in (us_green, uk_green):
        assert body["protocol_version"]
        assert body["decision"] == "allowed"
        assert body["monitoring_frequency"] == "weekly"
        assert body["max_days_supply"] == 7
    assert uk_green["latest_anc"]["value_per_ul"] == 2100
    assert uk_green["latest_wbc"]["value_per_ul"] == 4000
    assert us_green["latest_wbc"] is None

    # The same low neutrophil count: mild for one protocol, amber for the other.
    post_count(client, us["id"], "anc", "1.8")
    fbc(client, uk["id"], "1.8", "4.0")
    us_low, uk_amber = decision(api, phil, us["id"]), decision(api, phil, uk["id"])
    assert (us_low["band"], us_low["monitoring_frequency"]) == ("normal", "weekly")
    assert (uk_amber["band"], uk_amber["monitoring_frequency"]) == ("amber", "twice_weekly")
    assert uk_amber["decision"] == "allowed", uk_amber["reasons"]
    assert uk_amber["max_days_supply"] == 7
    too_long = decision(api, phil, uk["id"], days_supply=14)
    assert [r["code"] for r in too_long["reasons"]] == ["days_supply_exceeds_limit"]

    # A WBC of 2.99 alone is red for uk-cpms (stop, daily) and means nothing to us-label-2015.
    post_count(client, us["id"], "wbc", "2.99", when=NOW - timedelta(hours=1))
    post_count(client, uk["id"], "wbc", "2.99", when=NOW - timedelta(hours=1))
    us_after, uk_red = decision(api, phil, us["id"]), decision(api, phil, uk["id"])
    assert us_after["band"] == "normal" and us_after["decision"] == "allowed"
    assert uk_red["band"] == "red"
    assert uk_red["monitoring_frequency"] == "daily"
    assert uk_red["decision"] == "blocked"
    assert {r["code"] for r in uk_red["reasons"]} == {
        "treatment_interrupted",
        "rechallenge_not_authorized",
    }
    assert uk_red["treatment_status"] == "interrupted"
    assert uk_red["rechallenge_required"] is True

    # The stored state names the protocol and its version.
    states = {s.patient_id: s for s in MonitoringState.objects.all()}
    assert states[us["id"]].protocol == US and states[uk["id"]].protocol == UK
    assert states[uk["id"]].protocol_version and states[uk["id"]].band == "red"
    # The WBC alone is an incomplete set: it turned the band red, but the latest result the
    # rules call current stays the last complete one (docs/rules.md §9.9), and a warning says so.
    assert states[uk["id"]].latest_wbc_per_ul == 4000
    assert "incomplete_result" in [w["code"] for w in uk_red["warnings"]]


def test_anc_and_wbc_results_are_listed_apart(prescriber_api, alice):
    uk = create(prescriber_api, alice, protocol=UK)
    fbc(prescriber_api, uk["id"], "2.1", "4.0")

    ancs = prescriber_api.get(f"/api/v1/patients/{uk['id']}/anc-results/").json()["results"]
    wbcs = prescriber_api.get(f"/api/v1/patients/{uk['id']}/wbc-results/").json()["results"]
    assert [(r["analyte"], r["value_per_ul"]) for r in ancs] == [("anc", 2100)]
    assert [(r["analyte"], r["value_per_ul"]) for r in wbcs] == [("wbc", 4000)]


def test_a_wbc_result_is_checked_like_an_anc(prescriber_api, alice):
    uk = create(prescriber_api, alice, protocol=UK)
    url = f"/api/v1/patients/{uk['id']}/wbc-results/"
    drawn = (NOW - timedelta(hours=1)).isoformat()

    no_unit = prescriber_api.post(url, {"drawn_at": drawn, "value": "4", "unit": ""}, format="json")
    assert no_unit.status_code == 400 and "unit" in no_unit.json()
    future = (NOW + timedelta(days=1)).isoformat()
    late = prescriber_api.post(url, {"drawn_at": future, "value": "4", "unit": "10*9/L"})
    assert late.status_code == 400 and "drawn_at" in late.json()


def test_neutrophils_without_a_wbc_cannot_enroll_a_uk_patient(prescriber_api, alice):
    uk = create(prescriber_api, alice, protocol=UK)
    post_count(prescriber_api, uk["id"], "anc", "4.0")

    response = prescriber_api.post(f"/api/v1/patients/{uk['id']}/enroll/", {}, format="json")
    assert response.status_code == 422
    assert "anc_not_recent" in [r["code"] for r in response.json()["reasons"]]

    post_count(prescriber_api, uk["id"], "wbc", "5.0")  # the same draw: now a complete set
    response = prescriber_api.post(f"/api/v1/patients/{uk['id']}/enroll/", {}, format="json")
    assert response.status_code == 200, response.json()


def test_the_prescriber_confirms_the_step_down_the_schedule_offers(api, alice, phil, clock):
    client = api(alice)
    uk = create(client, alice, protocol=UK)
    start = TODAY - timedelta(days=130)
    fbc(client, uk["id"], "2.5", "5.0", when=NOW - timedelta(days=130))
    enroll_and_start(client, uk["id"], on=start)
    fbc(client, uk["id"], "2.5", "5.0")
    url = f"/api/v1/patients/{uk['id']}/step-down/"

    offered = client.get(f"/api/v1/patients/{uk['id']}/").json()["monitoring"]
    assert offered["monitoring_frequency"] == "weekly"
    assert offered["step_down_offered"] == "every_2_weeks"

    assert api(phil).post(url, {"frequency": "every_2_weeks"}, format="json").status_code == 403
    too_far = client.post(url, {"frequency": "every_4_weeks"}, format="json")
    assert too_far.status_code == 409
    response = client.post(url, {"frequency": "every_2_weeks"}, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["monitoring"]["monitoring_frequency"] == "every_2_weeks"
    assert response.json()["monitoring"]["step_down_offered"] is None
    assert decision(api, phil, uk["id"])["max_days_supply"] == 14


def test_a_us_label_patient_has_no_step_down_to_confirm(prescriber_api, alice):
    us = create(prescriber_api, alice)
    response = prescriber_api.post(
        f"/api/v1/patients/{us['id']}/step-down/", {"frequency": "every_2_weeks"}, format="json"
    )
    assert response.status_code == 409


LIMITS = {
    "wbc_green_per_ul": 3000,
    "wbc_red_per_ul": 2500,
    "neutrophils_green_per_ul": 1200,
    "neutrophils_red_per_ul": 800,
}


def test_a_haematologist_agreement_sets_a_ben_patients_limits(prescriber_api, alice):
    ben = create(prescriber_api, alice, protocol=UK, population="ben")
    url = f"/api/v1/patients/{ben['id']}/limit-agreements/"
    # A neutrophil red limit below 1000/µL needs a second haematologist (docs/rules.md §9.10).
    body = {
        "limits": LIMITS,
        "haematologist": "Dr H. Haem",
        "second_haematologist": "Dr S. Second",
        "agreed_on": str(TODAY),
    }

    response = prescriber_api.post(url, body, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["monitoring"]["limits"] == LIMITS
    assert response.json()["haematologist"] == "Dr H. Haem"

    fbc(prescriber_api, ben["id"], "1.3", "3.1")  # amber on the standard limits
    enrolled = prescriber_api.post(f"/api/v1/patients/{ben['id']}/enroll/", {}, format="json")
    assert enrolled.status_code == 200, enrolled.json()
    assert enrolled.json()["monitoring"]["band"] == "green"
    listed = prescriber_api.get(url).json()["results"]
    assert [a["limits"] for a in listed] == [LIMITS]


@pytest.mark.parametrize(
    ("population", "protocol", "limits", "status"),
    [
        pytest.param("general", UK, LIMITS, 409, id="general population"),
        pytest.param("ben", US, LIMITS, 409, id="us-label-2015 has no per-patient limits"),
        # The value rules refuse a well-formed request: 422, audited (docs/rules.md §9.10).
        pytest.param("ben", UK, {"neutrophils_green_per_ul": 2500}, 422, id="raising a limit"),
        pytest.param(
            "ben",
            UK,
            {"neutrophils_red_per_ul": 1500, "neutrophils_green_per_ul": 1000},
            422,
            id="green below red",
        ),
        pytest.param("ben", UK, {"platelets": 100}, 400, id="unknown limit"),
    ],
)
def test_limit_agreements_that_do_not_apply_are_refused(
    prescriber_api, alice, population, protocol, limits, status
):
    patient = create(prescriber_api, alice, protocol=protocol, population=population)
    response = prescriber_api.post(
        f"/api/v1/patients/{patient['id']}/limit-agreements/",
        {"limits": limits, "haematologist": "Dr H. Haem"},
        format="json",
    )
    assert response.status_code == status, response.json()


def test_the_protocol_changes_only_by_re_enrollment_and_each_enrollment_keeps_its_own(
    prescriber_api, alice
):
    client = prescriber_api
    patient = create(client, alice)
    fbc(client, patient["id"], "2.5", "5.0", when=NOW - timedelta(days=2))
    enroll_and_start(client, patient["id"], on=TODAY - timedelta(days=2))

    while_enrolled = client.post(
        f"/api/v1/patients/{patient['id']}/enroll/", {"protocol": UK}, format="json"
    )
    assert while_enrolled.status_code == 409
    assert Patient.objects.get(pk=patient["id"]).protocol == US

    client.post(
        f"/api/v1/patients/{patient['id']}/treatment-events/",
        {"kind": "discontinue", "effective_date": str(TODAY - timedelta(days=1)), "reason": "x"},
        format="json",
    )
    again = client.post(
        f"/api/v1/patients/{patient['id']}/enroll/", {"protocol": UK}, format="json"
    )
    assert again.status_code == 200, again.json()
    assert again.json()["protocol"] == UK
    assert again.json()["monitoring"]["protocol"] == UK
    assert list(
        EnrollmentEvent.objects.filter(patient_id=patient["id"]).values_list("kind", "protocol")
    ) == [("enroll", US), ("reenroll", UK)]


def test_an_unknown_protocol_at_enrollment_is_a_400(prescriber_api, alice):
    patient = create(prescriber_api, alice)
    response = prescriber_api.post(
        f"/api/v1/patients/{patient['id']}/enroll/", {"protocol": "ca-clozaril"}, format="json"
    )
    assert response.status_code == 400 and "protocol" in response.json()


def test_a_uk_deployment_defaults_new_patients_to_uk_cpms(prescriber_api, alice, settings):
    settings.CLOZREMS_DEFAULT_PROTOCOL = UK
    patient = create(prescriber_api, alice)
    assert patient["protocol"] == UK
    assert patient["monitoring"]["protocol"] == UK
    assert LabResult.objects.count() == 0
