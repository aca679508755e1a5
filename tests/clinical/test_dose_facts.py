"""The stored dose facts (clinical.dose_facts) the dispensing decision reads instead of the
patient's dispenses: kept by the services, equal to the history's, checked and rebuilt by
monitoring_rebuild, backfilled for existing data by the migration that adds them. The property
over random API histories is in tests/monitoring/test_rebuild_property.py."""

import importlib
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.db.migrations.loader import MigrationLoader

from clinical.dose_facts import facts_from_history
from clinical.models import DoseFacts
from tests.clinical.conftest import dispensed
from tests.conftest import NOW


def test_a_past_decision_before_the_latest_dispense_reads_the_history(api, phil, pharmacy, patient):
    """Ran out 3 days before the later supply: asked about that moment, the warning is the
    history's, not the stored facts' (which know the later supply)."""
    dispensed(patient, pharmacy, phil, days_ago=12, days_supply=7)  # ran out 5 days ago
    dispensed(patient, pharmacy, phil, days_ago=2, days_supply=7)
    client = api(phil)
    url = f"/api/v1/patients/{patient.pk}/eligibility/"

    assert client.get(url).json()["retitration_warning"] is None  # supply on hand now
    past = (NOW - timedelta(days=3)).isoformat()
    warning = client.get(url, {"as_of": past}).json()["retitration_warning"]
    assert warning["days_without"] == 2


def test_the_rebuild_check_finds_and_the_rebuild_mends_wrong_dose_facts(phil, pharmacy, patient):
    dispensed(patient, pharmacy, phil, days_ago=12, days_supply=7)
    DoseFacts.objects.filter(pk=patient.pk).update(supply_runs_out_at=NOW + timedelta(days=30))

    out = StringIO()
    with pytest.raises(CommandError):
        call_command("monitoring_rebuild", "--check", stdout=out)
    # (the snapshot differs too: the test wrote the dispense around the services)
    line = next(x for x in out.getvalue().splitlines() if x.startswith(f"patient {patient.pk}:"))
    assert "dose_facts" in line

    call_command("monitoring_rebuild", stdout=StringIO())
    call_command("monitoring_rebuild", "--check", stdout=StringIO())
    stored = DoseFacts.objects.get(pk=patient.pk)
    assert (
        stored.supply_runs_out_at == facts_from_history([patient.pk])[patient.pk].supply_runs_out_at
    )


def test_the_migration_backfills_every_patient_with_a_dispense(phil, pharmacy, patient):
    dispensed(patient, pharmacy, phil, days_ago=12, days_supply=7)
    dispensed(patient, pharmacy, phil, days_ago=30, days_supply=28)
    DoseFacts.objects.all().delete()
    migration = importlib.import_module("clinical.migrations.0003_dose_facts")

    # The models as they were when the migration ran (the dispenses were the pharmacy app's).
    then = MigrationLoader(connection).project_state(("clinical", "0003_dose_facts")).apps
    migration.backfill(then, None)

    stored = DoseFacts.objects.get(pk=patient.pk)
    expected = facts_from_history([patient.pk])[patient.pk]
    assert (stored.last_dispensed_at, stored.supply_runs_out_at) == (
        expected.last_dispensed_at,
        expected.supply_runs_out_at,
    )
    # The latest end of any one supply: the older 28-day supply outlasts the later 7-day one.
    assert stored.last_dispensed_at == NOW.replace(hour=12) - timedelta(days=12)
    assert stored.supply_runs_out_at == NOW.replace(hour=12) - timedelta(days=2)
