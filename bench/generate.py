"""Load PostgreSQL with N patients and realistic histories, fast (COPY, several processes).

    python bench/generate.py --patients 100000 [--database URL] [--workers 2]

Every patient's history is also replayed through the engine and its monitoring state stored,
so `monitoring_rebuild --check` passes on the result. The mix, per patient (seeded):
- population: 10% BEN (two baseline ANCs before the first dose);
- treatment started 0-10 years ago (so weekly, every-2-weeks and monthly in the proportions a
  registry of that age has); draws at the routine interval of their date, the last two years
  of them kept (an imported history rarely reaches further back);
- 5% overdue (the last draw 1-20 days past due); 3% with a low latest result (2% mild, 0.7%
  moderate, 0.3% severe); 2% interrupted by the prescriber 1-40 days ago;
- a supply dispensed at each of the last three draws, at one of 3,000 pharmacies; except for
  20% of the others (neither overdue nor interrupted), due a supply now: their latest draw's
  supply is not collected yet, so they have supplies at the three draws before it and none on
  hand (the last ran out by the latest draw, which is current) - what the dispensing benchmark
  dispenses to (about 1,800 patients in 10,000).
Also a cohort of patients with exactly 10 and exactly 500 results (`--cohort-size`), to show
that a decision costs the same whatever the history's length.
"""

from __future__ import annotations

import argparse
import io
import json
import multiprocessing
import os
import random
import sys
import time
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PRESCRIBERS = 2_000
PHARMACIES = 3_000
CHUNK = 2_000
DUE_NOW = 0.20  # the share of patients due a supply now (see the module's docstring)


def setup(database: str) -> None:
    os.environ["DATABASE_URL"] = database
    os.environ.pop("REDIS_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clozrems.settings")
    import django

    django.setup()


def npi(nine: int) -> str:
    from patients.validators import npi_is_valid

    base = f"{nine:09d}"
    return next(base + str(d) for d in range(10) if npi_is_valid(base + str(d)))


def _at(day: date, hour: int) -> datetime:
    return datetime.combine(day, clock_time(hour), tzinfo=UTC)


def _steps(start: date) -> tuple[date, date]:
    """The dates the routine interval steps down (6 and 12 calendar months), computed once."""
    from dateutil.relativedelta import relativedelta

    return start + relativedelta(months=6), start + relativedelta(months=12)


def _interval_days(steps: tuple[date, date], day: date) -> int:
    return 7 if day < steps[0] else 14 if day < steps[1] else 28


class Rows:
    """Tab-separated COPY text for one table."""

    def __init__(self) -> None:
        self.buffer = io.StringIO()

    def add(self, *values: Any) -> None:
        self.buffer.write(
            "\t".join("\\N" if v is None else _escaped(str(v)) for v in values) + "\n"
        )


