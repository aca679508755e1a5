"""The dispensing decision over HTTP: the real server (gunicorn, production settings, DEBUG
off) on loopback, driven by a small asyncio load generator in another process. Prints a table;
writes bench/results/http.json.

    python bench/http_bench.py [--database postgres://.../clozrems_bench] [--levels 1,8,32]
        [--seconds 8] [--out bench/results/http.json] [--worker-class sync --workers 4]
        [--profile 300]

The database must be migrated and filled (patients with monitoring states, e.g. by
bench/scan_bench.py or bench/generate.py). `prepare` adds a certified bench pharmacy (NCPDP
9999999), its pharmacist `bench-pharmacist` and a token, and picks the patients.

Against one server and one client, at each concurrency level (that many HTTP/1.1 clients,
each sending its next request as soon as the previous answer is read, over a kept-alive
connection where the server allows one; 1 s of warm-up left out of the figures):

- floor: GET /api/v1/ping/, an authenticated DRF constant: what the framework costs;
- decision: GET /api/v1/patients/{id}/eligibility/?days_supply=7 over a seeded sample of
  enrolled patients; its throughput is reported as a fraction of the floor's;
- dispense (levels 1 and 8 only, to limit data churn): POST /api/v1/dispenses/ with a fresh
  Idempotency-Key, each patient (allowed a 7-day supply when prepared) used once; the phase ends
  early when the patients run out. Every dispense is a real write: run it on a bench database.

The server: gunicorn, 4 sync workers (2 per core, the Dockerfile's worker class). Measured
against gthread (2 workers x 4 threads, and 4 x 1) on 2 cores, the decision's throughput was
the same within run-to-run noise, but sync had the shorter tail (decision p99 at 8 clients
about 100 ms against 120-140 ms) and spread the load evenly, whereas gthread's keep-alive
connections stay with the worker that accepted them: in several runs one worker got every
connection of a phase and throughput halved. Sync answers with Connection: close, so each
request pays a connect, as it would from a proxy that does not keep upstream connections; the
floor pays it too, so its throughput is lower than gthread's and the ratio a little kinder.
`--worker-class gthread --workers 2 --threads 4` measures the other way.

Also the CPU each request cost the web workers, PostgreSQL and the client (from /proc), the CPU
anything else on the machine took meanwhile (a busy machine spoils the figures), and the peak
resident memory (VmHWM) of the gunicorn master and workers. `--profile N` adds an in-process
breakdown (the WSGI handler called directly: SQL queries and time per request, cProfile's top
functions) of the floor and the decision.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import http.client
import io
import itertools
import json
import os
import pstats
import random
import resource
import secrets
import signal
import socket
import string
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

HOST = "127.0.0.1"
NCPDP_ID = "9999999"
PHARMACIST = "bench-pharmacist"
DAYS_SUPPLY = 7
WARMUP_S = 1.0
REQUEST_TIMEOUT_S = 10.0
MAX_REQUESTS_PER_CONNECTION = 1_000_000
MAX_CONSECUTIVE_ERRORS = 20
MAX_HEADERS = 100
DISPENSE_LEVELS = (1, 8)
# The targets (docs/scaling.md): the decision at >= 75% of the framework's floor at every
# level; its p99 at 8 clients within 1.5 x the floor's p99; dispenses at 8 clients at >= 50% of
# the decision's throughput. A phase that saw a non-2xx answer (a throttle's 429 above all) or a
# client error is void, and so is every target that reads it.
TARGET_RATIO = 0.75
TARGET_P99_VS_FLOOR = 1.5
TARGET_DISPENSE_VS_DECISION = 0.50
TARGET_LEVEL = 8


# --- Django, in this process ----------------------------------------------------------------


def _secret_key() -> str:
    alphabet = string.ascii_letters + string.digits + "!@#%^&*(-_=+)"
    return "".join(secrets.choice(alphabet) for _ in range(50))


def _server_env(database_url: str, secret_key: str) -> dict[str, str]:
    """Production settings, as a deployment sets them, but plain http on loopback and tasks run
    eagerly (no broker: the dispense path enqueues nothing heavy)."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in {"REDIS_URL", "GUNICORN_CMD_ARGS", "WEB_CONCURRENCY"}
    }
    env.update(
        DJANGO_SETTINGS_MODULE="clozrems.settings",
        CLOZREMS_PRODUCTION="1",
        DEBUG="0",
        SECRET_KEY=secret_key,
        # The audit trail's HMAC key (docs/audit.md): production refuses to start without one.
        CLOZREMS_AUDIT_KEY=os.environ.get("CLOZREMS_AUDIT_KEY") or secrets.token_urlsafe(48),
        ALLOWED_HOSTS=HOST,
        SECURE_SSL_REDIRECT="0",
        # One client sends thousands of requests a second from one address: the rate limits
        # would answer most of them 429 (SECURITY.md: off for benchmark runs only).
        CLOZREMS_RATE_LIMITS="off",
        DATABASE_URL=database_url,
        EMAIL_BACKEND="django.core.mail.backends.dummy.EmailBackend",
    )
    return env


