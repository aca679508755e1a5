"""One prescriber's answers never reveal another prescriber's records, and no prescriber can
block another's patient: a lab identifier (MRN) and a hand-entered accession are scoped to the
prescriber's own patients. Among its own patients a conflict is still a 409 (it can see both);
across prescribers the write succeeds and says nothing, the administrators see the overlap in
the audit entry, and a lab result sent with a shared MRN is held as ambiguous, never filed on
the wrong patient."""

from __future__ import annotations

from datetime import timedelta

import pytest

from audit.models import Action, AuditEntry
from feeds.models import QuarantinedResult
from monitoring.models import LabResult
from tests import factories
from tests.conftest import NOW, TODAY
from tests.feeds.conftest import message, msh, obr, obx, pid


@pytest.fixture
def two_patients(alice, bob, clock):
    start = TODAY - timedelta(days=30)
    draws = factories.weekly_draws(start, TODAY - timedelta(days=2))
    alices = factories.enrolled_patient(actor=alice, start=start, draws=draws, last_name="Ashdown")
    bobs = factories.enrolled_patient(actor=bob, start=start, draws=draws, last_name="Bellamy")
    return alices, bobs


@pytest.fixture
def lab(db):
    return factories.LabUserFactory.create(username="acme-interface")


def add_mrn(api, user, patient, value="M-77"):
    return api(user).post(
        f"/api/v1/patients/{patient.pk}/identifiers/",
        {"issuer": "ACMELAB", "value": value},
        format="json",
    )


def test_another_prescribers_mrn_neither_blocks_nor_shows(api, alice, bob, two_patients):
    alices, bobs = two_patients
    assert add_mrn(api, alice, alices).status_code == 201
    # Bob records the lab's MRN for his own patient: no 409, nothing about Alice's.
    answer = add_mrn(api, bob, bobs)
    assert answer.status_code == 201, answer.content
    assert set(answer.json()) == {"id", "issuer", "value", "recorded_by", "created_at"}
    assert answer.json()["recorded_by"] == bob.pk
    entry = AuditEntry.objects.filter(
        action=Action.PATIENT_IDENTIFIER_ADD, patient_id=bobs.pk
    ).get()
    assert entry.output["other_prescribers_patients_with_it"] == 1


def test_the_same_mrn_on_two_of_ones_own_patients_is_a_409(api, alice, two_patients):
    alices, _ = two_patients
    other = factories.PatientFactory.create(actor=alice, prescriber=alice.prescriber)
    assert add_mrn(api, alice, alices).status_code == 201
    again = add_mrn(api, alice, alices)
    assert again.status_code == 409 and "this patient" in again.json()["message"]
    mine = add_mrn(api, alice, other)
    assert mine.status_code == 409 and "another of your patients" in mine.json()["message"]


def test_a_lab_result_sent_with_a_shared_mrn_is_held_not_filed(api, alice, bob, two_patients, lab):
    alices, bobs = two_patients
    add_mrn(api, alice, alices, "M-88")
    add_mrn(api, bob, bobs, "M-88")  # a squatter, or a mistake: either way, not filed
    before = LabResult.objects.count()
    hl7 = message(msh(), pid("M-88^^^ACMELAB^MR", "BELLAMY^BEA", "19850615"), obr(), obx(1))
    response = api(lab).post(
        "/api/v1/feeds/hl7/", data=hl7.encode(), content_type="x-application/hl7-v2+er7"
    )
    assert response.status_code == 200
    assert LabResult.objects.count() == before
    assert QuarantinedResult.objects.filter(reason="ambiguous_patient").exists()


def test_another_prescribers_accession_neither_blocks_nor_shows(api, alice, bob, two_patients):
    alices, bobs = two_patients
    body = {
        "drawn_at": (NOW - timedelta(hours=3)).isoformat(),
        "value": 2100,
        "unit": "/uL",
        "accession": "SPEC-1",
    }
    first = api(alice).post(f"/api/v1/patients/{alices.pk}/anc-results/", body, format="json")
    assert first.status_code == 201
    second = api(bob).post(
        f"/api/v1/patients/{bobs.pk}/anc-results/", {**body, "value": 1900}, format="json"
    )
    assert second.status_code == 201, second.content
    assert LabResult.objects.get(pk=first.json()["id"]).value_per_ul == 2100
    # On the same patient the accession still dedupes and corrects as before.
    repeat = api(bob).post(
        f"/api/v1/patients/{bobs.pk}/anc-results/", {**body, "value": 1900}, format="json"
    )
    assert repeat.status_code == 200 and repeat.json()["id"] == second.json()["id"]
