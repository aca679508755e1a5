"""Every sentence a protocol's patient is given - a reason, its remedy, a reminder - uses that
protocol's own words and numbers (engine/wording.py, notifications/messages.py): a
uk-cpms patient is never told of an "ANC" or of two baselines, a us-label-2015 patient never of a
"blood count"; the numbers are the protocol's."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from types import MappingProxyType

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.protocols import get_protocol, protocol_names
from engine.types import Reason
from engine.wording import reason_messages, reason_remedies, repeat_due_caution
from notifications import messages

PROTOCOLS = protocol_names()


def _draw_names_of_others(protocol: str) -> set[str]:
    """The other protocols' words for a draw and for the consult's specialty."""
    own = get_protocol(protocol)
    theirs = [get_protocol(other) for other in PROTOCOLS]
    return {r.draw_name for r in theirs} - {own.draw_name} | (
        {r.consult_name for r in theirs} - {own.consult_name}
    )


def _mentions(text: str, words: str) -> bool:
    return re.search(rf"\b{re.escape(words)}\b", text) is not None


def _numbers_of(protocol: str) -> set[int]:
    """Every whole number the protocol module states (its settings, tables and limits)."""
    rules = get_protocol(protocol)
    found: set[int] = set()
    for name, value in vars(rules).items():
        if name.startswith("_") or isinstance(value, type):
            continue
        values = value.values() if isinstance(value, dict | MappingProxyType) else [value]
        found.update(v for v in values if isinstance(v, int) and not isinstance(v, bool))
    return found


def _sentences(protocol: str) -> list[str]:
    return [
        *reason_messages(protocol).values(),
        *reason_remedies(protocol).values(),
        # the counter's caution, with the instant left out (its digits are not the protocol's)
        repeat_due_caution(protocol, "then"),
    ]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_every_reason_and_remedy_uses_only_its_protocols_words_and_numbers(protocol):
    assert set(reason_messages(protocol)) == set(Reason), "every reason has its sentence"
    for text in _sentences(protocol):
        for other in _draw_names_of_others(protocol):
            assert not _mentions(text, other), (protocol, text)
        for number in map(int, re.findall(r"\d+", text)):
            assert number in _numbers_of(protocol), (protocol, text)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_the_counters_repeat_caution_names_its_protocols_hours_and_draw(protocol):
    rules = get_protocol(protocol)
    text = repeat_due_caution(protocol, "2026-05-01 09:00")
    assert f"{rules.confirmation_hours}-hour repeat {rules.draw_name}" in text
    assert "2026-05-01 09:00" in text


def test_a_ben_patient_is_told_the_baselines_its_own_protocol_needs():
    us, uk = reason_messages("us-label-2015"), reason_messages("uk-cpms")
    assert us[Reason.BASELINE_INCOMPLETE] == (
        "A BEN patient needs two baseline ANCs before the first dose."
    )
    assert uk[Reason.BASELINE_INCOMPLETE] == (
        "A BEN patient needs one baseline blood count before the first dose."
    )
    assert reason_remedies("uk-cpms")[Reason.BASELINE_INCOMPLETE] == (
        "The patient needs one baseline blood count before the first dose."
    )


labels = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ ", min_size=3, max_size=20)
days = st.dates(min_value=date(2020, 1, 1), max_value=date(2035, 12, 31))


@given(
    protocol=st.sampled_from(PROTOCOLS),
    label=labels,
    day=days,
    late=st.integers(min_value=1, max_value=60),
    lapsed=st.booleans(),
    overdue=st.booleans(),
)
def test_every_reminder_uses_only_its_protocols_words(protocol, label, day, late, lapsed, overdue):
    rules = get_protocol(protocol)
    deadline = datetime(day.year, day.month, day.day, 9, tzinfo=UTC)
    rendered = [
        messages.draw_due(label, day, draw=rules.draw_name),
        messages.draw_overdue(label, day, late, draw=rules.draw_name),
        messages.lapse(
            label,
            day,
            lapsed=lapsed,
            draw=rules.draw_name,
            days=rules.lapse_days,
            lab_days=rules.enrollment_lab_days,
        ),
        messages.consult(label, specialty=rules.consult_name),
    ]
    if rules.confirmation_hours:
        rendered.append(
            messages.confirmation(
                label,
                deadline,
                overdue=overdue,
                draw=rules.draw_name,
                hours=rules.confirmation_hours,
            )
        )
    for subject, body in rendered:
        text = f"{subject}\n{body}".replace(label, "")
        for other in _draw_names_of_others(protocol):
            assert not _mentions(text, other), (protocol, text)
        # Besides the dates and the days late, only the protocol's own numbers appear.
        text = re.sub(r"\d{4}-\d{2}-\d{2}( \d{2}:\d{2} \S+ \(UTC[+-]\d{4}\))?", "", text)
        text = re.sub(rf"\b{late} day\(s\)", "", text)
        for number in map(int, re.findall(r"\d+", text)):
            assert number in _numbers_of(protocol), (protocol, text)