def _setup(database_url: str) -> None:
    """Django in this process, for the bench's own reads and writes: the database, DEBUG off
    (no query log), no broker; not the production settings, so a caller (bench/run.py) can go on
    using the test client. The server and the profile get those in processes of their own."""
    from django.apps import apps

    if apps.ready:
        from django.conf import settings

        wanted = database_url.rsplit("/", 1)[1].split("?")[0]
        if settings.DATABASES["default"]["NAME"] != wanted:
            raise RuntimeError(
                f"Django is already set up for {settings.DATABASES['default']['NAME']}, "
                f"not {wanted}"
            )
        return
    os.environ["DATABASE_URL"] = database_url
    os.environ.pop("REDIS_URL", None)
    os.environ["DEBUG"] = "0"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clozrems.settings")
    import django

    django.setup()


def _sync_cached_status() -> int:
    """Copy enrollment/treatment status from the monitoring state onto the patient row where
    they differ, as `monitoring_state_refresh` keeps them; the pharmacist's patient list filters
    on the patient row, so a loader that skipped it would leave every patient invisible (404).
    Returns the rows fixed (0 on a consistent database)."""
    from django.db.models import F, OuterRef, Q, Subquery

    from monitoring.models import MonitoringState
    from patients.models import Patient

    stale = Patient.objects.filter(monitoring__isnull=False).filter(
        ~Q(enrollment_status=F("monitoring__enrollment_status"))
        | ~Q(treatment_status=F("monitoring__treatment_status"))
    )
    state = MonitoringState.objects.filter(patient=OuterRef("pk"))
    return Patient.objects.filter(pk__in=stale.values("pk")).update(
        enrollment_status=Subquery(state.values("enrollment_status")[:1]),
        treatment_status=Subquery(state.values("treatment_status")[:1]),
    )


def _decisions(user: Any, pharmacy: Any, ids: list[int]) -> Iterator[tuple[int, str, list[str]]]:
    """(patient id, "allowed"|"blocked", reason codes) for a 7-day supply now, as the endpoint
    decides it."""
    from django.utils import timezone

    from patients.selectors import patient_list_visible
    from pharmacy.decisions import dispensing_decision

    visible = patient_list_visible(user=user)
    for offset in range(0, len(ids), 1000):
        chunk = ids[offset : offset + 1000]
        patients = visible.in_bulk(chunk)
        now = timezone.now()
        for pk in chunk:
            patient = patients.get(pk)
            if patient is not None:
                assessment = dispensing_decision(
                    patient=patient, pharmacy=pharmacy, as_of=now, days_supply=DAYS_SUPPLY
                )
                codes = [str(item.code.value) for item in assessment.reasons]
                yield pk, str(assessment.decision.value), codes


def prepare(
    database_url: str,
    *,
    sample: int = 5000,
    dispense_patients: int = 4000,
    seed: int = 7,
    max_prepare_s: float = 120.0,
) -> dict[str, Any]:
    """The bench pharmacy, its pharmacist and token, and the patients: a seeded sample of
    enrolled patients for the decision; up to `dispense_patients` whose 7-day supply is allowed
    now for the dispenses (checked in-process with the endpoint's own decision), not in the
    sample where the database has enough. Leaves no database connection open."""
    _setup(database_url)
    from django.db import connections
    from django.db.models import Q
    from django.db.models.fields.json import KeyTextTransform
    from django.utils import timezone

    from engine.types import EnrollmentStatus
    from monitoring.models import MonitoringState
    from patients.auth import api_token_create
    from patients.models import Pharmacy, Role, User
    from patients.selectors import patient_list_visible

    started = time.perf_counter()
    try:
        today = timezone.localdate()
        pharmacy, _ = Pharmacy.objects.get_or_create(
            ncpdp_id=NCPDP_ID,
            defaults={"name": "Bench pharmacy", "certified": True, "certified_on": today},
        )
        if not pharmacy.is_certified_on(today):
            pharmacy.active = pharmacy.certified = True
            pharmacy.certified_on = pharmacy.certified_on or today
            pharmacy.certification_expires_on = None
            pharmacy.save()
        user = User.objects.filter(username=PHARMACIST).first()
        if user is None:
            user = User(username=PHARMACIST)
            user.set_unusable_password()
        # A plain pharmacist of the bench pharmacy, whatever an earlier run left.
        user.role = Role.PHARMACIST
        user.pharmacy = pharmacy
        user.is_superuser = user.is_staff = False
        user.is_active = True
        user.save()
        token = api_token_create(user=user, otp_verified=False)
        synced = _sync_cached_status()

        enrolled = patient_list_visible(user=user).filter(
            monitoring__enrollment_status=EnrollmentStatus.ENROLLED
        )
        ids = list(enrolled.order_by("pk").values_list("pk", flat=True))
        rng = random.Random(seed)  # noqa: S311 - a reproducible sample, not security
        rng.shuffle(ids)
        eligibility = ids[:sample]
        mix: Counter[str] = Counter()
        reasons: Counter[str] = Counter()
        for _, decision, codes in _decisions(user, pharmacy, eligibility):
            mix[decision] += 1
            reasons.update(codes)
        # A stored snapshot newer than now (a result dated ahead) makes the decision replay the
        # whole history instead: a different, dearer path, so say how often it happens.
        replaying = MonitoringState.objects.filter(
            patient_id__in=eligibility, high_water__gt=timezone.now()
        ).count()
        # Dispensing runs last, so on a small database the sample may be reused: outside it first;
        # and first the patients whose stored state looks dispensable (ANC current, no supply on
        # hand after tomorrow): where most have supply on hand, trying everyone takes too long.
        # The endpoint's own decision has the last word.
        no_supply = Q(supply__isnull=True) | Q(supply__lte=(today + timedelta(days=1)).isoformat())
        current = set(
            enrolled.filter(
                monitoring__current_until__gte=today, monitoring__lapsed_on__isnull=True
            )
            .annotate(supply=KeyTextTransform("supply_until", "monitoring__snapshot"))
            .filter(no_supply)
            .values_list("pk", flat=True)
        )
        order = ids[sample:] + ids[:sample]
        candidates = [pk for pk in order if pk in current] + [
            pk for pk in order if pk not in current
        ]
        allowed: list[int] = []
        examined = 0
        for pk, decision, _ in _decisions(user, pharmacy, candidates):
            examined += 1
            if decision == "allowed":
                allowed.append(pk)
            if len(allowed) >= dispense_patients or time.perf_counter() - started > max_prepare_s:
                break
        return {
            "token": token,
            "pharmacy": pharmacy.pk,
            "pharmacist": user.pk,
            "enrolled_visible": len(ids),
            "patient_rows_status_synced": synced,
            "eligibility_patients": eligibility,
            "eligibility_decisions": dict(mix),
            "eligibility_reasons": dict(reasons.most_common(8)),
            "eligibility_replaying_history": replaying,
            "dispense_patients": allowed,
            "dispense_examined": examined,
            "prepare_s": round(time.perf_counter() - started, 2),
        }
    finally:
        connections.close_all()


