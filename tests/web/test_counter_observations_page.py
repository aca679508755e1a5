"""The counter page records what the pharmacist sees (the same service and audit entry as the
API): a reported last dose brings the re-titration warning onto the page; a missing field is
refused on that field and writes nothing."""

from datetime import timedelta

from audit.models import Action
from clinical.models import DoseEntry, InteractingDrug, MedicationEvent
from tests import factories
from tests.audit.conftest import entries_after, head
from tests.clinical.conftest import dispensed
from tests.conftest import NOW, TODAY


def _patient(alice):
    start = TODAY - timedelta(days=40)
    return factories.enrolled_patient(
        actor=alice,
        start=start,
        draws=factories.weekly_draws(start, TODAY - timedelta(days=2)),
        last_name="Counter",
    )


def test_a_reported_last_dose_at_the_counter_shows_the_retitration_warning(
    client, alice, phil, pharmacy, clock
):
    patient = _patient(alice)
    dispensed(patient, pharmacy, phil, days_ago=5, days_supply=14)  # supply left
    client.force_login(phil)
    page = client.get(f"/counter/patients/{patient.pk}/").content.decode()
    assert 'data-testid="counter-observe"' in page
    assert 'data-testid="retitration-warning"' not in page
    before = head()
    last = (NOW - timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")  # clinic time
    response = client.post(
        f"/counter/patients/{patient.pk}/observe/",
        {"kind": "last_dose_reported", "last_dose_at": last},
    )
    assert response.status_code == 302
    assert [e.action for e in entries_after(before)] == [Action.DOSE_ENTRY_RECORD]
    assert DoseEntry.objects.get().recorded_by == phil
    page = client.get(f"/counter/patients/{patient.pk}/").content.decode()
    assert 'data-testid="retitration-warning"' in page


def test_a_missing_field_is_refused_on_that_field(client, alice, phil, pharmacy, clock):
    from clinical.defaults import interacting_drugs_ensure

    # The migration's list again: a transactional test on the same worker may have flushed it.
    interacting_drugs_ensure(InteractingDrug)
    patient = _patient(alice)
    dispensed(patient, pharmacy, phil, days_ago=3, days_supply=14)
    client.force_login(phil)
    client.get(f"/counter/patients/{patient.pk}/")
    response = client.post(
        f"/counter/patients/{patient.pk}/observe/",
        {"kind": "interacting_drug", "drug": "fluvoxamine", "effective_on": str(TODAY)},
    )
    assert response.status_code == 422
    assert "Required for interacting drug." in response.content.decode()
    assert not MedicationEvent.objects.exists()
    ok = client.post(
        f"/counter/patients/{patient.pk}/observe/",
        {
            "kind": "interacting_drug",
            "drug": "fluvoxamine",
            "change": "start",
            "effective_on": str(TODAY),
        },
    )
    assert ok.status_code == 302
    assert MedicationEvent.objects.get().recorded_by == phil
