"""Compliance reports for administrators and auditors (selectors: they read, never write).

Each report is set-based: a fixed number of queries whatever the number of rows (the histories
of all the patients concerned come in five queries, `patient_histories`), then the pure engine
in Python. Dates are the clinic's local dates; a range is inclusive.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

from django.db.models import Q

from clozrems.zones import clinic_zone
from engine import assess, get_protocol, replay
from engine.codec import snapshot_from_json
from engine.core import end_of_day, local_date, start_of_day
from engine.types import (
    Assessment,
    AuthorizationKind,
    Band,
    DecisionContext,
    EnrollmentStatus,
    PatientHistory,
    Population,
    Reason,
    TreatmentStatus,
)
from monitoring.models import (
    DECISIVE_STATUSES,
    ConsultAcknowledgement,
    LabResult,
    MonitoringState,
)
from monitoring.selectors import patient_histories
from patients.models import Dispense, EnrollmentEvent, Patient
from pharmacy.decisions import dispense_verdict


@dataclass(frozen=True)
class ReportFilter:
    start: date
    end: date
    prescriber_id: int | None = None
    pharmacy_id: int | None = None

    def window(self) -> tuple[datetime, datetime]:
        zone = clinic_zone()
        return start_of_day(self.start, zone), end_of_day(self.end, zone)


# --- dispenses and the decision in force ------------------------------------------------------


def _dispenses(f: ReportFilter) -> list[Dispense]:
    lo, hi = f.window()
    rows = Dispense.objects.filter(dispensed_at__gte=lo, dispensed_at__lte=hi).select_related(
        "patient", "patient__prescriber", "pharmacy"
    )
    if f.prescriber_id is not None:
        rows = rows.filter(patient__prescriber_id=f.prescriber_id)
    if f.pharmacy_id is not None:
        rows = rows.filter(pharmacy_id=f.pharmacy_id)
    return list(rows.order_by("dispensed_at", "id"))


def _reevaluate(dispense: Dispense, history: PatientHistory) -> Assessment:
    """The decision as of the dispense, from the history without that dispense (it was decided
    before it was recorded)."""
    zone = clinic_zone()
    day = local_date(dispense.dispensed_at, zone)
    without = replace(
        history, dispenses=tuple(d for d in history.dispenses if d.dispense_id != dispense.pk)
    )
    context = DecisionContext(
        prescriber_certified=dispense.patient.prescriber.is_certified_on(day),
        pharmacy_certified=dispense.pharmacy.is_certified_on(day),
        days_supply=dispense.days_supply,
    )
    return assess(
        replay(without, until=dispense.dispensed_at), dispense.dispensed_at, zone, context
    )


def _acceptable_anc(a: Assessment) -> bool:
    """A current ANC whose band lets treatment go on (or a continuation authorization covers
    it): what a compliant dispense rests on."""
    codes = {item.code for item in a.reasons}
    if a.latest_anc is None or codes & {Reason.NO_ANC_ON_FILE, Reason.ANC_NOT_CURRENT}:
        return False
    rules = get_protocol(a.protocol)
    if a.band is not None and rules.interrupts(a.band):
        return any(x.kind == AuthorizationKind.CONTINUATION for x in a.authorizations)
    return True


DISPENSE_COLUMNS = [
    "dispense_id",
    "dispensed_at",
    "patient_id",
    "prescriber_id",
    "prescriber",
    "pharmacy_id",
    "pharmacy",
    "days_supply",
    "emergency_reason",
    "stored_decision",
    "stored_reasons",
    "stored_max_days_supply",
    "reevaluated_decision",
    "reevaluated_reasons",
    "reevaluated_max_days_supply",
    "latest_anc_id",
    "latest_anc_per_ul",
    "latest_anc_drawn_at",
    "acceptable_anc",
    "disagrees",
]


def report_dispenses(f: ReportFilter) -> list[dict[str, Any]]:
    """Every dispense in the range with the decision stored with it and the engine's
    re-evaluation as of its time; `disagrees` flags a difference in decision, reasons or
    maximum supply. Certification is judged by today's records (its history is in the field
    history, not replayed here)."""
    dispenses = _dispenses(f)
    patients = {d.patient_id: d.patient for d in dispenses}
    histories = patient_histories(patients=list(patients.values()))
    rows = []
    for d in dispenses:
        a = _reevaluate(d, histories[d.patient_id])
        stored = dispense_verdict(d)
        stored_reasons = list(stored.reasons)
        latest = a.latest_anc
        rows.append(
            {
                "dispense_id": d.pk,
                "dispensed_at": d.dispensed_at,
                "patient_id": d.patient_id,
                "prescriber_id": d.patient.prescriber_id,
                "prescriber": d.patient.prescriber.name,
                "pharmacy_id": d.pharmacy_id,
                "pharmacy": d.pharmacy.name,
                "days_supply": d.days_supply,
                "emergency_reason": d.emergency_reason,
                "stored_decision": stored.decision,
                "stored_reasons": stored_reasons,
                "stored_max_days_supply": stored.max_days_supply,
                "reevaluated_decision": a.decision.value,
                "reevaluated_reasons": a.reason_codes,
                "reevaluated_max_days_supply": a.max_days_supply,
                "latest_anc_id": latest.result_id if latest else None,
                "latest_anc_per_ul": latest.value_per_ul if latest else None,
                "latest_anc_drawn_at": latest.drawn_at if latest else None,
                "acceptable_anc": _acceptable_anc(a),
                "disagrees": (
                    stored.decision != a.decision.value
                    or sorted(stored_reasons) != sorted(a.reason_codes)
                    or stored.max_days_supply != a.max_days_supply
                ),
            }
        )
    return rows


COMPLIANCE_COLUMNS = [
    "group",
    "id",
    "name",
    "dispenses",
    "with_acceptable_anc",
    "compliance_rate",
    "emergency_supplies",
    "disagreements",
]


def report_compliance(f: ReportFilter) -> list[dict[str, Any]]:
    """Per pharmacy and per prescriber: the share of dispenses that rested on a current,
    acceptable ANC (re-evaluated as of each dispense)."""
    groups: dict[tuple[str, int], dict[str, Any]] = {}
    for row in report_dispenses(f):
        for group, key, name in (
            ("pharmacy", row["pharmacy_id"], row["pharmacy"]),
            ("prescriber", row["prescriber_id"], row["prescriber"]),
        ):
            g = groups.setdefault(
                (group, key),
                {
                    "group": group,
                    "id": key,
                    "name": name,
                    "dispenses": 0,
                    "with_acceptable_anc": 0,
                    "emergency_supplies": 0,
                    "disagreements": 0,
                },
            )
            g["dispenses"] += 1
            g["with_acceptable_anc"] += int(row["acceptable_anc"])
            g["emergency_supplies"] += int(bool(row["emergency_reason"]))
            g["disagreements"] += int(row["disagrees"])
    out = []
    for _key, g in sorted(groups.items()):
        g["compliance_rate"] = round(g["with_acceptable_anc"] / g["dispenses"], 4)
        out.append(g)
    return out


# --- overrides and emergency supplies ---------------------------------------------------------

OVERRIDE_COLUMNS = [
    "kind",
    "dispense_id",
    "dispensed_at",
    "patient_id",
    "prescriber_id",
    "pharmacy_id",
    "pharmacy",
    "days_supply",
    "reason",
    "remark",
    "recorded_by",
    "reviewed",
    "reviewed_at",
    "reviewed_by",
    "review_note",
]


def report_overrides(f: ReportFilter, *, reviewed: bool | None = None) -> list[dict[str, Any]]:
    """Emergency supplies (the pharmacist's override of a stale-ANC block), reviewed or not,
    oldest first: the administrator's review queue with `reviewed=false`."""
    lo, hi = f.window()
    rows = (
        Dispense.objects.exclude(emergency_reason="")
        .filter(dispensed_at__gte=lo, dispensed_at__lte=hi)
        .select_related("patient", "pharmacy", "recorded_by", "reviewed_by")
        .order_by("dispensed_at", "id")
    )
    if f.prescriber_id is not None:
        rows = rows.filter(patient__prescriber_id=f.prescriber_id)
    if f.pharmacy_id is not None:
        rows = rows.filter(pharmacy_id=f.pharmacy_id)
    if reviewed is not None:
        rows = rows.filter(reviewed_at__isnull=not reviewed)
    return [
        {
            "kind": "emergency_supply",
            "dispense_id": d.pk,
            "dispensed_at": d.dispensed_at,
            "patient_id": d.patient_id,
            "prescriber_id": d.patient.prescriber_id,
            "pharmacy_id": d.pharmacy_id,
            "pharmacy": d.pharmacy.name,
            "days_supply": d.days_supply,
            "reason": d.emergency_reason,
            "remark": d.emergency_remark,
            "recorded_by": d.recorded_by.username,
            "reviewed": d.reviewed_at is not None,
            "reviewed_at": d.reviewed_at,
            "reviewed_by": d.reviewed_by.username if d.reviewed_by else None,
            "review_note": d.review_note,
        }
        for d in rows
    ]


# --- overdue draws ----------------------------------------------------------------------------

OVERDUE_COLUMNS = [
    "scope",
    "group",
    "id",
    "name",
    "overdue_draws",
    "patients",
    "days_overdue_total",
    "days_overdue_max",
]


def _last_pharmacies(patient_ids: Iterable[int], until: datetime) -> dict[int, tuple[int, str]]:
    """Each patient's pharmacy of its latest dispense up to `until` (one query)."""
    last: dict[int, tuple[int, str]] = {}
    rows = (
        Dispense.objects.filter(patient_id__in=list(patient_ids), dispensed_at__lte=until)
        .order_by("patient_id", "dispensed_at", "id")
        .values_list("patient_id", "pharmacy_id", "pharmacy__name")
    )
    for patient_id, pharmacy_id, name in rows:
        last[patient_id] = (pharmacy_id, name)
    return last


def _overdue_rows(
    scope: str,
    items: list[tuple[int, int, str, int]],
    pharmacies: dict[int, tuple[int, str]],
    pharmacy_id: int | None,
) -> list[dict[str, Any]]:
    """`items`: (patient, prescriber id, prescriber name, days overdue) per overdue draw."""
    groups: dict[tuple[str, int | None], dict[str, Any]] = {}
    patients: dict[tuple[str, int | None], set[int]] = defaultdict(set)
    for patient_id, prescriber_id, prescriber, days in items:
        pharmacy = pharmacies.get(patient_id, (None, "(no dispense on record)"))
        if pharmacy_id is not None and pharmacy[0] != pharmacy_id:
            continue
        for group, key, name in (
            ("prescriber", prescriber_id, prescriber),
            ("pharmacy", pharmacy[0], pharmacy[1]),
        ):
            g = groups.setdefault(
                (group, key),
                {
                    "scope": scope,
                    "group": group,
                    "id": key,
                    "name": name,
                    "overdue_draws": 0,
                    "days_overdue_total": 0,
                    "days_overdue_max": 0,
                },
            )
            g["overdue_draws"] += 1
            g["days_overdue_total"] += days
            g["days_overdue_max"] = max(g["days_overdue_max"], days)
            patients[(group, key)].add(patient_id)
    out = []
    for group_key, g in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0)):
        g["patients"] = len(patients[group_key])
        out.append(g)
    return out


