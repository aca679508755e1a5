"""The benchmark's generated histories are consistent with the rules: `monitoring_rebuild
--check` finds nothing to change on them. Runs the generator and the command as a
newcomer would, against a database of their own on the PostgreSQL CI provides."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.postgres
def test_generated_histories_pass_the_rebuild_check(db):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: the generator loads with COPY")
    settings = connection.settings_dict
    host = f"{settings['HOST'] or '127.0.0.1'}:{settings['PORT'] or 5432}"
    server = f"postgres://{settings['USER']}@{host}"
    database = f"{server}/{settings['NAME']}_generated"
    env = {**os.environ, "DATABASE_URL": database}
    env.pop("REDIS_URL", None)

    generated = subprocess.run(  # noqa: S603 - our own interpreter and script
        [
            sys.executable,
            "bench/generate.py",
            "--patients",
            "300",
            "--cohort-size",
            "10",
            "--workers",
            "1",
            "--database",
            database,
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert generated.returncode == 0, generated.stderr
    assert "loaded 320 patients" in generated.stdout
    # The load skipped the triggers; the partitioned results' side rows (audit/partitions.py)
    # are there all the same, one per result.
    import psycopg

    with psycopg.connect(database) as generated_db:
        counts = generated_db.execute(
            "SELECT (SELECT count(*) FROM monitoring_ancresult), "
            "(SELECT count(*) FROM monitoring_ancresult_key k "
            "JOIN monitoring_ancresult r ON r.id = k.id AND r.accession = k.accession)"
        ).fetchone()
    assert counts is not None and counts[0] > 300 and counts[1] == counts[0]
    # A fifth of the patients (neither overdue nor interrupted) are due a supply now, for the
    # dispensing benchmark: enrolled, the latest draw current, no supply on hand after today;
    # the rest have supply on hand.
    with psycopg.connect(database) as generated_db:
        due = generated_db.execute(
            "SELECT count(*) FROM monitoring_monitoringstate s "
            "JOIN patients_patient p ON p.id = s.patient_id "
            "WHERE p.id <= 300 AND s.enrollment_status = 'enrolled' "
            "AND s.treatment_status = 'active' AND s.current_until >= current_date "
            "AND s.lapsed_on IS NULL "
            "AND (s.snapshot->>'supply_until')::date <= current_date"
        ).fetchone()
    assert due is not None and 40 <= due[0] <= 80, due

    checked = subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", "monitoring_rebuild", "--check"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "checked 320 patients" in checked.stdout
    assert "0 with differences" in checked.stdout
