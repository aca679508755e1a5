"""What the trail needs of a refusal, so that it can record one without knowing the domain.

A refused request (HTTP 422, or 403 with a code) rolls back and is then written to the trail
alone (`audit.services.audit_refusals`, docs/audit.md). The trail is a leaf: it knows no domain
app and not the engine, so it cannot name the domain's exception. It catches `AuditedRefusal`
instead, which the domain's refusal (`RuleRefused`, rendered by the API) extends, and writes
what the refusal says of itself. This module imports nothing of Django, so the project's error
plumbing can extend it at any time.
"""

from __future__ import annotations

from typing import Any


class AuditedRefusal(Exception):
    """A refusal that `audit_refusals` writes to the trail, after the rollback, and re-raises."""

    # The blocked dispensing decision, when the refusal is one: its entry is `blocked`, any
    # other refusal's `refused`.
    decision: dict[str, object] | None = None

    def audit_output(self) -> dict[str, Any]:
        """The entry's output: what was refused and why, as the trail keeps it."""
        raise NotImplementedError
