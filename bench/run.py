"""`make bench`: the scale suite against a generated PostgreSQL database. One table, also
written to bench/results/suite-<patients>.json.

    python bench/run.py --patients 100000 [--reuse] [--database URL] [--seconds 8]

1. the dispensing decision over HTTP (gunicorn, production settings) vs the framework floor;
2. recording a dispense the same way; 3. SQL queries per decision and per dispense;
4. the full draws (overdue) and lapse scans with 1 and 2 workers; 5. `monitoring_rebuild`;
6. HL7 ingest (bench/hl7_bench.py on a database of its own, 2 workers);
7. peak memory of web and worker processes;
8. the same figures beside the other runs found in bench/results (100,000 vs 1,000,000
patients), and the decision for patients with 10 and with 500 results.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path
from statistics import median
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results"


def _database_for(patients: int) -> str:
    base = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/clozrems_bench")
    return f"{base}_{patients // 1000}k"


def _dataset(database: str) -> dict[str, Any] | None:
    path = RESULTS / f"dataset-{database.rsplit('/', 1)[1]}.json"
    return json.loads(path.read_text()) if path.exists() else None


def ensure_data(database: str, patients: int, reuse: bool) -> dict[str, Any]:
    from bench import generate

    found = _dataset(database)
    if reuse and found and found.get("patients") == patients:
        return found
    dataset = generate.generate(database, patients, workers=2, cohort_size=1000)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"dataset-{database.rsplit('/', 1)[1]}.json").write_text(json.dumps(dataset))
    return dataset


def queries_and_cohorts(database: str, dataset: dict[str, Any]) -> dict[str, Any]:
    """In-process (Django test client, the same PostgreSQL): SQL queries per decision and per
    dispense, and the decision's time for patients with 10 and with 500 results."""
    from bench.generate import setup

    setup(database)
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections, connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from patients.auth import api_token_create
    from patients.models import Pharmacy, Role, User

    # One connection across requests, as a pooled server keeps one, so queries can be counted.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    pharmacy = Pharmacy.objects.get(pk=1)
    user, _ = User.objects.get_or_create(
        username="bench-counter", defaults={"role": Role.PHARMACIST, "pharmacy": pharmacy}
    )
    token = api_token_create(user=user, otp_verified=False)
    client = Client(HTTP_AUTHORIZATION=f"Token {token}")

    def counted(method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, int]:
        connection.queries_log.clear()
        with CaptureQueriesContext(connection) as captured:
            if method == "GET":
                status = client.get(path).status_code
            else:
                status = client.post(path, body, content_type="application/json").status_code
        return status, len(captured)

    out: dict[str, Any] = {"cohorts": {}}
    for name, (lo, hi) in dataset.get("cohorts", {}).items():
        ids = list(range(lo, min(hi, lo + 200)))
        times, counts = [], set()
        for pid in ids:
            path = f"/api/v1/patients/{pid}/eligibility/?days_supply=7"
            started = time.perf_counter()
            status, n = counted("GET", path)
            times.append((time.perf_counter() - started) * 1000)
            counts.add((status, n))
        out["cohorts"][name] = {
            "patients": len(ids),
            "p50_ms": round(median(times), 2),
            "queries": sorted(n for _, n in counts),
        }
    status, n = counted("GET", "/api/v1/patients/1/eligibility/?days_supply=7")
    out["decision_queries"] = n
    # A dispense for a patient the rules allow now (tried in id order; each is a real write).
    for pid in range(2, 2000):
        decision = client.get(f"/api/v1/patients/{pid}/eligibility/?days_supply=7").json()
        if decision.get("decision") == "allowed":
            body = {"patient": pid, "pharmacy": 1, "days_supply": 7}
            status, n = counted("POST", "/api/v1/dispenses/", body)
            out["dispense_queries"] = n
            out["dispense_status"] = status
            break
    connection.close()
    return out