def _patients(f: ReportFilter) -> list[Patient]:
    rows = Patient.objects.select_related("prescriber").exclude(
        enrollment_status=EnrollmentStatus.PENDING
    )
    if f.prescriber_id is not None:
        rows = rows.filter(prescriber_id=f.prescriber_id)
    return list(rows)


def report_overdue(f: ReportFilter, *, now: datetime) -> list[dict[str, Any]]:
    """Overdue draws now (each enrolled patient's next draw due before today, re-projected to
    now) and over the range (each draw whose next one came late, or not yet: the days of the
    range from the day after its due date to the day before the next draw), by prescriber and
    by the pharmacy of the patient's latest dispense."""
    zone = clinic_zone()
    today = local_date(now, zone)
    patients = _patients(f)
    by_id = {p.pk: p for p in patients}
    states = MonitoringState.objects.filter(patient_id__in=list(by_id)).values_list(
        "patient_id", "snapshot"
    )
    current: list[tuple[int, int, str, int]] = []
    for patient_id, snapshot in states:
        picture = assess(snapshot_from_json(snapshot), now, zone)
        due = picture.next_draw_due
        if picture.enrollment_status != EnrollmentStatus.ENROLLED or due is None or due >= today:
            continue
        if picture.treatment_status == TreatmentStatus.NOT_STARTED:
            continue  # no routine draw is due before the first dose
        p = by_id[patient_id]
        current.append((p.pk, p.prescriber_id, p.prescriber.name, (today - due).days))

    _, hi = f.window()
    last_day = min(f.end, today)
    histories = patient_histories(patients=patients)
    period: list[tuple[int, int, str, int]] = []
    for p in patients:
        history = histories[p.pk]
        readings = sorted(history.readings, key=lambda r: (r.drawn_at, r.result_id))
        for index, reading in enumerate(readings):
            drawn_on = local_date(reading.drawn_at, zone)
            if drawn_on > last_day:
                break
            following = readings[index + 1] if index + 1 < len(readings) else None
            next_on = local_date(following.drawn_at, zone) if following else last_day + timedelta(1)
            if next_on < f.start:
                continue
            picture = assess(replay(history, until=reading.drawn_at), reading.drawn_at, zone)
            due = picture.next_draw_due
            if due is None or picture.enrollment_status != EnrollmentStatus.ENROLLED:
                continue
            first = max(due + timedelta(days=1), f.start)
            final = min(next_on - timedelta(days=1), last_day)
            days = (final - first).days + 1
            if days > 0:
                period.append((p.pk, p.prescriber_id, p.prescriber.name, days))
    pharmacies = _last_pharmacies(by_id, min(hi, now))
    return _overdue_rows("now", current, pharmacies, f.pharmacy_id) + _overdue_rows(
        "period", period, pharmacies, f.pharmacy_id
    )


