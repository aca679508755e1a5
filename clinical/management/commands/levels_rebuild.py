"""manage.py levels_rebuild [--check]: re-interpret every stored clozapine level from the
history and report the levels whose stored interpretation differed."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from clinical.services import level_interpretations_rebuild


class Command(BaseCommand):
    help = "Re-interpret stored clozapine levels from the history (--check: report only)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--check", action="store_true", help="report, change nothing")

    def handle(self, *args: Any, check: bool = False, **options: Any) -> None:
        differing = level_interpretations_rebuild(check=check)
        verb = "differ" if check else "rewritten"
        self.stdout.write(f"{len(differing)} level(s) {verb}: {differing}")
