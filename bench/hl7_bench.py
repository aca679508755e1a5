"""HL7 v2 ingest: a file of N ORU^R01 messages applied through the feed path (parse, match by
MRN, map codes, store through `anc_result_record`, rewrite the monitoring state, ACK), on
PostgreSQL, and the messages per second. Writes bench/results/hl7.json.

    python bench/hl7_bench.py --messages 100000 --patients 5000 [--workers 2] [--chunk 200]
        [--database postgres://postgres@127.0.0.1:5432/clozrems_bench_hl7]

The database is created afresh. Patients are enrolled and have an MRN at the sending lab. The
file has one message per result, each with a CBC's worth of OBX segments (WBC, ANC, neutrophil
percent, hemoglobin, platelets); every 20th message carries only WBC and percent (a derived
ANC), every 50th names an unknown patient (quarantined), every 100th is a corrected repeat of
an earlier result. Workers split the file by patient, as a lab's MLLP connections would.

Each worker hands its messages to the feed path `--chunk` at a time (`hl7_messages_ingest`, as a
batch file, a `POST /api/v1/feeds/hl7/` with many messages or an MLLP sender that does not wait
for each ACK give them); `--chunk 1` applies each message on its own (`hl7_ingest` of one
message, a sender waiting for every ACK).
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
DEFAULT_DATABASE = "postgres://postgres@127.0.0.1:5432/clozrems_bench_hl7"
LAB = "BENCHLAB"


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


def _patients(count: int, today: date) -> None:
    """Enrolled, started patients with a baseline ANC and an MRN at the lab."""
    from django.core.management import call_command

    from feeds.models import PatientIdentifier
    from monitoring.models import LabResult
    from monitoring.services import monitoring_states_rebuild
    from patients.models import EnrollmentEvent, Patient, Prescriber, Role, TreatmentEvent, User
    from tests.factories import npi_with_check_digit

    call_command("migrate", verbosity=0)
    prescriber = Prescriber.objects.create(
        name="Dr Bench", npi=npi_with_check_digit("123456789"), email="b@example.org"
    )
    actor = User.objects.create(username="bench", role=Role.PRESCRIBER, prescriber=prescriber)
    start = today - timedelta(days=400)
    patients = Patient.objects.bulk_create(
        Patient(
            first_name="P",
            last_name=f"Bench{i:06d}",
            date_of_birth=date(1980, 1, 1) + timedelta(days=i % 7000),
            sex="female",
            population="general",
            protocol="us-label-2015",
            prescriber=prescriber,
            created_by=actor,
        )
        for i in range(count)
    )
    PatientIdentifier.objects.bulk_create(
        PatientIdentifier(patient=p, issuer=LAB, value=f"MRN{p.pk:07d}", recorded_by=actor)
        for p in patients
    )
    from zoneinfo import ZoneInfo

    zone = ZoneInfo("America/New_York")
    LabResult.objects.bulk_create(
        LabResult(
            patient=p,
            value=2400,
            unit="/uL",
            value_per_ul=2400,
            drawn_at=datetime.combine(start - timedelta(days=2), datetime.min.time(), zone),
            recorded_by=actor,
        )
        for p in patients
    )
    EnrollmentEvent.objects.bulk_create(
        EnrollmentEvent(patient=p, kind="enroll", effective_date=start, actor=actor)
        for p in patients
    )
    TreatmentEvent.objects.bulk_create(
        TreatmentEvent(patient=p, kind="start", effective_date=start, reason="bench", actor=actor)
        for p in patients
    )
    from django.utils import timezone

    now = timezone.now()
    for lo in range(0, len(patients), 1000):
        monitoring_states_rebuild(patients=patients[lo : lo + 1000], now=now)


def _message(
    n: int, pk: int, name: str, drawn: datetime, rng: random.Random, corrected: bool
) -> str:
    stamp = drawn.strftime("%Y%m%d%H%M-0500")
    accession = f"A{pk:07d}-{drawn:%Y%m%d}"
    anc = f"{rng.uniform(1.6, 4.5):.2f}"
    status = "C" if corrected else "F"
    segments = [
        f"MSH|^~\\&|LIS|{LAB}|CLOZREMS|CLINIC|{stamp}||ORU^R01^ORU_R01|B{n:08d}|P|2.5.1",
        f"PID|1||MRN{pk:07d}^^^{LAB}^MR||{name.upper()}^P",
        f"OBR|1|P{n}|{accession}|57021-8^CBC^LN|||{stamp}",
        f"OBX|1|NM|6690-2^WBC^LN||{rng.uniform(4, 9):.1f}|10*3/uL|4.0-11.0|N|||{status}",
    ]
    if n % 20:
        segments.append(f"OBX|2|NM|751-8^Neutrophils^LN||{anc}|10*3/uL|1.5-7.5|N|||{status}")
    segments += [
        f"OBX|3|NM|770-8^Neutrophils %^LN||{rng.uniform(40, 70):.1f}|%|40-75|N|||{status}",
        f"OBX|4|NM|718-7^Hemoglobin^LN||{rng.uniform(11, 16):.1f}|g/dL|12-16|N|||{status}",
        f"OBX|5|NM|777-3^Platelets^LN||{rng.randint(150, 400)}|10*3/uL|150-400|N|||{status}",
    ]
    if n % 50 == 0:
        segments[1] = f"PID|1||UNKNOWN{n}^^^{LAB}^MR||NOBODY^N||19000101"
    return "\r".join(segments)


def _file(path: Path, messages: int, patients: list[tuple[int, str]], today: date) -> None:
    """Messages for each patient in draw order, a result every 3 days back from today."""
    rng = random.Random(7)  # noqa: S311 - test data, not secrets
    per_patient = -(-messages // len(patients))
    lines: list[tuple[int, str]] = []
    n = 0
    zone_now = datetime.combine(today, datetime.min.time()) + timedelta(hours=8)
    for pk, name in patients:
        for k in range(per_patient):
            if n >= messages:
                break
            n += 1
            drawn = zone_now - timedelta(days=3 * (per_patient - k))
            corrected = n % 100 == 37 and k > 0
            if corrected:
                drawn = zone_now - timedelta(days=3 * (per_patient - k + 1))
            lines.append((pk, _message(n, pk, name, drawn, rng, corrected)))
    path.write_text("\n".join(f"{pk}\t{text.replace(chr(13), chr(7))}" for pk, text in lines))


def _worker(args: tuple[str, str, int, int, int]) -> dict[str, Any]:
    database, path, index, workers, chunk = args
    _setup(database)
    from feeds.codes import CodeBook
    from feeds.hl7v2 import hl7_ingest, hl7_messages_ingest
    from feeds.mllp import feed_user

    actor = feed_user("bench-lab")
    codes = CodeBook.load()
    counts: dict[str, int] = {}
    mine = []
    for line in Path(path).read_text().splitlines():
        pk, text = line.split("\t", 1)
        if int(pk) % workers == index:
            mine.append(text.replace(chr(7), "\r"))
    from django.db import connection

    backend = _backend_cpu_s(connection)
    cpu = time.process_time()
    started = time.perf_counter()
    if chunk <= 1:
        for text in mine:
            for answer in hl7_ingest(text=text, actor=actor, codes=codes):
                counts[answer.code] = counts.get(answer.code, 0) + 1
    else:
        for lo in range(0, len(mine), chunk):
            for answer in hl7_messages_ingest(
                messages=mine[lo : lo + chunk], actor=actor, codes=codes, chunk_size=chunk
            ):
                counts[answer.code] = counts.get(answer.code, 0) + 1
    return {
        "seconds": time.perf_counter() - started,
        "cpu_s": time.process_time() - cpu,
        "db_cpu_s": _backend_cpu_s(connection) - backend,
        "messages": len(mine),
        "acks": counts,
    }


def _backend_cpu_s(connection: Any) -> float:
    """CPU seconds this worker's PostgreSQL backend has used (user + system), read from
    /proc when the server runs on this machine; 0 when it cannot be read."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--patients", type=int, default=5_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--chunk", type=int, default=200, help="messages per chunk; 1: one by one")
    parser.add_argument(
        "--database", default=os.environ.get("BENCH_HL7_DATABASE_URL", DEFAULT_DATABASE)
    )
    options = parser.parse_args()

    _create_database(options.database)
    _setup(options.database)
    from django.db import connection

    from feeds.models import FeedMessage, QuarantinedResult
    from monitoring.models import LabResult
    from patients.models import Patient

    today = date.today()
    setup_started = time.perf_counter()
    _patients(options.patients, today)
    ids = list(Patient.objects.order_by("pk").values_list("pk", "last_name"))
    path = ROOT / "bench" / "results" / "hl7-messages.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    _file(path, options.messages, ids, today)
    connection.close()
    print(
        f"setup: {options.patients} patients, {options.messages} messages in "
        f"{time.perf_counter() - setup_started:.0f} s",
        flush=True,
    )

    started = time.perf_counter()
    jobs = [
        (options.database, str(path), i, options.workers, options.chunk)
        for i in range(options.workers)
    ]
    with multiprocessing.get_context("spawn").Pool(options.workers) as pool:
        parts = pool.map(_worker, jobs)
    wall = time.perf_counter() - started
    acks: dict[str, int] = {}
    for part in parts:
        for code, n in part["acks"].items():
            acks[code] = acks.get(code, 0) + n
    summary = {
        "messages": options.messages,
        "patients": options.patients,
        "workers": options.workers,
        "chunk": options.chunk,
        "wall_s": round(wall, 1),
        "messages_per_s": round(options.messages / wall, 1),
        "per_worker_messages_per_s": [round(p["messages"] / p["seconds"], 1) for p in parts],
        # CPU the ingest used (the workers' own, and their PostgreSQL backends'), per message:
        # what the wall time says only on an otherwise idle machine.
        "cpu_ms_per_message": round(
            1000 * sum(p["cpu_s"] + p["db_cpu_s"] for p in parts) / options.messages, 3
        ),
        "worker_cpu_ms_per_message": round(
            1000 * sum(p["cpu_s"] for p in parts) / options.messages, 3
        ),
        "acks": acks,
        "results_stored": LabResult.objects.filter(source="hl7").count(),
        "derived": LabResult.objects.filter(source="hl7", derived=True).count(),
        "corrections": LabResult.objects.filter(source="hl7", corrects__isnull=False).count(),
        "quarantined": QuarantinedResult.objects.count(),
        "feed_messages_kept": FeedMessage.objects.count(),
    }
    (ROOT / "bench" / "results" / "hl7.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
