"""`make run`'s server: Django's runserver whose last lines are the address and the demo logins.

runserver prints its own banner ("Performing system checks...", "Starting development server
at ...") and its autoreloader logs "Watching for file changes"; a newcomer then has to scroll back
for the logins. Here the checks run quietly (a failing check still stops the server), the
banner is replaced by the address and the logins, printed once the port is bound (so they are
the last lines, and printed again after an autoreload), and the reloader speaks only of
problems. Requests are still logged, below them, as the person clicks."""

from __future__ import annotations

import logging
from typing import Any

from django.core.management.commands.runserver import Command as RunserverCommand

from web.management.commands.seed_demo import demo_logins


class Command(RunserverCommand):
    help = "runserver for the demo: quiet, ending with the address and the demo logins."
    addr: str  # set by runserver's handle()

    def run(self, **options: Any) -> None:
        # Before the reloader starts: it logs "Watching for file changes" as it does.
        logging.getLogger("django.utils.autoreload").setLevel(logging.WARNING)
        super().run(**options)

    def inner_run(self, *args: Any, **options: Any) -> None:
        if not options["skip_checks"]:
            self.check(display_num_errors=False)
        super().inner_run(*args, **{**options, "skip_checks": True})

    def check_migrations(self) -> None:
        # `make run` migrates first; the unapplied-migrations note would only be noise here.
        return None

    def on_bind(self, server_port: int) -> None:
        base = f"{self.protocol}://{self.addr}:{server_port}/"
        lines = [
            "",
            f"clozrems is at {base}  (API docs: {base}api/docs/)",
            *demo_logins(),
            "Another port: make run PORT=8080.  Stop with Ctrl-C.",
        ]
        self.stdout.write("\n".join(lines))
        self.stdout.flush()
