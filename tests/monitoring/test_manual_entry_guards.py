"""Manual entry guards (docs/rules.md §8) through the API: a fraction in a unit of whole cells is
refused naming the likely unit; a hand-entered count below 100/µL, or more than 75% below the
patient's previous result of the same analyte (by draw time), is stored only when the request
confirms it (`"confirm_unusual": true`); a lab feed's value is never held for this."""

from datetime import timedelta

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit.models import Action, AuditEntry
from engine.protocols.base import MANUAL_ENTRY_MAX_FALL, MANUAL_ENTRY_MIN_PER_UL
from feeds.models import PatientIdentifier
from monitoring.models import LabResult, MonitoringState, ResultSource
from tests import factories
from tests.conftest import NOW, TODAY
from tests.feeds.conftest import message, msh, obr, obx, pid


def _url(patient, kind="anc"):
    return f"/api/v1/patients/{patient.pk}/{kind}-results/"


def _body(value, unit="/uL", *, hours_ago=3, **extra):
    drawn = (NOW - timedelta(hours=hours_ago)).isoformat()
    return {"drawn_at": drawn, "value": value, "unit": unit, **extra}


def _written(patient):
    """Everything an entry could write: the results, the stored state, the audit trail."""
    return (
        list(LabResult.objects.filter(patient=patient).values_list("id", "status")),
        MonitoringState.objects.get(patient=patient).snapshot,
        AuditEntry.objects.count(),
    )


@pytest.fixture
def fresh_patient(alice):
    """Alice's patient with no result at all: only the 100/µL floor can apply."""
    return factories.PatientFactory.create(actor=alice, prescriber=alice.prescriber)


def test_the_thresholds_are_the_rule_books():
    assert MANUAL_ENTRY_MIN_PER_UL == 100
    assert MANUAL_ENTRY_MAX_FALL == 0.75


# --- a fraction of a cell ----------------------------------------------------------------


@pytest.mark.parametrize("unit", ["/uL", "/mm3", "cells/uL", "cells/mm3", "/µL", "cells/µL"])
def test_a_fraction_in_a_unit_of_whole_cells_is_refused_naming_the_likely_unit(
    api, alice, active_patient, unit
):
    before = _written(active_patient)

    response = api(alice).post(_url(active_patient), _body("2.1", unit), format="json")

    assert response.status_code == 400, response.json()
    assert list(response.json()) == ["value"]
    (message_text,) = response.json()["value"]
    assert "2.1 is almost certainly 10*3/uL" in message_text
    assert "2100/µL" in message_text
    assert _written(active_patient) == before


def test_the_issue_case_2_1_per_ul_no_longer_makes_the_patient_severe(
    api, alice, phil, active_patient
):
    response = api(alice).post(_url(active_patient), _body("2.1", "/uL"), format="json")
    assert response.status_code == 400

    decision = api(phil).get(f"/api/v1/patients/{active_patient.pk}/eligibility/").json()
    assert decision["decision"] == "allowed"
    assert decision["treatment_status"] == "active"
    assert decision["latest_anc"]["value_per_ul"] == 2100


def test_a_fractional_wbc_in_cells_is_refused_too(api, alice, active_patient):
    response = api(alice).post(_url(active_patient, "wbc"), _body("4.5", "/uL"), format="json")

    assert response.status_code == 400
    assert "10*3/uL" in response.json()["value"][0]


@pytest.mark.parametrize(
    ("value", "unit", "per_ul"),
    [("2100.0", "/uL", 2100), ("2100.0000", "cells/mm3", 2100), ("2.1", "10*3/uL", 2100)],
)
def test_whole_cells_and_fractions_of_thousands_are_accepted(
    api, alice, active_patient, value, unit, per_ul
):
    response = api(alice).post(_url(active_patient), _body(value, unit), format="json")

    assert response.status_code == 201, response.json()
    assert response.json()["value_per_ul"] == per_ul


# --- a very low count ----------------------------------------------------------------------


def test_a_count_below_100_is_refused_unless_confirmed(api, alice, fresh_patient):
    client = api(alice)
    before = _written(fresh_patient)

    refused = client.post(_url(fresh_patient), _body(99), format="json")

    assert refused.status_code == 400, refused.json()
    assert list(refused.json()) == ["confirm_unusual"]
    assert "99/µL is below 100/µL" in refused.json()["confirm_unusual"][0]
    assert _written(fresh_patient) == before

    stored = client.post(_url(fresh_patient), _body(99, confirm_unusual=True), format="json")
    assert stored.status_code == 201, stored.json()
    assert stored.json()["value_per_ul"] == 99
    assert stored.json()["monitoring"]["band"] == "severe"
    assert "confirm_unusual" not in stored.json()  # an instruction, not a property of the result


