"""Correcting a result from the patient page (docs/rules.md §8): a wrong value, unit or draw time
is corrected with a reason by whoever may void the result; the corrected result decides, the
old one stays in the history, superseded, and both steps are audited."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from audit.models import Action, AuditEntry
from monitoring.models import LabResult, ResultSource, ResultStatus
from monitoring.services import anc_result_record
from tests import factories
from tests.conftest import NOW


@pytest.fixture
def slip(alice, allowed_patient):
    """A count typed as 0.9 ×10³/µL this morning that was really 1.9: moderate, interrupting
    treatment, until corrected."""
    return anc_result_record(
        patient=allowed_patient,
        actor=alice,
        drawn_at=NOW - timedelta(hours=3),
        value=Decimal("0.9"),
        unit="10*3/uL",
        confirm_unusual=True,
    ).result


def _correct(client, patient, result, **fields):
    data = {
        "drawn_at": (NOW - timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M"),
        "value": "1.9",
        "unit": "10*3/uL",
        "reason": "typed 0.9 for 1.9",
    } | fields
    return client.post(
        f"/clinic/patients/{patient.pk}/results/{result.pk}/correct/",
        {f"correct-{result.pk}-{k}": v for k, v in data.items()},
    )


def test_the_prescriber_corrects_a_value_and_the_correction_decides(
    client, api, alice, allowed_patient, slip
):
    client.force_login(alice)
    page = client.get(f"/clinic/patients/{allowed_patient.pk}/").content.decode()
    link = f"/clinic/patients/{allowed_patient.pk}/results/{slip.pk}/correct/"
    assert f'href="{link}"' in page
    form = client.get(link)
    assert form.status_code == 200 and 'value="0.9"' in form.content.decode()
    before = api(alice).get(f"/api/v1/patients/{allowed_patient.pk}/").json()["monitoring"]
    assert before["band"] == "moderate"

    response = _correct(client, allowed_patient, slip)
    assert response.status_code == 302

    slip.refresh_from_db()
    assert slip.superseded and slip.value == Decimal("0.9")  # kept as it was, replaced
    corrected = LabResult.objects.get(corrects=slip)
    assert corrected.status == ResultStatus.CORRECTED and corrected.value_per_ul == 1900
    assert corrected.source == ResultSource.MANUAL and corrected.recorded_by == alice
    picture = api(alice).get(f"/api/v1/patients/{allowed_patient.pk}/").json()["monitoring"]
    assert picture["band"] == "normal" and picture["latest_anc"]["value_per_ul"] == 1900
    entry = AuditEntry.objects.get(action=Action.ANC_RESULT_CORRECT, object_id=str(corrected.pk))
    assert entry.inputs["reason"] == "typed 0.9 for 1.9"
    assert entry.inputs["corrects"] == {"id": slip.pk, "value_per_ul": 900}
    page = client.get(f"/clinic/patients/{allowed_patient.pk}/").content.decode()
    assert "corrected" in page and "replaced" in page


def test_a_draw_time_is_corrected_too(client, alice, allowed_patient, slip):
    client.force_login(alice)
    moved = (NOW - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    assert _correct(client, allowed_patient, slip, drawn_at=moved, value="0.9").status_code == 302
    corrected = LabResult.objects.get(corrects=slip)
    assert corrected.drawn_at == (NOW - timedelta(days=1)).replace(second=0, microsecond=0)


def test_a_correction_needs_a_reason_and_a_change_and_writes_nothing_without(
    client, alice, allowed_patient, slip
):
    client.force_login(alice)
    before = (LabResult.objects.count(), AuditEntry.objects.count())
    no_reason = _correct(client, allowed_patient, slip, reason="")
    assert no_reason.status_code == 422
    assert "This field is required." in no_reason.content.decode()
    same = _correct(client, allowed_patient, slip, value="0.9")
    assert same.status_code == 422
    assert "changes neither the count nor the draw time" in same.content.decode()
    assert LabResult.objects.count() == before[0]
    slip.refresh_from_db()
    assert not slip.superseded


def test_the_manual_entry_guards_hold_for_a_correction(client, alice, allowed_patient, slip):
    client.force_login(alice)
    fraction = _correct(client, allowed_patient, slip, value="1.9", unit="/uL")
    assert fraction.status_code == 422
    assert "almost certainly" in fraction.content.decode()
    assert not LabResult.objects.filter(corrects=slip).exists()


def test_a_replaced_result_is_not_corrected_again(client, alice, allowed_patient, slip):
    client.force_login(alice)
    assert _correct(client, allowed_patient, slip).status_code == 302
    again = _correct(client, allowed_patient, slip, value="2.0")
    assert again.status_code == 404  # replaced: the current result is the one to correct
    assert LabResult.objects.filter(corrects__isnull=False).count() == 1


def test_only_those_who_may_void_a_result_may_correct_it(
    client, designee, aud, allowed_patient, slip
):
    lab_user = factories.LabUserFactory.create(username="correct-lab")
    from_lab = anc_result_record(
        patient=allowed_patient,
        actor=lab_user,
        drawn_at=NOW - timedelta(hours=5),
        value=Decimal("2.2"),
        unit="10*3/uL",
        accession="C-1",
        lab="ACMELAB",
        source=ResultSource.HL7,
    ).result
    client.force_login(designee)
    page = client.get(f"/clinic/patients/{allowed_patient.pk}/").content.decode()
    assert f'data-testid="correct-{from_lab.pk}"' not in page
    assert _correct(client, allowed_patient, from_lab).status_code == 403
    link = f"/clinic/patients/{allowed_patient.pk}/results/{from_lab.pk}/correct/"
    assert client.get(link).status_code == 403
    client.force_login(aud)
    assert _correct(client, allowed_patient, slip).status_code == 403
    assert not LabResult.objects.filter(corrects__isnull=False).exists()


def test_the_prescriber_is_told_when_a_designee_corrects_a_low_result(
    client, designee, allowed_patient
):
    from notifications.models import Kind, Notification

    typed = anc_result_record(
        patient=allowed_patient,
        actor=designee,
        drawn_at=NOW - timedelta(hours=3),
        value=Decimal("0.9"),
        unit="10*3/uL",
        confirm_unusual=True,
    ).result
    told = Notification.objects.filter(kind=Kind.RESULT_VOIDED, patient=allowed_patient)
    assert not told.exists()
    client.force_login(designee)
    assert _correct(client, allowed_patient, typed).status_code == 302
    notices = list(told.select_related("recipient"))
    assert "prescriber" in {n.recipient.role for n in notices if n.recipient}
    assert {n.recipient.prescriber_id for n in notices if n.recipient} == {
        allowed_patient.prescriber_id
    }
    for notice in notices:
        assert "corrected to 1900/µL by a designee" in notice.body
        assert "typed 0.9 for 1.9" not in notice.body  # the reason stays in the record


def test_a_normal_result_corrected_without_changing_the_picture_tells_no_one(
    client, alice, allowed_patient
):
    from notifications.models import Kind, Notification

    typed = anc_result_record(
        patient=allowed_patient,
        actor=alice,
        drawn_at=NOW - timedelta(hours=3),
        value=Decimal("2.2"),
        unit="10*3/uL",
    ).result
    client.force_login(alice)
    assert _correct(client, allowed_patient, typed, value="2.3").status_code == 302
    assert not Notification.objects.filter(kind=Kind.RESULT_VOIDED).exists()
