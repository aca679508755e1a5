"""Reports, the oversight pages and the worklists read a read replica, decisions never do, and
a browser that has just written reads its own write (clozrems.db_router, docs/scaling.md).

A real second database stands for the replica: a copy of this test's PostgreSQL database taken
at one instant (pg_dump into a new database; a TEMPLATE copy would need every other session of
the run off the database), so it lags behind the primary as a replica would. A severe result
recorded on the primary after the copy is then missing from the low-ANC report served with
DATABASE_REPLICA_URL set, and present without it, while the dispensing decision in that same
replica-configured process sees it and blocks."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from django.db import connection
from django.utils import timezone

from monitoring.services import anc_result_record
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)

REPO = Path(__file__).resolve().parents[1]

# Run in a process of its own, configured by the environment as a deployment would be.
CLIENT = """
import json, os, sys
import django
django.setup()
from django.test import Client
from patients.models import User
patient, pharmacy, start, end = sys.argv[1:5]
reader = Client(); reader.force_login(User.objects.get(username="aud"))
report = reader.get("/api/v1/reports/low-anc-episodes/", {"from": start, "to": end}).json()
counter = Client(); counter.force_login(User.objects.get(username="phil"))
decision = counter.get(f"/api/v1/patients/{patient}/eligibility/").json()
print(json.dumps({
    "episodes": [row["patient_id"] for row in report["results"]],
    "decision": decision["decision"],
}))
"""


# The pages and the pharmacy worklist, as each role sees them, then the clinic page again after
# an unsafe request (the browser is pinned to the primary).
PAGES = """
import json, re, sys
import django
django.setup()
from django.test import Client
from patients.models import User
pharmacy = sys.argv[1]
def client(name):
    c = Client(); c.force_login(User.objects.get(username=name)); return c
alice, aud, phil = client("alice"), client("aud"), client("phil")
clinic = alice.get("/clinic/").content.decode()
oversight = aud.get("/oversight/").content.decode()
worklist = phil.get(f"/api/v1/pharmacies/{pharmacy}/worklist/", {"due_within_days": 3}).json()
alice.post("/clinic/")
pinned = alice.get("/clinic/").content.decode()
print(json.dumps({
    "clinic_lists_lagging": "Lagging" in clinic,
    "enrolled": int(re.search(r'<span class="n">(\\d+)</span> enrolled', oversight).group(1)),
    "worklist": [row["patient"] for row in worklist["results"]],
    "pinned_lists_lagging": "Lagging" in pinned,
}))
"""


def _url(name: str) -> str:
    d = connection.settings_dict
    host, port = d.get("HOST") or "127.0.0.1", d.get("PORT") or 5432
    password = f":{d['PASSWORD']}" if d.get("PASSWORD") else ""
    return f"postgres://{d.get('USER') or 'postgres'}{password}@{host}:{port}/{name}"


def _admin(sql: str) -> None:
    with psycopg.connect(_url("postgres"), autocommit=True) as admin:
        admin.execute(sql)


def _run(script: str, args: list[str], *, replica: str | None) -> dict:
    env = {
        **os.environ,
        "DATABASE_URL": _url(connection.settings_dict["NAME"]),
        "DJANGO_SETTINGS_MODULE": "clozrems.settings",
        "CLOZREMS_RATE_LIMITS": "0",
    }
    env.pop("REDIS_URL", None)
    env.pop("DATABASE_REPLICA_URL", None)
    if replica:
        env["DATABASE_REPLICA_URL"] = _url(replica)
    done = subprocess.run(  # noqa: S603 - this interpreter, a constant script
        [sys.executable, "-c", script, *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _served(patient_id: int, pharmacy_id: int, *, replica: str | None) -> dict:
    today = timezone.localdate()
    args = [str(patient_id), str(pharmacy_id), str(today - timedelta(days=40)), str(today)]
    return _run(CLIENT, args, replica=replica)


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"needs the PostgreSQL client tools ({name}) to copy the database")
    return found


@pytest.fixture
def replica_name():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: a second database standing for the replica")
    name = f"{connection.settings_dict['NAME']}_replica"
    _admin(f'DROP DATABASE IF EXISTS "{name}"')
    yield name
    _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_reports_read_the_replica_and_decisions_the_primary(
    replica_name, alice, phil, aud, pharmacy
):
    today = timezone.localdate()
    start = today - timedelta(days=30)
    patient = factories.enrolled_patient(
        actor=alice, start=start, draws=factories.weekly_draws(start, today - timedelta(days=2))
    )
    _copy_to(replica_name)

    # Then, on the primary only: a severe result an hour ago.
    anc_result_record(
        patient=patient,
        actor=alice,
        drawn_at=timezone.now() - timedelta(hours=1),
        value=Decimal(400),
        unit="/uL",
        confirm_unusual=True,
    )

    with_replica = _served(patient.pk, pharmacy.pk, replica=replica_name)
    without = _served(patient.pk, pharmacy.pk, replica=None)

    assert patient.pk in without["episodes"]
    assert patient.pk not in with_replica["episodes"], "the report did not read the replica"
    # The counter, in the replica-configured process, reads the primary: the result blocks.
    assert with_replica["decision"] == without["decision"] == "blocked"


def _copy_to(replica_name: str) -> None:
    """The replica: the primary as it is now (committed: the tests are transactional)."""
    primary = connection.settings_dict["NAME"]
    _admin(f'CREATE DATABASE "{replica_name}"')
    dump = subprocess.run(  # noqa: S603 - the PostgreSQL client tools, this test's databases
        [_tool("pg_dump"), "--no-owner", "--no-privileges", _url(primary)],
        capture_output=True,
        check=True,
        timeout=300,
    )
    subprocess.run(  # noqa: S603
        [_tool("psql"), "-q", "-v", "ON_ERROR_STOP=1", _url(replica_name)],
        input=dump.stdout,
        capture_output=True,
        check=True,
        timeout=300,
    )


def test_pages_and_worklists_read_the_replica_until_the_browser_writes(
    replica_name, alice, phil, aud, pharmacy
):
    from pharmacy.services import dispense_record

    today = timezone.localdate()
    start = today - timedelta(days=54)  # weekly draws, the last 5 days ago: due in 2 days
    _copy_to(replica_name)
    # On the primary only: a patient enrolled, and a supply at phil's pharmacy for a patient
    # whose next draw is due within days.
    factories.enrolled_patient(actor=alice, start=start, last_name="Lagging")
    due_soon = factories.enrolled_patient(
        actor=alice, start=start, draws=factories.weekly_draws(start, today - timedelta(days=5))
    )
    outcome = dispense_record(patient=due_soon, pharmacy=pharmacy, actor=phil, days_supply=7)
    assert outcome.payload["decision"]["decision"] == "allowed"

    with_replica = _run(PAGES, [str(pharmacy.pk)], replica=replica_name)
    without = _run(PAGES, [str(pharmacy.pk)], replica=None)

    assert without["clinic_lists_lagging"] and due_soon.pk in without["worklist"]
    assert not with_replica["clinic_lists_lagging"], "the clinic page did not read the replica"
    assert due_soon.pk not in with_replica["worklist"], "the worklist did not read the replica"
    assert with_replica["enrolled"] == without["enrolled"] - 2, "oversight did not read it"
    # After its POST the browser reads the primary: it sees what was written there.
    assert with_replica["pinned_lists_lagging"] and without["pinned_lists_lagging"]