def test_100_per_ul_is_not_held_for_being_low(api, alice, fresh_patient):
    response = api(alice).post(_url(fresh_patient), _body(100), format="json")

    assert response.status_code == 201, response.json()


def test_confirm_unusual_false_is_no_confirmation(api, alice, fresh_patient):
    response = api(alice).post(_url(fresh_patient), _body(0, confirm_unusual=False), format="json")

    assert response.status_code == 400 and "confirm_unusual" in response.json()


# --- a steep fall --------------------------------------------------------------------------


def test_a_fall_of_more_than_75_percent_is_refused_unless_confirmed(
    api, alice, phil, active_patient
):
    # active_patient's previous result is 2100/µL: 525 is exactly 75% below it, 524 more.
    client = api(alice)
    before = _written(active_patient)

    refused = client.post(_url(active_patient), _body(524), format="json")

    assert refused.status_code == 400
    text = refused.json()["confirm_unusual"][0]
    assert "524/µL is 75% below the previous result (2100/µL)" in text
    assert '"confirm_unusual": true' in text
    assert _written(active_patient) == before
    decision = api(phil).get(f"/api/v1/patients/{active_patient.pk}/eligibility/").json()
    assert decision["decision"] == "allowed"

    stored = client.post(_url(active_patient), _body(524, confirm_unusual=True), format="json")
    assert stored.status_code == 201
    assert stored.json()["monitoring"]["treatment_status"] == "interrupted"


def test_a_fall_of_exactly_75_percent_is_stored_without_confirmation(api, alice, active_patient):
    response = api(alice).post(_url(active_patient), _body(525), format="json")

    assert response.status_code == 201, response.json()


def test_the_previous_result_is_the_one_drawn_before_this_one(api, alice, active_patient):
    """A late entry is compared with the result drawn before it, not with the latest filed."""
    client = api(alice)
    low = client.post(_url(active_patient), _body(400, confirm_unusual=True), format="json")
    assert low.status_code == 201

    # Drawn after the 400: no fall from it.
    after = client.post(_url(active_patient), _body(450, hours_ago=1), format="json")
    assert after.status_code == 201, after.json()
    # Drawn before the 400 but after the weekly 2100 of two days ago: a steep fall from 2100.
    between = client.post(_url(active_patient), _body(450, hours_ago=20), format="json")
    assert between.status_code == 400
    assert "(2100/µL)" in between.json()["confirm_unusual"][0]


def test_a_voided_result_is_not_the_previous_one(api, alice, active_patient):
    client = api(alice)
    wrong = client.post(_url(active_patient), _body(9000, hours_ago=5), format="json").json()
    assert (
        client.post(
            f"{_url(active_patient)}{wrong['id']}/void/", {"reason": "typo"}, format="json"
        ).status_code
        == 200
    )

    # 2100 before it, not the void 9000: a 24% fall.
    response = client.post(_url(active_patient), _body(1600), format="json")

    assert response.status_code == 201, response.json()


def test_the_fall_is_measured_against_the_same_analyte(api, alice, active_patient):
    """A WBC is compared with the previous WBC, never with an ANC (and the reverse)."""
    client = api(alice)
    first = client.post(_url(active_patient, "wbc"), _body(6000, hours_ago=30), format="json")
    assert first.status_code == 201

    wbc = client.post(_url(active_patient, "wbc"), _body(1400), format="json")
    assert wbc.status_code == 400 and "(6000/µL)" in wbc.json()["confirm_unusual"][0]
    # 1400 is not a fall from the ANC's 2100 that a WBC would be compared with.
    anc = client.post(_url(active_patient), _body(1400), format="json")
    assert anc.status_code == 201, anc.json()


def test_a_correction_is_compared_with_the_result_before_the_one_it_replaces(
    api, alice, active_patient
):
    client = api(alice)
    typo = client.post(_url(active_patient), _body(21000, accession="C1"), format="json")
    assert typo.status_code == 201

    corrected = client.post(
        _url(active_patient), _body(2000, accession="C1", status="corrected"), format="json"
    )

    assert corrected.status_code == 201, corrected.json()
    assert corrected.json()["corrects"] == typo.json()["id"]


