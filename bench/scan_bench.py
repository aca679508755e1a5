"""The scheduler's full scans over N patients on PostgreSQL, in one process and in two sharing
the id ranges (as two Celery workers would). Prints a table; writes bench/results/scans.json.

    python bench/scan_bench.py --patients 20000 [--database postgres://.../clozrems_bench]

Patients get synthetic histories run through the real engine (treatment ages over 0-3 years,
about 5% overdue, 3% in a low band, 5% interrupted), stored as their monitoring state.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
KINDS = ("draws", "confirmations", "consults", "lapses")


def _setup(database: str) -> None:
    os.environ["DATABASE_URL"] = database
    os.environ.pop("REDIS_URL", None)
    os.environ["EMAIL_BACKEND"] = "django.core.mail.backends.dummy.EmailBackend"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clozrems.settings")
    os.environ["DEBUG"] = "0"
    import django

    django.setup()


def _create_database(database: str) -> None:
    import psycopg

    name = database.rsplit("/", 1)[1]
    admin = database.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')


def _history(i: int, today: date, rng: random.Random) -> Any:
    from zoneinfo import ZoneInfo

    from engine.types import (
        BloodCount,
        EnrollmentRecord,
        PatientHistory,
        Population,
        TreatmentEventKind,
        TreatmentEventRecord,
    )

    zone = ZoneInfo("America/New_York")
    age_days = rng.randint(10, 3 * 365)
    start = today - timedelta(days=age_days)
    every = 7 if age_days < 182 else 14 if age_days < 365 else 28
    overdue = rng.random() < 0.05
    last = today - timedelta(days=rng.randint(0, every - 1) + (every + 3 if overdue else 0))
    # Draws every `every` days back from the last one, so only the chosen 5% are overdue.
    days: list[date] = []
    draw = last
    while draw >= start - timedelta(days=2) and len(days) < 60:
        days.append(draw)
        draw -= timedelta(days=every)
    readings = [
        BloodCount(n, 2200, datetime(d.year, d.month, d.day, 9, tzinfo=zone))
        for n, d in enumerate(reversed(days))
    ]
    n = len(readings)
    if rng.random() < 0.03:
        value = rng.choice([1200, 800, 400])
        readings.append(
            BloodCount(
                n + 1,
                value,
                datetime(today.year, today.month, today.day, 7, tzinfo=zone) - timedelta(days=1),
            )
        )
    events = [TreatmentEventRecord(TreatmentEventKind.START, start, 1)]
    if rng.random() < 0.05:
        events.append(
            TreatmentEventRecord(
                TreatmentEventKind.INTERRUPT, today - timedelta(days=rng.randint(1, 40)), 2
            )
        )
    population = Population.BEN if rng.random() < 0.1 else Population.GENERAL
    if population == Population.BEN:
        readings.insert(
            0,
            BloodCount(
                10_000 + i,
                1500,
                datetime(start.year, start.month, start.day, 8, tzinfo=zone) - timedelta(days=5),
            ),
        )
    return PatientHistory(
        population,
        "us-label-2015",
        zone,
        tuple(readings),
        (EnrollmentRecord(start, 0),),
        tuple(events),
    )


def load(patients: int) -> float:
    from django.core.management import call_command
    from django.utils import timezone

    from engine import replay
    from monitoring.models import MonitoringState
    from monitoring.services import monitoring_state_from
    from patients.models import Patient, Prescriber, Role, User

    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    rng = random.Random(7)  # noqa: S311 - reproducible synthetic data, not security
    now = timezone.now()
    today = now.date()
    prescribers = Prescriber.objects.bulk_create(
        Prescriber(name=f"Dr {k}", npi=f"{k:09d}0", email="", certified=True) for k in range(200)
    )
    actor = User.objects.create(username="bench", role=Role.ADMIN)
    User.objects.bulk_create(
        User(username=f"dr{p.pk}", role=Role.PRESCRIBER, prescriber=p) for p in prescribers
    )
    batch = 5000
    for offset in range(0, patients, batch):
        rows = [
            Patient(
                first_name="B",
                last_name=f"P{offset + k}",
                date_of_birth=date(1980, 1, 1),
                sex="unknown",
                population="general",
                protocol="us-label-2015",
                prescriber=prescribers[(offset + k) % len(prescribers)],
                created_by=actor,
            )
            for k in range(min(batch, patients - offset))
        ]
        Patient.objects.bulk_create(rows)
        states = [
            monitoring_state_from(
                patient=patient, snapshot=replay(_history(patient.pk, today, rng)), now=now
            )
            for patient in rows
        ]
        MonitoringState.objects.bulk_create(states)
    return time.perf_counter() - started


def _run(args: tuple[str, str, list[tuple[int, int]], str]) -> tuple[int, float]:
    """One worker's share of a scan: (reminder rows offered, seconds spent scanning)."""
    database, kind, ranges, now_iso = args
    _setup(database)
    from monitoring import reminders

    now = datetime.fromisoformat(now_iso)
    started = time.perf_counter()
    offered = sum(reminders.SCANS[kind](lo=lo, hi=hi, now=now) for lo, hi in ranges)
    return offered, time.perf_counter() - started


def scan(database: str, kind: str, workers: int, chunk: int) -> tuple[float, int]:
    from django.utils import timezone

    from monitoring import reminders
    from notifications.models import Notification

    Notification.objects.all().delete()
    ranges = reminders.scan_ranges(chunk=chunk)
    now_iso = timezone.now().isoformat()
    shares = [(database, kind, ranges[w::workers], now_iso) for w in range(workers)]
    if workers == 1:
        offered, elapsed = _run(shares[0])
        return elapsed, offered
    # As two Celery workers would: each scans its share; the scan takes as long as the slower
    # (process start-up, which a running worker does not pay, is left out).
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        parts = pool.map(_run, shares)
    return max(seconds for _, seconds in parts), sum(offered for offered, _ in parts)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", type=int, default=20_000)
    parser.add_argument("--chunk", type=int, default=5_000)
    parser.add_argument(
        "--database",
        default=os.environ.get(
            "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/clozrems_bench"
        ),
    )
    args = parser.parse_args()
    _create_database(args.database)
    _setup(args.database)
    loaded = load(args.patients)
    print(f"loaded {args.patients} patients in {loaded:.1f} s (engine replay per patient)")
    print(f"\nfull scans over {args.patients} patients, chunks of {args.chunk} ids (PostgreSQL)")
    print("scan            1 process (s)   patients/s   2 processes (s)   patients/s   reminders")
    results = []
    for kind in KINDS:
        one, offered = scan(args.database, kind, 1, args.chunk)
        two, _ = scan(args.database, kind, 2, args.chunk)
        results.append(
            {
                "scan": kind,
                "one_s": round(one, 2),
                "two_s": round(two, 2),
                "patients": args.patients,
                "reminder_rows": offered,
            }
        )
        print(
            f"{kind:14}  {one:13.2f}   {args.patients / one:10.0f}   {two:15.2f}   "
            f"{args.patients / two:10.0f}   {offered}"
        )
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "scans.json").write_text(json.dumps(results, indent=2))
    print(f"\nwritten: {out / 'scans.json'}")


if __name__ == "__main__":
    main()
