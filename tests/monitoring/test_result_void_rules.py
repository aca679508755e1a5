"""Who may void which result (docs/rules.md §8), through HTTP as the prescriber, its designee,
another designee, the lab account and an administrator. A result entered by hand is voided by
whoever entered it or by the patient's prescriber; a lab's result only by the lab's own
correction or by the prescriber, with a reason. Every void of a low result (one that opened an
episode or interrupted treatment) tells the prescriber at once, by patient id and initials."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from audit.models import Action, AuditEntry, Outcome
from feeds.models import PatientIdentifier
from monitoring.models import LabResult, ResultSource, ResultStatus
from monitoring.services import anc_result_record
from notifications.models import Channel, Kind, Notification
from tests import factories
from tests.conftest import NOW, TODAY
from tests.feeds.conftest import message, msh, obr, obx, pid

HL7 = "/api/v1/feeds/hl7/"
REASON = "Specimen clotted, Mrs Active's nurse says"  # free text: never leaves the record


@pytest.fixture
def lab(db):
    return factories.LabUserFactory.create(username="void-lab")


@pytest.fixture
def other_designee(alice_prescriber):
    return factories.DesigneeUserFactory.create(
        username="alice-second-designee", prescriber=alice_prescriber
    )


def _results(patient):
    return f"/api/v1/patients/{patient.pk}/anc-results/"


def _void(client, patient, result_id, reason=REASON):
    return client.post(f"{_results(patient)}{result_id}/void/", {"reason": reason}, format="json")


def _decision(api, phil, patient):
    response = api(phil).get(f"/api/v1/patients/{patient.pk}/eligibility/")
    assert response.status_code == 200
    return response.json()


def _lab_severe(api, lab, patient, accession="LAB-SEV", status="F", value="0.3"):
    """A severe ANC as the lab's HL7 feed reports it (the patient is known by its MRN)."""
    PatientIdentifier.objects.get_or_create(
        patient=patient,
        issuer="ACMELAB",
        value="V1",
        defaults={"recorded_by": patient.created_by},
    )
    text = message(
        msh(control=f"VOID-{accession}-{status}"),
        pid(mrn="V1^^^ACMELAB^MR", name=f"{patient.last_name.upper()}^X"),
        obr(accession=accession, drawn=f"{TODAY:%Y%m%d}0800-0400"),
        obx(1, value=value, status=status),
    )
    response = api(lab).post(HL7, data=text.encode(), content_type="x-application/hl7-v2+er7")
    assert response.status_code == 200
    assert response.json()["messages"][0]["ack_code"] == "AA", response.json()
    return LabResult.objects.get(patient=patient, accession=accession, superseded=False)


