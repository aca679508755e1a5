"""An MLLP listener (HL7 v2 over TCP): each framed block is applied through the same path as
`POST /api/v1/feeds/hl7/` and answered with its ACK in a block of its own.

Framing is python-hl7's (`hl7.mllp`): <VT> message <FS><CR>. The database work runs in a worker
thread (`sync_to_async`), one message at a time per connection, in arrival order, so a lab
that sends a result and then its correction on one connection gets them applied in that order.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from asgiref.sync import sync_to_async
from django.db import close_old_connections, connections
from hl7.mllp import InvalidBlockError, start_hl7_server

from monitoring.feeds.hl7v2 import Acknowledged, hl7_ingest
from patients.models import Role, User

logger = logging.getLogger(__name__)
# The largest message read (bytes); a larger block is refused, the connection closed.
MAX_MESSAGE_BYTES = 1_000_000


def feed_user(username: str) -> User:
    """The lab interface account the listener records results as (created on first use)."""
    user, created = User.objects.get_or_create(username=username, defaults={"role": Role.LAB})
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user


def _ingest(text: str, actor: User) -> list[Acknowledged]:
    close_old_connections()  # a long-lived listener must not hold a dead connection
    try:
        return hl7_ingest(text=text, actor=actor)
    finally:
        close_old_connections()


async def _connection(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, actor: User
) -> None:
    peer = writer.get_extra_info("peername")
    ingest = sync_to_async(_ingest, thread_sensitive=True)
    try:
        while True:
            try:
                block = await reader.readblock()  # type: ignore[attr-defined]
            except asyncio.IncompleteReadError:
                break  # the sender closed the connection
            except InvalidBlockError:
                logger.warning("MLLP: a block from %s lacked the start byte; skipped", peer)
                continue
            except ValueError:
                logger.warning("MLLP: a block from %s was over the size limit; closing", peer)
                break
            text = block.decode("utf-8", errors="replace")
            for answer in await ingest(text, actor):
                writer.writeblock(answer.ack.encode())  # type: ignore[attr-defined]
            await writer.drain()
    finally:
        writer.close()


async def serve(
    *,
    host: str,
    port: int,
    actor: User,
    started: Callable[[int], None] | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Listen until `stop` is set (or forever); `started` gets the bound port."""
    server = await start_hl7_server(
        lambda r, w: _connection(r, w, actor), host=host, port=port, limit=MAX_MESSAGE_BYTES
    )
    bound = server.sockets[0].getsockname()[1]
    logger.info("MLLP listening on %s:%s", host, bound)
    if started is not None:
        started(bound)
    try:
        async with server:
            if stop is None:
                await server.serve_forever()
            else:
                await stop.wait()
    finally:
        # The worker thread's database connection goes with the listener.
        await sync_to_async(connections.close_all, thread_sensitive=True)()
