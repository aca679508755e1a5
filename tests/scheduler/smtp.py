"""A real SMTP server for the tests (aiosmtpd, on a loopback port in a thread of the test
process) that records every message it accepts: Message-ID, recipients, subject and body.

`delay` makes it a slow server (each message is answered that many seconds after its data
arrived); `hold` makes it keep the answer to the next message until `release()` (the message
is already recorded: the server has taken it, the client has not heard so yet)."""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import threading
from dataclasses import dataclass, field
from typing import Any

from aiosmtpd.controller import Controller


@dataclass
class Received:
    message_id: str
    to: list[str]
    subject: str
    body: str


@dataclass
class Recorder:
    delay: float = 0.0
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    hold_next: bool = False
    holding: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        parsed: Any = email.message_from_bytes(
            envelope.original_content, policy=email.policy.default
        )
        body = parsed.get_content() if not parsed.is_multipart() else ""
        with self.lock:
            self.received.append(
                Received(
                    parsed.get("Message-ID", ""),
                    list(envelope.rcpt_tos),
                    str(parsed.get("Subject", "")),
                    body,
                )
            )
            hold, self.hold_next = self.hold_next, False
        if hold:
            self.holding.set()
            while not self.released.is_set():
                await asyncio.sleep(0.05)
        if self.delay:
            await asyncio.sleep(self.delay)
        return "250 OK"

    def messages(self) -> list[Received]:
        with self.lock:
            return list(self.received)

    def release(self) -> None:
        self.released.set()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class SmtpServer:
    def __init__(self, *, delay: float = 0.0) -> None:
        self.recorder = Recorder(delay=delay)
        self.port = free_port()
        self.controller = Controller(self.recorder, hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> SmtpServer:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.recorder.release()
        self.controller.stop()

    @property
    def env(self) -> dict[str, str]:
        """What a worker process needs to send here."""
        return {
            "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": str(self.port),
            "EMAIL_USE_TLS": "0",
        }

    def messages(self) -> list[Received]:
        return self.recorder.messages()