# --- /proc ----------------------------------------------------------------------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _read(path: str) -> str:
    try:
        with open(path) as handle:
            return handle.read()
    except OSError:  # the process went away, or is not ours to read
        return ""


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of one process (all its threads)."""
    stat = _read(f"/proc/{pid}/stat")
    if not stat:
        return 0.0
    fields = stat[stat.rfind(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def _children(pid: int) -> list[int]:
    found: list[int] = []
    tasks = Path(f"/proc/{pid}/task")
    for task in sorted(tasks.iterdir()) if tasks.is_dir() else []:
        found.extend(int(child) for child in _read(str(task / "children")).split())
    return found


def _status_kb(pid: int, field: str) -> int | None:
    for line in _read(f"/proc/{pid}/status").splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return None


def _postgres_cpu(database_url: str) -> dict[int, float]:
    """CPU seconds of the local PostgreSQL server's processes that work for this database: its
    backends (which run the queries) and the shared ones (WAL writer, checkpointer...), not other
    databases' backends. Empty when the server runs elsewhere."""
    name = f" {database_url.rsplit('/', 1)[1].split('?')[0]} "
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or _read(f"/proc/{entry}/comm").strip() != "postgres":
            continue
        title = _read(f"/proc/{entry}/cmdline").replace("\0", " ")
        if name in title or not ("(" in title or "[local]" in title):
            found[int(entry)] = _cpu_seconds(int(entry))
    return found


