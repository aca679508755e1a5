"""Management commands: monitoring_rebuild (--check) and seed_demo."""

import re
from collections import Counter
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from monitoring.models import LabResult, MonitoringState
from monitoring.services import patient_assessment
from patients.models import Dispense, Patient, Pharmacy, Prescriber, User
from tests import factories
from tests.conftest import TODAY


def summary(output: str) -> tuple[str, int, int]:
    """(verb, patients, differences) from the command's last line."""
    found = re.search(r"(checked|rebuilt) (\d+) patients .* (\d+) with differences", output)
    assert found, output
    return found.group(1), int(found.group(2)), int(found.group(3))


def _run(*args):
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


@pytest.fixture
def patients(clock, alice):
    start = TODAY - timedelta(days=20)
    return [
        factories.enrolled_patient(
            actor=alice,
            start=start,
            draws=factories.weekly_draws(start, TODAY - timedelta(days=2)),
            via_services=True,
        ),
        factories.enrolled_patient(
            actor=alice, start=start, draws=[(TODAY - timedelta(days=1), 800)]
        ),
        factories.PatientFactory.create(actor=alice, prescriber=alice.prescriber),
    ]


# --- monitoring_rebuild ---------------------------------------------------------------------


def test_check_passes_on_consistent_data(patients):
    output = _run("monitoring_rebuild", "--check")

    assert summary(output) == ("checked", 3, 0)


def test_check_passes_on_an_empty_database(db):
    assert summary(_run("monitoring_rebuild", "--check")) == ("checked", 0, 0)


@pytest.mark.parametrize(
    "corrupt",
    [
        lambda snapshot: {**snapshot, "treatment_status": "discontinued"},
        lambda snapshot: {**snapshot, "latest": None},
        lambda snapshot: {**snapshot, "supply_until": "2030-01-01", "has_dispenses": True},
    ],
    ids=["status", "latest-anc", "supply"],
)
def test_check_fails_on_a_corrupted_snapshot_and_writes_nothing(patients, corrupt):
    victim = patients[0]
    snapshot = MonitoringState.objects.get(patient=victim).snapshot
    MonitoringState.objects.filter(patient=victim).update(snapshot=corrupt(snapshot))
    corrupted = MonitoringState.objects.get(patient=victim).snapshot

    out = StringIO()
    with pytest.raises(CommandError, match="1 stored states differ"):
        call_command("monitoring_rebuild", "--check", stdout=out)

    assert f"patient {victim.pk}: differs in snapshot" in out.getvalue()
    assert MonitoringState.objects.get(patient=victim).snapshot == corrupted


def test_check_fails_on_a_wrong_high_water_mark(patients):
    MonitoringState.objects.filter(patient=patients[1]).update(high_water=None)

    with pytest.raises(CommandError):
        _run("monitoring_rebuild", "--check")


def test_check_fails_when_a_state_row_is_missing(patients):
    MonitoringState.objects.filter(patient=patients[2]).delete()

    with pytest.raises(CommandError):
        _run("monitoring_rebuild", "--check")


def test_rebuild_repairs_what_check_reported(patients):
    victim = patients[1]
    good = MonitoringState.objects.get(patient=victim).snapshot
    MonitoringState.objects.filter(patient=victim).update(
        snapshot={**good, "treatment_status": "active", "episode": None}
    )
    MonitoringState.objects.filter(patient=patients[2]).delete()

    output = _run("monitoring_rebuild")

    assert summary(output) == ("rebuilt", 3, 2)
    assert MonitoringState.objects.get(patient=victim).snapshot == good
    assert MonitoringState.objects.filter(patient=patients[2]).exists()
    assert "0 with differences" in _run("monitoring_rebuild", "--check")


def test_rebuild_also_repairs_the_cached_patient_columns(patients):
    victim = patients[1]
    Patient.objects.filter(pk=victim.pk).update(treatment_status="active")

    _run("monitoring_rebuild")

    victim.refresh_from_db()
    assert victim.treatment_status == "interrupted"


def test_rebuild_in_small_chunks(patients):
    output = _run("monitoring_rebuild", "--chunk", "1")

    assert summary(output) == ("rebuilt", 3, 0)


def test_check_sees_history_written_behind_the_services_back(patients, alice):
    # A bulk import that forgot to refresh the state: --check must notice.
    victim = patients[0]
    LabResult.objects.create(
        patient=victim,
        value=400,
        unit="/uL",
        value_per_ul=400,
        drawn_at=timezone.now() - timedelta(hours=1),
        recorded_by=alice,
    )

    with pytest.raises(CommandError):
        _run("monitoring_rebuild", "--check")


