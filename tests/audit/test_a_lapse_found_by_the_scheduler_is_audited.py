"""The lapse scan moves a patient 30 days interrupted to re-enrollment required: a state change
made by the system, audited once (a later scan over the same lapse writes nothing)."""

from datetime import timedelta

from audit.models import Action
from monitoring.reminders import lapses_scan
from patients.models import Patient
from tests import factories
from tests.audit.conftest import entries_after, head
from tests.conftest import NOW, TODAY


def test_the_lapse_is_audited_once_as_a_system_change(clock, alice):
    clock.move_to(NOW - timedelta(days=20))
    patient = factories.enrolled_patient(
        actor=alice,
        start=TODAY - timedelta(days=60),
        draws=[(TODAY - timedelta(days=50), 2100)],
    )
    factories.treatment_event_record(
        patient=patient,
        actor=alice,
        kind="interrupt",
        effective_date=TODAY - timedelta(days=45),
        reason="away",
    )
    assert Patient.objects.get(pk=patient.pk).enrollment_status == "enrolled"
    clock.move_to(NOW)
    before = head()

    lapses_scan(lo=0, hi=patient.pk + 1, now=NOW)

    [entry] = entries_after(before)
    assert (entry.action, entry.patient_id, entry.role, entry.actor_id) == (
        Action.PATIENT_LAPSE,
        patient.pk,
        "system",
        None,
    )
    assert entry.inputs == {"lapse_on": (TODAY - timedelta(days=15)).isoformat()}
    assert Patient.objects.get(pk=patient.pk).enrollment_status == "reenrollment_required"

    before = head()
    lapses_scan(lo=0, hi=patient.pk + 1, now=NOW + timedelta(days=1))
    assert entries_after(before) == []
