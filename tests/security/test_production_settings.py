"""Production settings: `check --deploy` is clean, the default secret is refused, and every
page carries the content security policy."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    unset = (
        "SECRET_KEY",
        "DEBUG",
        "DJANGO_ALLOW_ASYNC_UNSAFE",
        "CLOZREMS_AUDIT_KEY",
        "CLOZREMS_AUDIT_CHECKPOINT_FILE",
    )
    base = {k: v for k, v in os.environ.items() if k not in unset}
    return subprocess.run(  # noqa: S603 - our own manage.py
        [sys.executable, "manage.py", *args],
        cwd=REPO,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_with_the_production_settings():
    result = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        CLOZREMS_PRODUCTION="1",
        SECRET_KEY=secrets.token_urlsafe(50),
        CLOZREMS_AUDIT_KEY=secrets.token_urlsafe(48),
        CLOZREMS_AUDIT_CHECKPOINT_FILE="/var/lib/clozrems/audit/checkpoints.jsonl",
        ALLOWED_HOSTS="clozrems.example.org",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_a_real_audit_key():
    base = {"CLOZREMS_PRODUCTION": "1", "SECRET_KEY": secrets.token_urlsafe(50)}
    for key in (None, "short-key", "clozrems-insecure-dev-audit-key-do-not-use-in-production"):
        result = manage("check", **base, **({} if key is None else {"CLOZREMS_AUDIT_KEY": key}))
        assert result.returncode != 0, key
        assert "needs a real CLOZREMS_AUDIT_KEY" in result.stderr, key
    good = manage("check", **base, CLOZREMS_AUDIT_KEY=secrets.token_urlsafe(48))
    assert good.returncode == 0, good.stderr


def test_check_deploy_warns_when_the_checkpoints_stay_in_the_database():
    result = manage(
        "check",
        "--deploy",
        CLOZREMS_PRODUCTION="1",
        SECRET_KEY=secrets.token_urlsafe(50),
        CLOZREMS_AUDIT_KEY=secrets.token_urlsafe(48),
        ALLOWED_HOSTS="clozrems.example.org",
    )
    assert "audit.W001" in result.stdout + result.stderr


def test_production_refuses_to_start_without_a_real_secret():
    result = manage("check", CLOZREMS_PRODUCTION="1")
    assert result.returncode != 0
    assert "needs a real SECRET_KEY" in result.stderr
    insecure = manage("check", CLOZREMS_PRODUCTION="1", SECRET_KEY="django-insecure-abc")
    assert insecure.returncode != 0


def test_production_refuses_a_short_or_repetitive_secret():
    for weak in ("x", secrets.token_urlsafe(64)[:49], "ab" * 40):
        result = manage("check", CLOZREMS_PRODUCTION="1", SECRET_KEY=weak)
        assert result.returncode != 0, weak
        assert "at least 50 random characters" in result.stderr
    good = manage(
        "check",
        CLOZREMS_PRODUCTION="1",
        SECRET_KEY=secrets.token_urlsafe(64)[:50],
        CLOZREMS_AUDIT_KEY=secrets.token_urlsafe(48),
    )
    assert good.returncode == 0, good.stderr


def test_pages_and_api_carry_the_content_security_policy(client, api, alice):
    policy = client.get("/login/")["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert "Content-Security-Policy" in api(alice).get("/api/v1/ping/")
    # The Swagger UI is served from this site (drf-spectacular-sidecar) under the same policy.
    assert "script-src 'self'" in client.get("/api/docs/")["Content-Security-Policy"]