# --- seed_demo ------------------------------------------------------------------------------


def _pictures():
    now = timezone.now()
    return {
        p.last_name: patient_assessment(patient=p, as_of=now)
        for p in Patient.objects.select_related("monitoring")
    }


def _counts():
    return {
        model.__name__: model.objects.count()
        for model in (Prescriber, Pharmacy, User, Patient, LabResult, Dispense)
    }


def test_seed_demo_covers_every_band_and_frequency_and_a_lapse(clock, db):
    _run("seed_demo")

    pictures = _pictures()
    bands = {a.band.value for a in pictures.values() if a.band}
    frequencies = {
        a.monitoring_frequency.value for a in pictures.values() if a.monitoring_frequency
    }
    enrollment = Counter(a.enrollment_status.value for a in pictures.values())
    assert {"normal", "mild", "moderate", "severe"} <= bands
    assert {"weekly", "every_2_weeks", "monthly"} <= frequencies
    assert enrollment["reenrollment_required"] == 1
    assert pictures["Weekly"].monitoring_frequency.value == "weekly"
    assert pictures["Fortnight"].monitoring_frequency.value == "every_2_weeks"
    assert pictures["Monthly"].monitoring_frequency.value == "monthly"
    assert pictures["Lapsed"].enrollment_status.value == "reenrollment_required"


def test_seed_demo_state_is_consistent_with_its_history(clock, db):
    _run("seed_demo")

    assert "0 with differences" in _run("monitoring_rebuild", "--check")


def test_seed_demo_twice_changes_nothing(clock, db):
    first = _run("seed_demo")
    counts = _counts()
    states = dict(MonitoringState.objects.values_list("patient_id", "snapshot"))

    second = _run("seed_demo")

    assert "Demo data loaded." in first
    assert "already loaded" in second
    assert _counts() == counts
    assert dict(MonitoringState.objects.values_list("patient_id", "snapshot")) == states


def test_seed_demo_users_can_sign_in(clock, client, db):
    from web.management.commands.seed_demo import DEMO_PASSWORD

    _run("seed_demo")

    for role in ("admin", "prescriber", "designee", "pharmacist", "auditor"):
        response = client.post(
            "/api/v1/auth/token/",
            {"username": f"demo-{role}", "password": DEMO_PASSWORD},
            content_type="application/json",
        )
        assert response.status_code == 200, role


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_rebuild_shared_by_two_processes_covers_every_patient_once(clock, alice):
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: forked workers must share the database")
    start = TODAY - timedelta(days=20)
    made = [
        factories.enrolled_patient(
            actor=alice, start=start, draws=factories.weekly_draws(start, TODAY - timedelta(days=2))
        )
        for _ in range(5)
    ]
    MonitoringState.objects.filter(patient=made[0]).update(high_water=None)

    with pytest.raises(CommandError):
        _run("monitoring_rebuild", "--check", "--workers", "2", "--chunk", "1")
    output = _run("monitoring_rebuild", "--workers", "2", "--chunk", "1")

    assert summary(output) == ("rebuilt", 5, 1)
    assert summary(_run("monitoring_rebuild", "--check", "--workers", "2")) == ("checked", 5, 0)


def test_workers_fall_back_to_one_process_on_sqlite(patients):
    from django.db import connection

    if connection.vendor != "sqlite":
        pytest.skip("the fallback is for SQLite")
    output = _run("monitoring_rebuild", "--check", "--workers", "2")

    assert "one process" in output
    assert summary(output) == ("checked", 3, 0)


def test_seed_demo_runs_on_a_uk_deployment_in_traffic_lights(clock, db, settings):
    settings.CLOZREMS_DEFAULT_PROTOCOL = "uk-cpms"
    _run("seed_demo")

    pictures = _pictures()
    assert {a.protocol for a in pictures.values()} == {"uk-cpms"}
    # The demo's mild/moderate/severe stories (neutrophils 1.25, 0.82, 0.38) are all red here.
    assert {a.band.value for a in pictures.values() if a.band} == {"green", "red"}
    assert pictures["Weekly"].band.value == "green"
    assert pictures["Benign"].band.value == "green"  # on the agreed limits
    assert "0 with differences" in _run("monitoring_rebuild", "--check")
