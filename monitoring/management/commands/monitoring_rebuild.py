"""Replay every patient's history through the engine and rewrite (or check) its stored state.

The stored monitoring state is a cache; the history is the truth. With --check nothing is
written: each difference is printed and the command exits non-zero if there is any. Work is
set-based (a chunk of patient ids costs one query per history table, read by the id range, and
one upsert; each state another app derives from the history and registers with
`monitoring.derived`, such as clinical's dose facts, a few more) and can be shared by several
processes (--workers), each taking whole chunks.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections, transaction
from django.db.models import Max, Min
from django.utils import timezone

from monitoring import rebuild_worker
from monitoring.derived import derived_states
from monitoring.services import monitoring_states_rebuild_range
from patients.models import Patient


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cycle collector off for a chunk. A chunk makes hundreds of thousands of
    short-lived objects (the history's records, the engine's draws and steps, the JSON) and no
    cycles: reference counting frees them all, and the collector's passes over them, triggered
    by the sheer number of allocations, took up to a fifth of the rebuild's CPU time (measured)
    and freed nothing."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def rebuild_ranges(
    ranges: list[tuple[int, int]], now: datetime, check: bool
) -> tuple[int, dict[int, list[str]]]:
    count, differing = 0, {}
    for lo, hi in ranges:
        with collector_paused(), transaction.atomic():
            done, found = monitoring_states_rebuild_range(lo=lo, hi=hi, now=now, check=check)
            # What other apps derive from the history (clinical's dose facts), registered with
            # monitoring.derived.
            others = [
                (state.name, (state.check if check else state.rebuild)(lo=lo, hi=hi))
                for state in derived_states()
            ]
        count += done
        differing.update(found)
        for name, ids in others:
            for pk in ids:
                differing.setdefault(pk, []).append(name)
    return count, differing


class Command(BaseCommand):
    help = "Rebuild every patient's monitoring state from its history (--check: only compare)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--check", action="store_true", help="report differences, write nothing"
        )
        parser.add_argument("--chunk", type=int, default=1000, help="patients per chunk")
        parser.add_argument("--workers", type=int, default=1, help="processes sharing the work")
        parser.add_argument("--start-id", type=int, default=None, help="first patient id")
        parser.add_argument("--stop-id", type=int, default=None, help="patient ids below this")

    def handle(self, *args: Any, check: bool, chunk: int, workers: int, **options: Any) -> None:
        now = timezone.now()
        bounds = Patient.objects.aggregate(lo=Min("pk"), hi=Max("pk"))
        lo = options["start_id"] if options["start_id"] is not None else bounds["lo"]
        hi = options["stop_id"] if options["stop_id"] is not None else (bounds["hi"] or 0) + 1
        ranges = [] if lo is None else [(a, min(a + chunk, hi)) for a in range(lo, hi, chunk)]
        name = str(connections["default"].settings_dict["NAME"])
        if workers > 1 and ("memory" in name or connections["default"].vendor == "sqlite"):
            # Forked processes would not share an in-memory database, nor write SQLite faster.
            self.stdout.write("one process: --workers needs a database server")
            workers = 1
        started = time.perf_counter()
        if workers <= 1:
            count, differing = rebuild_ranges(ranges, now, check)
        else:
            shares = [(ranges[w::workers], now.isoformat(), check) for w in range(workers)]
            database = {
                key: connections["default"].settings_dict[key]
                for key in ("NAME", "USER", "PASSWORD", "HOST", "PORT")
            }
            settings_module = os.environ.get("DJANGO_SETTINGS_MODULE", "clozrems.settings")
            context = multiprocessing.get_context("spawn")
            with context.Pool(
                workers, initializer=rebuild_worker.start, initargs=(settings_module, database)
            ) as pool:
                parts = pool.map(rebuild_worker.rebuild, shares)
            count = sum(part[0] for part in parts)
            differing = {pk: fields for part in parts for pk, fields in part[1].items()}
        seconds = time.perf_counter() - started
        for pk in sorted(differing)[:1000]:
            self.stdout.write(f"patient {pk}: differs in {', '.join(differing[pk])}")
        verb = "checked" if check else "rebuilt"
        rate = count / seconds if seconds else 0.0
        self.stdout.write(
            f"{verb} {count} patients in {seconds:.1f} s ({rate:.0f} patients/s), "
            f"{len(differing)} with differences"
        )
        if check and differing:
            raise CommandError(f"{len(differing)} stored states differ from their history")
