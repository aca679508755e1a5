"""The checkpoint file: a second, append-only copy of every signed checkpoint, outside the
database (settings.CLOZREMS_AUDIT_CHECKPOINT_FILE; off when empty).

Someone who can write the database can delete the newest entries together with the newest
checkpoint rows, or TRUNCATE both tables; a copy the database's users cannot reach still says
how far the chain went and what its head was. One JSON object a line, appended with O_APPEND and
fsynced after the sealer's transaction commits, so the file never names a head that was rolled
back. Put it where the database's administrators cannot rewrite it (another host, a volume
mounted append-only with `chattr +a`, a log shipper to write-once storage): docs/audit.md.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings


@dataclass(frozen=True)
class FileCheckpoint:
    line: int
    fields: dict[str, Any] | None  # None: the line is not a JSON object
    text: str


def checkpoint_file() -> Path | None:
    name = settings.CLOZREMS_AUDIT_CHECKPOINT_FILE
    return Path(name) if name else None


def checkpoint_file_append(record: dict[str, Any], path: Path | None = None) -> None:
    path = path or checkpoint_file()
    if path is None:
        return
    line = (json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n").encode()
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        # One write() of one short line: appended whole even if two processes write at once.
        os.write(descriptor, line)
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def checkpoint_file_read(path: Path | None = None) -> Iterator[FileCheckpoint]:
    path = path or checkpoint_file()
    if path is None or not path.exists():
        return
    with path.open(encoding="utf-8", errors="replace") as lines:
        for number, text in enumerate(lines, start=1):
            if not text.strip():
                continue
            try:
                fields = json.loads(text)
            except ValueError:
                fields = None
            yield FileCheckpoint(number, fields if isinstance(fields, dict) else None, text)
