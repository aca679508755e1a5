"""Migration clinical/0004 keeps the data and fills what the new columns mean for rows written
before it: each smoking entry learns the status before it, a positive myocarditis checklist
needs action, the first list's drugs get their advice and the grown list its new drugs (an
edited drug keeps its edits)."""

import importlib
from datetime import timedelta

from django.apps import apps

from clinical.models import InteractingDrug, PlanEntry, SmokingStatusChange
from tests.conftest import TODAY

fill = importlib.import_module("clinical.migrations.0004_counter_and_plan_facts").facts_fill


def test_rows_written_before_the_migration_are_filled_not_lost(alice, patient):
    rows = [
        SmokingStatusChange.objects.create(
            patient=patient,
            status=status,
            effective_on=TODAY - timedelta(days=days),
            recorded_by=alice,
        )
        for status, days in (("smoker", 60), ("non_smoker", 20), ("smoker", 5))
    ]
    watch = PlanEntry.objects.create(
        patient=patient, item="myocarditis_watch", done_on=TODAY, symptoms=True, recorded_by=alice
    )
    calm = PlanEntry.objects.create(
        patient=patient,
        item="myocarditis_watch",
        done_on=TODAY,
        symptoms=False,
        recorded_by=alice,
    )
    InteractingDrug.objects.filter(name="fluvoxamine").update(advice="level_at_steady_state")
    InteractingDrug.objects.filter(name="phenytoin").update(note="edited by the clinic")
    InteractingDrug.objects.filter(name="rifampicin").delete()

    fill(apps, None)

    assert [SmokingStatusChange.objects.get(pk=r.pk).previous_status for r in rows] == [
        "unknown",
        "smoker",
        "non_smoker",
    ]
    watch.refresh_from_db()
    calm.refresh_from_db()
    assert watch.needs_action is True
    assert watch.finding["findings"][0]["code"] == "myocarditis_symptoms"
    assert calm.needs_action is False and calm.finding == {}
    assert InteractingDrug.objects.get(name="fluvoxamine").advice == "avoid_or_reduce"
    assert InteractingDrug.objects.get(name="phenytoin").note == "edited by the clinic"
    assert InteractingDrug.objects.get(name="rifampicin").advice == "later_level"
    assert SmokingStatusChange.objects.count() == 3 and PlanEntry.objects.count() == 2
