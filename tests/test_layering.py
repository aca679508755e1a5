"""The layering contract (pyproject's [tool.importlinter], run by `make lint`) covers the whole
project and points every arrow one way: each app is a layer of its own (two sibling apps that
import neither each other share one), the project package's plumbing is one layer below every
app, the pure protocol engine is the bottom, and no import is ignored (docs/architecture.md)."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
LAYERS = next(c for c in CONFIG["contracts"] if c["type"] == "layers")["layers"]
APPS = {p.parent.name for p in ROOT.glob("*/apps.py")} - {"clozrems"}
WIRING = {"clozrems.urls", "clozrems.api_urls"}


def _members(layer: str) -> list[str]:
    return [m.strip() for m in layer.replace("|", ":").split(":")]


def test_no_contract_ignores_an_import():
    assert all("ignore_imports" not in contract for contract in CONFIG["contracts"])
    assert all("allow_indirect_imports" not in contract for contract in CONFIG["contracts"])


def test_every_app_and_the_engine_are_in_the_layers():
    layered = {m for layer in LAYERS for m in _members(layer)}
    assert APPS | {"engine"} <= layered
    assert set(CONFIG["root_packages"]) == APPS | {"clozrems", "engine"}
    assert LAYERS[-1] == "engine", "the pure engine is the bottom layer"


def test_no_two_apps_that_import_each_other_share_a_layer():
    # `a : b` would let two apps import each other; only the plumbing's modules may.
    for layer in LAYERS:
        if ":" in layer:
            assert all(m.startswith("clozrems.") for m in _members(layer)), layer


def test_the_wiring_is_the_top_and_every_other_module_of_the_project_package_the_plumbing():
    assert set(_members(LAYERS[0])) == WIRING
    plumbing = next(layer for layer in LAYERS if ":" in layer)
    modules = {
        f"clozrems.{p.stem}" for p in (ROOT / "clozrems").glob("*.py") if p.stem != "__init__"
    }
    assert set(_members(plumbing)) == modules - WIRING
    below = LAYERS[LAYERS.index(plumbing) + 1 :]
    assert below == ["audit", "engine"], "every app but the trail is above the plumbing"
