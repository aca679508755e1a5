"""The broker's transport options, by the broker's URL scheme (no Django imports: the settings
module uses it, and so does anything that points Celery at another broker at run time).

Publishing from a web request gives up within about a second when the broker is away
(clozrems/queue.py logs it; the periodic catch-up does the work), instead of holding the
request. Every read and write on the broker's socket is bounded too: a broker that accepts the
connection and never answers (hung) costs a request a few seconds, never a minute.
"""

from __future__ import annotations

# Connecting and each read or write on the broker's socket, in seconds.
SOCKET_SECONDS = 2


def transport_options(url: str) -> dict[str, object]:
    """Retry and socket bounds for the broker at `url` (redis://, rediss:// or amqp://)."""
    options: dict[str, object] = {
        "max_retries": 2,
        "interval_start": 0,
        "interval_step": 0.2,
        "interval_max": 0.5,
    }
    if url.startswith("redis"):
        options.update(socket_connect_timeout=SOCKET_SECONDS, socket_timeout=SOCKET_SECONDS)
    else:
        # py-amqp: bounded connect, reads and writes.
        options.update(
            connect_timeout=SOCKET_SECONDS,
            read_timeout=SOCKET_SECONDS,
            write_timeout=SOCKET_SECONDS,
        )
    return options
