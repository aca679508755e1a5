"""Fixtures for levels and the plan: alice's patient started 100 days ago, bob's patient."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests import factories
from tests.conftest import TODAY

STARTED_DAYS_AGO = 100


@pytest.fixture
def patient(alice, clock):
    start = TODAY - timedelta(days=STARTED_DAYS_AGO)
    return factories.enrolled_patient(
        actor=alice,
        start=start,
        draws=factories.weekly_draws(start, TODAY - timedelta(days=2)),
        last_name="Levels",
        first_name="Lena",
    )


@pytest.fixture
def bobs_patient(bob, clock):
    return factories.enrolled_patient(
        actor=bob, start=TODAY - timedelta(days=30), last_name="Bobson", first_name="Bea"
    )


def dispensed(patient, pharmacy, pharmacist, *, days_ago: int, days_supply: int):
    """A dispense written directly (as an import would), `days_ago` days before NOW."""
    from clinical.dose_facts import dose_facts_rebuild
    from patients.models import Dispense

    dispense = Dispense.objects.create(
        patient=patient,
        pharmacy=pharmacy,
        days_supply=days_supply,
        dispensed_at=factories.at(TODAY - timedelta(days=days_ago), 12),
        authorization_code=f"CLZ-T{patient.pk:04d}{days_ago:03d}",
        decision_as_answered={},
        recorded_by=pharmacist,
    )
    # Written around the dispense service, so the derived dose facts are rebuilt as after an
    # import (monitoring_rebuild does the same).
    dose_facts_rebuild([patient.pk])
    return dispense


@pytest.fixture(autouse=True)
def _interacting_drugs(request):
    """The migration's default list, again: a transactional test elsewhere on the same worker
    flushes the tables, migration data included."""
    if "db" not in request.fixturenames:
        return  # a pure test: no database
    request.getfixturevalue("db")
    from clinical.defaults import interacting_drugs_ensure
    from clinical.models import InteractingDrug

    interacting_drugs_ensure(InteractingDrug)
