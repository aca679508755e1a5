"""Process again the feed messages whose processing failed (they are kept, never dropped)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from feeds.models import FeedMessage, FeedMessageOutcome
from feeds.retry import messages_retry_failed


class Command(BaseCommand):
    help = "Retry the lab feed messages whose processing failed, oldest first."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--limit", type=int, default=500)

    def handle(self, *args: Any, limit: int, **options: Any) -> None:
        failed = FeedMessage.objects.filter(outcome=FeedMessageOutcome.FAILED).count()
        fixed = messages_retry_failed(limit=limit)
        self.stdout.write(f"{fixed} of {min(failed, limit)} failed message(s) now processed")