def _escaped(text: str) -> str:
    """COPY's text format: a backslash starts an escape (JSON's \\u00b5 must stay itself)."""
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def build_patient(pid: int, today: date, rng: random.Random, results: int | None) -> dict[str, Any]:
    """One patient's rows and its engine history (ids chosen so both agree)."""
    from zoneinfo import ZoneInfo

    from engine.types import (
        BloodCount,
        DispenseRecord,
        EnrollmentRecord,
        PatientHistory,
        Population,
        TreatmentEventKind,
        TreatmentEventRecord,
    )

    ben = rng.random() < 0.10
    age = (
        rng.randint(3, 10 * 365) if results is None else (results * 7 if results < 30 else 10 * 365)
    )
    start = today - timedelta(days=age)
    steps = _steps(start)
    # The draw dates, backwards from the last one, at the interval of their own date.
    due_gap = 0
    if rng.random() < 0.05:
        due_gap = rng.randint(1, 20)  # overdue by this many days
    last = today - timedelta(days=rng.randint(0, 5))
    days: list[date] = []
    draw = last
    horizon = today - timedelta(days=730)
    limit = results if results is not None else 10_000
    while draw >= start and (results is not None or draw >= horizon) and len(days) < limit:
        days.append(draw)
        draw -= timedelta(days=_interval_days(steps, draw))
    if results is not None:
        while len(days) < results:  # a long history: weekly before the start as well
            days.append(days[-1] - timedelta(days=7))
    days.reverse()
    if due_gap:
        shift = _interval_days(steps, last) + due_gap - (today - last).days
        days = [d - timedelta(days=max(0, shift)) for d in days]
    values = [rng.randint(1800, 4500) for _ in days]
    low = rng.random()
    if low < 0.03 and days:
        values[-1] = 1200 if low < 0.02 else 800 if low < 0.027 else 400
    baselines = (
        [start - timedelta(days=4), start - timedelta(days=2)]
        if ben
        else [start - timedelta(days=2)]
    )
    readings = []
    rid = pid * 1000
    for d in baselines:
        rid += 1
        readings.append(
            BloodCount(rid, rng.randint(1100, 1400) if ben else rng.randint(2000, 3500), _at(d, 14))
        )
    for d, v in zip(days, values, strict=True):
        if d <= baselines[-1]:
            continue
        rid += 1
        readings.append(BloodCount(rid, v, _at(d, 14)))
    enrolled_on = start - timedelta(days=1)
    enrollment = EnrollmentRecord(enrolled_on, pid * 10 + 1, _at(enrolled_on, 16))
    events = [TreatmentEventRecord(TreatmentEventKind.START, start, pid * 10 + 2, _at(start, 16))]
    if rng.random() < 0.02:
        stopped = today - timedelta(days=rng.randint(1, 40))
        if stopped > start:
            events.append(
                TreatmentEventRecord(
                    TreatmentEventKind.INTERRUPT, stopped, pid * 10 + 3, _at(stopped, 16)
                )
            )
    pharmacy = rng.randint(1, PHARMACIES)
    # Due a supply now: the latest draw's supply not collected yet, so the supplies are those of
    # the three draws before it and the last has run out by that draw (its days never reach past
    # the next draw). Drawn last, so every other figure of the mix stays as it was; never an
    # overdue or interrupted patient, whose run without supply would reach the lapse.
    due_now = (
        rng.random() < DUE_NOW
        and results is None
        and not due_gap
        and len(events) == 1
        and len(days) >= 2
    )
    dispenses = []
    for k, d in enumerate(days[-4:-1] if due_now else days[-3:]):
        if d < start:
            continue
        supply = min(28, _interval_days(steps, d))
        dispenses.append(DispenseRecord(pid * 100 + k + 1, _at(d, 20), supply))
    history = PatientHistory(
        Population.BEN if ben else Population.GENERAL,
        "us-label-2015",
        ZoneInfo("America/New_York"),
        tuple(readings),
        (enrollment,),
        tuple(events),
        (),
        tuple(dispenses),
    )
    return {
        "pid": pid,
        "history": history,
        "pharmacy": pharmacy,
        "ben": ben,
        "due_now": due_now,
    }


