"""`make bench`: how long a dispensing decision takes, and that its cost does not grow with the
history. Prints one table (and writes bench/results/decision.json).

1. the pure engine: `assess` from a stored snapshot vs a full `replay`, at 5, 50 and 500 results;
2. the eligibility endpoint in-process (Django test client, token auth, SQLite in a temporary
   file), with SQL queries per decision.

The load-generator benchmark against gunicorn at scale is bench/run.py (docs/scaling.md).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from statistics import median
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _timed(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    samples.sort()
    return median(samples) * 1e6, samples[int(len(samples) * 0.95) - 1] * 1e6


def engine_rows() -> list[dict[str, Any]]:
    from engine import assess, replay
    from engine.types import (
        BloodCount,
        DecisionContext,
        EnrollmentRecord,
        PatientHistory,
        Population,
        TreatmentEventKind,
        TreatmentEventRecord,
    )

    zone = ZoneInfo("America/New_York")
    rows = []
    for n in (5, 50, 500):
        start = date(2020, 1, 6)
        readings = tuple(
            BloodCount(
                i, 2000 + (i % 7) * 50, datetime(2020, 1, 4, 9, tzinfo=zone) + timedelta(days=7 * i)
            )
            for i in range(n)
        )
        history = PatientHistory(
            Population.GENERAL,
            "us-label-2015",
            zone,
            readings=readings,
            enrollments=(EnrollmentRecord(start),),
            treatment_events=(TreatmentEventRecord(TreatmentEventKind.START, start),),
        )
        snapshot = replay(history)
        as_of = readings[-1].drawn_at + timedelta(days=1)
        context = DecisionContext(True, True, 7)
        p50_assess, p95_assess = _timed(partial(assess, snapshot, as_of, zone, context), 2000)
        p50_replay, p95_replay = _timed(partial(replay, history), 50 if n == 500 else 300)
        rows.append(
            {
                "results": n,
                "assess_p50_us": round(p50_assess, 1),
                "assess_p95_us": round(p95_assess, 1),
                "replay_p50_us": round(p50_replay, 1),
                "replay_p95_us": round(p95_replay, 1),
            }
        )
    return rows


def http_rows() -> list[dict[str, Any]]:
    db = Path(tempfile.mkdtemp()) / "bench.sqlite3"
    os.environ["DATABASE_URL"] = f"sqlite:///{db}"
    os.environ.pop("REDIS_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clozrems.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections, connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from monitoring.acts import patient_create
    from monitoring.models import LabResult
    from monitoring.services import monitoring_state_refresh
    from patients.auth import api_token_create
    from patients.models import Patient, Pharmacy, Prescriber, Role, User

    # Keep one connection across requests, as a pooled server would, so queries can be counted.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    call_command("migrate", verbosity=0)
    prescriber = Prescriber.objects.create(
        name="Dr Bench", npi="1234567893", email="b@example.org", certified=True
    )
    pharmacy = Pharmacy.objects.create(name="Bench", ncpdp_id="7654321", certified=True)
    doctor = User.objects.create(username="dr", role=Role.PRESCRIBER, prescriber=prescriber)
    pharmacist = User.objects.create(username="rph", role=Role.PHARMACIST, pharmacy=pharmacy)
    token = api_token_create(user=pharmacist, otp_verified=False)
    client = Client(HTTP_AUTHORIZATION=f"Token {token}")
    rows = []
    now = datetime.now(UTC)
    for n in (5, 50, 500):
        patient = patient_create(
            actor=doctor,
            first_name="B",
            last_name=f"Bench{n}",
            date_of_birth=date(1980, 1, 1),
            sex="unknown",
            population="general",
            prescriber=prescriber,
        )
        LabResult.objects.bulk_create(
            LabResult(
                patient=patient,
                value=2000,
                unit="/uL",
                value_per_ul=2000,
                drawn_at=now - timedelta(days=2 + 7 * i),
                recorded_by=doctor,
            )
            for i in range(n)
        )
        from patients.models import EnrollmentEvent, TreatmentEvent

        first = (now - timedelta(days=2 + 7 * (n - 1))).date()
        EnrollmentEvent.objects.create(
            patient=patient, kind="enroll", effective_date=first, actor=doctor
        )
        TreatmentEvent.objects.create(
            patient=patient, kind="start", effective_date=first, reason="b", actor=doctor
        )
        monitoring_state_refresh(patient=Patient.objects.get(pk=patient.pk))
        url = f"/api/v1/patients/{patient.pk}/eligibility/?days_supply=7"
        if client.get(url).status_code != 200:
            raise SystemExit(f"eligibility answered {client.get(url).status_code}")
        # The debug query log is a bounded deque; a full one would hide what we count.
        connection.queries_log.clear()
        with CaptureQueriesContext(connection) as queries:
            client.get(url)
        p50, p95 = _timed(partial(client.get, url), 300)
        rows.append(
            {
                "results": n,
                "http_p50_ms": round(p50 / 1000, 2),
                "http_p95_ms": round(p95 / 1000, 2),
                "queries_per_decision": len(queries),
            }
        )
    return rows


def main() -> None:
    engine = engine_rows()
    http = http_rows()
    print("engine (pure, one core)            assess from snapshot      full replay")
    print("results   assess p50/p95 (µs)       replay p50/p95 (µs)")
    for row in engine:
        print(
            f"{row['results']:>7}   {row['assess_p50_us']:>8} / {row['assess_p95_us']:<10}"
            f"   {row['replay_p50_us']:>9} / {row['replay_p95_us']}"
        )
    print("\neligibility endpoint, in-process (Django test client, SQLite)")
    print("results   p50 (ms)   p95 (ms)   SQL queries per decision")
    for row in http:
        print(
            f"{row['results']:>7}   {row['http_p50_ms']:>8}   {row['http_p95_ms']:>8}   "
            f"{row['queries_per_decision']}"
        )
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "decision.json").write_text(json.dumps({"engine": engine, "http": http}, indent=2))
    print(f"\nwritten: {out / 'decision.json'}")


if __name__ == "__main__":
    main()
