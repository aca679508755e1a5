"""Write the periodic tasks declared in notifications/schedule.py into the beat database."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from notifications.schedule import sync_periodic_tasks


class Command(BaseCommand):
    help = (
        "Create the code-declared periodic tasks never written before; --reset also recreates "
        "deleted ones and overwrites edited ones."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--reset", action="store_true", help="restore deleted tasks, overwrite edits"
        )

    def handle(self, *args: Any, reset: bool, **options: Any) -> None:
        changed = sync_periodic_tasks(reset=reset)
        for line in changed:
            self.stdout.write(line)
        done = [line for line in changed if not line.startswith("left deleted")]
        self.stdout.write(f"{len(done)} periodic task(s) changed")