def write_chunk(database: str, lo: int, hi: int, seed: int, results: int | None) -> int:
    """Build patients [lo, hi) and COPY them in; returns how many."""
    import psycopg
    from django.utils import timezone

    from engine import replay
    from monitoring.services import STATE_COLUMNS, monitoring_state_from
    from patients.models import Patient

    now = timezone.now()
    # Every generated item is dated yesterday or earlier (draws at 14:00 UTC, dispenses at
    # 20:00): an item later than the run's own clock would put the stored snapshot's high water
    # in the future, and every decision for that patient would replay its history.
    today = (now - timedelta(days=1)).astimezone().date()
    tables = {
        name: Rows() for name in ("patient", "enroll", "event", "result", "dispense", "state")
    }
    for pid in range(lo, hi):
        rng = random.Random(seed * 10_000_019 + pid)  # noqa: S311 - reproducible synthetic data
        built = build_patient(pid, today, rng, results)
        # The rows are stored with created_at = now: the engine reads that as each result's
        # recording time, so the stored state must be replayed with it too.
        history = replace(
            built["history"],
            readings=tuple(replace(r, recorded_at=now) for r in built["history"].readings),
        )
        prescriber = (pid % PRESCRIBERS) + 1
        state = monitoring_state_from(patient=Patient(pk=pid), snapshot=replay(history), now=now)
        # The patient row caches the state's statuses, as monitoring_state_refresh keeps them.
        tables["patient"].add(
            pid,
            "Pat",
            f"P{pid:07d}",
            "1980-01-01",
            "unknown",
            history.population.value,
            None,
            None,
            "us-label-2015",
            prescriber,
            state.enrollment_status,
            state.treatment_status,
            1,
            now.isoformat(),
        )
        for e in history.enrollments:
            tables["enroll"].add(
                e.seq,
                pid,
                "enroll",
                e.effective_date,
                "",
                history.protocol,
                1,
                e.recorded_at.isoformat(),
            )
        for t in history.treatment_events:
            tables["event"].add(
                t.seq, pid, t.kind.value, t.effective_date, "bench", 1, t.recorded_at.isoformat()
            )
        for r in history.readings:
            tables["result"].add(
                r.result_id,
                pid,
                "anc",
                r.value_per_ul,
                "/uL",
                r.value_per_ul,
                r.drawn_at.isoformat(),
                "",
                "manual",
                "final",
                None,
                "f",
                "",
                1,
                now.isoformat(),
                "",
                "f",
                "{}",
            )
        for d in history.dispenses:
            tables["dispense"].add(
                d.dispense_id,
                pid,
                built["pharmacy"],
                d.days_supply,
                d.dispensed_at.isoformat(),
                f"BENCH{d.dispense_id}",
                "",
                "{}",
                1,
                now.isoformat(),
            )
        # The stored state row exactly as the services write it (monitoring.services).
        tables["state"].add(pid, *(_copy_value(getattr(state, c)) for c in STATE_COLUMNS))
    columns = {
        "patient": (
            "patients_patient",
            (
                "id",
                "first_name",
                "last_name",
                "date_of_birth",
                "sex",
                "population",
                "ben_documented_by_id",
                "ben_documented_at",
                "protocol",
                "prescriber_id",
                "enrollment_status",
                "treatment_status",
                "created_by_id",
                "created_at",
            ),
        ),
        "enroll": (
            "patients_enrollmentevent",
            (
                "id",
                "patient_id",
                "kind",
                "effective_date",
                "reason",
                "protocol",
                "actor_id",
                "created_at",
            ),
        ),
        "event": (
            "patients_treatmentevent",
            (
                "id",
                "patient_id",
                "kind",
                "effective_date",
                "reason",
                "actor_id",
                "created_at",
            ),
        ),
        "result": (
            "monitoring_ancresult",
            (
                "id",
                "patient_id",
                "analyte",
                "value",
                "unit",
                "value_per_ul",
                "drawn_at",
                "accession",
                "source",
                "status",
                "corrects_id",
                "superseded",
                "void_reason",
                "recorded_by_id",
                "created_at",
                # the lab feeds' columns (monitoring 0004): a manual, reported count
                "lab",
                "derived",
                "derivation",
            ),
        ),
        "dispense": (
            "pharmacy_dispense",
            (
                "id",
                "patient_id",
                "pharmacy_id",
                "days_supply",
                "dispensed_at",
                "authorization_code",
                "idempotency_key",
                "decision",
                "recorded_by_id",
                "created_at",
            ),
        ),
        "state": ("monitoring_monitoringstate", ("patient_id", *STATE_COLUMNS)),
    }
    with psycopg.connect(database) as conn, conn.cursor() as cursor:
        # A bulk load: the rows are consistent by construction, so the per-row foreign-key
        # triggers (most of COPY's cost here) are skipped for this session.
        cursor.execute("SET session_replication_role = replica")
        for key, (table, cols) in columns.items():
            with cursor.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as copy:
                copy.write(tables[key].buffer.getvalue())
        conn.commit()
    return hi - lo


def _copy_value(value: Any) -> Any:
    """A model value as COPY's text format takes it."""
    if isinstance(value, dict):
        return json.dumps(value)
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _work(args: tuple[str, list[tuple[int, int]], int, int | None]) -> int:
    database, ranges, seed, results = args
    setup(database)
    return sum(write_chunk(database, lo, hi, seed, results) for lo, hi in ranges)


