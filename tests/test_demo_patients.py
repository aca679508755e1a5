"""The demo patients the README lists: each has a birth date of its own, is found at the counter
by it, and shows the situation its row names, by the API's own decision."""

from __future__ import annotations

import re
from datetime import date
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from patients.models import Patient, Pharmacy, User

README = Path(__file__).resolve().parent.parent / "README.md"

# What each row of the README's demo table claims, as the decision shows it.
SITUATIONS: dict[str, dict[str, Any]] = {
    "Weekly": {"decision": "allowed", "max_days_supply": 2, "monitoring_frequency": "weekly"},
    "Fortnight": {
        "decision": "allowed",
        "max_days_supply": 14,
        "monitoring_frequency": "every_2_weeks",
    },
    "Monthly": {"decision": "allowed", "max_days_supply": 28, "monitoring_frequency": "monthly"},
    "Mild": {"decision": "allowed", "band": "mild", "monitoring_frequency": "three_times_weekly"},
    "Moderate": {
        "decision": "blocked",
        "band": "moderate",
        "treatment_status": "interrupted",
        "hematology_consult": True,
    },
    "Severe": {
        "decision": "blocked",
        "band": "severe",
        "treatment_status": "interrupted",
        "hematology_consult": True,
    },
    "Benign": {"decision": "allowed", "population": "ben", "max_days_supply": 7},
    "Overdue": {"decision": "blocked"},
    "Lapsed": {"decision": "blocked", "enrollment_status": "reenrollment_required"},
}


def _table() -> dict[str, date]:
    """(last name -> birth date) of the README's demo table."""
    rows = re.findall(r"^\| (\w+) (\w+) \| (\d{4}-\d{2}-\d{2}) \|", README.read_text(), re.M)
    return {last: date.fromisoformat(born) for _, last, born in rows}


@pytest.fixture
def demo(clock, db):
    call_command("seed_demo", stdout=StringIO())


def test_the_readme_lists_every_demo_patient_with_its_own_birth_date(demo):
    listed = _table()
    stored = dict(Patient.objects.values_list("last_name", "date_of_birth"))
    assert listed == stored
    assert len(set(stored.values())) == len(stored) == len(SITUATIONS)


@pytest.mark.parametrize("last_name", sorted(SITUATIONS))
def test_each_demo_patient_shows_its_situation_at_the_counter(demo, api, last_name):
    patient = Patient.objects.get(last_name=last_name)
    pharmacist = api(User.objects.get(username="demo-pharmacist"))
    decision = pharmacist.get(
        f"/api/v1/patients/{patient.pk}/eligibility/",
        {"pharmacy": Pharmacy.objects.get().pk, "date_of_birth": _table()[last_name]},
    ).json()
    expected = SITUATIONS[last_name]
    assert {key: decision[key] for key in expected} == expected, decision


def test_the_blocked_ones_are_blocked_for_their_own_reason(demo, api):
    pharmacist = api(User.objects.get(username="demo-pharmacist"))
    pharmacy = Pharmacy.objects.get().pk

    def reasons(last_name):
        patient = Patient.objects.get(last_name=last_name)
        decision = pharmacist.get(
            f"/api/v1/patients/{patient.pk}/eligibility/",
            {"pharmacy": pharmacy, "date_of_birth": patient.date_of_birth},
        ).json()
        return decision, {r["code"] for r in decision["reasons"]}

    overdue, why = reasons("Overdue")
    assert why == {"anc_not_current"} and overdue["emergency_supply"]["available"] is True
    _, why = reasons("Lapsed")
    assert "patient_not_enrolled" in why
    _, why = reasons("Severe")
    assert "rechallenge_not_authorized" in why
    mild, _ = reasons("Mild")
    assert mild["confirmation_due"] is not None


def test_a_demo_patient_is_found_at_the_counter_by_its_birth_date(demo, client):
    client.force_login(User.objects.get(username="demo-pharmacist"))
    for last_name, born in _table().items():
        found = client.get("/counter/", {"last_name": last_name[:3], "date_of_birth": born})
        patient = Patient.objects.get(last_name=last_name)
        assert found.status_code == 302, last_name
        assert found["Location"] == f"/counter/patients/{patient.pk}/"