def _entered(api, user, patient, value, hours_ago=3):
    response = api(user).post(
        _results(patient),
        {
            "drawn_at": (NOW - timedelta(hours=hours_ago)).isoformat(),
            "value": value,
            "unit": "/uL",
            "confirm_unusual": True,
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    return response.json()


def _told(patient):
    return Notification.objects.filter(kind=Kind.RESULT_VOIDED, patient=patient)


# --- a lab's result ---------------------------------------------------------------------------


def test_the_issue_case_a_designee_cannot_void_a_lab_reported_severe_anc(
    api, designee, phil, lab, active_patient
):
    result = _lab_severe(api, lab, active_patient)
    assert _decision(api, phil, active_patient)["decision"] == "blocked"
    entries = AuditEntry.objects.count()

    response = _void(api(designee), active_patient, result.pk)

    assert response.status_code == 403, response.json()
    body = response.json()
    assert body["code"] == "void_not_permitted"
    assert "lab's own correction" in body["message"]
    result.refresh_from_db()
    assert result.status == ResultStatus.FINAL and result.void_reason == ""
    decision = _decision(api, phil, active_patient)
    assert decision["decision"] == "blocked"
    assert decision["treatment_status"] == "interrupted"
    assert not _told(active_patient).exists()
    # The attempt is in the trail, as a refusal, and nothing else was written.
    refusal = AuditEntry.objects.filter(action=Action.ANC_RESULT_VOID).latest("seq")
    assert refusal.outcome == Outcome.REFUSED and refusal.actor_id == designee.pk
    assert refusal.output["code"] == "void_not_permitted"
    assert AuditEntry.objects.count() == entries + 2  # the refusal, and the decision read after


@pytest.mark.parametrize("persona", ["admin", "root", "other_designee"])
def test_nobody_but_the_prescriber_voids_a_lab_result(request, api, lab, active_patient, persona):
    result = _lab_severe(api, lab, active_patient)

    response = _void(api(request.getfixturevalue(persona)), active_patient, result.pk)

    assert response.status_code == 403
    assert response.json()["code"] == "void_not_permitted"
    assert LabResult.objects.get(pk=result.pk).status == ResultStatus.FINAL


def test_the_lab_account_cannot_reach_the_void_at_all(api, lab, active_patient):
    result = _lab_severe(api, lab, active_patient)

    response = _void(api(lab), active_patient, result.pk)

    assert response.status_code == 403
    assert LabResult.objects.get(pk=result.pk).status == ResultStatus.FINAL


def test_the_prescriber_voids_a_lab_result_with_a_reason_and_is_told(
    api, alice, designee, phil, lab, active_patient
):
    result = _lab_severe(api, lab, active_patient)
    assert result.source == ResultSource.HL7

    response = _void(api(alice), active_patient, result.pk)

    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "entered_in_error"
    assert response.json()["void_reason"] == REASON
    assert _decision(api, phil, active_patient)["treatment_status"] == "active"
    told = _told(active_patient)
    assert {n.recipient_id for n in told.filter(channel=Channel.IN_APP)} == {alice.pk, designee.pk}
    (email,) = told.filter(channel=Channel.EMAIL)
    assert email.address == alice.prescriber.email
    assert email.urgent
    assert f"patient #{active_patient.pk} (" in email.subject
    assert "300/µL" in email.body and "a lab's result" in email.body
    assert "the prescriber" in email.body
    # No names and no free text in what leaves the system.
    for text in (email.subject, email.body):
        assert active_patient.last_name not in text
        assert active_patient.first_name not in text
        assert alice.username not in text
        assert "clotted" not in text
    entry = AuditEntry.objects.filter(action=Action.ANC_RESULT_VOID).latest("seq")
    assert entry.outcome == Outcome.OK and entry.output["prescriber_notified"] is True


def test_the_labs_own_correction_still_replaces_its_result(api, phil, lab, active_patient):
    _lab_severe(api, lab, active_patient, accession="LAB-C")

    corrected = _lab_severe(api, lab, active_patient, accession="LAB-C", status="C", value="2.2")

    assert corrected.value_per_ul == 2200 and corrected.corrects_id is not None
    assert _decision(api, phil, active_patient)["decision"] == "allowed"


# --- a result entered by hand ----------------------------------------------------------------


def test_a_designee_voids_a_result_it_entered_itself_and_the_prescriber_is_told(
    api, alice, designee, active_patient
):
    mine = _entered(api, designee, active_patient, 300)

    response = _void(api(designee), active_patient, mine["id"])

    assert response.status_code == 200, response.json()
    assert _told(active_patient).filter(recipient=alice, channel=Channel.IN_APP).exists()
    email = _told(active_patient).get(channel=Channel.EMAIL)
    assert "a designee" in email.body and "entered by hand" in email.body


def test_another_designee_cannot_void_it(api, designee, other_designee, active_patient):
    theirs = _entered(api, designee, active_patient, 300)

    response = _void(api(other_designee), active_patient, theirs["id"])

    assert response.status_code == 403
    assert response.json()["code"] == "void_not_permitted"
    assert "Only the user who entered this result" in response.json()["message"]


def test_a_designee_cannot_void_what_the_prescriber_entered(api, alice, designee, active_patient):
    hers = _entered(api, alice, active_patient, 300)

    assert _void(api(designee), active_patient, hers["id"]).status_code == 403


def test_an_administrator_voids_only_what_it_entered(api, alice, admin, active_patient):
    hers = _entered(api, alice, active_patient, 2200, hours_ago=4)
    its_own = _entered(api, admin, active_patient, 2300, hours_ago=2)

    assert _void(api(admin), active_patient, hers["id"]).status_code == 403
    assert _void(api(admin), active_patient, its_own["id"]).status_code == 200


def test_the_prescriber_voids_what_its_designee_entered(api, alice, designee, active_patient):
    theirs = _entered(api, designee, active_patient, 2200)

    assert _void(api(alice), active_patient, theirs["id"]).status_code == 200


def test_voiding_a_normal_result_that_changes_nothing_tells_nobody(api, alice, active_patient):
    normal = _entered(api, alice, active_patient, 2200)

    response = _void(api(alice), active_patient, normal["id"])

    assert response.status_code == 200
    assert not _told(active_patient).exists()
    entry = AuditEntry.objects.filter(action=Action.ANC_RESULT_VOID).latest("seq")
    assert entry.output["prescriber_notified"] is False


def test_voiding_an_old_severe_result_tells_the_prescriber_even_when_the_picture_stays(
    api, alice, active_patient
):
    """A low result counts although later results moved on: its void rewrites the episode."""
    old = _entered(api, alice, active_patient, 300, hours_ago=30)
    _entered(api, alice, active_patient, 310, hours_ago=20)

    response = _void(api(alice), active_patient, old["id"])

    assert response.status_code == 200
    assert _told(active_patient).filter(channel=Channel.EMAIL).count() == 1


# --- a correction typed by hand replaces a result as a void does ----------------------------


def _correct(client, patient, accession, value, hours_ago=3):
    return client.post(
        _results(patient),
        {
            "drawn_at": (NOW - timedelta(hours=hours_ago)).isoformat(),
            "value": value,
            "unit": "/uL",
            "accession": accession,
            "status": "corrected",
        },
        format="json",
    )


def test_another_designee_cannot_correct_away_a_designees_result(
    api, designee, other_designee, active_patient
):
    first = api(designee).post(
        _results(active_patient),
        {
            "drawn_at": (NOW - timedelta(hours=3)).isoformat(),
            "value": 300,
            "unit": "/uL",
            "accession": "HAND-1",
            "confirm_unusual": True,
        },
        format="json",
    )
    assert first.status_code == 201

    refused = _correct(api(other_designee), active_patient, "HAND-1", 2200)

    assert refused.status_code == 403, refused.json()
    assert refused.json()["code"] == "correct_not_permitted"
    assert LabResult.objects.get(pk=first.json()["id"]).superseded is False
    entry = AuditEntry.objects.filter(action=Action.ANC_RESULT_CORRECT).latest("seq")
    assert entry.outcome == Outcome.REFUSED and entry.actor_id == other_designee.pk
    # The designee who typed it may correct it.
    assert _correct(api(designee), active_patient, "HAND-1", 2200).status_code == 201


def test_a_designee_cannot_correct_away_a_labs_result_by_its_accession(
    api, alice, designee, active_patient
):
    # A CSV row that named no lab: its accession is one a hand entry could name too.
    from_lab = anc_result_record(
        patient=active_patient,
        actor=factories.LabUserFactory.create(username="csv-lab"),
        drawn_at=NOW - timedelta(hours=3),
        value=Decimal(300),
        unit="/uL",
        accession="CSV-9",
        source=ResultSource.CSV,
    ).result

    refused = _correct(api(designee), active_patient, "CSV-9", 2200)

    assert refused.status_code == 403
    assert LabResult.objects.get(pk=from_lab.pk).superseded is False
    assert _correct(api(alice), active_patient, "CSV-9", 2200).status_code == 201
