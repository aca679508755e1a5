"""Snapshots to and from JSON, for the stored monitoring state.

A stored snapshot of another format is not read (`snapshot_from_json` raises `ValueError`): the
caller replays the history instead, and `manage.py monitoring_rebuild` rewrites every row.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from engine.types import (
    AuthorizationKind,
    AuthorizationRecord,
    AuthorizationScope,
    Band,
    Conflict,
    EnrollmentStatus,
    Episode,
    Frequency,
    LatestCount,
    LimitOverrideRecord,
    Population,
    Snapshot,
    TreatmentStatus,
    as_jsonable,
)

# 2: draws grouped, acts that stand, authorization scopes, per-course baselines (docs/rules.md
# §9).
SNAPSHOT_FORMAT = 2


# Keys left out at their defaults, so that a plain patient's snapshot stays small.
_OPTIONAL_TOP: dict[str, Any] = {
    "confirmed_routine": None,
    "confirmed_for_clock": None,
    "limit_overrides": [],
    "notes": [],
    "baseline": [],
    "baseline_fresh": 0,
    "course_dosed": False,
    "refuted": None,
    "enrollment_check": None,
    "rechallenge_since": None,
    "scopes": [],
    "used_authorizations": [],
    "elsewhere_until": None,
    "consult_pending": None,
    "consults_acknowledged": [],
    "conflicts": [],
    "reviewed": [],
    "incomplete_at": None,
    "incomplete_band": None,
    "last_key": None,
}
_OPTIONAL_EPISODE: dict[str, Any] = {
    "recovering": 0,
    "first_band": None,
    "known": [],
    "rechallenge_since_before": None,
}


def _trim_episode(episode: dict[str, Any] | None) -> None:
    if episode is None:
        return
    for key, default in _OPTIONAL_EPISODE.items():
        if episode.get(key) == default:
            del episode[key]


def snapshot_to_json(snapshot: Snapshot) -> dict[str, Any]:
    data: dict[str, Any] = as_jsonable(snapshot)
    for key, default in _OPTIONAL_TOP.items():
        if data.get(key) == default:
            del data[key]
    if data["latest"] is not None:
        for key in ("wbc_per_ul", "known_at"):
            if data["latest"].get(key) is None:
                del data["latest"][key]
    _trim_episode(data["episode"])
    _trim_episode(data.get("refuted"))
    for auth in data["authorizations"]:
        if auth.get("recorded_at") is None:
            del auth["recorded_at"]
    data["format"] = SNAPSHOT_FORMAT
    return data


def _d(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _req_dt(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _episode(data: dict[str, Any] | None) -> Episode | None:
    if data is None:
        return None
    return Episode(
        worst=Band(data["worst"]),
        opened_at=_req_dt(data["opened_at"]),
        confirmation_deadline=_req_dt(data["confirmation_deadline"]),
        confirmation_pending=data["confirmation_pending"],
        caused_interruption=data["caused_interruption"],
        rechallenge_flag_before=data["rechallenge_flag_before"],
        recovering=data.get("recovering", 0),
        first_band=Band(data["first_band"]) if data.get("first_band") else None,
        known=tuple((_req_dt(at), int(severity)) for at, severity in data.get("known", ())),
        rechallenge_since_before=_dt(data.get("rechallenge_since_before")),
    )


def snapshot_from_json(data: dict[str, Any]) -> Snapshot:
    if data.get("format") != SNAPSHOT_FORMAT:
        raise ValueError(f"unknown snapshot format {data.get('format')!r}")
    latest = data["latest"]
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
        else LatestCount(
            result_id=latest["result_id"],
            value_per_ul=latest["value_per_ul"],
            drawn_at=_req_dt(latest["drawn_at"]),
            drawn_on=date.fromisoformat(latest["drawn_on"]),
            wbc_per_ul=latest.get("wbc_per_ul"),
            known_at=_dt(latest.get("known_at")),
        ),
        episode=_episode(data["episode"]),
        weekly_until=_d(data["weekly_until"]),
        needs_rechallenge=data["needs_rechallenge"],
        authorizations=tuple(
            AuthorizationRecord(
                authorization_id=a["authorization_id"],
                kind=AuthorizationKind(a["kind"]),
                starts_on=date.fromisoformat(a["starts_on"]),
                expires_on=date.fromisoformat(a["expires_on"]),
                recorded_at=_dt(a.get("recorded_at")),
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
        baseline=tuple(int(v) for v in data.get("baseline", ())),
        baseline_fresh=int(data.get("baseline_fresh", 0)),
        course_dosed=bool(data.get("course_dosed", False)),
        refuted=_episode(data.get("refuted")),
        enrollment_check=(
            (date.fromisoformat(data["enrollment_check"][0]), int(data["enrollment_check"][1]))
            if data.get("enrollment_check")
            else None
        ),
        rechallenge_since=_dt(data.get("rechallenge_since")),
        scopes=tuple(
            AuthorizationScope(
                authorization_id=s["authorization_id"],
                episode_opened_at=_dt(s["episode_opened_at"]),
                cap=int(s["cap"]),
                known_at=_req_dt(s["known_at"]),
            )
            for s in data.get("scopes", ())
        ),
        used_authorizations=tuple(int(v) for v in data.get("used_authorizations", ())),
        elsewhere_until=_d(data.get("elsewhere_until")),
        consult_pending=_dt(data.get("consult_pending")),
        consults_acknowledged=tuple(_req_dt(v) for v in data.get("consults_acknowledged", ())),
        conflicts=tuple(
            Conflict(c["code"], c["message"], c["key"], date.fromisoformat(c["on"]))
            for c in data.get("conflicts", ())
        ),
        reviewed=tuple(data.get("reviewed", ())),
        incomplete_at=_dt(data.get("incomplete_at")),
        incomplete_band=Band(data["incomplete_band"]) if data.get("incomplete_band") else None,
        last_key=_key(data.get("last_key")),
    )


def _key(value: list[Any] | None) -> tuple[date, int, datetime, int, int] | None:
    if not value:
        return None
    day, rank, instant, precedence, item_id = value
    return (date.fromisoformat(day), int(rank), _req_dt(instant), int(precedence), int(item_id))
