"""Per-patient limits have floors (docs/rules.md §9.10), through the limit-agreement endpoint: a
haematologist's limits may only lower the uk-cpms standard ones, never below the protocol's
floor (neutrophils red 1000/µL, WBC red 2000/µL) unless a second haematologist signs, and green
stays strictly above red. An agreement is dated neither in the future nor before the patient's
current enrollment, and writes its audit entry; a refusal is audited alone."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit.models import Action, AuditEntry, Outcome
from engine.protocols import get_protocol
from patients.models import LimitAgreement
from tests.conftest import NOW, TODAY

UK = "uk-cpms"


@pytest.fixture
def clinic(api, alice, clock):
    return api(alice)


def _create(clinic, alice, population="ben"):
    response = clinic.post(
        "/api/v1/patients/",
        {
            "first_name": "Bea",
            "last_name": "Floor",
            "date_of_birth": "1980-02-03",
            "sex": "female",
            "population": population,
            "prescriber": alice.prescriber.pk,
            "protocol": UK,
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    return response.json()["id"]


def _count(clinic, patient_id, kind, value, *, when=None, **extra):
    response = clinic.post(
        f"/api/v1/patients/{patient_id}/{kind}-results/",
        {
            "drawn_at": (when or NOW - timedelta(hours=2)).isoformat(),
            "value": value,
            "unit": "10*9/L",
            **extra,
        },
        format="json",
    )
    assert response.status_code == 201, response.json()


def _fbc(clinic, patient_id, neutrophils, wbc, *, when=None, **extra):
    _count(clinic, patient_id, "anc", neutrophils, when=when, **extra)
    _count(clinic, patient_id, "wbc", wbc, when=when, **extra)


def _enroll_and_start(clinic, patient_id, on):
    enrolled = clinic.post(
        f"/api/v1/patients/{patient_id}/enroll/", {"effective_date": str(on)}, format="json"
    )
    assert enrolled.status_code == 200, enrolled.json()
    started = clinic.post(
        f"/api/v1/patients/{patient_id}/treatment-events/",
        {"kind": "start", "effective_date": str(on), "reason": "first dose"},
        format="json",
    )
    assert started.status_code == 201, started.json()


def _agree(clinic, patient_id, limits, **extra):
    body = {"limits": limits, "haematologist": "Dr H. Haem", **extra}
    return clinic.post(f"/api/v1/patients/{patient_id}/limit-agreements/", body, format="json")


@pytest.fixture
def ben(clinic, alice):
    """A BEN uk-cpms patient, enrolled and started 10 days ago on a green count."""
    patient_id = _create(clinic, alice)
    _fbc(clinic, patient_id, "2.5", "5.0", when=NOW - timedelta(days=10, hours=2))
    _enroll_and_start(clinic, patient_id, TODAY - timedelta(days=10))
    return patient_id


def test_the_floors_are_protocol_data():
    rules = get_protocol(UK)
    assert dict(rules.limit_floors) == {"neutrophils_red_per_ul": 1000, "wbc_red_per_ul": 2000}
    assert dict(rules.limit_floors_second_signature) == {
        "neutrophils_red_per_ul": 500,
        "wbc_red_per_ul": 1000,
    }
    assert dict(get_protocol("us-label-2015").limit_floors) == {}


def test_the_issue_case_limits_of_zero_never_make_0_2_green(api, clinic, phil, ben):
    refused = _agree(clinic, ben, {"neutrophils_red_per_ul": 0, "neutrophils_green_per_ul": 100})

    assert refused.status_code == 422, refused.json()
    assert refused.json()["code"] == "limit_agreement_refused"
    assert refused.json()["field"] == "limits"
    assert not LimitAgreement.objects.filter(patient_id=ben).exists()
    # 0.2 ×10⁹/L stays red: treatment stops and nothing is supplied.
    _fbc(clinic, ben, "0.2", "4.0", confirm_unusual=True)
    decision = api(phil).get(f"/api/v1/patients/{ben}/eligibility/").json()
    assert decision["band"] == "red"
    assert decision["decision"] == "blocked"
    assert decision["max_days_supply"] == 0


@pytest.mark.parametrize(
    ("limits", "status"),
    [
        pytest.param({"neutrophils_red_per_ul": 999}, 422, id="neutrophils red below its floor"),
        pytest.param({"neutrophils_red_per_ul": 1000}, 201, id="neutrophils red on its floor"),
        pytest.param({"wbc_red_per_ul": 1999}, 422, id="wbc red below its floor"),
        pytest.param({"wbc_red_per_ul": 2000}, 201, id="wbc red on its floor"),
        pytest.param(
            {"neutrophils_green_per_ul": 1001, "neutrophils_red_per_ul": 1000},
            201,
            id="green just above red",
        ),
        pytest.param(
            {"neutrophils_green_per_ul": 1000, "neutrophils_red_per_ul": 1000},
            422,
            id="green equal to red",
        ),
        pytest.param({"wbc_green_per_ul": 3000}, 422, id="green equal to the standard red"),
        pytest.param({"neutrophils_green_per_ul": 2001}, 422, id="raising a limit"),
    ],
)
def test_one_haematologists_limits(clinic, ben, limits, status):
    response = _agree(clinic, ben, limits)

    assert response.status_code == status, response.json()
    assert LimitAgreement.objects.filter(patient_id=ben).exists() == (status == 201)


@pytest.mark.parametrize(
    ("limits", "status"),
    [
        pytest.param(
            {"neutrophils_red_per_ul": 500, "neutrophils_green_per_ul": 1000},
            201,
            id="neutrophils red at the floor two signatures allow",
        ),
        pytest.param(
            {"neutrophils_red_per_ul": 499, "neutrophils_green_per_ul": 1000},
            422,
            id="neutrophils red below it",
        ),
        pytest.param(
            {"wbc_red_per_ul": 1000, "wbc_green_per_ul": 2500},
            201,
            id="wbc red at the floor two signatures allow",
        ),
        pytest.param({"wbc_red_per_ul": 999, "wbc_green_per_ul": 2500}, 422, id="wbc red below it"),
    ],
)
def test_a_second_haematologist_lowers_the_floor_and_is_recorded(clinic, ben, limits, status):
    response = _agree(clinic, ben, limits, second_haematologist="Dr S. Second")

    assert response.status_code == status, response.json()
    if status == 201:
        assert response.json()["second_haematologist"] == "Dr S. Second"
        assert LimitAgreement.objects.get(patient_id=ben).second_haematologist == "Dr S. Second"


def test_the_second_signature_is_another_haematologists(clinic, ben):
    response = _agree(
        clinic, ben, {"neutrophils_red_per_ul": 800}, second_haematologist=" dr h. haem "
    )

    assert response.status_code == 400
    assert "second_haematologist" in response.json()


def test_an_agreement_below_the_floor_says_a_second_signature_is_needed(clinic, ben):
    response = _agree(clinic, ben, {"neutrophils_red_per_ul": 800})

    assert response.status_code == 422
    assert "second haematologist" in response.json()["message"]


# --- when it is dated ------------------------------------------------------------------------


def test_an_agreement_may_not_be_dated_in_the_future(clinic, ben):
    response = _agree(
        clinic, ben, {"neutrophils_red_per_ul": 1200}, agreed_on=str(TODAY + timedelta(days=1))
    )

    assert response.status_code == 400 and "agreed_on" in response.json()


def test_an_agreement_may_not_be_dated_before_the_current_enrollment(clinic, ben):
    before = _agree(
        clinic, ben, {"neutrophils_red_per_ul": 1200}, agreed_on=str(TODAY - timedelta(days=11))
    )
    on = _agree(
        clinic, ben, {"neutrophils_red_per_ul": 1200}, agreed_on=str(TODAY - timedelta(days=10))
    )

    assert before.status_code == 422, before.json()
    assert before.json()["field"] == "agreed_on"
    assert (TODAY - timedelta(days=10)).isoformat() in before.json()["message"]
    assert on.status_code == 201, on.json()


def test_an_agreement_for_a_patient_not_yet_enrolled_reaches_back_over_the_enrollment_labs(
    clinic, alice
):
    pending = _create(clinic, alice)
    window = get_protocol(UK).enrollment_lab_days

    too_old = _agree(
        clinic,
        pending,
        {"neutrophils_red_per_ul": 1200},
        agreed_on=str(TODAY - timedelta(days=window + 1)),
    )
    in_window = _agree(
        clinic,
        pending,
        {"neutrophils_red_per_ul": 1200},
        agreed_on=str(TODAY - timedelta(days=window)),
    )

    assert too_old.status_code == 422
    assert in_window.status_code == 201, in_window.json()


def test_the_years_old_back_dated_agreement_of_the_issue_is_refused(clinic, ben):
    response = _agree(
        clinic, ben, {"neutrophils_red_per_ul": 1200}, agreed_on=str(TODAY - timedelta(days=900))
    )

    assert response.status_code == 422


# --- the audit trail -------------------------------------------------------------------------


def test_an_agreement_writes_one_audit_entry_with_who_signed(clinic, alice, ben):
    before = AuditEntry.objects.order_by("-id").values_list("id", flat=True).first() or 0

    response = _agree(
        clinic,
        ben,
        {"neutrophils_red_per_ul": 800, "neutrophils_green_per_ul": 1200},
        second_haematologist="Dr S. Second",
        note="Duffy-null",
    )

    assert response.status_code == 201, response.json()
    (entry,) = AuditEntry.objects.filter(id__gt=before)
    assert entry.action == "limit_agreement.record" == Action.LIMIT_AGREEMENT_RECORD.value
    assert entry.outcome == Outcome.OK
    assert (entry.object_type, entry.object_id) == ("limit_agreement", str(response.json()["id"]))
    assert entry.patient_id == ben and entry.actor_id == alice.pk
    assert entry.inputs["limits"] == {
        "neutrophils_red_per_ul": 800,
        "neutrophils_green_per_ul": 1200,
    }
    assert entry.inputs["haematologist"] == "Dr H. Haem"
    assert entry.inputs["second_haematologist"] == "Dr S. Second"
    assert entry.inputs["agreed_on"] == TODAY.isoformat()
    assert entry.inputs["protocol"] == UK


def test_a_refused_agreement_writes_its_refusal_and_nothing_else(clinic, ben):
    before = AuditEntry.objects.order_by("-id").values_list("id", flat=True).first() or 0

    response = _agree(clinic, ben, {"neutrophils_red_per_ul": 0})

    assert response.status_code == 422
    (entry,) = AuditEntry.objects.filter(id__gt=before)
    assert entry.action == Action.LIMIT_AGREEMENT_RECORD
    assert entry.outcome == Outcome.REFUSED
    assert entry.output["code"] == "limit_agreement_refused"
    assert entry.inputs["limits"] == {"neutrophils_red_per_ul": 0}
    assert not LimitAgreement.objects.filter(patient_id=ben).exists()


def test_a_bad_shape_is_a_400_and_writes_nothing(clinic, ben):
    before = AuditEntry.objects.count()

    response = _agree(clinic, ben, {"platelets_per_ul": 100})

    assert response.status_code == 400 and "limits" in response.json()
    assert AuditEntry.objects.count() == before


# --- property ----------------------------------------------------------------------------------

STANDARD = dict(get_protocol(UK).overridable_limits)


@settings(
    max_examples=40,
    deadline=None,
    database=None,  # write nothing outside tests/
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    limits=st.dictionaries(st.sampled_from(sorted(STANDARD)), st.integers(0, 4000), min_size=1),
    second=st.booleans(),
)
def test_an_agreement_is_accepted_exactly_when_it_keeps_the_floors(
    api, alice, clock, limits, second
):
    with transaction.atomic():
        clinic = api(alice)
        patient_id = _create(clinic, alice)
        extra = {"second_haematologist": "Dr S. Second"} if second else {}

        response = _agree(clinic, patient_id, limits, **extra)

        # docs/rules.md §9.10, restated from the protocol's numbers.
        rules = get_protocol(UK)
        floors = rules.limit_floors_second_signature if second else rules.limit_floors
        merged = {**STANDARD, **limits}
        keeps = (
            all(value <= STANDARD[name] for name, value in limits.items())
            and all(merged[name] >= floor for name, floor in floors.items())
            and merged["neutrophils_green_per_ul"] > merged["neutrophils_red_per_ul"]
            and merged["wbc_green_per_ul"] > merged["wbc_red_per_ul"]
        )
        assert response.status_code == (201 if keeps else 422), (limits, response.json())
        assert LimitAgreement.objects.filter(patient_id=patient_id).exists() == keeps
        transaction.set_rollback(True)
