"""The monitoring plan beyond the ANC: data (one table per protocol) plus small pure functions
that say, for a treatment start, the checks done and `today`, what is due and what is overdue.
No ORM, no clock.

Source: seed 001 ("Treatment-Resistant Schizophrenia and Clozapine Management"; docs/rules.md,
Sources), "Baseline Laboratory Investigations and Follow-Up" (pre-treatment assessment) and
"Monitoring Schedule During Treatment" (cardiovascular, metabolic, other monitoring).

The tables themselves are the protocols' own (clinical/plans/: one module per protocol, the
shared items in clinical/plans/common.py, with the readings taken where the sources leave room).
Offsets are days from the treatment start (the first `start` treatment event), or for the
myocarditis watch from the latest start or resume (`anchor`).

An entry's answers are checked against the item's `answers` and read by its `assess` function
(findings with a message of clinical.messages); a finding that needs action keeps the item
"action needed" - never complete - until a later entry without one.

A protocol without its own table uses the default one (so a new protocol gets the plan until
it says otherwise).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from clinical.messages import SEED_PLAN


@dataclass(frozen=True)
class Answer:
    """One answer an item's entry gives: its name, kind ("int", "decimal", "bool"), bounds."""

    name: str
    kind: str
    label: str
    required: bool = True
    low: Decimal | None = None
    high: Decimal | None = None
    unit: str = ""


@dataclass(frozen=True)
class Finding:
    """What an entry's answers mean: a message of clinical.messages, filled."""

    code: str
    severity: str  # "info", "warning", "urgent"
    message: str
    source: str

    @property
    def needs_action(self) -> bool:
        return self.severity != "info"

    def as_dict(self) -> dict[str, str]:
        return {
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "source": self.source,
        }


@dataclass(frozen=True)
class Done:
    """An entry of an item: its day, and whether its finding needs action (then it does not
    count as done, and the item stays "action needed" until a later entry without one)."""

    on: date
    needs_action: bool = False


class PlanStatus(StrEnum):
    NOT_SCHEDULED = "not_scheduled"  # no treatment start yet, and not a baseline check
    UPCOMING = "upcoming"
    DUE = "due"
    OVERDUE = "overdue"
    UP_TO_DATE = "up_to_date"  # the current occurrence is done; another will follow
    COMPLETE = "complete"  # every occurrence done, none scheduled after
    MISSED = "missed"  # a time-bound check whose time has passed undone (shown, not chased)
    ACTION_NEEDED = "action_needed"  # the latest entry found something (never "complete")


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
    # "start": days count from the first start; "latest_start": from the latest start or
    # resume, so the watch restarts with a restart of treatment (the myocarditis watch).
    anchor: str = "start"
    # The item's answers, checked before an entry is stored, and what they mean (findings).
    answers: tuple[Answer, ...] = ()
    assess: Callable[[Mapping[str, Any], Sequence[Mapping[str, Any]]], list[Finding]] | None = None
    # The checklist's question, when `checklist` (the `symptoms` answer).
    question: str = ""
    # Only for these sexes (pregnancy); empty: everyone.
    sexes: frozenset[str] = frozenset()
    # Done by a valid steady-state trough level (clinical levels), not by a plan entry.
    done_by_level: bool = False

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


def plan_for(protocol: str) -> tuple[PlanItem, ...]:
    """The protocol's own plan (clinical/plans/: each protocol owns its table)."""
    from clinical.plans import plan_for as owned

    return owned(protocol)


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
            "question": self.item.question,
            "answers": [
                {
                    "name": a.name,
                    "kind": a.kind,
                    "label": a.label,
                    "required": a.required,
                    "unit": a.unit,
                }
                for a in self.item.answers
            ],
            "done_by_level": self.item.done_by_level,
            "source": self.item.source,
        }


def _day(value: date | None) -> str | None:
    return value.isoformat() if value else None


def item_state(
    item: PlanItem, start: date | None, done: Sequence[date | Done], today: date
) -> ItemState:
    """Where one item stands on `today`. An occurrence counts as done by any entry on or after
    its due date minus the window; a later occurrence supersedes an earlier missed one (a weight
    missed at week 4 is not chased once week 8's is due). An entry whose finding needs action
    does not count, and while it is the latest the item is "action needed"."""
    entries = [d if isinstance(d, Done) else Done(d) for d in done]
    if entries and entries[-1].needs_action:
        flagged = entries[-1].on
        return ItemState(item, PlanStatus.ACTION_NEEDED, flagged, flagged, None)
    clean = [e.on for e in entries if not e.needs_action]
    last_done = max(clean) if clean else None
    done = clean
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
    protocol: str,
    start: date | None,
    done: Mapping[str, Sequence[date | Done]],
    today: date,
    *,
    latest_start: date | None = None,
    sex: str | None = None,
) -> list[ItemState]:
    """Every item of the protocol's plan that applies (its `sexes`), on `today`. Items anchored
    at "latest_start" count from `latest_start` (the latest start or resume; the first start
    when not given)."""
    states = []
    for item in plan_for(protocol):
        if item.sexes and sex not in item.sexes:
            continue
        anchor = (latest_start or start) if item.anchor == "latest_start" else start
        entries = done.get(item.code, ())
        if item.anchor == "latest_start" and anchor is not None and anchor != start:
            # A restarted watch: entries from before the restart's baseline window do not count.
            opens = anchor - timedelta(days=max(item.window_days, BASELINE_WINDOW_DAYS))
            entries = [e for e in entries if (e.on if isinstance(e, Done) else e) >= opens]
        states.append(item_state(item, anchor, entries, today))
    return states


def schedule(
    protocol: str, start: date, until: date, *, sex: str | None = None
) -> dict[str, list[date]]:
    """Every due date from the start through `until`, per item (for the plan's table)."""
    return {
        item.code: [d for d in item.due_dates(start, until) if d <= until]
        for item in plan_for(protocol)
        if not item.sexes or sex in item.sexes
    }