# --- low-ANC episodes ---------------------------------------------------------------------------

EPISODE_COLUMNS = [
    "patient_id",
    "prescriber_id",
    "opened_at",
    "first_value_per_ul",
    "worst_band",
    "status",
    "confirmed_at",
    "hours_to_confirmation",
    "consult_recommended",
    "consult_acknowledged_at",
    "hours_to_consult",
    "resolved_at",
    "days_to_resolution",
]


def _hours(a: datetime | None, b: datetime | None) -> float | None:
    if a is None or b is None:
        return None
    return round((b - a).total_seconds() / 3600, 2)


def report_low_anc_episodes(f: ReportFilter) -> list[dict[str, Any]]:
    """Each episode opened in the range (its first low result): when it was confirmed by a
    low repeat, when the hematology consult was acknowledged, when it resolved (the result
    that closed it); `unconfirmed` when a normal repeat within the window refuted it."""
    lo, hi = f.window()
    patients = _patients(f)
    histories = patient_histories(patients=patients)
    acks = {
        (a, b): c
        for a, b, c in ConsultAcknowledgement.objects.filter(
            patient_id__in=[p.pk for p in patients]
        ).values_list("patient_id", "episode_opened_at", "acknowledged_at")
    }
    rows: list[dict[str, Any]] = []
    for p in patients:
        history = histories[p.pk]
        readings = sorted(history.readings, key=lambda r: (r.drawn_at, r.result_id))
        rules = get_protocol(history.protocol)
        episode: dict[str, Any] | None = None
        for reading in readings:
            snapshot = replay(history, until=reading.drawn_at)
            open_now = snapshot.episode
            if episode is not None and (
                open_now is None or open_now.opened_at != episode["opened_at"]
            ):
                within = reading.drawn_at <= episode["opened_at"] + timedelta(
                    hours=rules.confirmation_hours
                )
                episode["status"] = (
                    "unconfirmed" if within and episode["confirmed_at"] is None else "resolved"
                )
                episode["resolved_at"] = reading.drawn_at
                rows.append(episode)
                episode = None
            if open_now is not None and episode is None:
                episode = {
                    "patient_id": p.pk,
                    "prescriber_id": p.prescriber_id,
                    "opened_at": open_now.opened_at,
                    "first_value_per_ul": reading.value_per_ul,
                    "worst_band": open_now.worst.value,
                    "status": "open",
                    "confirmed_at": None,
                    "resolved_at": None,
                }
            elif open_now is not None and episode is not None:
                episode["worst_band"] = open_now.worst.value
                if episode["confirmed_at"] is None and not open_now.confirmation_pending:
                    episode["confirmed_at"] = reading.drawn_at
        if episode is not None:
            rows.append(episode)
    out = []
    for e in rows:
        if not (lo <= e["opened_at"] <= hi):
            continue
        acknowledged = acks.get((e["patient_id"], e["opened_at"]))
        e["hours_to_confirmation"] = _hours(e["opened_at"], e["confirmed_at"])
        e["consult_recommended"] = get_protocol(histories[e["patient_id"]].protocol).consult(
            Band(e["worst_band"])
        )
        e["consult_acknowledged_at"] = acknowledged
        e["hours_to_consult"] = _hours(e["opened_at"], acknowledged)
        e["days_to_resolution"] = (
            round((e["resolved_at"] - e["opened_at"]).total_seconds() / 86400, 2)
            if e["resolved_at"]
            else None
        )
        out.append(e)
    out.sort(key=lambda e: (e["opened_at"], e["patient_id"]))
    return out