def commit_latency(database: str, commits: int = 300) -> dict[str, float]:
    """What one committed one-row INSERT costs on this database's disk, as a decision's audit
    entry pays it (and the floor, a read, does not), against the same INSERT not waiting for
    the disk. On a disk with a slow flush this bounds the decision's ratio to the floor at one
    client: the product never turns the wait off (docs/scaling.md)."""
    import psycopg

    out = {}
    with psycopg.connect(database, autocommit=True) as conn:
        # A logged table (a temporary one writes no WAL, so it would wait for nothing).
        conn.execute("DROP TABLE IF EXISTS bench_commit")
        conn.execute("CREATE TABLE bench_commit (id serial, body text)")
        try:
            for name, mode in (("durable_ms", "on"), ("no_wait_ms", "off")):
                conn.execute(f"SET synchronous_commit = {mode}")  # a constant of this function
                started = time.perf_counter()
                for _ in range(commits):
                    conn.execute("INSERT INTO bench_commit (body) VALUES (%s)", ("x" * 500,))
                out[name] = round((time.perf_counter() - started) * 1000 / commits, 3)
        finally:
            conn.execute("DROP TABLE bench_commit")
    return out


def scans(database: str) -> dict[str, Any]:
    from bench.scan_bench import scan

    out = {}
    for kind in ("draws", "lapses"):
        one, rows = scan(database, kind, 1, 5000)
        two, _ = scan(database, kind, 2, 5000)
        out[kind] = {"one_worker_s": round(one, 2), "two_workers_s": round(two, 2), "rows": rows}
    return out


def rebuild(database: str, patients: int) -> dict[str, Any]:
    """`monitoring_rebuild --check` over every patient with 2 workers, and over (at most) the
    first 100,000 with 1: patients per second from the command's own timing."""
    import re
    import subprocess

    out = {}
    env = {**os.environ, "DATABASE_URL": database}
    env.pop("REDIS_URL", None)
    for workers, stop in ((1, min(patients, 100_000) + 1), (2, None)):
        command = [
            sys.executable,
            "manage.py",
            "monitoring_rebuild",
            "--check",
            "--workers",
            str(workers),
        ]
        if stop is not None:
            command += ["--stop-id", str(stop)]
        done = subprocess.run(  # noqa: S603 - our own interpreter and command
            command, cwd=ROOT, env=env, capture_output=True, text=True, check=False
        )
        found = re.search(
            r"checked (\d+) patients in ([\d.]+) s \((\d+) patients/s\), (\d+) with", done.stdout
        )
        if found is None:
            raise SystemExit(f"monitoring_rebuild failed:\n{done.stdout}\n{done.stderr}")
        out[f"{workers}_worker"] = {
            "patients": int(found.group(1)),
            "seconds": float(found.group(2)),
            "patients_per_s": int(found.group(3)),
            "differences": int(found.group(4)),
        }
    return out


