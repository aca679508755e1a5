"""Large feed batches, taken asynchronously: the batch is kept as received and answered at once
(HTTP 202, with its resource /api/v1/feeds/batches/{id}/), and a worker applies it through the
usual path (HL7: a chunk of messages at a time, feeds/chunks.py), so each message is
kept and acknowledged as in a small batch.

A worker that dies half-way leaves the batch `processing`; running the task again (the periodic
feed retry does so for batches left unfinished) skips the messages already kept, by their
position in the batch, and goes on with the rest."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from feeds import csv_batch, hl7v2
from feeds.chunks import CHUNK_SIZE
from feeds.codes import CodeBook
from feeds.ingest import lab_account_of
from feeds.models import FeedBatch, FeedBatchStatus, FeedMessage
from monitoring.models import ResultSource
from notifications.outbox import enqueue_on_commit
from patients.models import User

# How often the batch's count of processed messages is written while it runs.
_PROGRESS_EVERY = 100
# A batch still unfinished this long after it started was left by a worker that died.
STALE_AFTER = timedelta(minutes=30)


def feed_batch_accept(*, channel: ResultSource, raw: str, actor: User, size: int) -> FeedBatch:
    """Keep a batch and queue it for a worker."""
    from feeds.tasks import feed_batch_process

    with transaction.atomic():
        batch = FeedBatch.objects.create(channel=channel, raw=raw, received_by=actor, size=size)
        enqueue_on_commit(feed_batch_process, batch.pk)
    return batch


def feed_batch_process(*, batch_id: int) -> FeedBatch:
    """Apply every message of a kept batch not applied yet; safe to run again."""
    with transaction.atomic():
        batch = FeedBatch.objects.select_for_update().get(pk=batch_id)
        if batch.status == FeedBatchStatus.DONE:
            return batch
        batch.status = FeedBatchStatus.PROCESSING
        batch.started_at = timezone.now()
        batch.save(update_fields=["status", "started_at"])
    done = frozenset(p for p in batch.messages.values_list("position", flat=True) if p is not None)
    actor = batch.received_by
    codes = CodeBook.load()
    if batch.channel == ResultSource.CSV:
        header, groups = csv_batch.csv_read(batch.raw)
        csv_batch.csv_apply(
            header=header,
            groups=groups,
            actor=actor,
            codes=codes,
            batch=batch,
            done=done,
            progress=lambda _: _progress(batch),
        )
    else:
        account = lab_account_of(actor)
        left = [
            (position, er7)
            for position, er7 in enumerate(hl7v2.split_messages(batch.raw))
            if position not in done
        ]
        for lo in range(0, len(left), CHUNK_SIZE):
            chunk = left[lo : lo + CHUNK_SIZE]
            hl7v2.hl7_messages_ingest(
                messages=[er7 for _, er7 in chunk],
                positions=[position for position, _ in chunk],
                actor=actor,
                codes=codes,
                account=account,
                batch=batch,
            )
            batch.processed += len(chunk)
            FeedBatch.objects.filter(pk=batch.pk).update(processed=batch.processed)
    batch.processed = batch.messages.count()
    batch.status = FeedBatchStatus.DONE
    batch.finished_at = timezone.now()
    batch.save(update_fields=["processed", "status", "finished_at"])
    return batch


def _progress(batch: FeedBatch) -> None:
    batch.processed += 1
    if batch.processed % _PROGRESS_EVERY == 0:
        FeedBatch.objects.filter(pk=batch.pk).update(processed=batch.processed)


def feed_batches_resume(*, now: Any = None) -> int:
    """Queue again the batches a lost task or a dead worker left unfinished."""
    from feeds.tasks import feed_batch_process

    now = now or timezone.now()
    left = FeedBatch.objects.filter(
        status__in=[FeedBatchStatus.QUEUED, FeedBatchStatus.PROCESSING],
        received_at__lt=now - STALE_AFTER,
    ).values_list("pk", flat=True)
    count = 0
    for pk in left:
        enqueue_on_commit(feed_batch_process, pk)
        count += 1
    return count


def batch_answers(batch: FeedBatch, *, offset: int, limit: int) -> list[dict[str, Any]]:
    """The acknowledgements of a batch's messages, in batch order, as a small batch gives them
    (HL7: one per message; CSV: one per row)."""
    messages = FeedMessage.objects.filter(batch=batch).order_by("position")
    if batch.channel == ResultSource.CSV:
        rows = [row for m in messages.only("results") for row in m.results]
        rows.sort(key=lambda r: r.get("row", 0))
        return rows[offset : offset + limit]
    return [_message_answer(m) for m in messages[offset : offset + limit]]


def _message_answer(message: FeedMessage) -> dict[str, Any]:
    segments = message.ack.split("\r")
    msa = segments[1].split("|") if len(segments) > 1 else []
    text = hl7v2.unescape(msa[3], hl7v2._Separators()) if len(msa) > 3 else message.detail
    return {
        "control_id": message.control_id,
        "message": message.pk,
        "ack_code": message.ack_code,
        "outcome": message.outcome,
        "detail": text,
        "results": message.results,
        "ack": message.ack,
    }


def batch_summary(batch: FeedBatch) -> dict[str, int]:
    """Counts by acknowledgement (HL7) or by row outcome (CSV), as a small batch gives them."""
    messages = FeedMessage.objects.filter(batch=batch)
    if batch.channel == ResultSource.CSV:
        counts: dict[str, int] = {"rows": 0}
        for results in messages.values_list("results", flat=True):
            for row in results:
                counts["rows"] += 1
                counts[row["outcome"]] = counts.get(row["outcome"], 0) + 1
        return counts
    counts = {"messages": 0}
    for code in messages.values_list("ack_code", flat=True):
        counts["messages"] += 1
        counts[code] = counts.get(code, 0) + 1
    return counts
