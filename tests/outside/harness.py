"""A small HTTP harness for the outside clinical scenarios (outside/scenarios.py).

Everything goes through the public API of a running clozrems server; nothing here imports the
product. Each scenario creates its own patients, records a history with past dates (relative to
the server's "today" in the clinic's time zone), and checks the answers against the rule book.

Environment:
    CLOZREMS_URL          base URL (default http://127.0.0.1:8765)
    CLOZREMS_ADMIN        admin username (default tadmin)
    CLOZREMS_ADMIN_PASS   admin password (default Tester-pass-2026!)
    CLOZREMS_TZ           the server's TIME_ZONE (default America/New_York)
"""

from __future__ import annotations

import datetime as dt
import json
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import requests

BASE = os.environ.get("CLOZREMS_URL", "http://127.0.0.1:8765").rstrip("/")
ADMIN = os.environ.get("CLOZREMS_ADMIN", "tadmin")
ADMIN_PASS = os.environ.get("CLOZREMS_ADMIN_PASS", "Tester-pass-2026!")
TZ = ZoneInfo(os.environ.get("CLOZREMS_TZ", "America/New_York"))
PASSWORD = "Outside-tester-pw-2026!"
RUN = uuid.uuid4().hex[:6]

# Kinds of wrong answer.
UNSAFE = "unsafe_allow"
BLOCK = "wrong_block"
FIELD = "wrong_field"


def npi(seed: int) -> str:
    """A 10-digit NPI with a valid Luhn check digit (prefix 80840)."""
    base = f"{seed % 10**9:09d}"
    digits = "80840" + base
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    check = (10 - total % 10) % 10
    return base + str(check)


class Trace:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, who: str, method: str, path: str, body: Any, status: int, answer: Any) -> None:
        shown = "" if body is None else " " + json.dumps(body, default=str)
        self.lines.append(f"{who:>10} {method} {path}{shown} -> {status}{_brief(answer)}")


def _brief(answer: Any) -> str:
    if not isinstance(answer, dict):
        return ""
    keys = ("decision", "max_days_supply", "code")
    bits = [f"{k}={answer[k]}" for k in keys if k in answer]
    if "reasons" in answer:
        bits.append("reasons=" + ",".join(r.get("code", "?") for r in answer["reasons"]))
    return (" [" + " ".join(bits) + "]") if bits else ""


class Client:
    def __init__(self, name: str, token: str, trace: Callable[[], Trace]) -> None:
        self.name = name
        self.s = requests.Session()
        self.s.headers["Authorization"] = f"Token {token}"
        self._trace = trace

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        params: Any = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        r = self.s.request(
            method, BASE + path, json=body, params=params, headers=headers, timeout=60
        )
        try:
            data = r.json()
        except ValueError:
            data = r.text
        shown_path = path
        if params:
            shown_path += "?" + "&".join(f"{k}={v}" for k, v in params.items())
        self._trace().add(self.name, method, shown_path, body, r.status_code, data)
        return r.status_code, data


def token(username: str, password: str) -> str:
    r = requests.post(
        BASE + "/api/v1/auth/token/", json={"username": username, "password": password}, timeout=30
    )
    r.raise_for_status()
    return r.json()["token"]


class Failure(Exception):
    pass


@dataclass
class Check:
    text: str
    ok: bool
    actual: Any
    kind: str


@dataclass
class Outcome:
    sid: str
    title: str
    rule: str
    note: str
    checks: list[Check] = field(default_factory=list)
    trace: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and all(c.ok for c in self.checks)


class World:
    """The directory every scenario shares: a certified prescriber and pharmacy with users."""

    def __init__(self) -> None:
        self.current = Trace()
        self.admin = Client("admin", token(ADMIN, ADMIN_PASS), lambda: self.current)
        self.seq = int(uuid.uuid4().int % 10**6) * 100
        self.prescriber_id, self.prescriber = self.new_prescriber("Dr Outside")
        self.pharmacy_id, self.pharmacist = self.new_pharmacy("Outside Pharmacy")
        self.designee = self._user("designee", prescriber=self.prescriber_id)

    # --- directory -------------------------------------------------------------------------

    def _next(self) -> int:
        self.seq += 1
        return self.seq

    def _user(self, role: str, **links: int) -> Client:
        name = f"o{RUN}-{role}-{self._next()}"
        status, data = self.admin.call(
            "POST",
            "/api/v1/users/",
            {"username": name, "password": PASSWORD, "role": role, **links},
        )
        if status != 201:
            raise Failure(f"user create: {status} {data}")
        return Client(f"{role[:5]}{self.seq % 1000}", token(name, PASSWORD), lambda: self.current)

    def new_prescriber(self, name: str, **extra: Any) -> tuple[int, Client]:
        body = {
            "name": name,
            "npi": npi(self._next()),
            "email": f"p{self.seq}@example.org",
            "certified": True,
            "certified_on": "2020-01-01",
            **extra,
        }
        status, data = self.admin.call("POST", "/api/v1/prescribers/", body)
        if status != 201:
            raise Failure(f"prescriber create: {status} {data}")
        return data["id"], self._user("prescriber", prescriber=data["id"])

    def new_pharmacy(self, name: str, **extra: Any) -> tuple[int, Client]:
        body = {
            "name": name,
            "ncpdp_id": f"{self._next() % 10**7:07d}",
            "certified": True,
            "certified_on": "2020-01-01",
            **extra,
        }
        status, data = self.admin.call("POST", "/api/v1/pharmacies/", body)
        if status != 201:
            raise Failure(f"pharmacy create: {status} {data}")
        return data["id"], self._user("pharmacist", pharmacy=data["id"])


