"""What each reminder says. Patients are named by id and initials only: e-mail leaves the
system, so it carries the least that lets a prescriber find the record."""

from __future__ import annotations

from datetime import date, datetime

from notifications.models import Kind


def patient_label(patient_id: int, first_name: str, last_name: str) -> str:
    initials = f"{first_name[:1]}.{last_name[:1]}.".upper()
    return f"patient #{patient_id} ({initials})"


# Every number and word that is a protocol fact comes from the caller, asked of the patient's
# protocol: `draw` is what it draws (its `draw_name`: "ANC" for us-label-2015, "blood count"
# for uk-cpms), `hours` its confirmation window, `days` its lapse, `lab_days` its enrollment
# lab window, `specialty` the specialty its consults are asked of. No default stands in for one.


def draw_due(label: str, due: date, *, draw: str) -> tuple[str, str]:
    return (
        f"{draw} draw due today for {label}",
        f"The next {draw} draw for {label} is due today ({due.isoformat()}).",
    )


def draw_overdue(label: str, due: date, days: int, *, draw: str) -> tuple[str, str]:
    return (
        f"{draw} draw overdue {days} day(s) for {label}",
        f"The {draw} draw for {label} was due on {due.isoformat()} and no result has arrived. "
        f"Without a current {draw} the pharmacy cannot dispense.",
    )


def confirmation(
    label: str, deadline: datetime, *, overdue: bool, draw: str, hours: int
) -> tuple[str, str]:
    """`deadline` in the clinic's time zone: it is written as a reader there reads a clock.
    Overdue, it says what is needed now: the same message whether the deadline passed while
    the prescriber was told, or had already passed when a late result was entered."""
    when = deadline.strftime("%Y-%m-%d %H:%M %Z (UTC%z)")
    if overdue:
        return (
            f"URGENT: {hours}-hour repeat {draw} missed for {label}",
            f"A low {draw} for {label} needed a confirming repeat by {when}; none "
            f"has been recorded. Draw a repeat {draw} now.",
        )
    return (
        f"Repeat {draw} within {hours} hours for {label}",
        f"A first low {draw} was recorded for {label}. Confirm it with a repeat draw by {when}.",
    )


def consult(label: str, *, specialty: str) -> tuple[str, str]:
    """`specialty`: the protocol's `consult_name` ("hematology", "haematology")."""
    return (
        f"{specialty.capitalize()} consult recommended for {label}",
        f"{label} is in a band where a {specialty} consult is recommended. Acknowledge it in "
        "clozrems once arranged; this reminder repeats daily until then.",
    )


def lapse(
    label: str, lapse_on: date, *, lapsed: bool, draw: str, days: int, lab_days: int
) -> tuple[str, str]:
    """`days`: the protocol's lapse (an interruption this long needs re-enrollment);
    `lab_days`: how recent the result at re-enrollment must be."""
    if lapsed:
        return (
            f"Re-enrollment required for {label}",
            f"Treatment for {label} has been interrupted for {days} days (since "
            f"{lapse_on.isoformat()} the patient needs re-enrollment, with a {draw} drawn in "
            f"the {lab_days} days before it).",
        )
    return (
        f"Treatment interruption nearing {days} days for {label}",
        f"Unless treatment resumes, {label} will need re-enrollment on {lapse_on.isoformat()}.",
    )


def expiring(what: str, expires_on: date) -> tuple[str, str]:
    return (
        f"{what} expires on {expires_on.isoformat()}",
        f"{what} expires on {expires_on.isoformat()}. Renew it before then so that no patient "
        "is blocked at the pharmacy counter.",
    )


# Who voided a result, in the words of a role (never a person's name: e-mail leaves the system).
_VOIDED_BY = {
    "prescriber": "the prescriber",
    "designee": "a designee",
    "admin": "an administrator",
}


def result_voided(
    label: str,
    *,
    analyte: str,
    value_per_ul: int,
    drawn_on: date,
    by: str,
    from_lab: bool,
    band: str | None,
    treatment_status: str,
) -> tuple[str, str]:
    """A low result, or one whose void changed the picture, was voided. No free text (the void's
    reason stays in the record) and no names."""
    source = "a lab's result" if from_lab else "a result entered by hand"
    return (
        f"URGENT: {analyte} result voided for {label}",
        f"The {analyte} of {value_per_ul}/µL drawn on {drawn_on.isoformat()} for {label} "
        f"({source}) was voided by {_VOIDED_BY.get(by, 'a user')}. It was outside the normal "
        "range, or voiding it changed the patient's monitoring: the band is now "
        f"{band or 'none'} and treatment is {treatment_status}. Dispensing now follows the "
        "remaining results; check the record in clozrems.",
    )


def result_corrected(
    label: str,
    *,
    analyte: str,
    old_per_ul: int,
    new_per_ul: int,
    drawn_on: date,
    by: str,
    from_lab: bool,
    band: str | None,
    treatment_status: str,
) -> tuple[str, str]:
    """A low result, or one whose correction changed the picture, was corrected by hand: it left
    the decisions as a voided one does. No free text (the reason stays in the record), no names."""
    source = "a lab's result" if from_lab else "a result entered by hand"
    return (
        f"URGENT: {analyte} result corrected for {label}",
        f"The {analyte} of {old_per_ul}/µL drawn on {drawn_on.isoformat()} for {label} "
        f"({source}) was corrected to {new_per_ul}/µL by {_VOIDED_BY.get(by, 'a user')}. The "
        "replaced result was outside the normal range, or the correction changed the patient's "
        f"monitoring: the band is now {band or 'none'} and treatment is {treatment_status}. "
        "Dispensing now follows the corrected result; check the record in clozrems.",
    )


