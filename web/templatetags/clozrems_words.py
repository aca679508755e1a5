"""Plain words for the engine's codes on the pages (the codes stay in the API)."""

from __future__ import annotations

from typing import Any

from django import template

from engine.protocols import get_protocol

register = template.Library()

WORDS: dict[str, str] = {
    # monitoring frequencies
    "daily": "daily",
    "threetimesweekly": "three times a week",
    "three_times_weekly": "three times a week",
    "twiceweekly": "twice a week",
    "twice_weekly": "twice a week",
    "weekly": "weekly",
    "every2weeks": "every 2 weeks",
    "every_2_weeks": "every 2 weeks",
    "every4weeks": "every 4 weeks",
    "monthly": "monthly",
    # bands
    "normal": "normal",
    "mild": "mild neutropenia",
    "moderate": "moderate neutropenia",
    "severe": "severe neutropenia",
    "ben_neutropenia": "BEN neutropenia",
    "nodata": "no data yet",
    "no_data": "no data yet",
    "green": "green",
    "amber": "amber",
    "red": "red",
    # enrollment and treatment
    "enrolled": "enrolled",
    "pending": "enrollment pending",
    "reenrollment_required": "re-enrollment needed",
    "not_enrolled": "not enrolled",
    "not_started": "not started",
    "active": "on treatment",
    "interrupted": "treatment interrupted",
    "discontinued": "discontinued",
    # populations
    "general": "general population",
    "ben": "benign ethnic neutropenia (BEN)",
    # decisions
    "allowed": "allowed",
    "blocked": "blocked",
    # result statuses and sources
    "final": "final",
    "corrected": "corrected",
    "entered_in_error": "entered in error",
    "preliminary": "preliminary",
    "manual": "entered by hand",
    "hl7": "lab feed (HL7)",
    "fhir": "lab feed (FHIR)",
    "csv": "CSV upload",
    "lab_feed": "lab feed",
    # treatment events
    "start": "started",
    "interrupt": "interrupted",
    "resume": "resumed",
    "discontinue": "stopped",
    # emergency reasons
    "lab_delay": "lab delay",
    "weather": "weather",
    "inpatient_leave": "inpatient leave",
    "other": "other",
}


@register.filter
def words(value: Any) -> str:
    """The plain words for a code; an unknown code with its underscores as spaces."""
    if value is None or value == "":
        return "—"
    text = str(getattr(value, "value", value))
    return WORDS.get(text, text.replace("_", " "))


@register.filter
def days(value: Any) -> str:
    """'1 day', '3 days'."""
    try:
        n = int(value)
    except (TypeError, ValueError):
        return str(value)
    return f"{n} day" if n == 1 else f"{n} days"


# The protocol's own words on a patient's page (docs/rules.md: each protocol names its draw and
# its repeat window); `{{ patient.protocol|draw_name }}`.


@register.filter
def draw_name(protocol: str) -> str:
    return get_protocol(protocol).draw_name


@register.filter
def neutrophil_name(protocol: str) -> str:
    return get_protocol(protocol).neutrophil_name


@register.filter
def consult_name(protocol: str) -> str:
    return get_protocol(protocol).consult_name


@register.filter
def repeat_hours(protocol: str) -> int:
    """The hours a first low result waits for its repeat (0: the protocol has no repeat)."""
    return get_protocol(protocol).confirmation_hours
