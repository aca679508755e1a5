"""The layering contract (pyproject's [tool.importlinter], run by `make lint`) covers the whole
project: every module of the project package is either URL wiring or named plumbing, the
plumbing may reach no domain app (the trail's refusal type aside), every app and the pure
protocol engine (the bottom layer) are in the layers, and no import is ignored
(docs/architecture.md)."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]


def _contract(kind: str, name_part: str) -> dict:
    return next(c for c in CONFIG["contracts"] if c["type"] == kind and name_part in c["name"])


def _layered() -> set[str]:
    layers = _contract("layers", "layer")["layers"]
    return {m.strip() for layer in layers for m in layer.replace("|", ":").split(":")}


PLUMBING = _contract("forbidden", "knows no domain app")


def test_no_contract_ignores_an_import():
    assert all("ignore_imports" not in contract for contract in CONFIG["contracts"])


def test_every_app_and_the_engine_are_in_the_layers():
    apps = {p.parent.name for p in ROOT.glob("*/apps.py")}
    assert (apps - {"clozrems"}) | {"engine"} <= _layered()
    assert set(CONFIG["root_packages"]) == apps | {"clozrems", "engine"}
    assert CONFIG["contracts"][0]["layers"][-1] == "engine", "the pure engine is the bottom layer"


def test_every_module_of_the_project_package_is_wiring_or_named_plumbing():
    plumbing = set(PLUMBING["source_modules"])
    wiring = {m for m in _layered() if m.startswith("clozrems.")}
    modules = {
        f"clozrems.{p.stem}" for p in (ROOT / "clozrems").glob("*.py") if p.stem != "__init__"
    }
    assert modules == plumbing | wiring


def test_the_plumbing_reaches_no_domain_app_even_indirectly():
    apps = {p.parent.name for p in ROOT.glob("*/apps.py")} - {"clozrems"}
    assert set(PLUMBING["forbidden_modules"]) == apps - {"audit"}
    assert "allow_indirect_imports" not in PLUMBING
