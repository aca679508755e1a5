"""Replay every patient's history through the engine and rewrite (or check) its stored state.

The stored monitoring state is a cache; the history is the truth. With --check nothing is
written: each difference is printed and the command exits non-zero if there is any.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone

from monitoring.models import MonitoringState
from monitoring.services import monitoring_state_compute, monitoring_state_refresh
from patients.models import Patient

# The projection columns move with the clock; the snapshot is what replay must reproduce.
COMPARED = ["snapshot", "high_water", "protocol"]


class Command(BaseCommand):
    help = "Rebuild every patient's monitoring state from its history (--check: only compare)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--check", action="store_true", help="report differences, write nothing"
        )
        parser.add_argument("--chunk", type=int, default=500, help="patients per transaction")

    def handle(self, *args: Any, check: bool, chunk: int, **options: Any) -> None:
        now = timezone.now()
        stored = {s.patient_id: s for s in MonitoringState.objects.only(*COMPARED, "patient")}
        differences = 0
        count = 0
        ids = list(Patient.objects.order_by("pk").values_list("pk", flat=True))
        for start in range(0, len(ids), chunk):
            batch = Patient.objects.filter(pk__in=ids[start : start + chunk]).order_by("pk")
            with transaction.atomic():
                for patient in batch:
                    count += 1
                    fresh = monitoring_state_compute(patient=patient, now=now)
                    old = stored.get(patient.pk)
                    changed = [
                        name
                        for name in COMPARED
                        if old is None or getattr(old, name) != getattr(fresh, name)
                    ]
                    if changed:
                        differences += 1
                        self.stdout.write(f"patient {patient.pk}: differs in {', '.join(changed)}")
                    if not check:
                        monitoring_state_refresh(patient=patient, now=now)
        verb = "checked" if check else "rebuilt"
        self.stdout.write(f"{verb} {count} patients, {differences} with differences")
        if check and differences:
            raise CommandError(f"{differences} stored states differ from their history")