# --- enrollment gaps ----------------------------------------------------------------------------

GAP_COLUMNS = ["kind", "patient_id", "prescriber_id", "prescriber", "date", "detail"]


def report_enrollment_gaps(f: ReportFilter) -> list[dict[str, Any]]:
    """BEN patients without documentation (who and when), enrollments in the range with no ANC
    drawn in the protocol's lab window before them, and lapses (re-enrollment required) in the
    range."""
    zone = clinic_zone()
    rows: list[dict[str, Any]] = []
    ben = Patient.objects.filter(population=Population.BEN).filter(
        Q(ben_documented_by__isnull=True) | Q(ben_documented_at__isnull=True)
    )
    if f.prescriber_id is not None:
        ben = ben.filter(prescriber_id=f.prescriber_id)
    for p in ben.select_related("prescriber").order_by("id"):
        rows.append(
            {
                "kind": "ben_undocumented",
                "patient_id": p.pk,
                "prescriber_id": p.prescriber_id,
                "prescriber": p.prescriber.name,
                "date": local_date(p.created_at, zone),
                "detail": "BEN recorded without who documented it and when",
            }
        )

    enrollments = EnrollmentEvent.objects.filter(
        effective_date__gte=f.start, effective_date__lte=f.end
    ).select_related("patient", "patient__prescriber")
    if f.prescriber_id is not None:
        enrollments = enrollments.filter(patient__prescriber_id=f.prescriber_id)
    enrollments_list = list(enrollments.order_by("effective_date", "id"))
    # What counts as a lab at enrollment is what the engine counts (docs/rules.md §4, §8): a
    # final or corrected result - never a preliminary one, never a voided one - holding every
    # analyte of the patient's protocol for its draw (uk-cpms: neutrophils and WBC).
    held: dict[int, dict[datetime, set[str]]] = defaultdict(lambda: defaultdict(set))
    for patient_id, drawn_at, analyte in LabResult.objects.filter(
        patient_id__in={e.patient_id for e in enrollments_list},
        superseded=False,
        status__in=DECISIVE_STATUSES,
    ).values_list("patient_id", "drawn_at", "analyte"):
        held[patient_id][drawn_at].add(analyte)
    for e in enrollments_list:
        rules = get_protocol(e.patient.protocol)
        window = rules.enrollment_lab_days
        since = e.effective_date - timedelta(days=window)
        complete = [
            local_date(drawn_at, zone)
            for drawn_at, found in held[e.patient_id].items()
            if set(rules.analytes) <= found
        ]
        if not any(since <= d <= e.effective_date for d in complete):
            rows.append(
                {
                    "kind": "enrolled_without_recent_labs",
                    "patient_id": e.patient_id,
                    "prescriber_id": e.patient.prescriber_id,
                    "prescriber": e.patient.prescriber.name,
                    "date": e.effective_date,
                    "detail": f"{e.kind}: no {rules.draw_name} in the {window} days before",
                }
            )

    lapses = MonitoringState.objects.filter(
        lapsed_on__gte=f.start, lapsed_on__lte=f.end
    ).select_related("patient", "patient__prescriber")
    if f.prescriber_id is not None:
        lapses = lapses.filter(patient__prescriber_id=f.prescriber_id)
    for state in lapses.order_by("lapsed_on", "patient_id"):
        rows.append(
            {
                "kind": "lapse",
                "patient_id": state.patient_id,
                "prescriber_id": state.patient.prescriber_id,
                "prescriber": state.patient.prescriber.name,
                "date": state.lapsed_on,
                "detail": f"re-enrollment required; now {state.enrollment_status}",
            }
        )
    return rows