def create_database(database: str) -> None:
    import psycopg

    name = database.rsplit("/", 1)[1]
    with psycopg.connect(database.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def directory(database: str) -> None:
    """Prescribers, pharmacies, and a user for each prescriber, plus an administrator (id 1)."""
    import psycopg

    rows = {k: Rows() for k in ("prescriber", "pharmacy", "user")}
    now = datetime.now(UTC).isoformat()
    for k in range(1, PRESCRIBERS + 1):
        rows["prescriber"].add(
            k, f"Dr Bench {k}", npi(100_000_000 + k), "", "", "t", "t", None, None, now
        )
    for k in range(1, PHARMACIES + 1):
        rows["pharmacy"].add(k, f"Pharmacy {k}", f"{1_000_000 + k:07d}", "t", "t", None, None, now)
    rows["user"].add(
        1, "!", None, "t", "bench-admin", "", "", "", "t", "t", now, "admin", None, None
    )
    for k in range(1, PRESCRIBERS + 1):
        rows["user"].add(
            k + 1, "!", None, "f", f"bench-dr-{k}", "", "", "", "f", "t", now, "prescriber", k, None
        )
    tables = {
        "prescriber": (
            "patients_prescriber",
            (
                "id",
                "name",
                "npi",
                "email",
                "phone",
                "active",
                "certified",
                "certified_on",
                "certification_expires_on",
                "created_at",
            ),
        ),
        "pharmacy": (
            "pharmacy_pharmacy",
            (
                "id",
                "name",
                "ncpdp_id",
                "active",
                "certified",
                "certified_on",
                "certification_expires_on",
                "created_at",
            ),
        ),
        "user": (
            "patients_user",
            (
                "id",
                "password",
                "last_login",
                "is_superuser",
                "username",
                "first_name",
                "last_name",
                "email",
                "is_staff",
                "is_active",
                "date_joined",
                "role",
                "prescriber_id",
                "pharmacy_id",
            ),
        ),
    }
    with psycopg.connect(database) as conn, conn.cursor() as cursor:
        for key, (table, cols) in tables.items():
            with cursor.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as copy:
                copy.write(rows[key].buffer.getvalue())


SEQUENCES = {
    "patients_prescriber": "id",
    "pharmacy_pharmacy": "id",
    "patients_user": "id",
    "patients_patient": "id",
    "patients_enrollmentevent": "id",
    "patients_treatmentevent": "id",
    "monitoring_ancresult": "id",
    "pharmacy_dispense": "id",
}


def finish(database: str) -> None:
    import psycopg

    from audit.partitions import side_fill_sql

    with psycopg.connect(database, autocommit=True) as conn:
        # The COPY skipped the triggers: the partitioned tables' side rows (audit/partitions.py)
        # are written here, once, in the same mode.
        partitioned = conn.execute(
            "SELECT to_regclass('monitoring_ancresult_key') IS NOT NULL"
        ).fetchone()
        if partitioned and partitioned[0]:
            conn.execute("SET session_replication_role = replica")
            for sql in side_fill_sql():
                conn.execute(sql)
            conn.execute("RESET session_replication_role")
        for table, column in SEQUENCES.items():
            # Table names are this module's constants, not input.
            conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), "  # noqa: S608
                f"COALESCE((SELECT MAX({column}) FROM {table}), 1))"
            )
        # The dose facts the decision reads (clinical.dose_facts), as the dispense service
        # keeps them: derived from the dispenses in one statement.
        conn.execute(
            "INSERT INTO clinical_dosefacts "
            "(patient_id, last_dispensed_at, supply_runs_out_at, last_dose_reported_at) "
            "SELECT patient_id, MAX(dispensed_at), "
            "MAX(dispensed_at + days_supply * INTERVAL '1 day'), NULL "
            "FROM pharmacy_dispense GROUP BY patient_id "
            "ON CONFLICT (patient_id) DO NOTHING"
        )
        conn.execute("ANALYZE")


def generate(
    database: str, patients: int, workers: int, cohort_size: int, seed: int = 7
) -> dict[str, Any]:
    started = time.perf_counter()
    create_database(database)
    setup(database)
    from django.core.management import call_command
    from django.db import connections

    call_command("migrate", verbosity=0)
    connections.close_all()
    directory(database)
    jobs: list[tuple[int, int, int | None]] = [
        (lo, min(lo + CHUNK, patients + 1), None) for lo in range(1, patients + 1, CHUNK)
    ]
    cohorts: dict[str, list[int]] = {}
    first = patients + 1
    for results in (10, 500) if cohort_size else ():
        jobs.append((first, first + cohort_size, results))
        cohorts[f"results_{results}"] = [first, first + cohort_size]
        first += cohort_size
    by_kind: dict[int | None, list[tuple[int, int]]] = {}
    for lo, hi, kind in jobs:
        by_kind.setdefault(kind, []).append((lo, hi))
    shares = [
        (database, ranges[w::workers], seed, results)
        for results, ranges in by_kind.items()
        for w in range(workers)
    ]
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        loaded = sum(pool.map(_work, shares))
    finish(database)
    seconds = time.perf_counter() - started
    return {
        "patients": patients,
        "loaded": loaded,
        "cohorts": cohorts,
        "seconds": round(seconds, 1),
        "database": database,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cohort-size", type=int, default=1_000)
    parser.add_argument(
        "--database",
        default=os.environ.get(
            "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/clozrems_bench"
        ),
    )
    args = parser.parse_args()
    dataset = generate(args.database, args.patients, args.workers, args.cohort_size)
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    name = args.database.rsplit("/", 1)[1]
    (out / f"dataset-{name}.json").write_text(json.dumps(dataset, indent=2))
    print(f"loaded {dataset['loaded']} patients in {dataset['seconds']} s into {args.database}")


if __name__ == "__main__":
    main()
