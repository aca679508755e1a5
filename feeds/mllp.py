"""An MLLP listener (HL7 v2 over TCP, and over TLS): each framed block is applied through the
same path as `POST /api/v1/feeds/hl7/` and answered with its ACK in a block of its own.

Who may send, and as whom:
- Only addresses on the allowlist (`CLOZREMS_MLLP_ALLOWED_SENDERS`, loopback by default) are
  served; any other connection is closed before a message is read (over TLS, right after the
  handshake, which is bounded by `handshake_timeout`).
- Over TLS (the normal case), the sender must present a client certificate that the listener's
  CA issued and that an administrator registered for a lab account (`LabCertificate`, by its
  SHA-256 fingerprint or subject). The results are recorded as that account's user, under that
  account's lab, whatever MSH-4 says. No certificate, an unknown one, one of an inactive user or
  from outside the account's own `allowed_networks`: the connection is closed, nothing is read.
- Without TLS the listener only binds a loopback address, and every connection speaks for the
  one account it was started as (`--user`): for an interface engine on the same host that
  terminates TLS itself.

Framing is <VT> message <FS><CR>. A frame longer than `max_frame_bytes` is refused: what was
received (up to that size) is kept as a rejected message, answered AR, and the connection is
closed. A connection idle for `idle_timeout` seconds (no frame completed, or an ACK not read) is
closed. Each connection has its own worker thread for the database work, so one sender's
slow or huge message never holds up another's; on one connection, messages are applied in
arrival order, so a result and then its correction are applied in that order. A sender that
waits for each ACK has each message applied on its own, and its ACK sent once its result is
committed; the frames a sender has sent without waiting (already received, up to a chunk's
worth) are applied together as one chunk (feeds/chunks.py), and their ACKs sent, in
order, once the chunk is committed.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import logging
import ssl
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from django.db import close_old_connections, connections

from feeds.chunks import CHUNK_SIZE
from feeds.hl7v2 import (
    Acknowledged,
    ack_build,
    hl7_ingest,
    hl7_messages_ingest,
    split_messages,
)
from feeds.ingest import MessageOutcome, message_keep_refused
from feeds.models import LabAccount, LabCertificate
from monitoring.models import ResultSource
from patients.models import Role, User

logger = logging.getLogger(__name__)

START, END = b"\x0b", b"\x1c\r"
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def networks(text: str | Iterable[str]) -> tuple[Network, ...]:
    """Addresses or CIDR networks, from a comma- or space-separated text or a list."""
    items = text.replace(",", " ").split() if isinstance(text, str) else list(text)
    return tuple(ipaddress.ip_network(item.strip(), strict=False) for item in items if item)


@dataclass(frozen=True)
class ListenerConfig:
    """How the listener serves. `tls` None: plain TCP, loopback only, as `account`'s user."""

    allowed: tuple[Network, ...]
    tls: ssl.SSLContext | None = None
    actor: User | None = None  # the plain listener's one sender
    idle_timeout: float = 60.0
    handshake_timeout: float = 10.0
    max_frame_bytes: int = 1_000_000
    max_connections: int = 32
    ingest: Callable[..., list[Acknowledged]] = field(default=hl7_ingest)


def server_tls_context(*, certfile: str, keyfile: str, cafile: str) -> ssl.SSLContext:
    """TLS 1.2+ with the listener's certificate, requiring a client certificate from `cafile`."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_cert_chain(certfile, keyfile)
    context.load_verify_locations(cafile=cafile)
    return context


def feed_user(username: str) -> User:
    """The lab interface account a plain (loopback) listener records results as (created on
    first use)."""
    user, created = User.objects.get_or_create(username=username, defaults={"role": Role.LAB})
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user


def certificate_fingerprint(der: bytes) -> str:
    """The SHA-256 fingerprint of a DER certificate, as LabCertificate stores it (hex)."""
    return hashlib.sha256(der).hexdigest()


def certificate_subject(peer: dict[str, Any] | None) -> str:
    """A certificate's subject as `CN=...,O=...` (in certificate order), from getpeercert()."""
    short = {
        "commonName": "CN",
        "organizationName": "O",
        "organizationalUnitName": "OU",
        "countryName": "C",
        "localityName": "L",
        "stateOrProvinceName": "ST",
        "emailAddress": "emailAddress",
    }
    parts = []
    for rdn in (peer or {}).get("subject", ()):
        for name, value in rdn:
            parts.append(f"{short.get(name, name)}={value}")
    return ",".join(parts)


