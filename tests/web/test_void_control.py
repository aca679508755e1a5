"""The void control on the prescriber's patient page is offered only where its user may void the
result (docs/rules.md §8: who may void what), and posting it goes through the same service."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from monitoring.models import LabResult, ResultSource, ResultStatus
from monitoring.services import anc_result_record
from notifications.models import Kind, Notification
from tests import factories
from tests.conftest import NOW


@pytest.fixture
def other_designee(alice_prescriber):
    return factories.DesigneeUserFactory.create(
        username="alice-other-designee", prescriber=alice_prescriber
    )


@pytest.fixture
def scene(alice, designee, allowed_patient):
    """A severe ANC from the lab's feed, and a result the designee typed in."""
    lab_user = factories.LabUserFactory.create(username="scene-lab")
    from_lab = anc_result_record(
        patient=allowed_patient,
        actor=lab_user,
        drawn_at=NOW - timedelta(hours=5),
        value=Decimal("0.3"),
        unit="10*3/uL",
        accession="SCENE-1",
        lab="ACMELAB",
        source=ResultSource.HL7,
    ).result
    typed = anc_result_record(
        patient=allowed_patient,
        actor=designee,
        drawn_at=NOW - timedelta(hours=2),
        value=Decimal(2200),
        unit="/uL",
    ).result
    return allowed_patient, from_lab, typed


def _page(client, user, patient):
    client.force_login(user)
    response = client.get(f"/clinic/patients/{patient.pk}/")
    assert response.status_code == 200
    return response.content.decode()


def _offered(html, result):
    return f'data-testid="void-{result.pk}"' in html


def test_the_prescriber_is_offered_the_void_on_every_result(client, alice, scene):
    patient, from_lab, typed = scene

    html = _page(client, alice, patient)

    assert _offered(html, from_lab) and _offered(html, typed)
    assert f'<label for="id_void-{from_lab.pk}-reason">' in html


def test_a_designee_is_offered_the_void_only_on_what_it_entered(client, designee, scene):
    patient, from_lab, typed = scene

    html = _page(client, designee, patient)

    assert _offered(html, typed)
    assert not _offered(html, from_lab)


@pytest.mark.parametrize("persona", ["other_designee", "aud", "admin"])
def test_others_are_offered_no_void_at_all(request, client, scene, persona):
    patient, from_lab, typed = scene

    html = _page(client, request.getfixturevalue(persona), patient)

    assert not _offered(html, from_lab) and not _offered(html, typed)
    assert "Wrong, or in error?" not in html and "/correct/" not in html


def test_posting_the_void_of_a_lab_result_as_a_designee_is_refused(client, designee, scene):
    patient, from_lab, _typed = scene
    client.force_login(designee)

    response = client.post(
        f"/clinic/patients/{patient.pk}/results/{from_lab.pk}/void/",
        {f"void-{from_lab.pk}-reason": "looks wrong"},
    )

    assert response.status_code == 403
    assert LabResult.objects.get(pk=from_lab.pk).status == ResultStatus.FINAL


def test_the_prescriber_voids_a_lab_result_from_the_page_and_is_told(client, alice, scene):
    patient, from_lab, _typed = scene
    client.force_login(alice)
    url = f"/clinic/patients/{patient.pk}/"

    response = client.post(
        f"{url}results/{from_lab.pk}/void/", {f"void-{from_lab.pk}-reason": "wrong patient"}
    )

    assert response.status_code == 302 and response["Location"] == url
    voided = LabResult.objects.get(pk=from_lab.pk)
    assert (voided.status, voided.void_reason) == (ResultStatus.ENTERED_IN_ERROR, "wrong patient")
    assert Notification.objects.filter(kind=Kind.RESULT_VOIDED, patient=patient).exists()
    html = client.get(url).content.decode()
    assert not _offered(html, voided) and "entered in error: wrong patient" in html


def test_a_void_without_a_reason_comes_back_in_place(client, alice, scene):
    patient, from_lab, _typed = scene
    client.force_login(alice)

    response = client.post(f"/clinic/patients/{patient.pk}/results/{from_lab.pk}/void/", {})

    assert response.status_code == 422
    assert "This field is required." in response.content.decode()
    assert LabResult.objects.get(pk=from_lab.pk).status == ResultStatus.FINAL
