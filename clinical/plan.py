"""The monitoring plan beyond the ANC: data (one table per protocol) plus small pure functions
that say, for a treatment start, the checks done and `today`, what is due and what is overdue.
No ORM, no clock.

Source: seed 001 ("Treatment-Resistant Schizophrenia and Clozapine Management"; docs/rules.md,
Sources), "Baseline Laboratory Investigations and Follow-Up" (pre-treatment assessment) and
"Monitoring Schedule During Treatment" (cardiovascular, metabolic, other monitoring).

Offsets are days from the treatment start (the first `start` treatment event). Readings chosen
where seed 001 leaves room, each the safer one:

- "3 months" is 13 weeks (day 91); "quarterly" is every 13 weeks; "annually" is every 365 days
  counted from the start (day 365, 730...), not from the 3-month check: the earlier reading.
- Baseline checks are due on the start day; one done up to 30 days before it counts (for every
  item's baseline occurrence, whatever its later window).
- Blood pressure and pulse: "monitor vital signs frequently" in the first 4 weeks is read as
  weekly (days 7-28); "Ongoing: regular blood pressure and pulse monitoring" as quarterly from
  week 12, with the weight.
- Liver tests: "Periodic liver function tests" is read as yearly (with the glucose and lipids).
- ECG and the symptom rating (PANSS or BPRS): baseline only (the seed schedules no repeat).
- Myocarditis watch: weekly in the first 4 weeks, a checklist prompt (chest pain, tachycardia,
  palpitations, dyspnea, fever, flu-like symptoms): troponin and CRP when symptoms suggest it.
  An undone watch is overdue until day 42, then "missed" (shown, no longer reminded: the seed's
  risk period has passed; a baseline, by contrast, stays overdue until done).
- Nothing in the plan gates dispensing (`gates_dispensing` is False throughout): no protocol in
  the seeds makes these checks a condition of supply.

A protocol without its own table uses the default one (so a new protocol gets the plan until
it says otherwise).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import Any

SEED_PLAN = "seed 001 (TRS and clozapine management: baseline investigations, monitoring schedule)"


class PlanStatus(StrEnum):
    NOT_SCHEDULED = "not_scheduled"  # no treatment start yet, and not a baseline check
    UPCOMING = "upcoming"
    DUE = "due"
    OVERDUE = "overdue"
    UP_TO_DATE = "up_to_date"  # the current occurrence is done; another will follow
    COMPLETE = "complete"  # every occurrence done, none scheduled after
    MISSED = "missed"  # a time-bound check whose time has passed undone (shown, not chased)


@dataclass(frozen=True)
class PlanItem:
    code: str
    label: str
    detail: str
    at_days: tuple[int, ...]
    # Repeats every `repeat_every_days` from `repeat_from_day`, for as long as treatment lasts.
    repeat_every_days: int | None = None
    repeat_from_day: int | None = None
    # An entry this many days before a due date counts for it; it becomes "due" then too.
    window_days: int = 7
    # Overdue when not done this many days after the due date.
    grace_days: int = 7
    checklist: bool = False  # a prompt answered yes/no (symptoms), not a measurement
    # A check that only matters in a period (the first weeks' myocarditis watch): this many
    # days after its last occurrence, an undone one is "missed" and no longer reminded.
    missed_after_days: int | None = None
    unit: str = ""
    gates_dispensing: bool = False
    source: str = SEED_PLAN

    def due_dates(self, start: date, until: date) -> Iterator[date]:
        """Every due date up to `until` (inclusive) in order, then the first one after it."""
        offsets: Iterable[int] = self.at_days
        for offset in offsets:
            due = start + timedelta(days=offset)
            yield due
            if due > until:
                return
        if self.repeat_every_days is None or self.repeat_from_day is None:
            return
        offset = self.repeat_from_day
        while True:
            due = start + timedelta(days=offset)
            yield due
            if due > until:
                return
            offset += self.repeat_every_days


BASELINE_WINDOW_DAYS = 30

DEFAULT_PLAN: tuple[PlanItem, ...] = (
    # seed 001 "Cardiovascular: ECG, blood pressure (orthostatic measurements), pulse rate".
    PlanItem(
        "ecg",
        "ECG",
        "Baseline electrocardiogram (QT interval).",
        at_days=(0,),
        window_days=BASELINE_WINDOW_DAYS,
        grace_days=0,
    ),
    # seed 001 baseline + "First 4 weeks: Monitor vital signs frequently" + "Ongoing: Regular
    # blood pressure and pulse monitoring".
    PlanItem(
        "vitals",
        "Blood pressure and pulse",
        "Blood pressure (with orthostatic measurement) and pulse.",
        at_days=(0, 7, 14, 21, 28),
        repeat_every_days=91,
        repeat_from_day=84,
        window_days=3,
        grace_days=2,
        unit="mmHg / bpm",
    ),
    # seed 001 "Myocarditis screening: Consider troponin and CRP if clinical suspicion".
    PlanItem(
        "myocarditis_watch",
        "Myocarditis watch",
        "Ask about chest pain, tachycardia, palpitations, dyspnea, fever, flu-like symptoms; "
        "if any suggest myocarditis, order troponin and CRP (echocardiogram if abnormal).",
        at_days=(7, 14, 21, 28),
        window_days=3,
        grace_days=2,
        checklist=True,
        # seed 001 "Myocarditis usually within first 4 weeks": chased until week 6 at most.
        missed_after_days=14,
    ),
    # seed 001 "Weight: Baseline, week 4, week 8, week 12, then quarterly".
    PlanItem(
        "weight",
        "Weight and BMI",
        "Weight and body-mass index.",
        at_days=(0, 28, 56, 84),
        repeat_every_days=91,
        repeat_from_day=175,
        window_days=7,
        grace_days=7,
        unit="kg",
    ),
    # seed 001 "Fasting glucose/HbA1c: Baseline, 3 months, then annually".
    PlanItem(
        "glucose",
        "Fasting glucose or HbA1c",
        "Fasting plasma glucose or HbA1c.",
        at_days=(0, 91),
        repeat_every_days=365,
        repeat_from_day=365,
        window_days=14,
        grace_days=14,
    ),
    # seed 001 "Lipid panel: Baseline, 3 months, then annually".
    PlanItem(
        "lipids",
        "Lipid panel",
        "Fasting lipid panel.",
        at_days=(0, 91),
        repeat_every_days=365,
        repeat_from_day=365,
        window_days=14,
        grace_days=14,
    ),
    # seed 001 "Hepatic: Liver function tests (AST, ALT, bilirubin)"; "Periodic liver function
    # tests" (read as yearly).
    PlanItem(
        "liver",
        "Liver tests",
        "AST, ALT, bilirubin.",
        at_days=(0,),
        repeat_every_days=365,
        repeat_from_day=365,
        window_days=BASELINE_WINDOW_DAYS,
        grace_days=14,
    ),
    # seed 001 "Symptom documentation: PANSS or BPRS scores".
    PlanItem(
        "symptom_rating",
        "Symptom rating (PANSS or BPRS)",
        "Target symptoms documented with PANSS or BPRS before starting.",
        at_days=(0,),
        window_days=BASELINE_WINDOW_DAYS,
        grace_days=0,
    ),
)

# Per protocol; a protocol not named here uses DEFAULT_PLAN.
PLANS: Mapping[str, tuple[PlanItem, ...]] = {"us-label-2015": DEFAULT_PLAN}


def plan_for(protocol: str) -> tuple[PlanItem, ...]:
    return PLANS.get(protocol, DEFAULT_PLAN)


def plan_item(protocol: str, code: str) -> PlanItem | None:
    return next((item for item in plan_for(protocol) if item.code == code), None)


@dataclass(frozen=True)
class ItemState:
    item: PlanItem
    status: PlanStatus
    due_on: date | None  # the occurrence the status is about (None: no start date yet)
    last_done_on: date | None
    next_due_on: date | None  # the occurrence after it
    days_overdue: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.item.code,
            "label": self.item.label,
            "detail": self.item.detail,
            "checklist": self.item.checklist,
            "status": self.status.value,
            "due_on": _day(self.due_on),
            "days_overdue": self.days_overdue,
            "last_done_on": _day(self.last_done_on),
            "next_due_on": _day(self.next_due_on),
            "gates_dispensing": self.item.gates_dispensing,
            "source": self.item.source,
        }


def _day(value: date | None) -> str | None:
    return value.isoformat() if value else None


def item_state(item: PlanItem, start: date | None, done: Sequence[date], today: date) -> ItemState:
    """Where one item stands on `today`. An occurrence counts as done by any entry on or after
    its due date minus the window; a later occurrence supersedes an earlier missed one (a weight
    missed at week 4 is not chased once week 8's is due)."""
    last_done = max(done) if done else None
    if start is None:
        if 0 in item.at_days:
            # Before the first dose: the baseline is due now.
            if done:
                return ItemState(item, PlanStatus.UP_TO_DATE, None, last_done, None)
            return ItemState(item, PlanStatus.DUE, None, last_done, None)
        return ItemState(item, PlanStatus.NOT_SCHEDULED, None, last_done, None)

    def window(due: date) -> timedelta:
        # The baseline (the start day itself) may be done up to 30 days before the first dose.
        days = max(item.window_days, BASELINE_WINDOW_DAYS) if due == start else item.window_days
        return timedelta(days=days)

    dates = list(item.due_dates(start, today + timedelta(days=BASELINE_WINDOW_DAYS)))
    opened = [d for d in dates if d - window(d) <= today]
    following = [d for d in dates if d - window(d) > today]
    upcoming = following[0] if following else None
    if not opened:
        return ItemState(item, PlanStatus.UPCOMING, upcoming, last_done, upcoming)
    current = opened[-1]
    if last_done is not None and last_done >= current - window(current):
        status = PlanStatus.UP_TO_DATE if upcoming else PlanStatus.COMPLETE
        return ItemState(item, status, current, last_done, upcoming)
    overdue_from = current + timedelta(days=item.grace_days)
    if (
        item.missed_after_days is not None
        and upcoming is None
        and today > current + timedelta(days=item.missed_after_days)
    ):
        return ItemState(item, PlanStatus.MISSED, current, last_done, None)
    if today > overdue_from:
        return ItemState(
            item, PlanStatus.OVERDUE, current, last_done, upcoming, (today - current).days
        )
    return ItemState(item, PlanStatus.DUE, current, last_done, upcoming)


def plan_state(
    protocol: str, start: date | None, done: Mapping[str, Sequence[date]], today: date
) -> list[ItemState]:
    return [item_state(i, start, done.get(i.code, ()), today) for i in plan_for(protocol)]


def schedule(protocol: str, start: date, until: date) -> dict[str, list[date]]:
    """Every due date from the start through `until`, per item (for the plan's table)."""
    return {
        item.code: [d for d in item.due_dates(start, until) if d <= until]
        for item in plan_for(protocol)
    }
