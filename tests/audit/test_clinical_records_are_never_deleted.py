"""Clinical records are voided, corrected or discontinued, never deleted: the database refuses
DELETE on patients, enrollments, treatment events, authorizations, results and dispenses."""

import pytest
from django.db import DatabaseError, transaction

from monitoring.models import LabResult
from patients.models import Dispense, EnrollmentEvent, Patient, TreatmentEvent
from tests import factories


@pytest.fixture
def dispensed(api, phil, pharmacy, active_patient):
    response = api(phil).post(
        "/api/v1/dispenses/",
        {"patient": active_patient.pk, "pharmacy": pharmacy.pk, "days_supply": 7},
        format="json",
    )
    assert response.status_code == 201
    return active_patient


@pytest.mark.parametrize(
    "model", [EnrollmentEvent, TreatmentEvent, LabResult, Dispense], ids=lambda m: m.__name__
)
def test_deleting_a_clinical_record_is_refused(dispensed, model):
    rows = model.objects.filter(patient=dispensed)
    count = rows.count()
    assert count > 0

    with pytest.raises(DatabaseError) as error, transaction.atomic():
        rows.delete()

    assert "never deleted" in str(error.value)
    assert model.objects.filter(patient=dispensed).count() == count


def test_deleting_even_a_bare_patient_is_refused(alice):
    # No results or events point at it, so only the trigger stands in the way.
    patient = factories.PatientFactory.create(actor=alice, prescriber=alice.prescriber)

    with pytest.raises(DatabaseError) as error, transaction.atomic():
        Patient.objects.filter(pk=patient.pk).delete()

    assert "never deleted" in str(error.value)
    assert Patient.objects.filter(pk=patient.pk).exists()


def test_a_result_entered_in_error_is_voided_not_deleted(api, alice, active_patient):
    result = LabResult.objects.filter(patient=active_patient).earliest("id")
    api(alice).post(
        f"/api/v1/patients/{active_patient.pk}/anc-results/{result.pk}/void/", {"reason": "x"}
    )
    result.refresh_from_db()
    assert result.status == "entered_in_error"
    assert LabResult.objects.filter(pk=result.pk).exists()
