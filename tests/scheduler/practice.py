"""A prescriber's practice imported with its history, for the alarm-fatigue measurements: 60
patients who started clozapine between 3 months and 6 years ago, each with the ANC draws of
the last two years at its routine interval (weekly for the first 6 months, every 2 weeks to
month 12, then every 4 weeks), and no monitoring-plan entries (an import brings the blood
counts, rarely the ECGs and weights). A few are due today, a few overdue, one has a first low
ANC awaiting its repeat, one a moderate result (a consult), two were interrupted.

Seeded, so every run builds the same practice."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta

from patients.models import Patient, Prescriber, User
from tests import factories


@dataclass(frozen=True)
class Practice:
    patients: list[Patient]
    due_today: int
    overdue: int


def _interval(day_of_treatment: int) -> int:
    if day_of_treatment < 182:
        return 7
    if day_of_treatment < 365:
        return 14
    return 28


def _draws(start: date, last: date) -> list[tuple[date, int]]:
    """The routine draws from the start up to `last`, the last two years of them kept."""
    out: list[tuple[date, int]] = []
    day = start
    while True:
        step = _interval((day - start).days)
        nxt = day + timedelta(days=step)
        if nxt > last:
            break
        day = nxt
        out.append((day, 2100 + (day.toordinal() % 9) * 50))
    horizon = last - timedelta(days=730)
    return [d for d in out if d[0] >= horizon]


def import_practice(
    *, actor: User, prescriber: Prescriber, today: date, size: int = 60, seed: int = 23
) -> Practice:
    rng = random.Random(seed)  # noqa: S311 - test data, not a secret
    patients = []
    due_today = overdue = 0
    for index in range(size):
        start = today - timedelta(days=rng.randint(91, 6 * 365))
        # The last draw: most are on time; every tenth is due today; every twelfth 1-5 days
        # overdue.
        draws = _draws(start, today - timedelta(days=1))
        if not draws:
            draws = [(start + timedelta(days=7), 2200)]
        last_day, _ = draws[-1]
        interval = _interval((last_day - start).days)
        if index % 10 == 3:
            target_last = today - timedelta(days=interval)
            due_today += 1
        elif index % 12 == 5:
            target_last = today - timedelta(days=interval + rng.randint(1, 5))
            overdue += 1
        else:
            target_last = today - timedelta(days=rng.randint(1, interval - 1))
        draws = [d for d in draws if d[0] < target_last] + [(target_last, 2300)]
        patients.append(
            factories.enrolled_patient(
                actor=actor,
                prescriber=prescriber,
                start=start,
                draws=draws,
                last_name=f"Imported{index:02d}",
            )
        )
    return Practice(patients, due_today, overdue)
