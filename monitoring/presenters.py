"""The engine's answers as the API shows them (docs/api.md: the decision's fields)."""

from __future__ import annotations

from typing import Any

from engine.protocols import get_protocol
from engine.types import Assessment, AuthorizationRecord, BloodCount, LatestCount


def _latest(latest: LatestCount | None) -> dict[str, Any] | None:
    if latest is None:
        return None
    return {
        "id": latest.result_id,
        "value_per_ul": latest.value_per_ul,
        "drawn_at": latest.drawn_at.isoformat(),
    }


def result_inputs(latest: BloodCount | LatestCount | None) -> dict[str, Any] | None:
    """The result a decision or an act judged, as an audit entry's inputs name it: id, value
    and draw time (None: no result)."""
    if latest is None:
        return None
    return {
        "id": latest.result_id,
        "value_per_ul": latest.value_per_ul,
        "drawn_at": latest.drawn_at,
    }


def _latest_wbc(latest: LatestCount | None, protocol: str) -> dict[str, Any] | None:
    if latest is None or latest.wbc_per_ul is None or "wbc" not in get_protocol(protocol).analytes:
        return None
    return {"value_per_ul": latest.wbc_per_ul, "drawn_at": latest.drawn_at.isoformat()}


def _authorization(
    a: AuthorizationRecord | None, applying: tuple[int, ...] = ()
) -> dict[str, Any] | None:
    if a is None:
        return None
    return {
        "id": a.authorization_id,
        "kind": a.kind.value,
        "starts_on": a.starts_on.isoformat(),
        "expires_on": a.expires_on.isoformat(),
        # In force by its dates; `applies` says whether it answers the patient's state now (an
        # authorization answers the episode it was written for, docs/rules.md §9.5).
        "applies": a.authorization_id in applying,
    }


def _day(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def monitoring_payload(patient_id: int, assessment: Assessment) -> dict[str, Any]:
    """A decision's fields minus `decision` and `max_days_supply` (docs/api.md, the patient's
    `monitoring`)."""
    a = assessment
    return {
        "patient": str(patient_id),
        "reasons": [item.as_dict() for item in a.reasons],
        "as_of": a.as_of.isoformat(),
        "protocol": a.protocol,
        "protocol_version": a.protocol_version,
        "population": a.population.value,
        "band": a.band.value if a.band else None,
        "monitoring_frequency": a.monitoring_frequency.value if a.monitoring_frequency else None,
        "latest_anc": _latest(a.latest_anc),
        # the WBC of the latest result set (uk-cpms), else null
        "latest_wbc": _latest_wbc(a.latest_anc, a.protocol),
        "next_draw_due": _day(a.next_draw_due),
        "current_until": _day(a.current_until),
        "confirmation_due": _day(a.confirmation_due),
        "hematology_consult": a.hematology_consult,
        "authorization": _authorization(a.authorization, a.applying),
        "authorizations": [_authorization(x, a.applying) for x in a.authorizations],
        "enrollment_status": a.enrollment_status.value,
        "treatment_status": a.treatment_status.value,
        "clock_started_on": _day(a.clock_started_on),
        "interrupted_since": _day(a.interrupted_since),
        "lapse_on": _day(a.lapse_on),
        "rechallenge_required": a.needs_rechallenge,
        "ben_baseline_per_ul": int(a.baseline_per_ul) if a.baseline_per_ul is not None else None,
        "ben_baseline_count": a.baseline_count,
        "supply_until": _day(a.supply_until),
        # a longer interval waiting for the prescriber's confirmation, and the band
        # limits in force when a haematologist agreed per-patient ones
        "step_down_offered": a.step_down_offered.value if a.step_down_offered else None,
        "limits": dict(a.limits) if a.limits is not None else None,
        # Information that never blocks (docs/api.md), and the recorded acts that results filed
        # later conflict with, for the prescriber to review (docs/rules.md §9.1).
        "warnings": [item.as_dict() for item in a.warnings],
        "review_needed": [item.as_dict() for item in a.review_needed],
    }


def decision_payload(
    patient_id: int, assessment: Assessment, *, pharmacy_id: int | None = None
) -> dict[str, Any]:
    """The dispensing decision exactly as docs/api.md shows it, plus a few added fields."""
    body: dict[str, Any] = {
        "patient": str(patient_id),
        "pharmacy": pharmacy_id,
        "decision": assessment.decision.value,
        "max_days_supply": assessment.max_days_supply,
    }
    body.update(monitoring_payload(patient_id, assessment))
    return body
