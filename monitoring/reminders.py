"""The scheduler's scans: set-based, chunked by patient id range, safe to run twice.

Each chunk selects its candidates with one query on indexed columns of the stored monitoring
state, re-projects each candidate's stored snapshot to now (no further queries: time alone only
ever moves a due date or a lapse later, so the stored columns select a superset), and stores the
reminders in one insert. No query runs per patient.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Exists, Max, Min, OuterRef, Q

from clozrems.zones import clinic_zone
from engine import assess, get_protocol
from engine.codec import snapshot_from_json
from engine.types import Assessment, EnrollmentStatus, TreatmentStatus
from monitoring.models import ConsultAcknowledgement, MonitoringState
from monitoring.services import lapses_record, monitoring_states_project
from notifications import messages
from notifications.models import Kind
from notifications.services import (
    Occasion,
    Recipient,
    notifications_create,
    recipients_admins,
    recipients_for_prescribers,
)

SCAN_KINDS = ("draws", "confirmations", "consults", "lapses")

_FIELDS = (
    "patient_id",
    "snapshot",
    "patient__prescriber_id",
    "patient__first_name",
    "patient__last_name",
)


def scan_ranges(*, chunk: int) -> list[tuple[int, int]]:
    """Half-open patient id ranges [lo, hi) covering every stored state, `chunk` ids wide."""
    bounds = MonitoringState.objects.aggregate(lo=Min("patient_id"), hi=Max("patient_id"))
    if bounds["lo"] is None:
        return []
    return [(lo, lo + chunk) for lo in range(bounds["lo"], bounds["hi"] + 1, chunk)]


def _candidates(lo: int, hi: int, condition: Q) -> Iterator[dict[str, Any]]:
    states = MonitoringState.objects.filter(condition, patient_id__gte=lo, patient_id__lt=hi)
    yield from states.values(*_FIELDS).iterator(chunk_size=2000)


def _project(row: dict[str, Any], now: datetime) -> Assessment:
    return assess(snapshot_from_json(row["snapshot"]), now, clinic_zone())


def _draw(picture: Assessment) -> str:
    """What the patient's protocol draws, for the reminder's wording."""
    return get_protocol(picture.protocol).draw_name


def _lapse_message(
    row: dict[str, Any], picture: Assessment, lapse_on: date, *, lapsed: bool
) -> tuple[str, str]:
    protocol = get_protocol(picture.protocol)
    return messages.lapse(
        _label(row),
        lapse_on,
        lapsed=lapsed,
        draw=protocol.draw_name,
        days=protocol.lapse_days,
        lab_days=protocol.enrollment_lab_days,
    )


def _label(row: dict[str, Any]) -> str:
    return messages.patient_label(
        row["patient_id"], row["patient__first_name"], row["patient__last_name"]
    )


def _store(found: list[tuple[int, Occasion]], *, admins: list[Occasion] | None = None) -> int:
    recipients = recipients_for_prescribers(prescriber for prescriber, _ in found)
    pairs: list[tuple[Occasion, list[Recipient]]] = [
        (occasion, recipients.get(prescriber, [])) for prescriber, occasion in found
    ]
    if admins:
        people = recipients_admins()
        pairs.extend((occasion, people) for occasion in admins)
    return notifications_create(occasions=pairs)


def _local(moment: datetime) -> datetime:
    return moment.astimezone(clinic_zone())


def _confirmation_occasion(
    kind: Kind, patient_id: int, deadline: datetime, subject: str, body: str
) -> Occasion:
    # One occasion per deadline: its local date, and its minute of that day as the repeat
    # number, so a second episode on the same day gets a request of its own.
    local = _local(deadline)
    minute = local.hour * 60 + local.minute
    return Occasion(kind, f"patient:{patient_id}", local.date(), subject, body, patient_id, minute)


def draws_scan(*, lo: int, hi: int, now: datetime) -> int:
    """Due today: one reminder. Overdue: the one owed on day 1 and every N days after (sent on
    the day the scan runs, however late it first sees the patient), and to the administrators
    once the draw is M days overdue (settings)."""
    today = now.astimezone(clinic_zone()).date()
    repeat = settings.CLOZREMS_OVERDUE_REPEAT_DAYS
    escalate_after = settings.CLOZREMS_OVERDUE_ESCALATE_AFTER_DAYS
    found: list[tuple[int, Occasion]] = []
    escalations: list[Occasion] = []
    condition = Q(enrollment_status=EnrollmentStatus.ENROLLED, next_draw_due__lte=today) & ~Q(
        treatment_status=TreatmentStatus.NOT_STARTED
    )
    for row in _candidates(lo, hi, condition):
        picture = _project(row, now)
        due = picture.next_draw_due
        if due is None or picture.enrollment_status != EnrollmentStatus.ENROLLED or due > today:
            continue
        key = f"patient:{row['patient_id']}"
        label = _label(row)
        prescriber = row["patient__prescriber_id"]
        if due == today:
            subject, body = messages.draw_due(label, due, draw=_draw(picture))
            found.append(
                (prescriber, Occasion(Kind.DRAW_DUE, key, due, subject, body, row["patient_id"]))
            )
            continue
        days = (today - due).days
        # The reminder owed today: the latest of days 1, 1 + N, 1 + 2N... reached. A patient
        # first seen overdue on day 2 (or a missed run) still gets day 1's today; the unique
        # key makes it once.
        owed = 1 + (days - 1) // repeat * repeat
        subject, body = messages.draw_overdue(label, due, days, draw=_draw(picture))
        found.append(
            (
                prescriber,
                Occasion(Kind.DRAW_OVERDUE, key, due, subject, body, row["patient_id"], owed),
            )
        )
        if days >= escalate_after:
            subject, body = messages.draw_overdue(label, due, days, draw=_draw(picture))
            escalations.append(
                Occasion(Kind.DRAW_OVERDUE_ESCALATION, key, due, subject, body, row["patient_id"])
            )
    return _store(found, admins=escalations)


def _confirmation(row: dict[str, Any], now: datetime) -> Occasion | None:
    """What the prescriber needs now about a pending repeat (the protocol's confirmation of a
    first low result): the request while its deadline is ahead, the urgent "missed" once it has
    passed (and then only that: a result entered after its deadline gets one message saying
    what is needed now)."""
    picture = _project(row, now)
    deadline = picture.confirmation_due
    if deadline is None:
        return None
    protocol = get_protocol(picture.protocol)
    overdue = deadline <= now
    subject, body = messages.confirmation(
        _label(row),
        _local(deadline),
        overdue=overdue,
        draw=protocol.draw_name,
        hours=protocol.confirmation_hours,
    )
    kind = Kind.CONFIRMATION_OVERDUE if overdue else Kind.CONFIRMATION_REQUESTED
    return _confirmation_occasion(kind, row["patient_id"], deadline, subject, body)


def confirmations_scan(*, lo: int, hi: int, now: datetime) -> int:
    """Every pending repeat: the request if it was never stored (its message lost with
    the broker, say), and one urgent reminder once the deadline has passed with no repeat."""
    found: list[tuple[int, Occasion]] = []
    for row in _candidates(lo, hi, Q(confirmation_due__isnull=False)):
        occasion = _confirmation(row, now)
        if occasion is not None:
            found.append((row["patient__prescriber_id"], occasion))
    return _store(found)


def consults_scan(*, lo: int, hi: int, now: datetime) -> int:
    """A consult flag (the protocol's specialty) not yet acknowledged for its episode: daily
    reminder."""
    today = now.astimezone(clinic_zone()).date()
    acknowledged = ConsultAcknowledgement.objects.filter(
        patient_id=OuterRef("patient_id"), episode_opened_at=OuterRef("episode_opened_at")
    )
    condition = Q(hematology_consult=True) & ~Q(Exists(acknowledged))
    found: list[tuple[int, Occasion]] = []
    for row in _candidates(lo, hi, condition):
        picture = _project(row, now)
        if not picture.hematology_consult:
            continue
        specialty = get_protocol(picture.protocol).consult_name
        subject, body = messages.consult(_label(row), specialty=specialty)
        key = f"patient:{row['patient_id']}"
        occasion = Occasion(Kind.CONSULT_NEEDED, key, today, subject, body, row["patient_id"])
        found.append((row["patient__prescriber_id"], occasion))
    return _store(found)


# How far back a lapse already stored is still told about: one missed run (or a month of them)
# still reaches the prescriber; the unique key makes it once. An operating window, not a rule.
LAPSE_CATCH_UP = timedelta(days=30)


def lapses_scan(*, lo: int, hi: int, now: datetime) -> int:
    """docs/rules.md §4: mark patients whose interruption reached the protocol's `lapse_days` as
    needing re-enrollment and tell the prescriber; warn CLOZREMS_LAPSE_WARNING_DAYS before."""
    today = now.astimezone(clinic_zone()).date()
    warn_days = settings.CLOZREMS_LAPSE_WARNING_DAYS
    horizon = today + timedelta(days=warn_days)
    # Approaching lapses, and lapses found when the state was last written.
    condition = Q(enrollment_status=EnrollmentStatus.ENROLLED, lapse_on__lte=horizon) | Q(
        enrollment_status=EnrollmentStatus.REENROLLMENT_REQUIRED,
        lapsed_on__gte=today - LAPSE_CATCH_UP,
    )
    found: list[tuple[int, Occasion]] = []
    lapsed: dict[date, list[int]] = {}
    for row in _candidates(lo, hi, condition):
        picture = _project(row, now)
        key = f"patient:{row['patient_id']}"
        if picture.enrollment_status == EnrollmentStatus.REENROLLMENT_REQUIRED:
            if picture.lapsed_on is None:
                continue  # re-enrollment needed for another reason than a lapse
            lapse_on = picture.lapsed_on
            lapsed.setdefault(lapse_on, []).append(row["patient_id"])
            subject, body = _lapse_message(row, picture, lapse_on, lapsed=True)
            kind = Kind.LAPSED
        elif picture.lapse_on is not None and 0 < (picture.lapse_on - today).days <= warn_days:
            lapse_on = picture.lapse_on
            subject, body = _lapse_message(row, picture, lapse_on, lapsed=False)
            kind = Kind.LAPSE_WARNING
        else:
            continue
        found.append(
            (
                row["patient__prescriber_id"],
                Occasion(kind, key, lapse_on, subject, body, row["patient_id"]),
            )
        )
    for lapse_on, ids in lapsed.items():
        # One audit entry per patient moved, the first time (monitoring.services.lapses_record,
        # which every write that makes a lapse immediate calls too).
        lapses_record(patient_ids=ids, lapse_on=lapse_on, actor=None)
        # The lapse follows from the history and the date: the stored columns say so now,
        # written from the stored snapshots by the state's one writer.
        monitoring_states_project(patient_ids=ids, now=now)
    return _store(found)


def expiries_scan(*, now: datetime) -> int:
    """Certifications and continuation authorizations that expire within the warning window
    (14 days): warn the people who can renew them, once per expiry date."""
    from notifications.services import recipients_for_pharmacy
    from patients.models import Authorization, Pharmacy, Prescriber, certified_on_q

    today = now.astimezone(clinic_zone()).date()
    until = today + timedelta(days=settings.CLOZREMS_EXPIRY_WARNING_DAYS)
    admins = recipients_admins()
    pairs: list[tuple[Occasion, list[Recipient]]] = []
    prescribers = Prescriber.objects.filter(
        certified_on_q(today), certification_expires_on__range=(today, until)
    )
    people = recipients_for_prescribers(prescribers.values_list("pk", flat=True))
    for prescriber in prescribers:
        expires = prescriber.certification_expires_on
        if expires is None:  # filtered above; kept explicit (asserts vanish under -O)
            continue
        subject, body = messages.expiring(f"The certification of {prescriber.name}", expires)
        occasion = Occasion(
            Kind.PRESCRIBER_CERTIFICATION_EXPIRING,
            f"prescriber:{prescriber.pk}",
            expires,
            subject,
            body,
        )
        pairs.append((occasion, [*admins, *people.get(prescriber.pk, [])]))
    pharmacies = Pharmacy.objects.filter(
        certified_on_q(today), certification_expires_on__range=(today, until)
    )
    for pharmacy in pharmacies:
        expires = pharmacy.certification_expires_on
        if expires is None:  # filtered above; kept explicit (asserts vanish under -O)
            continue
        subject, body = messages.expiring(f"The certification of {pharmacy.name}", expires)
        occasion = Occasion(
            Kind.PHARMACY_CERTIFICATION_EXPIRING,
            f"pharmacy:{pharmacy.pk}",
            expires,
            subject,
            body,
        )
        pairs.append((occasion, [*admins, *recipients_for_pharmacy(pharmacy.pk)]))
    authorizations = Authorization.objects.filter(
        kind="continuation", expires_on__range=(today, until), starts_on__lte=today
    ).select_related("patient")
    by_prescriber = recipients_for_prescribers(a.patient.prescriber_id for a in authorizations)
    for authorization in authorizations:
        patient = authorization.patient
        label = messages.patient_label(patient.pk, patient.first_name, patient.last_name)
        subject, body = messages.expiring(
            f"The continuation authorization for {label}", authorization.expires_on
        )
        occasion = Occasion(
            Kind.AUTHORIZATION_EXPIRING,
            f"authorization:{authorization.pk}",
            authorization.expires_on,
            subject,
            body,
            patient.pk,
        )
        pairs.append((occasion, by_prescriber.get(patient.prescriber_id, [])))
    return notifications_create(occasions=pairs)


def confirmation_requested(*, patient_id: int, now: datetime) -> int:
    """Tell the prescriber at once that a first low result needs a repeat (or, entered after
    its deadline, that the repeat is now overdue)."""
    row = (
        MonitoringState.objects.filter(patient_id=patient_id, confirmation_due__isnull=False)
        .values(*_FIELDS)
        .first()
    )
    if row is None:
        return 0
    occasion = _confirmation(row, now)
    if occasion is None:
        return 0
    return _store([(row["patient__prescriber_id"], occasion)])


SCANS = {
    "draws": draws_scan,
    "confirmations": confirmations_scan,
    "consults": consults_scan,
    "lapses": lapses_scan,
}
