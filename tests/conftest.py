"""Project-wide pytest configuration and the personas shared by the tests.

Personas, in the manner of healthchecks' BaseTestCase: `alice` is a certified prescriber's user
and `designee` acts for the same prescriber; `bob` is another prescriber; `phil` is a pharmacist
at `pharmacy`; `aud` is an auditor; `admin` has the admin role and `root` is a superuser with no
role. `api(user)` is a DRF client authenticated by token (`api()` is anonymous).
"""

import os
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import settings as hypothesis_settings
from rest_framework.test import APIClient

from patients.auth import api_token_create
from tests import factories

# The clock every date-sensitive test runs at: a Wednesday noon in the clinic's zone
# (settings.TIME_ZONE is America/New_York), well away from a DST change.
# CI runs the property and fuzz tests on a fixed sequence of examples (the same every run, so a
# red build is reproducible); a developer's run explores new ones each time.
hypothesis_settings.register_profile("ci", derandomize=True)
if os.environ.get("CI") == "true":
    hypothesis_settings.load_profile("ci")

NOW = datetime(2026, 5, 20, 12, 0, tzinfo=ZoneInfo("America/New_York"))
TODAY = NOW.date()


def pytest_report_header(config: pytest.Config) -> list[str]:
    from django.conf import settings

    engine = settings.DATABASES["default"]["ENGINE"]
    if "postgresql" in engine:
        database = "postgresql"
    elif "sqlite" in engine:
        database = "sqlite"
    else:
        database = engine
    redis = "set" if os.environ.get("REDIS_URL") else "not set (Celery eager)"
    lines = [f"clozrems: database={database}, REDIS_URL {redis}"]
    if os.environ.get("CLOZREMS_TEST_SCOPE"):
        left_out = {
            "database": "the tests that touch no database (they ran in the SQLite leg)",
            "no-browser": "the browser tests (they run in the PostgreSQL leg)",
        }.get(os.environ["CLOZREMS_TEST_SCOPE"], "an unknown scope (refused)")
        lines.append(
            f"CLOZREMS_TEST_SCOPE={os.environ['CLOZREMS_TEST_SCOPE']}: left out here, {left_out}"
        )
    return lines


# `.ci/run` runs the suite twice, on SQLite and then on PostgreSQL + Redis, and a test runs
# once where a second run proves nothing new. CLOZREMS_TEST_SCOPE says which half a leg drops:
#   database: tests that touch no database (the pure engine, parsers, units; they ran in the
#             SQLite leg), except those marked for Redis or PostgreSQL and the settings checks;
#   no-browser: the Playwright tests (they run in the PostgreSQL leg, against the production
#             database engine).
# Unset (a developer's `make test`): everything. Each leg prints what it left out.
_NEEDS_DATABASE = {
    "db",
    "transactional_db",
    "django_db_reset_sequences",
    "django_db_serialized_rollback",
    "live_server",
}


def _touches_no_database(item: pytest.Item) -> bool:
    if item.get_closest_marker("django_db") is not None:
        return False
    if item.get_closest_marker("redis") or item.get_closest_marker("postgres"):
        return False
    if item.nodeid.startswith("tests/security/"):
        return False
    return not (_NEEDS_DATABASE & set(getattr(item, "fixturenames", ())))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    scope = os.environ.get("CLOZREMS_TEST_SCOPE", "")
    if not scope:
        return
    if scope == "database":
        left_out = [item for item in items if _touches_no_database(item)]
    elif scope == "no-browser":
        left_out = [item for item in items if item.get_closest_marker("browser")]
    else:
        raise pytest.UsageError(
            f"CLOZREMS_TEST_SCOPE={scope!r}: expected 'database' or 'no-browser' (or unset)"
        )
    if not left_out:
        return
    dropped = set(map(id, left_out))
    items[:] = [item for item in items if id(item) not in dropped]
    config.hook.pytest_deselected(items=left_out)


# The schemathesis run's tally (tests/security/test_fuzz_api.py): persona -> status ->
# requests, gathered from each fuzz test's report. Here, in the root conftest, because under
# xdist only the controlling process sees every report and it loads only this conftest.
FUZZ_STATS: dict[str, dict[int, int]] = {}


