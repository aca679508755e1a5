"""Fixtures for the audit and compliance tests: the clock is frozen at tests.conftest.NOW."""

from datetime import timedelta

import pytest
from django.db import connection

from audit.models import AuditEntry
from tests import factories
from tests.conftest import TODAY


@pytest.fixture(autouse=True)
def _frozen_clock(clock):
    return clock


@pytest.fixture
def active_patient(alice):
    """Enrolled and started 20 days ago, weekly 2100/µL, the latest 6 days ago: allowed now."""
    start = TODAY - timedelta(days=20)
    return factories.enrolled_patient(
        actor=alice,
        start=start,
        draws=factories.weekly_draws(start, TODAY - timedelta(days=2)),
        last_name="Active",
    )


@pytest.fixture
def stale_patient(alice):
    """Enrolled and started 20 days ago, weekly, normal band, the latest ANC 13 days ago: the
    only block is `anc_not_current` (a weekly result is current for 7 days)."""
    start = TODAY - timedelta(days=20)
    return factories.enrolled_patient(
        actor=alice,
        start=start,
        draws=[(TODAY - timedelta(days=13), 2100)],
        last_name="Stale",
    )


@pytest.fixture
def pending_patient(alice):
    patient = factories.PatientFactory.create(
        actor=alice, prescriber=alice.prescriber, last_name="Waiting"
    )
    factories.record_anc(patient, alice, TODAY - timedelta(days=5), 2300)
    return patient


def entries_after(entry_id):
    """The entries written after the one with this id, in the order they were written (the
    request path leaves them unsealed: `seq` is the sealer's, docs/audit.md)."""
    return list(AuditEntry.objects.filter(id__gt=entry_id).order_by("id"))


def head():
    """The id of the newest entry written so far (0 for none)."""
    last = AuditEntry.objects.order_by("-id").values_list("id", flat=True).first()
    return last or 0


def needs_postgresql():
    if connection.vendor != "postgresql":
        pytest.skip(
            f"needs PostgreSQL: this checks PostgreSQL's triggers, and the database is "
            f"{connection.vendor} (set DATABASE_URL=postgres://...)"
        )


@pytest.fixture
def other_phil(other_pharmacy):
    return factories.PharmacistUserFactory.create(username="olga", pharmacy=other_pharmacy)


@pytest.fixture
def dispense_world(api, alice, bob, phil, pharmacy, other_pharmacy, other_phil):
    """Three dispenses with known answers:

    - `regular`: alice's patient, current normal ANC, 7 days at `pharmacy` (allowed);
    - `emergency`: alice's patient whose ANC is 13 days old, a 4-day emergency supply at
      `pharmacy` (blocked for `anc_not_current` alone, as stored and as re-evaluated);
    - `forged`: bob's patient, ANC 13 days old, a 7-day dispense at `other_pharmacy` three days
      ago written straight to the table with a stored decision of `allowed` (the re-evaluation
      says blocked, `anc_not_current`: a disagreement).
    """
    from monitoring.services import monitoring_state_refresh
    from pharmacy.models import Dispense

    start = TODAY - timedelta(days=20)
    regular_patient = factories.enrolled_patient(
        actor=alice, start=start, draws=factories.weekly_draws(start, TODAY - timedelta(days=2))
    )
    stale = factories.enrolled_patient(
        actor=alice, start=start, draws=[(TODAY - timedelta(days=13), 2100)]
    )
    forged_patient = factories.enrolled_patient(
        actor=bob, start=start, draws=[(TODAY - timedelta(days=13), 2100)]
    )
    regular = api(phil).post(
        "/api/v1/dispenses/",
        {"patient": regular_patient.pk, "pharmacy": pharmacy.pk, "days_supply": 7},
        format="json",
    )
    assert regular.status_code == 201, regular.json()
    emergency = api(phil).post(
        "/api/v1/dispenses/",
        {
            "patient": stale.pk,
            "pharmacy": pharmacy.pk,
            "days_supply": 4,
            "emergency": {"reason": "lab_delay", "last_dose_confirmed": True},
        },
        format="json",
    )
    assert emergency.status_code == 201, emergency.json()
    forged = Dispense.objects.create(
        patient=forged_patient,
        pharmacy=other_pharmacy,
        days_supply=7,
        dispensed_at=factories.at(TODAY - timedelta(days=3), 10),
        authorization_code="CLZ-FORGED0001",
        decision_as_answered={"decision": "allowed", "reasons": [], "max_days_supply": 7},
        recorded_by=other_phil,
    )
    monitoring_state_refresh(patient=forged_patient)
    return {
        "regular": Dispense.objects.get(pk=regular.json()["id"]),
        "emergency": Dispense.objects.get(pk=emergency.json()["id"]),
        "forged": forged,
    }


def csv_rows(response):
    import csv
    import io

    assert response["Content-Type"].startswith("text/csv"), response["Content-Type"]
    return list(csv.DictReader(io.StringIO(response.content.decode())))
