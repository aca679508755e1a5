"""The monitoring plan beyond the blood counts under the UK clozapine patient monitoring
services: the shared checks (clinical/plans/common.py; the Maudsley guidance they follow is
UK practice), none of them a condition of supply."""

from __future__ import annotations

from clinical.plan import PlanItem
from clinical.plans import common

PROTOCOL = "uk-cpms"

PLAN: tuple[PlanItem, ...] = common.ITEMS
