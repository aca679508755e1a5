"""The docker stack's files, checked without a Docker engine: docker/compose.yaml's structure,
the Dockerfile's command, and `config` by whichever Compose binary is installed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DOCKER = ROOT / "docker"
COMPOSE_FILE = DOCKER / "compose.yaml"
ENV_EXAMPLE = DOCKER / ".env.example"
SERVICES = ("postgres", "redis", "web", "worker", "beat")
APP_SERVICES = ("web", "worker", "beat")
# Stand-ins for the secrets that docker/.env.example leaves empty on purpose.
FAKE_SECRETS = {
    "SECRET_KEY": "test-only-not-a-secret",
    "POSTGRES_PASSWORD": "test0only",
    "CLOZREMS_AUDIT_KEY": "test-only-not-an-audit-key-0123456789",
}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(document, dict)
    return document


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = compose["services"]
    assert isinstance(found, dict)
    return found


def _dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in (DOCKER / "Dockerfile").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        pending = f"{pending} {line}" if pending else line
        if pending.endswith("\\"):
            pending = pending[:-1].rstrip()
            continue
        keyword, _, arguments = pending.partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        pending = ""
    assert not pending, "Dockerfile ends inside a continued line"
    return instructions


def test_no_version_key(compose):
    # The Compose Specification has no `version:`; Compose v2 warns that it is obsolete.
    assert "version" not in compose


def test_all_services_exist(services):
    assert set(SERVICES) <= set(services), f"missing: {set(SERVICES) - set(services)}"


@pytest.mark.parametrize("name", SERVICES)
def test_every_service_has_a_healthcheck(services, name):
    healthcheck = services[name].get("healthcheck")
    assert isinstance(healthcheck, dict), f"{name} has no healthcheck"
    assert not healthcheck.get("disable", False)
    test = healthcheck.get("test")
    assert isinstance(test, list) and test[0] in {"CMD", "CMD-SHELL"} and len(test) > 1, test


def test_app_services_share_one_image(services):
    builds = [services[name].get("build") for name in APP_SERVICES]
    images = [services[name].get("image") for name in APP_SERVICES]
    assert builds[0] == {"context": "..", "dockerfile": "docker/Dockerfile"}
    assert all(build == builds[0] for build in builds), builds
    assert images[0] and all(image == images[0] for image in images), images


def test_web_waits_for_healthy_postgres_and_redis(services):
    depends_on = services["web"]["depends_on"]
    for dependency in ("postgres", "redis"):
        assert depends_on[dependency]["condition"] == "service_healthy", dependency


def test_beat_starts_after_web_is_healthy(services):
    # web's entrypoint migrates and syncs the periodic tasks before it reports healthy.
    assert services["beat"]["depends_on"]["web"]["condition"] == "service_healthy"
    assert services["web"]["environment"]["RUN_MIGRATIONS"] == "1"
    assert "django_celery_beat.schedulers:DatabaseScheduler" in services["beat"]["command"]


def test_app_services_reach_postgres_and_redis_by_service_name(services):
    for name in APP_SERVICES:
        environment = services[name]["environment"]
        assert "@postgres:5432/" in environment["DATABASE_URL"], name
        assert environment["REDIS_URL"].startswith("redis://redis:6379/"), name


def test_web_healthcheck_asks_the_health_endpoint(services):
    test = " ".join(services["web"]["healthcheck"]["test"])
    assert "http://127.0.0.1:8000/health/" in test
    assert "8000:8000" in services["web"]["ports"]


def test_dockerfile_runs_gunicorn_on_the_wsgi_app_as_a_non_root_user():
    instructions = _dockerfile_instructions()
    keywords = [keyword for keyword, _ in instructions]
    assert instructions[0] == ("FROM", "python:3.11-slim")
    assert keywords.count("CMD") == 1
    command = json.loads(next(arguments for keyword, arguments in instructions if keyword == "CMD"))
    assert command[0] == "gunicorn"
    assert "clozrems.wsgi:application" in command
    assert command[command.index("--bind") + 1] == "0.0.0.0:8000"
    users = [arguments for keyword, arguments in instructions if keyword == "USER"]
    assert users and users[-1] not in {"root", "0"}
    assert ("EXPOSE", "8000") in instructions


def test_dockerignore_keeps_local_state_and_secrets_out():
    entries = set((ROOT / ".dockerignore").read_text().split())
    assert {".venv", ".git", "db.sqlite3", "bench/results", "docker/.env"} <= entries


def test_env_example_names_the_secrets_compose_requires():
    compose_text = COMPOSE_FILE.read_text()
    example = dict(
        line.split("=", 1)
        for line in ENV_EXAMPLE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    )
    for name in FAKE_SECRETS:
        assert f"${{{name}:?" in compose_text, f"compose should refuse to start without {name}"
        assert example[name] == "", f"docker/.env.example must not ship a value for {name}"


def _compose_commands() -> list[list[str]]:
    commands = []
    legacy = shutil.which("docker-compose")
    if legacy:
        commands.append([legacy])
    docker = shutil.which("docker")
    if docker:
        probe = subprocess.run(  # noqa: S603 - fixed arguments
            [docker, "compose", "version"], capture_output=True, text=True, check=False
        )
        if probe.returncode == 0:
            commands.append([docker, "compose"])
    return commands


def _run_config(
    command: list[str], environment: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - a Compose binary found on PATH, fixed arguments
        [*command, "--env-file", str(ENV_EXAMPLE), "-f", str(COMPOSE_FILE), "config", "-q"],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        env=environment,
        timeout=120,
    )


def test_compose_config_validates():
    commands = _compose_commands()
    if not commands:
        reason = "neither `docker-compose` nor `docker compose` is installed"
        print(f"SKIPPED compose config: {reason}")
        pytest.skip(reason)
    # The template, not a developer's docker/.env, with stand-ins for its empty secrets.
    base = {k: v for k, v in os.environ.items() if k not in FAKE_SECRETS}
    for command in commands:
        result = _run_config(command, {**base, **FAKE_SECRETS})
        assert result.returncode == 0, f"{' '.join(command)} config:\n{result.stderr}"
        missing = _run_config(command, base)
        assert missing.returncode != 0, f"{' '.join(command)} accepted empty secrets"