def pytest_runtest_logreport(report: Any) -> None:
    if report.when != "call":
        return
    for name, value in report.user_properties:
        if name == "fuzz":
            tally = FUZZ_STATS.setdefault(value["persona"], {})
            for status, count in value["statuses"].items():
                tally[int(status)] = tally.get(int(status), 0) + count


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not FUZZ_STATS:
        return
    total = sum(sum(t.values()) for t in FUZZ_STATS.values())
    terminalreporter.write_line(f"schemathesis: {total} requests")
    for persona, tally in sorted(FUZZ_STATS.items()):
        statuses = ", ".join(f"{k}: {v}" for k, v in sorted(tally.items()))
        terminalreporter.write_line(f"  {persona}: {sum(tally.values())} requests ({statuses})")


@pytest.fixture(autouse=True)
def _celery_eager():
    """Tasks run in the test's own process and transaction, whether or not REDIS_URL is set
    (the PostgreSQL + Redis CI run too); only tests/scheduler/test_live_worker.py uses a real
    worker, and it says so."""
    from clozrems.celery import app

    before = (app.conf.task_always_eager, app.conf.task_eager_propagates)
    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = before


@pytest.fixture(autouse=True)
def _tokens_outlive_moved_clocks(settings):
    """Many tests move the clock days ahead with one token; token expiry has its own tests
    (tests/security/test_tokens.py), which set the lifetime back."""
    from datetime import timedelta

    settings.CLOZREMS_TOKEN_TTL = timedelta(days=36500)


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    """Throttle counts live in the cache: each test starts with none."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True, scope="session")
def _sqlite_flush_may_delete():
    """The clinical and audit tables refuse DELETE (audit/triggers.py). PostgreSQL's flush
    truncates, which fires no row trigger; SQLite's deletes, so the flush between
    transactional tests runs in the triggers' maintenance mode. Nothing else does."""
    from django.db import connection

    if connection.vendor != "sqlite":
        yield
        return
    from django.db.backends.sqlite3 import base

    from audit.triggers import maintenance

    operations = base.DatabaseOperations  # type: ignore[attr-defined]
    original = operations.execute_sql_flush

    def flush(self, sql_list):
        with maintenance():
            return original(self, sql_list)

    operations.execute_sql_flush = flush  # type: ignore[method-assign]
    yield
    operations.execute_sql_flush = original  # type: ignore[method-assign]


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # PBKDF2 costs ~0.1 s a user; tests create many users.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def clock(time_machine):
    """Time frozen at NOW; `clock.shift(timedelta)` / `clock.move_to(dt)` move it."""
    time_machine.move_to(NOW, tick=False)
    return time_machine


# --- personas -------------------------------------------------------------------------------


@pytest.fixture
def alice_prescriber(db):
    return factories.PrescriberFactory.create(name="Dr Alice Adams")


@pytest.fixture
def alice(alice_prescriber):
    return factories.PrescriberUserFactory.create(username="alice", prescriber=alice_prescriber)


@pytest.fixture
def designee(alice_prescriber):
    return factories.DesigneeUserFactory.create(
        username="alice-designee", prescriber=alice_prescriber
    )


@pytest.fixture
def bob_prescriber(db):
    return factories.PrescriberFactory.create(name="Dr Bob Brown")


@pytest.fixture
def bob(bob_prescriber):
    return factories.PrescriberUserFactory.create(username="bob", prescriber=bob_prescriber)


@pytest.fixture
def pharmacy(db):
    return factories.PharmacyFactory.create(name="Main Street Pharmacy")


@pytest.fixture
def other_pharmacy(db):
    return factories.PharmacyFactory.create(name="Other Pharmacy")


@pytest.fixture
def phil(pharmacy):
    return factories.PharmacistUserFactory.create(username="phil", pharmacy=pharmacy)


@pytest.fixture
def aud(db):
    return factories.AuditorUserFactory.create(username="aud")


@pytest.fixture
def admin(db):
    return factories.AdminUserFactory.create(username="admin")


