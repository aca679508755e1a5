"""A kept message whose processing failed is processed again, never dropped."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from clozrems.errors import FieldInvalid
from feeds import csv_batch, fhir_r4, hl7v2
from feeds.codes import CodeBook
from feeds.ingest import LabReport, Unreadable, feed_message_process
from feeds.models import FeedMessage, FeedMessageOutcome
from monitoring.models import ResultSource


def _csv_parse(raw: str) -> tuple[str, str, list[LabReport]]:
    try:
        header = csv_batch.csv_header(raw)
    except FieldInvalid as error:
        raise Unreadable(error.message) from None
    rows = [row for group in csv_batch._groups(raw, header) for row in group]
    if not rows:
        raise Unreadable("the kept CSV holds no rows")
    report = csv_batch._report(rows)
    return "", report.lab, [report]


_PARSERS: dict[str, Callable[[str], tuple[str, str, list[LabReport]]]] = {
    ResultSource.HL7: hl7v2.message_parse,
    ResultSource.CSV: _csv_parse,
    ResultSource.FHIR: fhir_r4.fhir_parse,
}


def message_retry(*, message: FeedMessage, codes: CodeBook | None = None) -> hl7v2.Acknowledged:
    """Process a failed message again in its channel; the row keeps its id and counts tries."""
    message.attempts += 1
    parse = _PARSERS[message.channel]
    outcome = feed_message_process(
        channel=ResultSource(message.channel),
        raw=message.raw,
        actor=message.received_by,
        parse=lambda: parse(message.raw),
        codes=codes,
        message=message,
        acknowledge=lambda done: hl7v2.ack_build(message.raw, done),
    )
    return hl7v2.Acknowledged(message.raw, outcome, outcome.message.ack)


# A message that has failed this often stays failed (and listed) for an administrator to look
# at, rather than being retried forever.
MAX_ATTEMPTS = 50
STUCK_AFTER = timedelta(minutes=10)


def messages_retry_failed(*, limit: int = 500) -> int:
    """Retry the failed messages, oldest first; the number that no longer fail."""
    codes = CodeBook.load()
    fixed = 0
    # A message still `received` long after it came was being processed when its process died.
    stuck = timezone.now() - STUCK_AFTER
    failed = FeedMessage.objects.filter(
        Q(outcome=FeedMessageOutcome.FAILED)
        | Q(outcome=FeedMessageOutcome.RECEIVED, received_at__lt=stuck),
        attempts__lt=MAX_ATTEMPTS,
    ).order_by("id")[:limit]
    for message in failed:
        answer = message_retry(message=message, codes=codes)
        fixed += answer.outcome.message.outcome != FeedMessageOutcome.FAILED
    return fixed
