"""The monitoring plan beyond the ANC under the US label (2015 REMS): the shared checks
(clinical/plans/common.py), none of them a condition of supply."""

from __future__ import annotations

from clinical.plan import PlanItem
from clinical.plans import common

PROTOCOL = "us-label-2015"

PLAN: tuple[PlanItem, ...] = common.ITEMS