KIND_IS_URGENT = {Kind.CONFIRMATION_OVERDUE, Kind.DRAW_OVERDUE_ESCALATION, Kind.LAPSED}

# --- how each kind is delivered (docs: README, "The scheduler") ----------------------------

# Sent on their own the moment they are stored, whatever the recipient's settings: the 24-hour
# repeat, the consult, a level alert, a possible myocarditis, a lapse (and its warning), an
# escalation, an emergency supply, a supply that ran out (re-titration), and the digest itself.
ON_THEIR_OWN = frozenset(
    {
        Kind.CONFIRMATION_REQUESTED,
        Kind.CONFIRMATION_OVERDUE,
        Kind.CONSULT_NEEDED,
        Kind.LEVEL_HIGH,
        Kind.LEVEL_UNEXPECTED,
        Kind.MYOCARDITIS_SYMPTOMS,
        Kind.LAPSE_WARNING,
        Kind.LAPSED,
        Kind.DRAW_OVERDUE_ESCALATION,
        Kind.EMERGENCY_SUPPLY,
        Kind.RETITRATION_NEEDED,
        Kind.DIGEST,
    }
)
# Owed on the day they are stored: in that day's digest while it is still to come; stored
# after it (a scan that ran late), sent on their own the same day.
SAME_DAY = frozenset({Kind.DRAW_DUE, Kind.DRAW_OVERDUE})
# What a recipient may ask to receive on its own instead of in the digest.
DIGESTIBLE = frozenset(k.value for k in Kind if k not in ON_THEIR_OWN)

# The digest's sections, most important first: the ANC draws are never pushed out of it by
# the monitoring plan (the ceiling counts from the top).
DIGEST_SECTIONS: tuple[tuple[str, frozenset[str]], ...] = (
    ("Draws due and overdue", frozenset({Kind.DRAW_OVERDUE, Kind.DRAW_DUE})),
    ("Clozapine levels", frozenset({Kind.LEVEL_SUGGESTED})),
    (
        "Certifications and authorizations",
        frozenset(
            {
                Kind.PRESCRIBER_CERTIFICATION_EXPIRING,
                Kind.PHARMACY_CERTIFICATION_EXPIRING,
                Kind.AUTHORIZATION_EXPIRING,
            }
        ),
    ),
    ("Monitoring plan", frozenset({Kind.PLAN_ITEM_OVERDUE, Kind.PLAN_ITEM_DUE})),
)


BACKLOG_SEPARATOR = " overdue for more than "


def plan_backlog(check: str, label: str, days: int) -> str:
    """The subject of a plan check in the backlog (read back by the digest's summary)."""
    return f"{check}{BACKLOG_SEPARATOR}{days} days for {label}"


def plan_backlog_check(subject: str) -> str:
    return subject.split(BACKLOG_SEPARATOR, 1)[0]


def digest(
    day: date,
    items: list[tuple[str, str]],
    backlog: list[tuple[int | None, str]],
    *,
    limit: int,
    backlog_days: int,
) -> tuple[str, str]:
    """One recipient's digest: `items` as (kind, subject), listed by section up to `limit`
    lines, the rest counted ("N more"); `backlog` as (patient id, check) summarised in one
    line. Subjects already name patients by id and initials only."""
    total = len(items) + len(backlog)
    order = {kind: rank for rank, (_, kinds) in enumerate(DIGEST_SECTIONS) for kind in kinds}
    ranked = sorted(enumerate(items), key=lambda pair: (order.get(pair[1][0], 99), pair[0]))
    lines = [f"Reminders for {day.isoformat()} that were not urgent ({total} in all)."]
    shown = 0
    for rank, (title, _) in [*enumerate(DIGEST_SECTIONS), (99, ("Other", frozenset()))]:
        section = [subject for _, (kind, subject) in ranked if order.get(kind, 99) == rank]
        room = max(0, limit - shown)
        if not section or not room:
            continue
        lines += ["", f"{title} ({len(section)}):", *(f"- {s}" for s in section[:room])]
        shown += min(room, len(section))
    more = len(items) - shown
    if more:
        lines += ["", f"... and {more} more: open clozrems to see them all."]
    if backlog:
        checks: dict[str, int] = {}
        for _, check in backlog:
            checks[check] = checks.get(check, 0) + 1
        patients = len({patient for patient, _ in backlog})
        counted = ", ".join(f"{name} {n}" for name, n in sorted(checks.items()))
        lines += [
            "",
            f"Monitoring-plan checks overdue more than {backlog_days} days: {len(backlog)} for "
            f"{patients} patient(s) ({counted}). Each patient's page lists them; this summary "
            "is sent once, not repeated.",
        ]
    subject = f"clozrems digest for {day.isoformat()}: {total} reminder(s)"
    draws = sum(1 for kind, _ in items if kind in SAME_DAY)
    if draws:
        subject += f", {draws} draw(s) due or overdue"
    return subject, "\n".join(lines)
