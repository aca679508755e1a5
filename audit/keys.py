"""The audit key ring: the key that seals new entries and checkpoints, and the older keys kept
to verify what they sealed. Keys come from the environment (settings.CLOZREMS_AUDIT_KEY and
CLOZREMS_AUDIT_OLD_KEYS), never from the database, so whoever can write the database but not
read the application's environment cannot forge a seal (docs/audit.md).

Each key is named by a `key_id`: the first 16 hex digits of an HMAC of a fixed label under the
key. It identifies the key without revealing it, so an entry records which key sealed it and
verification picks the right one after a rotation.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass

_KEY_ID_LABEL = b"clozrems audit key id"


def key_id_of(secret: bytes) -> str:
    return hmac.new(secret, _KEY_ID_LABEL, hashlib.sha256).hexdigest()[:16]


@dataclass(frozen=True)
class AuditKey:
    key_id: str
    secret: bytes = b""

    def mac(self, message: str) -> str:
        return hmac.new(self.secret, message.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Keyring:
    current: AuditKey
    by_id: Mapping[str, AuditKey]

    def get(self, key_id: str) -> AuditKey | None:
        return self.by_id.get(key_id)


def _key(text: str) -> AuditKey:
    secret = text.encode()
    return AuditKey(key_id=key_id_of(secret), secret=secret)


def keyring(current: str | None = None, old: list[str] | None = None) -> Keyring:
    """The deployment's ring (from settings), or one built from the given keys."""
    if current is None:
        from django.conf import settings

        current = settings.CLOZREMS_AUDIT_KEY
        old = list(settings.CLOZREMS_AUDIT_OLD_KEYS)
    keys = [_key(current), *(_key(text) for text in old or [])]
    return Keyring(current=keys[0], by_id={k.key_id: k for k in reversed(keys)})
