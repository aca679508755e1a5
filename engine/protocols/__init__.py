"""The registry of protocols. A new protocol is a new module here and one line below."""

from __future__ import annotations

from types import ModuleType
from typing import cast

from engine.protocols import uk_cpms, us_label_2015
from engine.protocols.base import ProtocolRules

_REGISTRY: dict[str, ModuleType] = {m.name: m for m in (us_label_2015, uk_cpms)}


class UnknownProtocol(LookupError):
    pass


def get_protocol(name: str) -> ProtocolRules:
    try:
        return cast(ProtocolRules, _REGISTRY[name])
    except KeyError:
        raise UnknownProtocol(name) from None


def protocol_names() -> list[str]:
    return sorted(_REGISTRY)