def _machine_busy_seconds() -> float:
    """CPU time all cores spent busy since boot (everything but idle and iowait)."""
    fields = [int(value) for value in _read("/proc/stat").splitlines()[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / CLOCK_TICKS


def _process_cpu() -> dict[int, tuple[str, float]]:
    """Every process's (name, CPU seconds): to say who else used the machine during a phase."""
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _read(f"/proc/{entry}/stat")
            if stat:
                fields = stat[stat.rfind(")") + 2 :].split()
                name = stat[stat.find("(") + 1 : stat.rfind(")")]
                found[int(entry)] = (name, (int(fields[11]) + int(fields[12])) / CLOCK_TICKS)
    return found


def _command(pid: int) -> str:
    return _read(f"/proc/{pid}/cmdline").replace("\0", " ").strip()[:120]


def _background_cores(seconds: float = 2.0) -> float:
    """How many cores the machine keeps busy while we do nothing (0 on a quiet machine)."""
    busy = _machine_busy_seconds()
    time.sleep(seconds)
    return round((_machine_busy_seconds() - busy) / seconds, 2)


# --- the load generator (another process: `http_bench.py --client` reads a spec on stdin) ---


def _get_request(path: str, port: int, token: str) -> bytes:
    return (
        f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nAuthorization: Token {token}\r\n"
        "Accept: application/json\r\n\r\n"
    ).encode()


def _post_request(path: str, port: int, token: str, body: dict[str, Any], key: str) -> bytes:
    data = json.dumps(body).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nAuthorization: Token {token}\r\n"
        f"Accept: application/json\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(data)}\r\nIdempotency-Key: {key}\r\n\r\n"
    )
    return head.encode() + data


def _sources(spec: dict[str, Any]) -> Callable[[int], Iterator[bytes]]:
    """Connection i's requests. GETs: the path list, cycled, each connection from its own
    offset. Dispenses: one list shared by all connections, each patient once."""
    port, token, concurrency = spec["port"], spec["token"], spec["concurrency"]
    if spec["kind"] == "get":
        requests = [_get_request(path, port, token) for path in spec["paths"]]
        step = max(1, len(requests) // concurrency)

        def cycled(i: int) -> Iterator[bytes]:
            start = (i * step) % len(requests)
            return itertools.cycle(requests[start:] + requests[:start])

        return cycled
    run = spec["run_id"]
    shared = iter(
        _post_request(
            "/api/v1/dispenses/",
            port,
            token,
            {"patient": patient, "pharmacy": spec["pharmacy"], "days_supply": DAYS_SUPPLY},
            f"bench-{run}-{patient}",
        )
        for patient in spec["patients"]
    )
    return lambda i: shared


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Status line, headers, body (Content-Length, chunked, or to the close); (status, whether
    the connection may be reused)."""
    line = await reader.readline()
    if not line:
        raise ConnectionResetError("server closed the connection")
    version, status_text = line.split(None, 2)[:2]
    status = int(status_text)
    length: int | None = None
    chunked = False
    keep = version == b"HTTP/1.1"
    for _ in range(MAX_HEADERS):
        header = await reader.readline()
        if header in (b"\r\n", b"\n", b""):
            break
        name, _, value = header.partition(b":")
        name, value = name.strip().lower(), value.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding":
            chunked = b"chunked" in value
        elif name == b"connection":
            keep = value != b"close" and (keep or value == b"keep-alive")
    else:
        raise ValueError("too many headers")
    if chunked:
        for _ in range(100_000):
            size = int((await reader.readline()).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    elif length is not None:
        await reader.readexactly(length)
    else:
        await reader.read()
        keep = False
    return status, keep


async def _connection(
    source: Iterator[bytes],
    port: int,
    deadline: float,
    records: list[tuple[float, float, int]],
    errors: list[str],
) -> None:
    """One client: the next request as soon as the previous answer is read, until the deadline
    or the end of its requests. Latency counts a (re)connect when one was needed."""
    stream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
    failures = 0
    try:
        for _ in range(MAX_REQUESTS_PER_CONNECTION):
            if time.perf_counter() >= deadline:
                break
            payload = next(source, None)
            if payload is None:
                break
            began = time.perf_counter()
            try:
                if stream is None:
                    stream = await asyncio.wait_for(
                        asyncio.open_connection(HOST, port), REQUEST_TIMEOUT_S
                    )
                stream[1].write(payload)
                status, keep = await asyncio.wait_for(_read_response(stream[0]), REQUEST_TIMEOUT_S)
                failures = 0
            except (OSError, EOFError, ValueError, TimeoutError) as error:
                status, keep = 0, False
                failures += 1
                if len(errors) < 10:
                    errors.append(f"{type(error).__name__}: {error}")
            done = time.perf_counter()
            records.append((done, done - began, status))
            if not keep and stream is not None:
                stream[1].close()
                stream = None
            if failures >= MAX_CONSECUTIVE_ERRORS:
                break
    finally:
        if stream is not None:
            stream[1].close()


def _percentile(ordered: list[float], q: float) -> float:
    if not ordered:
        return 0.0
    rank = max(0, min(len(ordered) - 1, int(q * len(ordered) + 0.999999) - 1))
    return ordered[rank]


async def _load(spec: dict[str, Any]) -> dict[str, Any]:
    concurrency, seconds = int(spec["concurrency"]), float(spec["seconds"])
    warmup = float(spec.get("warmup", WARMUP_S))
    make = _sources(spec)
    records: list[tuple[float, float, int]] = []
    errors: list[str] = []
    started = time.perf_counter()
    warm_end, deadline = started + warmup, started + warmup + seconds
    await asyncio.gather(
        *(_connection(make(i), spec["port"], deadline, records, errors) for i in range(concurrency))
    )
    finished = time.perf_counter()
    exhausted = finished < deadline - 0.05
    end = min(deadline, max((done for done, _, _ in records), default=deadline))
    window = [r for r in records if warm_end < r[0] <= end]
    window_start = warm_end
    if not window:  # ran out within the warm-up: report everything rather than nothing
        window, window_start = records, started
    span = max(end - window_start, 1e-9)
    latencies = sorted(latency * 1000 for _, latency, _ in window)
    statuses = Counter(str(status) for _, _, status in window)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "concurrency": concurrency,
        "requests": len(window),
        "throughput_rps": round(len(window) / span, 1),
        "p50_ms": round(_percentile(latencies, 0.50), 2),
        "p95_ms": round(_percentile(latencies, 0.95), 2),
        "p99_ms": round(_percentile(latencies, 0.99), 2),
        "max_ms": round(latencies[-1], 2) if latencies else 0.0,
        "mean_ms": round(sum(latencies) / len(latencies), 2) if latencies else 0.0,
        "statuses": dict(statuses),
        "non_2xx": sum(n for code, n in statuses.items() if not code.startswith("2")),
        "requests_all": len(records),
        "statuses_all": dict(Counter(str(status) for _, _, status in records)),
        "window_s": round(span, 3),
        "warmup_excluded": window_start == warm_end,
        "exhausted": exhausted,
        "errors": errors,
        "client_cpu_s": round(usage.ru_utime + usage.ru_stime, 3),
    }


def _client_main() -> None:
    spec = json.loads(sys.stdin.read())
    json.dump(asyncio.run(_load(spec)), sys.stdout)


def _run_client(spec: dict[str, Any]) -> dict[str, Any]:
    """The load generator in a process of its own (Python, no Django), bounded in time."""
    limit = float(spec["seconds"]) + float(spec.get("warmup", WARMUP_S)) + 60
    done = subprocess.run(  # noqa: S603 - this very file, with our own arguments
        [sys.executable, str(Path(__file__).resolve()), "--client"],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        timeout=limit,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed ({done.returncode}): {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


# --- the server -----------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def _get(port: int, path: str, token: str | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(HOST, port, timeout=5)
    try:
        headers = {"Authorization": f"Token {token}"} if token else {}
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


class Server:
    """gunicorn on a free loopback port, production settings; always stopped (`stop`)."""

    def __init__(
        self,
        database_url: str,
        secret_key: str,
        *,
        worker_class: str,
        workers: int,
        threads: int,
        log: IO[str],
    ) -> None:
        self.port = _free_port()
        self.log = log
        self.expected_workers = workers
        self.config: dict[str, Any] = {
            "worker_class": worker_class,
            "workers": workers,
            "threads": threads,
        }
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "clozrems.wsgi:application",
            "--bind",
            f"{HOST}:{self.port}",
            "--workers",
            str(workers),
            "--worker-class",
            worker_class,
            "--graceful-timeout",
            "5",
            "--no-control-socket",
        ]
        if worker_class == "gthread":
            command += ["--threads", str(threads)]
        self.command = command
        self.process = subprocess.Popen(  # noqa: S603 - our interpreter, our arguments
            command,
            cwd=ROOT,
            env=_server_env(self.database_url_checked(database_url), secret_key),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.workers_seen: set[int] = set()

    @staticmethod
    def database_url_checked(database_url: str) -> str:
        if not database_url.startswith(("postgres://", "postgresql://")):
            raise SystemExit("the HTTP benchmark runs against PostgreSQL (--database postgres://)")
        return database_url

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Until /health/ answers 200 and every worker is up."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}")
            try:
                status, body = _get(self.port, "/health/")
                if status == 200 and len(self.workers()) >= self.expected_workers:
                    return
                if status != 200 and status != 503:
                    raise RuntimeError(f"/health/ answered {status}: {body[:300]!r}")
            except (OSError, http.client.HTTPException):
                pass
            time.sleep(0.2)
        raise RuntimeError("gunicorn did not become healthy in time")

    def workers(self) -> list[int]:
        found = _children(self.process.pid)
        self.workers_seen.update(found)
        return found

    def cpu_seconds(self) -> float:
        return _cpu_seconds(self.process.pid) + sum(self.worker_cpu().values())

    def worker_cpu(self) -> dict[int, float]:
        return {pid: _cpu_seconds(pid) for pid in self.workers()}

    def memory(self) -> dict[str, Any]:
        workers = self.workers()
        peaks = {pid: _status_kb(pid, "VmHWM") or 0 for pid in workers}
        master = _status_kb(self.process.pid, "VmHWM") or 0
        return {
            "master_vmhwm_mb": round(master / 1024, 1),
            "worker_vmhwm_mb": {str(pid): round(kb / 1024, 1) for pid, kb in peaks.items()},
            "max_worker_vmhwm_mb": round(max(peaks.values(), default=0) / 1024, 1),
            "workers_now": len(workers),
            "workers_ever": len(self.workers_seen),
        }

    def stop(self) -> None:
        """SIGTERM to the master (a graceful stop); SIGKILL to it and its workers, by pid, when
        it does not go within 15 s."""
        if self.process.poll() is not None:
            return
        workers = self.workers()
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            for pid in workers:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self.process.kill()
            self.process.wait(timeout=10)


# --- phases ---------------------------------------------------------------------------------


def _phase(server: Server, spec: dict[str, Any], phase: str, database_url: str) -> dict[str, Any]:
    """One load-generator run, with the CPU each side spent on it (a backend that started
    during the run counts from zero; one that ended during it is lost) and what else ran."""
    busy, web, split = _machine_busy_seconds(), server.cpu_seconds(), server.worker_cpu()
    before, everyone = _postgres_cpu(database_url), _process_cpu()
    wall = time.perf_counter()
    result = _run_client(spec)
    wall = time.perf_counter() - wall
    web = server.cpu_seconds() - web
    split = {pid: seconds - split.get(pid, 0.0) for pid, seconds in server.worker_cpu().items()}
    after, everyone_after = _postgres_cpu(database_url), _process_cpu()
    db = sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())
    busy = _machine_busy_seconds() - busy
    client = result.pop("client_cpu_s")
    total = max(1, result["requests_all"])
    other = max(0.0, busy - web - db - client)
    ours = {server.process.pid, os.getpid(), *server.workers_seen, *after}
    others = sorted(
        (
            (seconds - everyone.get(pid, ("", 0.0))[1], pid)
            for pid, (_, seconds) in everyone_after.items()
            if pid not in ours and "--client" not in _command(pid)
        ),
        reverse=True,
    )[:3]
    return {
        "phase": phase,
        **result,
        "cpu_ms_per_request": {
            "web": round(web * 1000 / total, 3),
            "postgres": round(db * 1000 / total, 3) if after else None,
            "client": round(client * 1000 / total, 3),
        },
        # How evenly the workers shared the work (keep-alive connections stay with one worker).
        "worker_cpu_shares": sorted(
            (round(seconds / max(web, 1e-9), 2) for seconds in split.values()), reverse=True
        ),
        "other_cpu_cores": round(other / wall, 2),
        "other_processes": [
            {"pid": pid, "cores": round(seconds / wall, 2), "command": _command(pid)}
            for seconds, pid in others
            if seconds / wall >= 0.05
        ],
    }


def _smoke(server: Server, token: str, patient: int | None) -> None:
    """One ping and one decision, answered as docs/api.md says, before anything is timed."""
    status, body = _get(server.port, "/api/v1/ping/", token)
    if status != 200:
        raise RuntimeError(f"/api/v1/ping/ answered {status}: {body[:300]!r}")
    if patient is not None:
        path = f"/api/v1/patients/{patient}/eligibility/?days_supply={DAYS_SUPPLY}"
        status, body = _get(server.port, path, token)
        if status != 200 or "decision" not in json.loads(body):
            raise RuntimeError(f"{path} answered {status}: {body[:300]!r}")


def run(
    database_url: str,
    levels: tuple[int, ...] = (1, 8, 32),
    seconds: float = 8.0,
    *,
    worker_class: str = "sync",
    workers: int = 4,
    threads: int = 1,
    dispense_levels: tuple[int, ...] = DISPENSE_LEVELS,
    dispense_patients: int = 4000,
    sample: int = 5000,
    log_path: Path | None = None,
    profile_requests: int = 0,
) -> dict[str, Any]:
    """prepare, then the phases against one gunicorn (stopped whatever happens); with
    `profile_requests`, the in-process breakdown too, after the server has gone."""
    Server.database_url_checked(database_url)
    background = _background_cores()
    secret_key = _secret_key()
    prepared = prepare(database_url, sample=sample, dispense_patients=dispense_patients)
    if not prepared["eligibility_patients"]:
        raise RuntimeError("no enrolled patient visible to the bench pharmacist: fill the db")
    token = prepared["token"]
    eligibility_paths = [
        f"/api/v1/patients/{pk}/eligibility/?days_supply={DAYS_SUPPLY}"
        for pk in prepared["eligibility_patients"]
    ]
    log_file = (
        open(log_path, "w")  # closed in the finally below
        if log_path
        else tempfile.NamedTemporaryFile("w", prefix="http_bench_gunicorn_", suffix=".log")
    )
    phases: list[dict[str, Any]] = []
    dispensed: set[int] = set()
    server: Server | None = None
    try:
        server = Server(
            database_url,
            secret_key,
            worker_class=worker_class,
            workers=workers,
            threads=threads,
            log=log_file,
        )
        server.wait_ready()
        _smoke(server, token, prepared["eligibility_patients"][0])
        base = {"port": server.port, "token": token, "seconds": seconds, "warmup": WARMUP_S}
        for level in levels:
            floor = {**base, "kind": "get", "concurrency": level, "paths": ["/api/v1/ping/"]}
            phases.append(_phase(server, floor, "floor", database_url))
            decision = {**base, "kind": "get", "concurrency": level, "paths": eligibility_paths}
            phases.append(_phase(server, decision, "decision", database_url))
        pool = list(prepared["dispense_patients"])
        for level in dispense_levels:
            if not pool:
                break
            spec = {
                **base,
                "kind": "dispense",
                "concurrency": level,
                "pharmacy": prepared["pharmacy"],
                "patients": pool,
                "run_id": uuid.uuid4().hex[:12],
            }
            result = _phase(server, spec, "dispense", database_url)
            phases.append(result)
            dispensed.update(pool[: result["requests_all"]])
            pool = pool[result["requests_all"] :]
        memory = server.memory()
    except Exception as error:
        log_file.flush()
        tail = Path(log_file.name).read_text(errors="replace")[-3000:]
        raise RuntimeError(f"{error}\n--- gunicorn's log, last lines ---\n{tail}") from error
    finally:
        if server is not None:
            server.stop()
        log_file.close()
    results = _summary(prepared, phases, memory, server, seconds, log_path)
    results["background_cores_before"] = background
    if profile_requests:
        # Patients just dispensed to are left out: their decisions now differ (supply on hand).
        results["profile"] = _run_profile(
            database_url, secret_key, prepared, profile_requests, exclude=dispensed
        )
    return results


def _summary(
    prepared: dict[str, Any],
    phases: list[dict[str, Any]],
    memory: dict[str, Any],
    server: Server | None,
    seconds: float,
    log_path: Path | None,
) -> dict[str, Any]:
    by = {(p["phase"], p["concurrency"]): p for p in phases}
    ratios = {}
    for (phase, level), result in by.items():
        floor = by.get(("floor", level))
        if phase != "floor" and floor and floor["throughput_rps"]:
            ratios[f"{phase}@{level}"] = round(
                result["throughput_rps"] / floor["throughput_rps"], 3
            )
    decision_ratios = {k: v for k, v in ratios.items() if k.startswith("decision@")}
    void = sorted(f"{p['phase']}@{p['concurrency']}" for p in phases if p["non_2xx"] or p["errors"])
    at_target = by.get(("decision", TARGET_LEVEL), {})
    floor_at_target = by.get(("floor", TARGET_LEVEL), {})
    p99 = at_target.get("p99_ms")
    p99_limit = (
        round(floor_at_target["p99_ms"] * TARGET_P99_VS_FLOOR, 2)
        if floor_at_target.get("p99_ms")
        else None
    )
    dispense_at_target = by.get(("dispense", TARGET_LEVEL), {})
    dispense_ratio = (
        round(dispense_at_target["throughput_rps"] / at_target["throughput_rps"], 3)
        if dispense_at_target and at_target.get("throughput_rps")
        else None
    )
    return {
        "server": {
            **(server.config if server else {}),
            "command": " ".join(server.command[1:]) if server else "",
            "settings": "CLOZREMS_PRODUCTION=1 DEBUG=0 SECURE_SSL_REDIRECT=0, no REDIS_URL",
            "log": str(log_path) if log_path else None,
        },
        "seconds_per_level": seconds,
        "warmup_s": WARMUP_S,
        "prepared": {
            key: value
            for key, value in prepared.items()
            if key not in {"token", "eligibility_patients", "dispense_patients"}
        }
        | {
            "eligibility_sample": len(prepared["eligibility_patients"]),
            "dispense_pool": len(prepared["dispense_patients"]),
        },
        "phases": phases,
        "throughput_vs_floor": ratios,
        "memory": memory,
        "void_phases": void,
        "targets": {
            "decision_vs_floor_min": TARGET_RATIO,
            "decision_vs_floor_met_at_every_level": bool(decision_ratios)
            and min(decision_ratios.values()) >= TARGET_RATIO,
            "decision_p99_ms_at_8": p99,
            "decision_p99_limit_ms": p99_limit,
            "decision_p99_met_at_8": p99 is not None and p99_limit is not None and p99 <= p99_limit,
            "dispense_vs_decision_at_8": dispense_ratio,
            "dispense_vs_decision_met_at_8": dispense_ratio is not None
            and dispense_ratio >= TARGET_DISPENSE_VS_DECISION,
            "void": bool(void),
        },
    }


# --- in-process breakdown -------------------------------------------------------------------


def profile(token: str, patients: list[int], requests: int = 300, top: int = 25) -> dict[str, Any]:
    """The floor and the decision through Django's WSGI handler in this process, as gunicorn
    calls it (request signals, so connection reuse and its health check, included; gunicorn's
    HTTP parsing and the network not): per request, wall time, SQL queries and time in them;
    and cProfile's top functions by own time. Run by `_run_profile` in a process with the
    server's settings."""
    from django.core.handlers.wsgi import WSGIHandler
    from django.db import connection, connections

    handler = WSGIHandler()
    sql: list[float] = []

    def timed_sql(execute: Any, query: str, params: Any, many: bool, context: Any) -> Any:
        began = time.perf_counter()
        try:
            return execute(query, params, many, context)
        finally:
            sql.append(time.perf_counter() - began)

    def call(path: str) -> int:
        route, _, query = path.partition("?")
        environ = {
            "REQUEST_METHOD": "GET",
            "PATH_INFO": route,
            "QUERY_STRING": query,
            "SERVER_NAME": HOST,
            "SERVER_PORT": "80",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "HTTP_HOST": HOST,
            "HTTP_AUTHORIZATION": f"Token {token}",
            "HTTP_ACCEPT": "application/json",
            "wsgi.input": io.BytesIO(b""),
            "wsgi.errors": sys.stderr,
            "wsgi.url_scheme": "http",
            "wsgi.version": (1, 0),
            "wsgi.multithread": True,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
        }
        statuses: list[str] = []

        def start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
            statuses.append(status)
            return lambda data: None

        body = handler(environ, start_response)
        b"".join(body)
        if hasattr(body, "close"):
            body.close()
        return int(statuses[0].split()[0])

    paths = {
        "floor": ["/api/v1/ping/"],
        "decision": [
            f"/api/v1/patients/{pk}/eligibility/?days_supply={DAYS_SUPPLY}" for pk in patients
        ],
    }
    out: dict[str, Any] = {"requests": requests}
    try:
        for name, candidates in paths.items():
            chosen = list(itertools.islice(itertools.cycle(candidates), requests))
            for path in chosen[: min(20, requests)]:  # warm the connection and the caches
                call(path)
            sql.clear()
            statuses: Counter[int] = Counter()
            with connection.execute_wrapper(timed_sql):
                began = time.perf_counter()
                for path in chosen:
                    statuses[call(path)] += 1
                wall = time.perf_counter() - began
            out[name] = {
                "ms_per_request": round(wall * 1000 / requests, 3),
                "queries_per_request": round(len(sql) / requests, 2),
                "sql_ms_per_request": round(sum(sql) * 1000 / requests, 3),
                "statuses": {str(k): v for k, v in statuses.items()},
            }
            profiler = cProfile.Profile()
            profiler.enable()
            for path in chosen:
                call(path)
            profiler.disable()
            text = io.StringIO()
            pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(top)
            out[name]["top_tottime"] = [
                line for line in text.getvalue().splitlines() if line.strip()
            ][-top - 1 :]
    finally:
        connections.close_all()
    return out


def _profile_main() -> None:
    spec = json.loads(sys.stdin.read())
    import django

    django.setup()
    json.dump(profile(spec["token"], spec["patients"], spec["requests"]), sys.stdout)


def _run_profile(
    database_url: str,
    secret_key: str,
    prepared: dict[str, Any],
    requests: int,
    exclude: set[int],
) -> dict[str, Any]:
    """`profile` in a process of its own with the server's environment (production settings),
    after the server has stopped, so nothing competes with it."""
    patients = [pk for pk in prepared["eligibility_patients"] if pk not in exclude]
    spec = {"token": prepared["token"], "patients": patients, "requests": requests}
    done = subprocess.run(  # noqa: S603 - this very file, with our own arguments
        [sys.executable, str(Path(__file__).resolve()), "--profile-child"],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=_server_env(database_url, secret_key),
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"profile failed ({done.returncode}): {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


# --- the command ----------------------------------------------------------------------------


def _table(results: dict[str, Any]) -> str:
    server = results["server"]
    config = f"{server['worker_class']} {server['workers']} workers" + (
        f" x {server['threads']} threads" if server["worker_class"] == "gthread" else ""
    )
    prepared = results["prepared"]
    lines = [
        f"gunicorn {config}, production settings, loopback; "
        f"{results['seconds_per_level']:g} s per level after {results['warmup_s']:g} s warm-up",
        f"{prepared['enrolled_visible']} enrolled patients visible; decisions over "
        f"{prepared['eligibility_sample']} ({prepared['eligibility_decisions']}, "
        f"{prepared['eligibility_replaying_history']} replaying history); "
        f"{prepared['dispense_pool']} allowed for dispensing",
    ]
    if prepared.get("eligibility_reasons"):
        lines.append(f"reasons among the sample's decisions: {prepared['eligibility_reasons']}")
    if prepared["patient_rows_status_synced"]:
        lines.append(
            f"NOTE: {prepared['patient_rows_status_synced']} patient rows had a cached status "
            "that disagreed with their monitoring state; synced from the state"
        )
    lines += [
        "",
        "phase     conc   req/s   vs floor   p50 ms   p95 ms   p99 ms   non-2xx   "
        "cpu ms/req web/db/client   worker split   other cores",
    ]
    for p in results["phases"]:
        ratio = results["throughput_vs_floor"].get(f"{p['phase']}@{p['concurrency']}")
        cpu = p["cpu_ms_per_request"]
        db = "-" if cpu["postgres"] is None else f"{cpu['postgres']:.2f}"
        cpu_text = f"{cpu['web']:.2f}/{db}/{cpu['client']:.2f}"
        split = "/".join(f"{share * 100:.0f}" for share in p["worker_cpu_shares"])
        lines.append(
            f"{p['phase']:9} {p['concurrency']:4} {p['throughput_rps']:7.0f}   "
            f"{'' if ratio is None else f'{ratio:.0%}':>8} {p['p50_ms']:8.2f} {p['p95_ms']:8.2f} "
            f"{p['p99_ms']:8.2f} {p['non_2xx']:9}   {cpu_text:26} {split:14} "
            f"{p['other_cpu_cores']:.2f}"
        )
        if p["phase"] == "dispense":
            lines.append(
                f"          {p['requests_all']} dispenses sent, statuses {p['statuses_all']}"
                + (", patients ran out" if p["exhausted"] else "")
            )
        if p["errors"]:
            lines.append(f"          errors: {p['errors'][:3]}")
    memory, targets = results["memory"], results["targets"]
    lines += [
        "",
        f"peak memory (VmHWM): master {memory['master_vmhwm_mb']} MB, largest worker "
        f"{memory['max_worker_vmhwm_mb']} MB ({memory['workers_now']} workers"
        + (
            f", {memory['workers_ever']} seen: a worker restarted"
            if memory["workers_ever"] > memory["workers_now"]
            else ""
        )
        + ")",
        f"targets: decision >= {TARGET_RATIO:.0%} of floor at every level: "
        f"{'met' if targets['decision_vs_floor_met_at_every_level'] else 'NOT met'}; "
        f"decision p99 at {TARGET_LEVEL} = {targets['decision_p99_ms_at_8']} ms "
        f"(<= {TARGET_P99_VS_FLOOR:g} x floor = {targets['decision_p99_limit_ms']}): "
        f"{'met' if targets['decision_p99_met_at_8'] else 'NOT met'}; dispense at "
        f"{TARGET_LEVEL} = {targets['dispense_vs_decision_at_8']} x decision (>= "
        f"{TARGET_DISPENSE_VS_DECISION:g}): "
        f"{'met' if targets['dispense_vs_decision_met_at_8'] else 'NOT met'}",
    ]
    if results.get("void_phases"):
        lines.append(
            "VOID: phases with non-2xx answers or client errors: "
            + ", ".join(results["void_phases"])
            + " - their figures and the targets that read them do not count"
        )
    busy_phases = [p for p in results["phases"] if p["other_cpu_cores"] > 0.2]
    if results["background_cores_before"] > 0.2 or busy_phases:
        lines.append(
            f"WARNING: the machine was not quiet ({results['background_cores_before']} cores "
            f"busy before the run; {len(busy_phases)} phases with 'other cores' > 0.2): the "
            "figures are suspect"
        )
        named = {o["command"] for p in busy_phases for o in p["other_processes"]}
        lines += [f"  also running: {command}" for command in sorted(named)[:5]]
    for name in ("floor", "decision"):
        part = results.get("profile", {}).get(name)
        if part:
            lines.append(
                f"in-process {name}: {part['ms_per_request']} ms/request, "
                f"{part['queries_per_request']} queries, {part['sql_ms_per_request']} ms in SQL"
            )
    return "\n".join(lines)


def _levels(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(",") if part.strip())


def main() -> None:
    if sys.argv[1:] == ["--client"]:
        _client_main()
        return
    if sys.argv[1:] == ["--profile-child"]:
        _profile_main()
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--database",
        default=os.environ.get(
            "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/clozrems_bench"
        ),
    )
    parser.add_argument("--levels", type=_levels, default=(1, 8, 32))
    parser.add_argument("--dispense-levels", type=_levels, default=DISPENSE_LEVELS)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--worker-class", choices=["sync", "gthread"], default="sync")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1, help="gthread only")
    parser.add_argument("--sample", type=int, default=5000)
    parser.add_argument("--dispense-patients", type=int, default=4000)
    parser.add_argument("--profile", type=int, default=0, metavar="N")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "http.json")
    args = parser.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    results = run(
        args.database,
        args.levels,
        args.seconds,
        worker_class=args.worker_class,
        workers=args.workers,
        threads=args.threads,
        dispense_levels=args.dispense_levels,
        dispense_patients=args.dispense_patients,
        sample=args.sample,
        log_path=args.out.with_name(args.out.stem + "_gunicorn.log"),
        profile_requests=args.profile,
    )
    print(_table(results))
    args.out.write_text(json.dumps(results, indent=2))
    print(f"\nwritten: {args.out}")


if __name__ == "__main__":
    main()
