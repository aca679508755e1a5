"""`make run` as a newcomer types it: quiet while it migrates and loads the demo, and its last
lines are the address and the demo logins, with none of runserver's banner after them (README)."""

import os
import signal
import socket
import subprocess
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BANNER = ("Starting development server", "Watching for file changes", "Performing system checks")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def make_run(tmp_path):
    port = _free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "REDIS_URL", "CLOZREMS_PRODUCTION", "DJANGO_SETTINGS_MODULE"}
    }
    # A database of its own (the laptop's SQLite default, in a scratch file), Celery eager.
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'run.sqlite3'}"
    process = subprocess.Popen(  # noqa: S603 - a fixed command line  # nosec B603 B607
        ["make", "--no-print-directory", "run", f"PORT={port}"],  # noqa: S607
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    yield process, port
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def test_make_run_ends_with_the_address_and_the_demo_logins(make_run):
    process, port = make_run
    assert process.stdout is not None
    shown: list[str] = []
    for line in process.stdout:  # until the last line the server prints
        shown.append(line.rstrip("\n"))
        if line.startswith("Another port"):
            break
    assert shown, process.stderr.read() if process.stderr else ""
    # The server answers: whatever it prints on starting has been printed.
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/login/", timeout=30) as page:  # noqa: S310  # nosec B310
        assert page.status == 200
    os.killpg(process.pid, signal.SIGINT)
    rest, errors = process.communicate(timeout=60)

    text = [line for line in shown if line.strip()]
    assert (
        text[0]
        == f"clozrems is at http://127.0.0.1:{port}/  (API docs: http://127.0.0.1:{port}/api/docs/)"
    )
    assert text[1] == "Demo logins (password clozrems-demo-2026):"
    assert {line.split()[0] for line in text[2:-1]} == {
        "demo-admin",
        "demo-auditor",
        "demo-designee",
        "demo-lab",
        "demo-pharmacist",
        "demo-prescriber",
    }
    # Nothing after the logins but the way out; no banner anywhere, no migration chatter.
    assert text[-1].startswith("Another port: make run PORT=8080")
    assert not rest.strip(), rest
    everything = "\n".join(shown) + rest + errors
    for words in (*BANNER, "Applying ", "Demo data loaded", "Operations to perform"):
        assert words not in everything, everything


def test_make_run_installs_the_runtime_only(tmp_path):
    """On a fresh checkout `make run` installs the package without its dev extras (pytest,
    ruff, mypy... come with `make test`)."""
    venv = tmp_path / "venv"
    planned = subprocess.run(  # noqa: S603 - a fixed command line  # nosec B603 B607
        ["make", "--no-print-directory", "-n", "run", f"VENV={venv}"],  # noqa: S607
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    installs = [line for line in planned.splitlines() if "pip install" in line]
    assert any(" -e . " in f"{line} " for line in installs), planned
    assert not any("[dev]" in line for line in installs), planned


def test_the_readme_names_the_port_and_the_logins():
    readme = (ROOT / "README.md").read_text()
    assert "make run PORT=8080" in readme
    assert "demo-pharmacist" in readme and "clozrems-demo-2026" in readme