def test_a_confirmed_entry_says_so_in_the_audit_trail(api, alice, fresh_patient):
    api(alice).post(_url(fresh_patient), _body(50, confirm_unusual=True), format="json")

    entry = AuditEntry.objects.filter(action=Action.ANC_RESULT_RECORD).latest("seq")
    assert entry.inputs["confirm_unusual"] is True
    assert entry.output["value_per_ul"] == 50


# --- a lab's word --------------------------------------------------------------------------


def test_a_feeds_low_value_and_steep_fall_are_stored_as_the_lab_sent_them(
    api, alice, active_patient
):
    lab = factories.LabUserFactory.create(username="guard-lab")
    PatientIdentifier.objects.create(
        patient=active_patient, issuer="ACMELAB", value="G1", recorded_by=alice
    )
    text = message(
        msh(control="GUARD1"),
        pid(mrn="G1^^^ACMELAB^MR", name="ACTIVE^ADA"),
        obr(accession="G-ACC", drawn=f"{TODAY:%Y%m%d}0800-0400"),
        obx(1, value="50", unit="/uL"),
    )

    response = api(lab).post(
        "/api/v1/feeds/hl7/", data=text.encode(), content_type="x-application/hl7-v2+er7"
    )

    assert response.status_code == 200
    assert response.json()["messages"][0]["ack_code"] == "AA", response.json()
    stored = LabResult.objects.get(patient=active_patient, accession="G-ACC")
    assert (stored.value_per_ul, stored.source) == (50, ResultSource.HL7)


# --- the schema ------------------------------------------------------------------------------


def test_the_schema_documents_confirm_unusual_on_both_result_endpoints(client, db):
    schema = client.get("/api/schema/", {"format": "json"}).json()
    components = schema["components"]["schemas"]

    for name in ("AncResult", "WbcResult"):
        field = components[name]["properties"]["confirm_unusual"]
        assert field["type"] == "boolean"
        assert field["writeOnly"] is True  # sent, never answered
        assert "100/µL" in field["description"] and "75%" in field["description"]


# --- properties ------------------------------------------------------------------------------

PROPERTY_SETTINGS = settings(
    max_examples=30,
    deadline=None,
    database=None,  # write nothing outside tests/
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@PROPERTY_SETTINGS
@given(
    previous=st.one_of(st.none(), st.integers(0, 20_000)),
    value=st.integers(0, 20_000),
    analyte=st.sampled_from(["anc", "wbc"]),
)
def test_an_unconfirmed_entry_is_stored_exactly_when_it_is_not_unusual(
    api, alice, clock, previous, value, analyte
):
    with transaction.atomic():
        patient = factories.PatientFactory.create(actor=alice, prescriber=alice.prescriber)
        client = api(alice)
        if previous is not None:
            earlier = _body(previous, hours_ago=48, confirm_unusual=True)
            assert client.post(_url(patient, analyte), earlier, format="json").status_code == 201
        before = _written(patient)

        response = client.post(_url(patient, analyte), _body(value), format="json")

        # docs/rules.md §8, restated: below 100/µL, or more than 75% below the previous result.
        unusual = value < 100 or (bool(previous) and 4 * value < (previous or 0))
        assert response.status_code == (400 if unusual else 201), response.json()
        if unusual:
            assert list(response.json()) == ["confirm_unusual"]
            assert _written(patient) == before
            confirmed = _body(value, confirm_unusual=True)
            assert client.post(_url(patient, analyte), confirmed, format="json").status_code == 201
        transaction.set_rollback(True)


@PROPERTY_SETTINGS
@given(
    value=st.decimals(min_value=0, max_value=99_999, places=3, allow_nan=False).filter(
        lambda d: d != d.to_integral_value()
    ),
    unit=st.sampled_from(["/uL", "/mm3", "cells/uL", "cells/mm3"]),
)
def test_no_fraction_of_a_cell_is_ever_stored_from_a_hand_entry(
    api, alice, clock, active_patient, value, unit
):
    with transaction.atomic():
        before = _written(active_patient)

        response = api(alice).post(
            _url(active_patient), _body(str(value), unit, confirm_unusual=True), format="json"
        )

        assert response.status_code == 400
        assert list(response.json()) == ["value"] and "10*3/uL" in response.json()["value"][0]
        assert _written(active_patient) == before
        transaction.set_rollback(True)
