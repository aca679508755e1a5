"""Domain errors that services raise and the API renders (docs/api.md: 409 and 422)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.conf import settings

from audit.refusals import AuditedRefusal
from engine.types import Reason
from engine.wording import reason_message


class RuleRefused(AuditedRefusal):
    """A well-formed request the rules refuse: HTTP 422 with every reason. Inside
    `audit.services.audit_refusals` it is written to the trail after the rollback."""

    def __init__(
        self,
        code: str,
        message: str,
        reasons: Iterable[Reason] = (),
        *,
        field: str = "",
        protocol: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reasons = tuple(reasons)
        # The patient's protocol, whose words the reasons are given in (the default protocol's
        # when the refusal concerns no patient).
        self.protocol = protocol
        # The request field the refusal is about, when there is one (shown as "field").
        self.field = field
        self.decision: dict[str, object] | None = None

    def reason_text(self, reason: Reason) -> str:
        return reason_message(reason, self.protocol or settings.CLOZREMS_DEFAULT_PROTOCOL)

    def with_decision(self, decision: dict[str, object]) -> RuleRefused:
        """Attach the blocked decision, so a refused dispense says what would be allowed."""
        self.decision = decision
        return self

    def audit_output(self) -> dict[str, Any]:
        """The refusal as the trail keeps it (docs/audit.md): the code, the message, the
        reasons' codes (not their sentences) and the blocked decision, if any."""
        body: dict[str, Any] = {
            "code": self.code,
            "message": self.message,
            "reasons": [r.value for r in self.reasons],
        }
        if self.decision is not None:
            body["decision"] = self.decision
        return body

    def as_dict(self) -> dict[str, object]:
        body: dict[str, object] = {
            "code": self.code,
            "message": self.message,
            "reasons": [{"code": r.value, "message": self.reason_text(r)} for r in self.reasons],
        }
        if self.field:
            body["field"] = self.field
        if self.decision is not None:
            body["decision"] = self.decision
        return body


class NotPermitted(RuleRefused):
    """The caller's role, or its relation to the record, does not allow this action on it
    (who may void which result): HTTP 403 with a code. Audited as a refusal, as a 422 is."""


class StateConflict(Exception):
    """A state change that conflicts with the record's current state: HTTP 409."""

    def __init__(self, message: str, code: str = "conflict") -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class FieldInvalid(Exception):
    """Bad input found by a service (not by a serializer): HTTP 400 naming the field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message