class Ctx:
    """What one scenario uses: dates relative to today, writes, reads and checks."""

    def __init__(self, world: World, outcome: Outcome) -> None:
        self.w = world
        self.o = outcome
        self.now = dt.datetime.now(TZ)
        self.today = self.now.date()
        self.pres = world.prescriber
        self.pharm = world.pharmacist
        self.pharmacy_id = world.pharmacy_id
        self.admin = world.admin

    # --- time ------------------------------------------------------------------------------

    def day(self, n: int) -> str:
        return (self.today + dt.timedelta(days=n)).isoformat()

    def at(self, n: int, hhmm: str = "09:00") -> str:
        h, m = (int(x) for x in hhmm.split(":"))
        d = self.today + dt.timedelta(days=n)
        return dt.datetime(d.year, d.month, d.day, h, m, tzinfo=TZ).isoformat()

    def in_minutes(self, minutes: float) -> str:
        return (dt.datetime.now(TZ) + dt.timedelta(minutes=minutes)).isoformat(timespec="seconds")

    # --- checks ----------------------------------------------------------------------------

    def check(self, text: str, ok: bool, actual: Any = None, kind: str = FIELD) -> bool:
        self.o.checks.append(Check(text, bool(ok), actual, kind))
        return bool(ok)

    def need(self, status: int, data: Any, want: int | tuple[int, ...], what: str) -> Any:
        wants = want if isinstance(want, tuple) else (want,)
        if status not in wants:
            raise Failure(f"{what}: expected HTTP {wants}, got {status}: {json.dumps(data)[:600]}")
        return data

    # --- writes ----------------------------------------------------------------------------

    def patient(
        self,
        population: str = "general",
        protocol: str | None = None,
        prescriber: Client | None = None,
        prescriber_id: int | None = None,
    ) -> int:
        body: dict[str, Any] = {
            "first_name": "Out",
            "last_name": f"Side{RUN}{self.w._next()}",
            "date_of_birth": "1985-03-04",
            "sex": "female",
            "population": population,
            "prescriber": prescriber_id or self.w.prescriber_id,
        }
        if protocol:
            body["protocol"] = protocol
        s, d = (prescriber or self.pres).call("POST", "/api/v1/patients/", body)
        return self.need(s, d, 201, "patient create")["id"]

    def result(
        self,
        pid: int,
        when: str,
        value: float | int | str,
        unit: str = "/uL",
        accession: str | None = None,
        analyte: str = "anc",
        expect: Any = 201,
        who: Client | None = None,
        **extra: Any,
    ) -> tuple[int, Any]:
        body: dict[str, Any] = {
            "drawn_at": when,
            "value": str(value),
            "unit": unit,
            "confirm_unusual": True,
            **extra,
        }
        if accession:
            body["accession"] = accession
        path = f"/api/v1/patients/{pid}/{analyte}-results/"
        s, d = (who or self.pres).call("POST", path, body)
        if expect is not None:
            self.need(s, d, expect, f"{analyte} result {value} {unit} at {when}")
        return s, d

    def anc(self, pid: int, when: str, value: int, **kw: Any) -> Any:
        return self.result(pid, when, value, **kw)[1]

    def fbc(self, pid: int, when: str, wbc: str, neut: str, acc: str | None = "auto") -> None:
        """A uk-cpms full blood count: WBC and neutrophils in 10*9/L, one accession."""
        accession = f"A{RUN}{self.w._next()}" if acc == "auto" else acc
        self.result(pid, when, neut, unit="10*9/L", accession=accession, analyte="anc")
        self.result(pid, when, wbc, unit="10*9/L", accession=accession, analyte="wbc")

    def acc(self) -> str:
        return f"X{RUN}{self.w._next()}"

    def enroll(
        self, pid: int, day: str | None, protocol: str | None = None, expect: Any = 200
    ) -> tuple[int, Any]:
        body: dict[str, Any] = {"reason": "outside scenario"}
        if day:
            body["effective_date"] = day
        if protocol:
            body["protocol"] = protocol
        s, d = self.pres.call("POST", f"/api/v1/patients/{pid}/enroll/", body)
        if expect is not None:
            self.need(s, d, expect, f"enroll on {day}")
        return s, d

    def event(
        self, pid: int, kind: str, day: str, expect: Any = 201, reason: str = "outside scenario"
    ) -> tuple[int, Any]:
        s, d = self.pres.call(
            "POST",
            f"/api/v1/patients/{pid}/treatment-events/",
            {"kind": kind, "effective_date": day, "reason": reason},
        )
        if expect is not None:
            self.need(s, d, expect, f"{kind} on {day}")
        return s, d

    def auth(
        self, pid: int, kind: str, starts: str, expires: str, expect: Any = 201
    ) -> tuple[int, Any]:
        s, d = self.pres.call(
            "POST",
            f"/api/v1/patients/{pid}/authorizations/",
            {
                "kind": kind,
                "rationale": "benefit outweighs risk (outside)",
                "starts_on": starts,
                "expires_on": expires,
            },
        )
        if expect is not None:
            self.need(s, d, expect, f"{kind} authorization {starts}..{expires}")
        return s, d

    def dispense_import(
        self, pid: int, when: str, days: int, expect: Any = 201, pharmacy: int | None = None
    ) -> tuple[int, Any]:
        s, d = self.admin.call(
            "POST",
            "/api/v1/dispenses/",
            {
                "patient": pid,
                "pharmacy": pharmacy or self.pharmacy_id,
                "days_supply": days,
                "dispensed_at": when,
            },
        )
        if expect is not None:
            self.need(s, d, expect, f"dispense import {days}d at {when}")
        return s, d

    def dispense_now(
        self,
        pid: int,
        days: int,
        emergency: dict[str, Any] | None = None,
        who: Client | None = None,
        pharmacy: int | None = None,
    ) -> tuple[int, Any]:
        body: dict[str, Any] = {
            "patient": pid,
            "pharmacy": pharmacy or self.pharmacy_id,
            "days_supply": days,
        }
        if emergency is not None:
            body["emergency"] = emergency
        return (who or self.pharm).call("POST", "/api/v1/dispenses/", body)

    def elsewhere(self, pid: int, starts: str, ends: str, expect: Any = 201) -> tuple[int, Any]:
        s, d = self.pres.call(
            "POST",
            f"/api/v1/patients/{pid}/supplied-elsewhere/",
            {"starts_on": starts, "ends_on": ends, "reason": "inpatient stay"},
        )
        if expect is not None:
            self.need(s, d, expect, f"supplied elsewhere {starts}..{ends}")
        return s, d

    # --- reads -----------------------------------------------------------------------------

    def elig(
        self,
        pid: int,
        as_of: str | None = None,
        days: int | None = None,
        who: Client | None = None,
        pharmacy: int | None = None,
    ) -> dict[str, Any]:
        params: dict[str, Any] = {}
        if as_of:
            params["as_of"] = as_of
        if days:
            params["days_supply"] = days
        if pharmacy:
            params["pharmacy"] = pharmacy
        s, d = (who or self.pharm).call(
            "GET", f"/api/v1/patients/{pid}/eligibility/", params=params
        )
        return self.need(s, d, 200, "eligibility")

    def picture(self, pid: int) -> dict[str, Any]:
        s, d = self.pres.call("GET", f"/api/v1/patients/{pid}/")
        return self.need(s, d, 200, "patient")

    # --- common histories ------------------------------------------------------------------

    def established(
        self, start_days_ago: int = 430, population: str = "general", protocol: str | None = None
    ) -> int:
        """A patient enrolled and started `start_days_ago` days ago on a normal ANC, with no
        supply recorded here (so only recorded events interrupt it)."""
        pid = self.patient(population, protocol)
        n = -start_days_ago
        if population == "ben":
            self.anc(pid, self.at(n - 3, "08:00"), 1300)
        self.anc(pid, self.at(n, "08:00"), 2600)
        self.enroll(pid, self.day(n))
        self.event(pid, "start", self.day(n))
        return pid


def codes(decision: dict[str, Any]) -> set[str]:
    return {r["code"] for r in decision.get("reasons", [])}


def warning_codes(decision: dict[str, Any]) -> set[str]:
    return {w["code"] for w in decision.get("warnings", [])}


def withheld(decision: dict[str, Any]) -> set[str]:
    return {w["code"] for w in decision.get("emergency_supply_withheld", []) or []}


def summary(d: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "decision",
        "max_days_supply",
        "band",
        "monitoring_frequency",
        "treatment_status",
        "enrollment_status",
        "rechallenge_required",
        "hematology_consult",
        "confirmation_due",
        "current_until",
        "next_draw_due",
        "lapse_on",
        "clock_started_on",
    )
    out = {k: d.get(k) for k in keys if k in d}
    out["reasons"] = sorted(codes(d))
    if d.get("warnings"):
        out["warnings"] = sorted(warning_codes(d))
    if d.get("review_needed"):
        out["review_needed"] = [r.get("code") for r in d["review_needed"]]
    if "emergency_supply" in d:
        out["emergency_supply"] = d.get("emergency_supply")
        out["withheld"] = sorted(withheld(d))
    if d.get("latest_anc"):
        out["latest"] = d["latest_anc"].get("value_per_ul")
    return out
