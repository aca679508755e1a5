"""What each reminder says. Patients are named by id and initials only: e-mail leaves the
system, so it carries the least that lets a prescriber find the record."""

from __future__ import annotations

from datetime import date, datetime

from notifications.models import Kind


def patient_label(patient_id: int, first_name: str, last_name: str) -> str:
    initials = f"{first_name[:1]}.{last_name[:1]}.".upper()
    return f"patient #{patient_id} ({initials})"


# `draw` is what the patient's protocol draws (its `draw_name`): "ANC" for us-label-2015,
# "blood count" for uk-cpms (WBC and neutrophils).


def draw_due(label: str, due: date, *, draw: str = "ANC") -> tuple[str, str]:
    return (
        f"{draw} draw due today for {label}",
        f"The next {draw} draw for {label} is due today ({due.isoformat()}).",
    )


def draw_overdue(label: str, due: date, days: int, *, draw: str = "ANC") -> tuple[str, str]:
    return (
        f"{draw} draw overdue {days} day(s) for {label}",
        f"The {draw} draw for {label} was due on {due.isoformat()} and no result has arrived. "
        f"Without a current {draw} the pharmacy cannot dispense.",
    )


def confirmation(label: str, deadline: datetime, *, overdue: bool) -> tuple[str, str]:
    """`deadline` in the clinic's time zone: it is written as a reader there reads a clock."""
    when = deadline.strftime("%Y-%m-%d %H:%M %Z (UTC%z)")
    if overdue:
        return (
            f"URGENT: 24-hour repeat ANC missed for {label}",
            f"A low ANC for {label} needed a confirming repeat by {when}; none "
            "has been recorded. Draw a repeat ANC now.",
        )
    return (
        f"Repeat ANC within 24 hours for {label}",
        f"A first low ANC was recorded for {label}. Confirm it with a repeat draw by {when}.",
    )


def consult(label: str) -> tuple[str, str]:
    return (
        f"Hematology consult recommended for {label}",
        f"{label} is in a band where a hematology consult is recommended. Acknowledge it in "
        "clozrems once arranged; this reminder repeats daily until then.",
    )


def lapse(label: str, lapse_on: date, *, lapsed: bool, draw: str = "ANC") -> tuple[str, str]:
    if lapsed:
        return (
            f"Re-enrollment required for {label}",
            f"Treatment for {label} has been interrupted for 30 days (since "
            f"{lapse_on.isoformat()} the patient needs re-enrollment, with an {draw} drawn in "
            "the 30 days before it).",
        )
    return (
        f"Treatment interruption nearing 30 days for {label}",
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


KIND_IS_URGENT = {Kind.CONFIRMATION_OVERDUE, Kind.DRAW_OVERDUE_ESCALATION, Kind.LAPSED}