def account_for_certificate(*, der: bytes, peer: dict[str, Any] | None) -> LabAccount | None:
    """The lab account a verified client certificate was registered for, if any (and its user
    is an active lab user)."""
    close_old_connections()
    fingerprint = certificate_fingerprint(der)
    subject = certificate_subject(peer)
    found = (
        LabCertificate.objects.select_related("account__user")
        .filter(active=True, fingerprint_sha256=fingerprint)
        .first()
    )
    if found is None and subject:
        found = (
            LabCertificate.objects.select_related("account__user")
            .filter(active=True, subject=subject, fingerprint_sha256="")
            .first()
        )
    if found is None:
        return None
    user = found.account.user
    if not user.is_active or user.role != Role.LAB:
        return None
    return found.account


def _allowed(address: str, allowed: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in network for network in allowed)


class _Connection:
    """One sender's connection: its identity, its own worker thread, its frames."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        config: ListenerConfig,
    ) -> None:
        self.reader, self.writer, self.config = reader, writer, config
        peer = writer.get_extra_info("peername") or ("?", 0)
        self.address = str(peer[0])
        self.worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mllp")
        self.loop = asyncio.get_running_loop()

    async def db(self, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await self.loop.run_in_executor(self.worker, lambda: call(*args, **kwargs))

    async def serve(self) -> None:
        try:
            actor = await self.identify()
            if actor is not None:
                await self.frames(*actor)
        except (ConnectionError, ssl.SSLError, OSError) as error:
            logger.info("MLLP: connection from %s ended: %s", self.address, error)
        finally:
            self.writer.close()
            try:
                await self.db(connections.close_all)
            finally:
                # The thread is idle by now: joining it leaves no thread behind the connection.
                self.worker.shutdown(wait=True)

    async def identify(self) -> tuple[User, LabAccount | None] | None:
        """(the user results are recorded as, the lab account), or None: refused."""
        config = self.config
        if not _allowed(self.address, config.allowed):
            logger.warning("MLLP: %s is not an allowed sender; refused", self.address)
            return None
        if config.tls is None:
            if config.actor is None:  # serve() refuses to start so; never served unnamed
                return None
            account = await self.db(_account_of, config.actor)
            return config.actor, account
        # The handshake (a client certificate of the listener's CA required) is done by now.
        secure = self.writer.get_extra_info("ssl_object")
        der = secure.getpeercert(binary_form=True) if secure is not None else None
        if not der:
            logger.warning("MLLP: %s sent no client certificate; refused", self.address)
            return None
        account = await self.db(account_for_certificate, der=der, peer=secure.getpeercert())
        if account is None:
            logger.warning(
                "MLLP: %s presented certificate %s, registered for no lab; refused",
                self.address,
                certificate_fingerprint(der),
            )
            return None
        if account.allowed_networks.strip() and not _allowed(
            self.address, networks(account.allowed_networks)
        ):
            logger.warning("MLLP: %s is not among %s's networks; refused", self.address, account)
            return None
        return account.user, account

    async def frames(self, actor: User, account: LabAccount | None) -> None:
        config = self.config
        while True:
            try:
                block = await asyncio.wait_for(
                    self.reader.readuntil(END), timeout=config.idle_timeout
                )
            except TimeoutError:
                logger.info("MLLP: %s idle for %ss; closed", self.address, config.idle_timeout)
                return
            except asyncio.IncompleteReadError as error:
                if error.partial.strip():
                    await self.db(self.keep_cut, error.partial, actor)
                return  # the sender closed the connection
            except asyncio.LimitOverrunError as error:
                await self.refuse_oversized(error.consumed, actor)
                return
            texts = [self.text_of(block)]
            while len(texts) < CHUNK_SIZE and self.frame_waiting():
                # Already received whole: it does not wait for data, nor overruns the limit.
                texts.append(self.text_of(await self.reader.readuntil(END)))
            answers = await self.db(_ingest, config.ingest, texts, actor, account)
            for answer in answers:
                self.writer.write(START + answer.ack.encode() + END)
            await asyncio.wait_for(self.writer.drain(), timeout=config.idle_timeout)

    def text_of(self, block: bytes) -> str:
        start = block.find(START)
        if start > 0:
            logger.warning("MLLP: %d byte(s) before a frame from %s", start, self.address)
        return block[start + 1 if start >= 0 else 0 : -len(END)].decode("utf-8", errors="replace")

    def frame_waiting(self) -> bool:
        """Whether another whole frame, within the size limit, is already received. (Read from
        the stream's buffer; a stream without one is read a frame at a time.)"""
        buffered = getattr(self.reader, "_buffer", None)
        if not isinstance(buffered, bytearray):
            return False
        end = buffered.find(END)
        return 0 <= end < self.config.max_frame_bytes

    async def refuse_oversized(self, received: int, actor: User) -> None:
        """Keep what was received of a frame over the limit, answer AR, close."""
        limit = self.config.max_frame_bytes
        kept = await self.reader.read(limit)
        detail = (
            f"refused: the frame is larger than {limit} bytes (at least {max(received, len(kept))}"
            f" received); the connection is closed; its first {len(kept)} bytes are kept"
        )
        ack = await self.db(self.keep_refused, kept, actor, detail)
        self.writer.write(START + ack.encode() + END)
        await asyncio.wait_for(self.writer.drain(), timeout=self.config.idle_timeout)
        logger.warning("MLLP: %s sent a frame over %s bytes; closed", self.address, limit)

    def keep_refused(self, received: bytes, actor: User, detail: str) -> str:
        close_old_connections()
        text = received.lstrip(START).decode("utf-8", errors="replace")
        kept = message_keep_refused(channel=ResultSource.HL7, raw=text, actor=actor, detail=detail)
        first = text.split("\r", 1)[0]
        kept.control_id = (first.split("|")[9] if first.count("|") >= 9 else "")[:100]
        kept.save(update_fields=["control_id"])
        return ack_build(text, MessageOutcome(kept, []))

    def keep_cut(self, received: bytes, actor: User) -> None:
        """A frame the sender never finished: kept as received, refused."""
        close_old_connections()
        text = received.lstrip(START).decode("utf-8", errors="replace")
        message_keep_refused(
            channel=ResultSource.HL7,
            raw=text,
            actor=actor,
            detail="refused: the connection closed before the frame ended",
        )


def _account_of(user: User) -> LabAccount | None:
    close_old_connections()
    return LabAccount.objects.filter(user=user).first()


def _ingest(
    ingest: Callable[..., list[Acknowledged]],
    texts: list[str],
    actor: User,
    account: LabAccount | None,
) -> list[Acknowledged]:
    """The frames' messages applied and acknowledged in order: one frame as `ingest` applies
    it; several (by the default `hl7_ingest`) as one chunk of all their messages."""
    close_old_connections()  # a long-lived listener must not hold a dead connection
    if len(texts) > 1 and ingest is hl7_ingest:
        messages = [m for text in texts for m in split_messages(text)]
        return hl7_messages_ingest(messages=messages, actor=actor, account=account)
    return [answer for text in texts for answer in ingest(text=text, actor=actor, account=account)]


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def listener_check(*, host: str, config: ListenerConfig) -> None:
    """ValueError when the listener would serve unauthenticated senders off this host."""
    if config.tls is None:
        if config.actor is None:
            raise ValueError("a listener without TLS needs the lab account it speaks for")
        if not _loopback(host):
            raise ValueError("without TLS the listener binds a loopback address only")


async def serve(
    *,
    host: str,
    port: int,
    config: ListenerConfig,
    started: Callable[[int], None] | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Listen until `stop` is set (or forever); `started` gets the bound port."""
    listener_check(host=host, config=config)
    slots = asyncio.Semaphore(config.max_connections)
    open_connections: set[asyncio.Task[Any]] = set()

    async def connected(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if slots.locked():
            logger.warning("MLLP: %s connections open; one more refused", config.max_connections)
            writer.close()
            return
        task = asyncio.current_task()
        if task is not None:
            open_connections.add(task)
        try:
            async with slots:
                await _Connection(reader, writer, config).serve()
        finally:
            if task is not None:
                open_connections.discard(task)

    server = await asyncio.start_server(
        connected,
        host=host,
        port=port,
        limit=config.max_frame_bytes,
        ssl=config.tls,
        ssl_handshake_timeout=config.handshake_timeout if config.tls else None,
    )
    bound = server.sockets[0].getsockname()[1]
    logger.info("MLLP listening on %s:%s (%s)", host, bound, "TLS" if config.tls else "plain")
    if started is not None:
        started(bound)
    async with server:
        try:
            if stop is None:
                await server.serve_forever()
            else:
                await stop.wait()
        finally:
            # Connections still open end with the listener (each closes its own database
            # connection on the way out).
            for task in list(open_connections):
                task.cancel()
            await asyncio.gather(*open_connections, return_exceptions=True)
