"""Listen for HL7 v2 ORU^R01 messages over MLLP (over TLS) and answer each with its ACK.

With the CLOZREMS_MLLP_TLS_* settings (or --tls-cert, --tls-key, --tls-ca) the listener speaks
TLS and each sender is the lab account its client certificate is registered for. Without them
it binds loopback only and speaks for the one account named by --user (for an interface engine
on the same host that terminates TLS itself). See feeds/mllp.py.
"""

from __future__ import annotations

import asyncio
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from feeds.mllp import (
    ListenerConfig,
    feed_user,
    listener_check,
    networks,
    serve,
    server_tls_context,
)


class Command(BaseCommand):
    help = "MLLP listener for lab results (HL7 v2 ORU^R01); each message is ACKed AA/AE/AR."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=settings.CLOZREMS_MLLP_HOST)
        parser.add_argument("--port", type=int, default=settings.CLOZREMS_MLLP_PORT)
        parser.add_argument("--tls-cert", default=settings.CLOZREMS_MLLP_TLS_CERT)
        parser.add_argument("--tls-key", default=settings.CLOZREMS_MLLP_TLS_KEY)
        parser.add_argument(
            "--tls-ca",
            default=settings.CLOZREMS_MLLP_TLS_CA,
            help="the CA certificate(s) that issue the labs' client certificates",
        )
        parser.add_argument(
            "--allow",
            default=",".join(settings.CLOZREMS_MLLP_ALLOWED_SENDERS),
            help="sender addresses or networks allowed, comma-separated",
        )
        parser.add_argument(
            "--user",
            default="",
            help="without TLS only: the lab interface account every connection speaks for "
            "(created if missing)",
        )
        parser.add_argument(
            "--idle-timeout", type=float, default=settings.CLOZREMS_MLLP_IDLE_TIMEOUT_SECONDS
        )
        parser.add_argument(
            "--max-frame-bytes", type=int, default=settings.CLOZREMS_MLLP_MAX_FRAME_BYTES
        )
        parser.add_argument(
            "--max-connections", type=int, default=settings.CLOZREMS_MLLP_MAX_CONNECTIONS
        )

    def handle(self, *args: Any, **options: Any) -> None:
        files = [options["tls_cert"], options["tls_key"], options["tls_ca"]]
        try:
            allowed = networks(options["allow"])
        except ValueError as error:
            raise CommandError(f"--allow: {error}") from None
        if any(files):
            if not all(files):
                raise CommandError("TLS needs --tls-cert, --tls-key and --tls-ca together.")
            if options["user"]:
                raise CommandError(
                    "Over TLS each sender is the lab its certificate is registered for; "
                    "--user is for a plain loopback listener only."
                )
            try:
                tls = server_tls_context(certfile=files[0], keyfile=files[1], cafile=files[2])
            except (OSError, ValueError) as error:
                raise CommandError(f"cannot load the TLS files: {error}") from None
            actor = None
        elif options["user"]:
            tls, actor = None, feed_user(options["user"])
        else:
            raise CommandError(
                "Configure TLS (CLOZREMS_MLLP_TLS_CERT, _KEY and _CA), or name --user for a "
                "plain listener on a loopback address."
            )
        config = ListenerConfig(
            allowed=allowed,
            tls=tls,
            actor=actor,
            idle_timeout=options["idle_timeout"],
            max_frame_bytes=options["max_frame_bytes"],
            max_connections=options["max_connections"],
        )
        host, port = options["host"], options["port"]
        try:
            listener_check(host=host, config=config)
        except ValueError as error:
            raise CommandError(str(error)) from None

        def started(bound: int) -> None:
            who = f"as {actor.username}" if actor is not None else "over TLS"
            self.stdout.write(f"MLLP listening on {host}:{bound} {who}", ending="\n")
            self.stdout.flush()

        try:
            asyncio.run(serve(host=host, port=port, config=config, started=started))
        except KeyboardInterrupt:
            self.stdout.write("stopped")
