"""The feeds' Celery tasks. They keep the names they were first registered under
(`monitoring.tasks.*`): the periodic schedule rows in the database and the pending-task rows
of the outbox name a task by that name (clozrems.queue.task_named; docs/architecture.md)."""

from __future__ import annotations

from celery import shared_task

from feeds.batches import feed_batch_process as process
from feeds.batches import feed_batches_resume
from feeds.retry import messages_retry_failed


@shared_task(name="monitoring.tasks.feeds_retry", acks_late=True)
def feeds_retry() -> int:
    """Lab feed messages whose processing failed are processed again (never dropped)."""
    feed_batches_resume()
    return messages_retry_failed()


@shared_task(name="monitoring.tasks.feed_batch_process", acks_late=True)
def feed_batch_process(batch_id: int) -> int:
    """A large lab feed batch, kept as received, applied message by message (safe to rerun)."""
    return process(batch_id=batch_id).processed
