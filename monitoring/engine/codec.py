"""Snapshots to and from JSON, for the stored monitoring state."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from monitoring.engine.types import (
    AuthorizationKind,
    AuthorizationRecord,
    Band,
    EnrollmentStatus,
    Episode,
    Frequency,
    LatestAnc,
    LimitOverrideRecord,
    Population,
    Snapshot,
    TreatmentStatus,
    as_jsonable,
)

SNAPSHOT_FORMAT = 1


# Keys added for later protocols (uk-cpms), left out at their defaults: a us-label-2015 snapshot
# encodes exactly as before they existed, so stored states stay equal to a rebuild's.
_OPTIONAL_TOP: dict[str, Any] = {
    "confirmed_routine": None,
    "confirmed_for_clock": None,
    "limit_overrides": [],
}


def snapshot_to_json(snapshot: Snapshot) -> dict[str, Any]:
    data: dict[str, Any] = as_jsonable(snapshot)
    for key, default in _OPTIONAL_TOP.items():
        if data.get(key) == default:
            del data[key]
    if data["latest"] is not None and data["latest"].get("wbc_per_ul") is None:
        del data["latest"]["wbc_per_ul"]
    if data["episode"] is not None and not data["episode"].get("recovering"):
        del data["episode"]["recovering"]
    data["format"] = SNAPSHOT_FORMAT
    return data


def _d(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _req_dt(value: str) -> datetime:
    return datetime.fromisoformat(value)


def snapshot_from_json(data: dict[str, Any]) -> Snapshot:
    if data.get("format") != SNAPSHOT_FORMAT:
        raise ValueError(f"unknown snapshot format {data.get('format')!r}")
    latest = data["latest"]
    episode = data["episode"]
    return Snapshot(
        protocol=data["protocol"],
        population=Population(data["population"]),
        high_water=_dt(data["high_water"]),
        enrollment_status=EnrollmentStatus(data["enrollment_status"]),
        enrolled_on=_d(data["enrolled_on"]),
        treatment_status=TreatmentStatus(data["treatment_status"]),
        clock_started_on=_d(data["clock_started_on"]),
        first_dose_on=_d(data["first_dose_on"]),
        interrupted_by_prescriber_on=_d(data["interrupted_by_prescriber_on"]),
        interrupted_by_neutropenia_on=_d(data["interrupted_by_neutropenia_on"]),
        lapsed_on=_d(data["lapsed_on"]),
        has_dispenses=bool(data["has_dispenses"]),
        supply_until=_d(data["supply_until"]),
        latest=None
        if latest is None
        else LatestAnc(
            result_id=latest["result_id"],
            value_per_ul=latest["value_per_ul"],
            drawn_at=_req_dt(latest["drawn_at"]),
            drawn_on=date.fromisoformat(latest["drawn_on"]),
            wbc_per_ul=latest.get("wbc_per_ul"),
        ),
        baseline_sum=data["baseline_sum"],
        baseline_count=data["baseline_count"],
        episode=None
        if episode is None
        else Episode(
            worst=Band(episode["worst"]),
            opened_at=_req_dt(episode["opened_at"]),
            confirmation_deadline=_req_dt(episode["confirmation_deadline"]),
            confirmation_pending=episode["confirmation_pending"],
            caused_interruption=episode["caused_interruption"],
            rechallenge_flag_before=episode["rechallenge_flag_before"],
            recovering=episode.get("recovering", 0),
        ),
        weekly_until=_d(data["weekly_until"]),
        needs_rechallenge=data["needs_rechallenge"],
        authorizations=tuple(
            AuthorizationRecord(
                authorization_id=a["authorization_id"],
                kind=AuthorizationKind(a["kind"]),
                starts_on=date.fromisoformat(a["starts_on"]),
                expires_on=date.fromisoformat(a["expires_on"]),
            )
            for a in data["authorizations"]
        ),
        notes=tuple(data.get("notes", ())),
        confirmed_routine=Frequency(data["confirmed_routine"])
        if data.get("confirmed_routine")
        else None,
        confirmed_for_clock=_d(data.get("confirmed_for_clock")),
        limit_overrides=tuple(
            LimitOverrideRecord(
                override_id=o["override_id"],
                effective_on=date.fromisoformat(o["effective_on"]),
                limits=tuple((name, value) for name, value in o["limits"]),
            )
            for o in data.get("limit_overrides", ())
        ),
    )
