"""The prescriber's patient page shows the ANC status, the last level with its interpretation and
ratio, and every other check due or overdue; the forms record a level and a check through the
services; the worklist counts the checks due and overdue."""

from datetime import timedelta
from decimal import Decimal

import pytest

from clinical.models import LevelResult, PlanEntry
from clinical.services import level_result_record
from tests.conftest import NOW, TODAY


@pytest.fixture
def browse(client):
    def as_user(user):
        client.force_login(user)
        return client

    return as_user


def page(browse, user, patient):
    return browse(user).get(f"/clinic/patients/{patient.pk}/")


def test_the_page_shows_the_anc_the_last_level_and_the_checks_due_or_overdue(
    browse, alice, patient
):
    sampled = NOW - timedelta(hours=3)
    level_result_record(
        patient=patient,
        actor=alice,
        sampled_at=sampled,
        clozapine=Decimal(1100),
        norclozapine=Decimal(500),
        unit="ng/mL",
        last_dose_at=sampled - timedelta(hours=12),
        dose_stable_days=10,
    )
    html = page(browse, alice, patient).content.decode()
    assert 'data-testid="band"' in html  # the ANC status is still there
    assert 'data-testid="last-level">1100.00 ng/mL · norclozapine 500.00 ng/mL' in html
    assert 'data-testid="metabolic-ratio">2.20' in html
    assert 'data-code="high_level"' in html and 'data-code="ratio_inhibition"' in html
    assert "seed 000" in html
    # Day 100 of treatment, nothing recorded: the baseline ECG is overdue, the glucose due.
    assert 'class="plan-overdue" data-testid="plan-ecg"' in html
    assert 'class="plan-due" data-testid="plan-glucose"' in html
    assert "Enter a clozapine level" in html and "Record a check done" in html


def test_a_level_entered_on_the_page_is_interpreted(browse, designee, patient):
    response = browse(designee).post(
        f"/clinic/patients/{patient.pk}/levels/",
        {
            "sampled_at": "2026-05-20T08:00",
            "clozapine": "1071",
            "norclozapine": "1000",
            "unit": "nmol/L",
            "last_dose_at": "2026-05-19T21:00",
            "dose_stable_days": "7",
        },
    )
    assert response.status_code == 302
    level = LevelResult.objects.get()
    assert level.clozapine_ng_ml == 350 and level.valid_trough is True


def test_a_level_refused_by_the_service_shows_the_error_in_place(browse, alice, patient):
    response = browse(alice).post(
        f"/clinic/patients/{patient.pk}/levels/",
        {
            "sampled_at": "2026-05-20T08:00",
            "clozapine": "400",
            "unit": "ng/mL",
            "last_dose_at": "2026-05-20T09:00",
        },
    )
    assert response.status_code == 422
    assert "The last dose is after the sample was drawn." in response.content.decode()
    assert not LevelResult.objects.exists()


def test_a_check_recorded_on_the_page_is_no_longer_overdue(browse, alice, patient):
    client = browse(alice)
    refused = client.post(
        f"/clinic/patients/{patient.pk}/plan/", {"item": "ecg", "done_on": str(TODAY)}
    )
    assert refused.status_code == 422
    assert "answers.qtc_ms: QTc is required for ecg." in refused.content.decode()
    response = client.post(
        f"/clinic/patients/{patient.pk}/plan/",
        {"item": "ecg", "done_on": str(TODAY), "answers": "qtc_ms=430"},
    )
    assert response.status_code == 302
    assert PlanEntry.objects.get().item == "ecg"
    html = page(browse, alice, patient).content.decode()
    assert 'class="plan-complete" data-testid="plan-ecg"' in html


def test_the_worklist_counts_other_checks_due_and_overdue(browse, alice, patient):
    html = browse(alice).get("/clinic/").content.decode()
    # Day 100, nothing recorded: the week-4 ECG and clozapine level, the baselines (symptom
    # rating, liver), the week-12 vitals and weight and the day-84 seizure check are overdue;
    # the 3-month glucose, lipids and pregnancy check and this week's bowel check are due.
    assert f'data-testid="checks-{patient.pk}"><span class="tag overdue">7 overdue</span>' in html
    assert '<span class="tag today">4 due</span>' in html


def test_an_auditor_sees_the_section_without_the_forms(browse, aud, patient):
    html = page(browse, aud, patient).content.decode()
    assert 'data-testid="monitoring-plan"' in html
    assert "Enter a clozapine level" not in html
    response = browse(aud).post(
        f"/clinic/patients/{patient.pk}/plan/", {"item": "ecg", "done_on": str(TODAY)}
    )
    assert response.status_code == 403
    assert not PlanEntry.objects.exists()


def test_another_prescribers_patient_page_and_forms_are_not_found(browse, bob, patient):
    assert page(browse, bob, patient).status_code == 404
    response = browse(bob).post(
        f"/clinic/patients/{patient.pk}/plan/", {"item": "ecg", "done_on": str(TODAY)}
    )
    assert response.status_code == 404
    assert not PlanEntry.objects.exists()
