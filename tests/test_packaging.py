"""The built wheel holds everything an installed clozrems needs besides its dependencies: every
app's modules and migrations, and the pages' templates and static files (package data)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
APPS = (
    "clozrems",
    "patients",
    "monitoring",
    "feeds",
    "pharmacy",
    "notifications",
    "audit",
    "clinical",
    "oversight",
    "web",
)


@pytest.fixture(scope="module")
def wheel_names(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """The wheel built from the files git tracks or would (those not ignored), copied apart:
    an editable install's egg-info in the working tree would otherwise lend the build its file
    list."""
    git = shutil.which("git")
    if git is None or not (REPO / ".git").exists():
        pytest.skip("needs git and a checkout to know the tracked files")
    listed = subprocess.run(  # noqa: S603 - git, listing this repository's files
        [git, "-C", str(REPO), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        check=True,
        timeout=60,
    )
    source = tmp_path_factory.mktemp("source")
    for name in listed.stdout.decode().split("\0"):
        if name and (REPO / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, source / name)
    out = tmp_path_factory.mktemp("wheel")
    done = subprocess.run(  # noqa: S603 - this interpreter's pip, building this repository
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(source)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    [wheel] = out.glob("clozrems-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        return set(archive.namelist())


def _tracked(pattern: str) -> list[str]:
    return sorted(
        str(path.relative_to(REPO))
        for path in REPO.glob(pattern)
        if path.is_file() and "__pycache__" not in path.parts
    )


def test_the_wheel_holds_every_template_and_static_file(wheel_names):
    files = _tracked("web/templates/**/*") + _tracked("web/static/**/*")
    assert files, "the pages have templates and static files"
    missing = [name for name in files if name not in wheel_names]
    assert missing == []


def test_the_wheel_holds_every_module_and_migration(wheel_names):
    modules = [name for app in APPS for name in _tracked(f"{app}/**/*.py")]
    assert any("/migrations/0001_initial.py" in name for name in modules)
    missing = [name for name in modules if name not in wheel_names]
    assert missing == []
