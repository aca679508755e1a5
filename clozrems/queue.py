"""Putting a task on the queue must never break the request that asked for it.

The work a task does is kept in the database first (a stored reminder, a monitoring state), and
the periodic tasks pick up whatever a lost message left undone: `deliver_pending` sends stored
reminders, the confirmations scan re-checks 24-hour repeats. So with the broker down, the API
still decides and records, and the reminders go out once the broker is back."""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction

logger = logging.getLogger(__name__)


def enqueue(task: Any, *args: Any) -> bool:
    """Queue `task(*args)` now; False (and a warning) when the broker cannot take it."""
    try:
        # retry=False: fail at once rather than hold the request while the broker is away.
        task.apply_async(args=args, retry=False)
    except Exception as error:  # noqa: BLE001 - any broker failure; the periodic scans catch up
        logger.warning(
            "could not queue %s%s: %s; the periodic scan will catch up", task.name, args, error
        )
        return False
    return True


def enqueue_on_commit(task: Any, *args: Any) -> None:
    """Queue once the transaction has committed (the task must see what it wrote)."""
    transaction.on_commit(lambda: enqueue(task, *args))
