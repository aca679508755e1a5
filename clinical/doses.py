"""Dose tracking: when the patient's clozapine ran out, and whether restarting needs
re-titration. Pure: dispenses and the prescriber's entries in, a frozen answer out.

Sources: the clozapine label (Clozaril prescribing information, section 2.5 "Re-Initiating
Treatment in Patients Who Have Discontinued": after 2 days or more since the last dose,
re-initiate with 12.5 mg once or twice daily) and seed 001 ("Missed doses: If >2 days missed,
contact prescriber before restarting"; "Day 1: 12.5 mg once or twice daily").

Readings, each the safer one:

- The supply runs out `days_supply` days after the dispense. Overlapping supplies are not
  carried over (an early refill does not push the date later): the latest end of any one supply
  counts. Carrying stock over would warn later.
- A prescriber's "last dose taken" entry later than the last dispense replaces the supply's end
  (the patient stopped before the tablets ran out).
- The warning starts at 48 hours (the label's "2 days or more"), shown as information: it never
  blocks a dispense.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from clinical import messages as say

RETITRATION_START_MG = Decimal("12.5")  # label 2.5; seed 001 "Day 1: 12.5 mg"
SOURCE = say.RETITRATION_NEEDED.source


@dataclass(frozen=True)
class SupplyRecord:
    dispensed_at: datetime
    days_supply: int


@dataclass(frozen=True)
class DoseTracking:
    last_dispensed_at: datetime | None
    supply_ran_out_at: datetime | None  # may be in the future: supply left
    last_dose_reported_at: datetime | None
    without_since: datetime | None  # the moment doses stopped, as best known
    hours_without: Decimal | None  # 0 while supply lasts
    retitration_needed: bool

    @property
    def days_since_supply_ran_out(self) -> int | None:
        if self.hours_without is None:
            return None
        return int(self.hours_without // 24)

    def warning(self) -> dict[str, Any] | None:
        """The decision's `retitration_warning`: null unless re-titration is needed."""
        if not self.retitration_needed or self.without_since is None:
            return None
        return {
            "without_since": self.without_since.isoformat(),
            "hours_without": str(self.hours_without),
            "days_without": self.days_since_supply_ran_out,
            "code": say.RETITRATION_NEEDED.code,
            "message": say.RETITRATION_NEEDED.say(hours=self.hours_without),
            "restart_dose_mg": str(RETITRATION_START_MG),
            "source": SOURCE,
        }

    def as_dict(self) -> dict[str, Any]:
        def iso(v: datetime | None) -> str | None:
            return v.isoformat() if v else None

        return {
            "last_dispensed_at": iso(self.last_dispensed_at),
            "supply_ran_out_at": iso(self.supply_ran_out_at),
            "last_dose_reported_at": iso(self.last_dose_reported_at),
            "without_since": iso(self.without_since),
            "hours_without": None if self.hours_without is None else str(self.hours_without),
            "days_since_supply_ran_out": self.days_since_supply_ran_out,
            "retitration_needed": self.retitration_needed,
        }


def dose_tracking(
    supplies: Sequence[SupplyRecord],
    last_dose_reports: Sequence[datetime],
    now: datetime,
    *,
    after_hours: int,
) -> DoseTracking:
    return dose_tracking_of(
        max((s.dispensed_at for s in supplies), default=None),
        max((s.dispensed_at + timedelta(days=s.days_supply) for s in supplies), default=None),
        max((r for r in last_dose_reports if r <= now), default=None),
        now,
        after_hours=after_hours,
    )


def dose_tracking_of(
    last_dispensed: datetime | None,
    ran_out: datetime | None,
    reported: datetime | None,
    now: datetime,
    *,
    after_hours: int,
) -> DoseTracking:
    """The tracking from the three facts it reads: the latest dispense, the latest end of any
    one supply, and the latest reported last dose (each at or before `now`). Re-titration is
    needed from `after_hours` without clozapine on: the patient's protocol's
    `retitration_after_hours` (docs/rules.md §10; at the hour itself, the safer reading)."""
    without_since = ran_out
    if reported is not None and (last_dispensed is None or reported > last_dispensed):
        without_since = reported if ran_out is None else min(reported, ran_out)
    if without_since is None:
        return DoseTracking(last_dispensed, ran_out, reported, None, None, False)
    gap = max(timedelta(0), now - without_since)
    hours = (Decimal(gap.total_seconds()) / Decimal(3600)).quantize(Decimal("0.1"))
    return DoseTracking(
        last_dispensed,
        ran_out,
        reported,
        without_since,
        hours,
        gap >= timedelta(hours=after_hours),
    )


def longest_gap_hours(
    supplies: Sequence[SupplyRecord],
    last_dose_reports: Sequence[datetime],
    start: datetime,
    end: datetime,
) -> Decimal | None:
    """The longest stretch in [start, end] the patient was without clozapine, in hours: not
    covered by any supply (from the first dispense on: before it the records cannot say), or
    after a reported last dose until the next dispense. None when no dispense or report is
    recorded before `end` (nothing to judge by)."""
    known = [s for s in supplies if s.dispensed_at <= end]
    reports = [r for r in last_dose_reports if r <= end]
    if not known and not reports:
        return None
    without: list[tuple[datetime, datetime]] = []
    if known:
        covered = sorted(
            (s.dispensed_at, s.dispensed_at + timedelta(days=s.days_supply)) for s in known
        )
        cursor = max(start, covered[0][0])
        for begin, finish in covered:
            if begin > cursor:
                without.append((cursor, min(begin, end)))
            cursor = max(cursor, finish)
            if cursor >= end:
                break
        if cursor < end:
            without.append((cursor, end))
    dispensed = sorted(s.dispensed_at for s in known)
    for reported in reports:
        resupplied = next((d for d in dispensed if d > reported), end)
        without.append((max(reported, start), min(resupplied, end)))
    stretches = sorted((a, b) for a, b in without if b > a)
    longest = timedelta(0)
    current: tuple[datetime, datetime] | None = None
    for a, b in stretches:
        if current is not None and a <= current[1]:
            current = (current[0], max(current[1], b))
        else:
            current = (a, b)
        longest = max(longest, current[1] - current[0])
    return (Decimal(longest.total_seconds()) / Decimal(3600)).quantize(Decimal("0.1"))
