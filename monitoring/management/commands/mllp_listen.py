"""Listen for HL7 v2 ORU^R01 messages over MLLP and answer each with its ACK."""

from __future__ import annotations

import asyncio
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from monitoring.feeds.mllp import feed_user, serve


class Command(BaseCommand):
    help = "MLLP listener for lab results (HL7 v2 ORU^R01); each message is ACKed AA/AE/AR."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=2575)
        parser.add_argument(
            "--user",
            default="mllp-feed",
            help="the lab interface account results are recorded as (created if missing)",
        )

    def handle(self, *args: Any, host: str, port: int, user: str, **options: Any) -> None:
        actor = feed_user(user)

        def started(bound: int) -> None:
            self.stdout.write(f"MLLP listening on {host}:{bound} as {actor.username}", ending="\n")
            self.stdout.flush()

        try:
            asyncio.run(serve(host=host, port=port, actor=actor, started=started))
        except KeyboardInterrupt:
            self.stdout.write("stopped")
