"""The monitoring plan of each protocol: each protocol module owns its table (a tuple of
clinical.plan.PlanItem), as each protocol of engine/protocols/ owns its ANC rules. A
new protocol's plan is a new module here and one line below; a protocol without one gets the
default plan."""

from __future__ import annotations

from types import ModuleType

from clinical.plan import PlanItem
from clinical.plans import uk_cpms, us_label_2015
from clinical.plans.common import ITEMS

DEFAULT_PLAN: tuple[PlanItem, ...] = ITEMS

_REGISTRY: dict[str, ModuleType] = {m.PROTOCOL: m for m in (us_label_2015, uk_cpms)}


def plan_for(protocol: str) -> tuple[PlanItem, ...]:
    module = _REGISTRY.get(protocol)
    plan: tuple[PlanItem, ...] = module.PLAN if module is not None else DEFAULT_PLAN
    return plan