@pytest.fixture
def root(db):
    return factories.SuperuserFactory.create(username="root")


@pytest.fixture
def api(db) -> Callable[..., APIClient]:
    """`api(user)`: an APIClient sending `Authorization: Token ...` for `user`; `api()` is
    anonymous."""

    def make(user=None) -> APIClient:
        client = APIClient()
        if user is not None:
            # As if signed in with everything the user needs (an administrator's code too).
            token = api_token_create(user=user, otp_verified=True)
            client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        return client

    return make


# --- dispenses with known answers (the audit trail's and the reports' tests) -----------------


@pytest.fixture
def other_phil(other_pharmacy):
    return factories.PharmacistUserFactory.create(username="olga", pharmacy=other_pharmacy)


@pytest.fixture
def dispense_world(api, alice, bob, phil, pharmacy, other_pharmacy, other_phil):
    """Three dispenses with known answers:

    - `regular`: alice's patient, current normal ANC, 7 days at `pharmacy` (allowed);
    - `emergency`: alice's patient whose ANC is 13 days old, a 4-day emergency supply at
      `pharmacy` (blocked for `anc_not_current` alone, as stored and as re-evaluated);
    - `forged`: bob's patient, ANC 13 days old, a 7-day dispense at `other_pharmacy` three days
      ago written straight to the table with a stored decision of `allowed` (the re-evaluation
      says blocked, `anc_not_current`: a disagreement).
    """
    from monitoring.services import monitoring_state_refresh
    from patients.models import Dispense

    start = TODAY - timedelta(days=20)
    regular_patient = factories.enrolled_patient(
        actor=alice, start=start, draws=factories.weekly_draws(start, TODAY - timedelta(days=2))
    )
    stale = factories.enrolled_patient(
        actor=alice, start=start, draws=[(TODAY - timedelta(days=13), 2100)]
    )
    forged_patient = factories.enrolled_patient(
        actor=bob, start=start, draws=[(TODAY - timedelta(days=13), 2100)]
    )
    regular = api(phil).post(
        "/api/v1/dispenses/",
        {"patient": regular_patient.pk, "pharmacy": pharmacy.pk, "days_supply": 7},
        format="json",
    )
    assert regular.status_code == 201, regular.json()
    emergency = api(phil).post(
        "/api/v1/dispenses/",
        {
            "patient": stale.pk,
            "pharmacy": pharmacy.pk,
            "days_supply": 4,
            "emergency": {"reason": "lab_delay", "last_dose_confirmed": True},
        },
        format="json",
    )
    assert emergency.status_code == 201, emergency.json()
    forged = Dispense.objects.create(
        patient=forged_patient,
        pharmacy=other_pharmacy,
        days_supply=7,
        dispensed_at=factories.at(TODAY - timedelta(days=3), 10),
        authorization_code="CLZ-FORGED0001",
        decision_as_answered={"decision": "allowed", "reasons": [], "max_days_supply": 7},
        recorded_by=other_phil,
    )
    monitoring_state_refresh(patient=forged_patient)
    return {
        "regular": Dispense.objects.get(pk=regular.json()["id"]),
        "emergency": Dispense.objects.get(pk=emergency.json()["id"]),
        "forged": forged,
    }


@pytest.fixture
def pending_patient(alice):
    """Alice's patient, not yet enrolled, with a normal ANC drawn 5 days ago."""
    patient = factories.PatientFactory.create(
        actor=alice, prescriber=alice.prescriber, last_name="Waiting"
    )
    factories.record_anc(patient, alice, TODAY - timedelta(days=5), 2300)
    return patient


@pytest.fixture
def active_patient(alice):
    """Alice's patient: enrolled and started 20 days ago, weekly draws of 2100/µL, the latest
    6 days ago (current through tomorrow), so a 7-day supply is allowed today. One scenario
    for every folder that needs an allowed patient (the clock is frozen at NOW where used)."""
    start = TODAY - timedelta(days=20)
    return factories.enrolled_patient(
        actor=alice,
        start=start,
        draws=factories.weekly_draws(start, TODAY - timedelta(days=2)),
        last_name="Active",
    )
