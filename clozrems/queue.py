"""Queueing a task without breaking the request: `enqueue` gives up at once when the broker
cannot take the message (every broker call is bounded in time by the transport options in
settings) and logs a warning instead. `task_named` finds a task by its registered name.

Work a write queues goes through the transactional outbox built on these
(notifications/outbox.py), which keeps it in the database until a worker has done it.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

logger = logging.getLogger(__name__)


def enqueue(task: Any, *args: Any, what: str = "") -> bool:
    """Queue `task(*args)` now; False (and a warning naming `what`, else the task) when the
    broker cannot take it."""
    try:
        # retry=False: fail at once rather than hold the request while the broker is away.
        task.apply_async(args=args, retry=False)
    except Exception as error:  # noqa: BLE001 - any broker failure; the catch-up takes over
        logger.warning(
            "could not queue %s: %s; the periodic catch-up will do it",
            what or f"{task.name}{args}",
            error,
        )
        return False
    return True


def task_named(name: str) -> Any:
    """The task registered under `name` ("app.tasks.function"), importing its module (a web
    process has not autodiscovered every app's tasks, as a worker has). A task that moved to
    another app keeps its first name (stored schedule and pending-task rows say it): when the
    named module no longer holds it, every app's tasks are loaded and the registry answers."""
    module, _, function = name.rpartition(".")
    task = getattr(importlib.import_module(module), function, None)
    if task is not None:
        return task
    from clozrems.celery import app

    app.loader.import_default_modules()  # what a worker does at start: autodiscover the tasks
    return app.tasks[name]
