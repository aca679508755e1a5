"""The protocol engine: pure functions from a patient's history to its monitoring picture.

`replay` turns a history into a Snapshot; `assess` projects a Snapshot to an instant and decides a
supply; `evaluate` does both. Protocols live in `protocols/`.
"""

from engine.core import (
    Refusal,
    assess,
    authorization_refusal,
    enrollment_refusal,
    evaluate,
    replay,
    snapshot_for,
    step_down_refusal,
    treatment_event_refusal,
)
from engine.protocols import get_protocol, protocol_names

__all__ = [
    "Refusal",
    "assess",
    "authorization_refusal",
    "enrollment_refusal",
    "evaluate",
    "get_protocol",
    "protocol_names",
    "replay",
    "snapshot_for",
    "step_down_refusal",
    "treatment_event_refusal",
]