def hl7_ingest(messages: int, patients: int) -> dict[str, Any]:
    """bench/hl7_bench.py in a process of its own (it creates its database afresh), 2 workers:
    its summary (messages per second, ACK codes, what was filed and kept)."""
    import subprocess

    base = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/clozrems_bench")
    command = [
        sys.executable,
        "bench/hl7_bench.py",
        "--messages",
        str(messages),
        "--patients",
        str(patients),
        "--workers",
        "2",
        "--database",
        f"{base}_hl7",
    ]
    env = {**os.environ, "DATABASE_STATEMENT_TIMEOUT_MS": "0"}
    env.pop("REDIS_URL", None)
    done = subprocess.run(  # noqa: S603 - our own interpreter and script
        command, cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"hl7_bench failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    summary: dict[str, Any] = json.loads((RESULTS / "hl7.json").read_text())
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--database", default=None)
    parser.add_argument("--reuse", action="store_true", help="keep data generated before")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--levels", default="1,8,32")
    parser.add_argument("--hl7-messages", type=int, default=20_000)
    parser.add_argument("--hl7-patients", type=int, default=2_000)
    args = parser.parse_args()
    database = args.database or _database_for(args.patients)
    started = time.perf_counter()
    dataset = ensure_data(database, args.patients, args.reuse)

    from bench import http_bench

    levels = tuple(int(x) for x in args.levels.split(","))
    http = http_bench.run(database, levels, args.seconds)
    counts = queries_and_cohorts(database, dataset)
    scanned = scans(database)
    rebuilt = rebuild(database, args.patients)
    hl7 = hl7_ingest(args.hl7_messages, args.hl7_patients)
    commits = commit_latency(database)
    worker_peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    suite = {
        "patients": args.patients,
        "dataset": dataset,
        "http": http,
        "queries": counts,
        "scans": scanned,
        "rebuild": rebuilt,
        "hl7_ingest": hl7,
        "commit_latency": commits,
        "worker_peak_rss_mb": round(worker_peak_mb, 1),
        "suite_seconds": round(time.perf_counter() - started, 1),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"suite-{args.patients}.json").write_text(json.dumps(suite, indent=2, default=str))
    print(table(suite))


def table(suite: dict[str, Any]) -> str:
    from bench import http_bench

    lines = [f"clozrems scale suite: {suite['patients']:,} patients", ""]
    lines.append(http_bench._table(suite["http"]))
    q = suite["queries"]
    lines.append("")
    lines.append(
        f"SQL queries: per decision {q.get('decision_queries')}, per dispense "
        f"{q.get('dispense_queries')} (status {q.get('dispense_status')})"
    )
    for name, c in q["cohorts"].items():
        lines.append(
            f"decision, patients with {name.split('_')[1]} results: p50 {c['p50_ms']} ms "
            f"in-process, queries {c['queries']}"
        )
    lines.append("")
    lines.append("full scans        1 worker (s)   2 workers (s)   reminder rows")
    for kind, s in suite["scans"].items():
        lines.append(f"{kind:16}  {s['one_worker_s']:12}   {s['two_workers_s']:13}   {s['rows']}")
    lines.append("")
    for name, r in suite["rebuild"].items():
        lines.append(
            f"monitoring_rebuild --check, {name.replace('_', ' ')}: {r['patients']:,} patients "
            f"in {r['seconds']} s = {r['patients_per_s']:,} patients/s, "
            f"{r['differences']} differences"
        )
    h = suite["hl7_ingest"]
    if isinstance(h, dict):
        lines.append(
            f"HL7 ingest, {h['workers']} workers: {h['messages']:,} ORU^R01 messages "
            f"({h['patients']:,} patients) in {h['wall_s']} s = {h['messages_per_s']:,} "
            f"messages/s; ACKs {h['acks']}; kept {h['feed_messages_kept']:,}, filed "
            f"{h['results_stored']:,}, quarantined {h['quarantined']:,}"
        )
    else:
        lines.append(f"HL7 ingest: {h}")
    c = suite.get("commit_latency")
    if c:
        lines.append(
            f"one durable commit (a one-row INSERT, the decision's audit entry's cost floor): "
            f"{c['durable_ms']} ms; without waiting for the disk (synchronous_commit off, "
            f"for comparison only): {c['no_wait_ms']} ms"
        )
    lines.append(f"peak memory of scan/rebuild worker processes: {suite['worker_peak_rss_mb']} MB")
    others = sorted(RESULTS.glob("suite-*.json"))
    if len(others) > 1:
        lines.append("")
        lines.append("runs side by side      " + "   ".join(p.stem for p in others))
        loaded = [json.loads(p.read_text()) for p in others]
        lines.append(
            "draws scan, 2 workers  "
            + "   ".join(f"{s['scans']['draws']['two_workers_s']} s" for s in loaded)
        )
        lines.append(
            "rebuild, 2 workers     "
            + "   ".join(f"{s['rebuild']['2_worker']['patients_per_s']}/s" for s in loaded)
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
