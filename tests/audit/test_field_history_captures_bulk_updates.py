"""Field history is written by database triggers, so a bulk `QuerySet.update()` (or raw SQL)
is captured field by field with the old and new values and the actor the service named."""

from datetime import timedelta

from audit.context import acting_as
from audit.models import FieldChange
from monitoring.models import LabResult
from patients.models import Patient, Prescriber
from tests import factories
from tests.conftest import TODAY


def test_a_bulk_update_is_captured_with_old_and_new_values_and_the_actor(admin, alice):
    a = factories.PatientFactory.create(actor=alice, prescriber=alice.prescriber, last_name="Old")
    b = factories.PatientFactory.create(actor=alice, prescriber=alice.prescriber, last_name="Old")

    with acting_as(admin):
        changed = Patient.objects.filter(pk__in=[a.pk, b.pk]).update(last_name="New")

    assert changed == 2
    rows = FieldChange.objects.filter(table_name="patients_patient", field="last_name")
    assert sorted((r.row_id, r.old_value, r.new_value, r.actor_id) for r in rows) == sorted(
        [(str(a.pk), "Old", "New", admin.pk), (str(b.pk), "Old", "New", admin.pk)]
    )
    # unchanged columns write nothing
    assert not FieldChange.objects.filter(table_name="patients_patient", field="first_name")


def test_an_update_outside_a_service_is_captured_without_an_actor(alice):
    patient = factories.PatientFactory.create(actor=alice, prescriber=alice.prescriber)
    result = factories.record_anc(patient, alice, TODAY - timedelta(days=1), 2000)

    LabResult.objects.filter(pk=result.pk).update(value_per_ul=1999)

    change = FieldChange.objects.get(table_name="monitoring_ancresult", field="value_per_ul")
    assert (change.row_id, change.old_value, change.new_value) == (str(result.pk), "2000", "1999")
    assert change.actor_id is None


def test_a_services_writes_carry_its_actor_and_request_id(api, alice, admin):
    prescriber = alice.prescriber
    response = api(admin).patch(
        f"/api/v1/prescribers/{prescriber.pk}/",
        {"certification_expires_on": "2027-01-31"},
        format="json",
        HTTP_X_REQUEST_ID="cert-change-7",
    )
    assert response.status_code == 200
    change = FieldChange.objects.get(
        table_name="patients_prescriber", field="certification_expires_on"
    )
    assert change.old_value is None
    assert change.new_value == "2027-01-31"
    assert change.actor_id == admin.pk
    assert change.request_id == "cert-change-7"
    expires = Prescriber.objects.get(pk=prescriber.pk).certification_expires_on
    assert expires is not None
    assert expires.isoformat() == "2027-01-31"


def test_a_void_records_the_status_change_by_the_prescriber(api, alice):
    patient = factories.PatientFactory.create(actor=alice, prescriber=alice.prescriber)
    result = factories.record_anc(patient, alice, TODAY - timedelta(days=1), 2000)

    response = api(alice).post(
        f"/api/v1/patients/{patient.pk}/anc-results/{result.pk}/void/", {"reason": "typo"}
    )

    assert response.status_code == 200
    changes = {
        c.field: (c.old_value, c.new_value, c.actor_id)
        for c in FieldChange.objects.filter(table_name="monitoring_ancresult", row_id=result.pk)
    }
    assert changes == {
        "status": ("final", "entered_in_error", alice.pk),
        "void_reason": ("", "typo", alice.pk),
    }
