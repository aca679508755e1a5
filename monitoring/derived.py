"""State other apps derive from the patient's history and keep beside the monitoring state.

The stored monitoring state is a cache of the history; so is any state an app above monitoring
keeps for the same patients (clinical's re-titration facts, `clinical.dose_facts`). Such an
app registers its check and its rebuild here, in its `AppConfig.ready`, and
`manage.py monitoring_rebuild` checks or rewrites it with the monitoring state, chunk by chunk,
in the same transaction: the command knows every derived state without importing the apps
above it (docs/architecture.md, the layering).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

# (lo=, hi=) -> the ids in [lo, hi) whose stored state differed from the history's.
Pass = Callable[..., list[int]]


@dataclass(frozen=True)
class DerivedState:
    name: str  # as `monitoring_rebuild --check` prints it beside a differing patient
    check: Pass  # writes nothing
    rebuild: Pass  # rewrites what differed


_registered: dict[str, DerivedState] = {}


def derived_state_register(state: DerivedState) -> None:
    """Add `state` to what the rebuild checks and rewrites (once per name)."""
    _registered[state.name] = state


def derived_states() -> tuple[DerivedState, ...]:
    return tuple(_registered.values())
