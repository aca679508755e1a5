"""HL7 v2 ORU^R01 results (ER7 text) into lab reports, and the ACK for each message.

Parsed with python-hl7 (`hl7.parse`); fields are read through the message's own separators so
repeated fields, components and subcomponents come out as the lab meant them. Escape sequences
are decoded here (`unescape`), not by python-hl7: every one has a bounded result (a formatting
command such as `\\.sp<n>\\` gives at most a few characters, whatever n says), and a malformed or
unknown one stays as literal text. No field longer than `MAX_FIELD_CHARS` is read: such a
message is refused (AR), and kept like every other. Where things are read:
- the lab: MSH-4 (sending facility), else MSH-3, unless the sender is a lab account (then the
  account's lab); the message control id: MSH-10;
- the patient: PID-3 (every repetition: id, assigning authority, which defaults to the lab),
  PID-5.1 (family name), PID-7 (date of birth);
- each order: OBR-3 (filler order number, the accession), else OBR-2, else none (the draw
  instant and value then tell a repeat); OBR-7 the draw time when an OBX has no OBX-14;
- each result: OBX-3 (code and coding system, and the alternate code), OBX-5 (value; NM, or SN
  with no comparator), OBX-6 (unit), OBX-11 (status), OBX-14 (draw time).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

import hl7
from django.conf import settings
from django.utils import timezone

from feeds.chunks import CHUNK_SIZE, FeedInput, feed_messages_process
from feeds.codes import CodeBook
from feeds.ingest import (
    ACCOUNT_OF_ACTOR,
    ACK_CODES,
    CANCELLED,
    CORRECTED,
    FINAL,
    HELD_FOR_REVIEW,
    PRELIMINARY,
    LabObservation,
    LabReport,
    MessageOutcome,
    PatientIdentity,
    Unreadable,
    feed_message_process,
    lab_account_of,
)
from feeds.models import FeedBatch, FeedMessageOutcome, LabAccount
from monitoring.models import ResultSource
from patients.models import User

MLLP_START, MLLP_END = "\x0b", "\x1c"
# The longest field read (characters); a message with a longer one is refused, and kept.
MAX_FIELD_CHARS = 16_384
# The most characters one escape sequence may stand for, and the longest sequence decoded.
_MAX_ESCAPE_OUTPUT = 4
_MAX_ESCAPE_LENGTH = 64
_SEGMENT_ID = re.compile(r"^[A-Z][A-Z0-9]{2}$")
_STATUSES = {"F": FINAL, "C": CORRECTED, "P": PRELIMINARY, "X": CANCELLED}
# Batch and file envelopes around messages (FHS/BHS ... BTS/FTS) carry no results.
_ENVELOPE = ("FHS", "BHS", "BTS", "FTS")


@dataclass(frozen=True)
class Acknowledged:
    er7: str
    outcome: MessageOutcome
    ack: str

    @property
    def code(self) -> str:
        return ack_code(self.outcome.message.outcome)

    def as_dict(self) -> dict[str, Any]:
        return {
            "control_id": self.outcome.message.control_id,
            "message": self.outcome.message.pk,
            "ack_code": self.code,
            "outcome": self.outcome.message.outcome,
            "detail": ack_text(self.outcome),
            "results": [item.as_dict() for item in self.outcome.items],
            "ack": self.ack,
        }


def hl7_ingest(
    *,
    text: str,
    actor: User,
    codes: CodeBook | None = None,
    channel: str = ResultSource.HL7,
    account: LabAccount | None = ACCOUNT_OF_ACTOR,
) -> list[Acknowledged]:
    """Apply every message in `text` and acknowledge each: one message in its own transaction,
    several a chunk at a time (`hl7_messages_ingest`). `account`: the lab the sender
    authenticated as (else looked up from `actor`)."""
    codes = codes or CodeBook.load()
    if account is ACCOUNT_OF_ACTOR:
        account = lab_account_of(actor)
    messages = split_messages(text)
    if len(messages) > 1:
        return hl7_messages_ingest(
            messages=messages, actor=actor, codes=codes, channel=channel, account=account
        )
    return [
        message_ingest(er7=er7, actor=actor, codes=codes, channel=channel, account=account)
        for er7 in messages
    ]


def hl7_messages_ingest(
    *,
    messages: Sequence[str],
    actor: User,
    codes: CodeBook | None = None,
    channel: str = ResultSource.HL7,
    account: LabAccount | None = ACCOUNT_OF_ACTOR,
    batch: FeedBatch | None = None,
    positions: Sequence[int] | None = None,
    chunk_size: int = CHUNK_SIZE,
) -> list[Acknowledged]:
    """`message_ingest` for each ER7 message, applied a chunk at a time (feeds/
    chunks.py): the same outcomes and acknowledgements, in the same order. `positions`: each
    message's place in `batch`."""
    inputs = [
        FeedInput(
            raw=er7,
            parse=partial(message_parse, er7),
            acknowledge=partial(ack_build, er7),
            position=None if positions is None else positions[n],
        )
        for n, er7 in enumerate(messages)
    ]
    outcomes = feed_messages_process(
        channel=ResultSource(channel),
        messages=inputs,
        actor=actor,
        codes=codes,
        account=account,
        batch=batch,
        chunk_size=chunk_size,
    )
    return [
        Acknowledged(er7, outcome, outcome.message.ack)
        for er7, outcome in zip(messages, outcomes, strict=True)
    ]


def message_ingest(
    *,
    er7: str,
    actor: User,
    codes: CodeBook | None = None,
    channel: str = ResultSource.HL7,
    account: LabAccount | None = ACCOUNT_OF_ACTOR,
    batch: FeedBatch | None = None,
    position: int | None = None,
) -> Acknowledged:
    """Keep, apply and acknowledge one ER7 message."""
    outcome = feed_message_process(
        channel=ResultSource(channel),
        raw=er7,
        actor=actor,
        parse=lambda: message_parse(er7),
        codes=codes or CodeBook.load(),
        account=account,
        acknowledge=lambda done: ack_build(er7, done),
        batch=batch,
        position=position,
    )
    return Acknowledged(er7, outcome, outcome.message.ack)


def split_messages(text: str) -> list[str]:
    """One ER7 text per message: segments end in CR (LF and CRLF are accepted too), each
    message starts at an MSH segment; MLLP framing and batch envelopes are dropped. Text before
    the first MSH is kept as a message of its own, so that it is answered (AR), not lost."""
    text = text.replace(MLLP_START, "").replace(MLLP_END, "")
    lines = [line for line in re.split(r"\r\n|\r|\n", text) if line.strip()]
    messages: list[list[str]] = []
    for line in lines:
        if line.startswith(_ENVELOPE):
            continue
        if line.startswith("MSH") or not messages:
            messages.append([line])
        else:
            messages[-1].append(line)
    return ["\r".join(segments) for segments in messages]


@dataclass
class _Separators:
    field: str = "|"
    component: str = "^"
    repetition: str = "~"
    escape: str = "\\"
    subcomponent: str = "&"


class _Reader:
    """Fields of one parsed message, split with its own separators and unescaped."""

    def __init__(self, message: Any) -> None:
        self.message = message
        encoding = str(message.segment("MSH")[2])
        chars = (encoding + "^~\\&")[:4]
        self.sep = _Separators(
            str(message.segment("MSH")[1]), chars[0], chars[1], chars[2], chars[3]
        )

    def field(self, segment: Any, number: int) -> str:
        try:
            return str(segment[number]) if len(segment) > number else ""
        except (IndexError, TypeError):
            return ""

    def repetitions(self, segment: Any, number: int) -> list[str]:
        return self.field(segment, number).split(self.sep.repetition)

    def component(self, text: str, number: int, sub: int | None = None) -> str:
        parts = text.split(self.sep.component)
        value = parts[number - 1] if len(parts) >= number else ""
        if sub is not None:
            subs = value.split(self.sep.subcomponent)
            value = subs[sub - 1] if len(subs) >= sub else ""
        return self.unescape(value).strip()

    def unescape(self, value: str) -> str:
        return unescape(value, self.sep)

    def first(self, segment: Any, number: int, component: int = 1, sub: int | None = None) -> str:
        return self.component(self.repetitions(segment, number)[0], component, sub)


def unescape(value: str, sep: _Separators) -> str:
    """Decode HL7 escape sequences (v2.5 §2.7) with a bounded result: separators (F S T R E),
    highlighting (H N, dropped), hex data (X, at most a few characters), and the formatting
    commands of FT text (.br .sp .sk .in .ti .fi .nf .ce) as at most `_MAX_ESCAPE_OUTPUT`
    characters each. A sequence that is malformed, unterminated, too long or not one of these
    (character-set switches C and M, local Z) stays as literal text."""
    escape = sep.escape
    if not escape or escape not in value:
        return value
    named = {
        "F": sep.field,
        "S": sep.component,
        "T": sep.subcomponent,
        "R": sep.repetition,
        "E": escape,
        "H": "",
        "N": "",
    }
    out: list[str] = []
    index = 0
    while index < len(value):
        start = value.find(escape, index)
        if start < 0:
            out.append(value[index:])
            break
        out.append(value[index:start])
        end = value.find(escape, start + 1, start + 2 + _MAX_ESCAPE_LENGTH)
        if end < 0:
            out.append(value[start:])  # unterminated: literal
            break
        decoded = _escape_sequence(value[start + 1 : end], named)
        if decoded is None:
            out.append(value[start : end + 1])
        else:
            out.append(decoded)
        index = end + 1
    return "".join(out)


_HEX = re.compile(r"^X((?:[0-9A-Fa-f]{2}){1,%d})$" % _MAX_ESCAPE_OUTPUT)  # noqa: UP031
_FORMATTING = re.compile(r"^\.(br|sp|sk|in|ti|fi|nf|ce)([+-]?\d{0,9})$")


def _escape_sequence(body: str, named: dict[str, str]) -> str | None:
    """What one escape sequence's body stands for, or None: keep it as literal text."""
    if body in named:
        return named[body]
    hexed = _HEX.match(body)
    if hexed:
        text = bytes.fromhex(hexed.group(1)).decode("latin-1")
        # Control characters (NUL above all, which no database text holds) stay escaped.
        return None if any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in text) else text
    formatting = _FORMATTING.match(body)
    if formatting is None:
        return None
    command, number = formatting.groups()
    if command in ("br", "sp"):
        count = int(number) if number.lstrip("+-") else 1
        return "\n" * max(1, min(count, _MAX_ESCAPE_OUTPUT)) if command == "sp" else "\n"
    if command == "sk":
        count = int(number) if number.lstrip("+-") else 1
        return " " * max(0, min(count, _MAX_ESCAPE_OUTPUT))
    return ""  # indentation, fill and centring do not change a value


def message_parse(er7: str) -> tuple[str, str, list[LabReport]]:
    """(control id, lab, reports) of one ORU^R01 message, or `Unreadable` saying why."""
    if not er7.startswith("MSH") or len(er7) < 8:
        raise Unreadable("not an HL7 v2 message: it must start with an MSH segment")
    for line in er7.split("\r"):
        if not _SEGMENT_ID.match(line[:3]) or (len(line) > 3 and line[3] != er7[3]):
            raise Unreadable(f"malformed segment: {line[:40]!r}")
        for number, text in enumerate(line.split(er7[3])):
            if len(text) > MAX_FIELD_CHARS:
                raise Unreadable(
                    f"field {line[:3]}-{number} holds {len(text)} characters; at most "
                    f"{MAX_FIELD_CHARS} are read"
                )
    try:
        message = _split(er7) or hl7.parse(er7)
        reader = _Reader(message)
    except Exception as error:  # noqa: BLE001 - any parser failure means unreadable
        raise Unreadable(f"unreadable HL7 message: {error}") from None
    msh = message.segment("MSH")
    kind = reader.first(msh, 9, 1), reader.first(msh, 9, 2)
    control_id = reader.first(msh, 10)
    if kind != ("ORU", "R01"):
        shown = "^".join(k for k in kind if k) or "(none)"
        raise Unreadable(f"message type {shown} is not supported; send ORU^R01", control_id)
    lab = reader.first(msh, 4) or reader.first(msh, 3)
    return control_id, lab, list(_reports(reader, message, lab, control_id))


class _Segments(list[list[str]]):
    """A message as python-hl7 splits it into segments and fields, each field its text."""

    def segment(self, name: str) -> list[str]:
        for segment in self:
            if segment[0] == name:
                return segment
        raise KeyError(name)


def _split(er7: str) -> _Segments | None:
    """The segments and fields `hl7.parse` would give (each field's text is what `str()` of
    python-hl7's field gives: the field as sent), without building python-hl7's containers for
    every repetition, component and subcomponent: most of a message's parsing time. None when
    the separators are not five distinct characters (python-hl7 reads such a message itself)."""
    text = er7.strip()
    field = text[3]
    end = text.find(field, 4)
    encoding = text[4:end]
    if end < 0 or len(encoding) != 4 or len({field, *encoding, "\r"}) != 6:
        return None
    segments = _Segments()
    for line in text.split("\r"):
        if line[:3] in ("MSH", "BHS", "FHS") and len(line) > 3:
            # The header's own separators are fields 1 and 2 (MSH-1, MSH-2).
            sep_end = line.find(line[3], 4)
            rest = line[sep_end + 1 :]
            head = [line[:3], line[3], line[4:sep_end]]
            segments.append(head + rest.split(field) if rest else head)
        else:
            segments.append(line.split(field))
    return segments


def _reports(reader: _Reader, message: Any, lab: str, control_id: str) -> Iterable[LabReport]:
    identity = PatientIdentity()
    report: LabReport | None = None
    for segment in message:
        name = str(segment[0])
        if name == "PID":
            if report is not None:
                yield report
                report = None
            identity = _identity(reader, segment, lab)
        elif name == "OBR":
            if report is not None:
                yield report
            # Without a filler or placer number the order has no accession: a resend then has
            # another control id, and only its draw and value show it is the same result.
            accession = reader.first(segment, 3) or reader.first(segment, 2)
            report = LabReport(
                lab=lab,
                accession=accession,
                identity=identity,
                observations=[],
                drawn_at=hl7_instant(reader.first(segment, 7)),
            )
        elif name == "OBX":
            if report is None:
                report = LabReport(lab, "", identity, [], None)
            report.observations.append(_observation(reader, segment))
    if report is not None:
        yield report


def _identity(reader: _Reader, pid: Any, lab: str) -> PatientIdentity:
    identifiers = []
    for repetition in reader.repetitions(pid, 3):
        value = reader.component(repetition, 1)
        if not value:
            continue
        # No assigning authority: the sending lab's own number (filled in by the feed path).
        issuer = reader.component(repetition, 4, 1) or reader.component(repetition, 4, 2)
        identifiers.append((issuer, value))
    return PatientIdentity(
        identifiers=identifiers,
        last_name=reader.first(pid, 5, 1, 1),
        date_of_birth=_date(reader.first(pid, 7)),
    )


def _observation(reader: _Reader, obx: Any) -> LabObservation:
    code = reader.field(obx, 3)
    codes = [
        (reader.component(code, 1), reader.component(code, 3)),
        (reader.component(code, 4), reader.component(code, 6)),
    ]
    raw_status = reader.first(obx, 11).upper()
    status = _STATUSES.get(raw_status, f"unsupported:{raw_status or '(none)'}")
    return LabObservation(
        codes=[pair for pair in codes if pair[0]],
        value=_value(reader, obx),
        unit=reader.first(obx, 6),
        status=status,
        reference=f"OBX {reader.first(obx, 1) or '?'}",
        drawn_at=hl7_instant(reader.first(obx, 14)),
    )


def _value(reader: _Reader, obx: Any) -> str:
    text = reader.repetitions(obx, 5)[0]
    if reader.first(obx, 2) == "SN":
        comparator, number, separator = (reader.component(text, i) for i in (1, 2, 3))
        if comparator in ("", "=") and not separator:
            return number
        return "".join(reader.component(text, i) for i in (1, 2, 3, 4))
    return reader.unescape(text).strip()


_TS = re.compile(r"^(\d{8})(\d{2})?(\d{2})?(\d{2})?(?:\.\d{1,4})?([+-]\d{4})?$")


def hl7_instant(text: str) -> datetime | None:
    """An HL7 TS/DTM as an aware instant. No offset: the clinic's time zone; no time: 00:00
    there (never later than the draw can have been)."""
    match = _TS.match(text.strip())
    if not match:
        return None
    day, hour, minute, second, offset = match.groups()
    try:
        moment = datetime.strptime(
            f"{day}{hour or '00'}{minute or '00'}{second or '00'}", "%Y%m%d%H%M%S"
        )
    except ValueError:
        return None
    if offset:
        try:
            return datetime.strptime(moment.strftime("%Y%m%d%H%M%S") + offset, "%Y%m%d%H%M%S%z")
        except ValueError:
            return None
    return timezone.make_aware(moment, ZoneInfo(settings.TIME_ZONE))


def _date(text: str) -> date | None:
    try:
        return datetime.strptime(text.strip()[:8], "%Y%m%d").date()
    except ValueError:
        return None


# --- acknowledgements -----------------------------------------------------------------------


def ack_code(outcome: str) -> str:
    return ACK_CODES[FeedMessageOutcome(outcome)]


def ack_text(outcome: MessageOutcome) -> str:
    """MSA-3: what became of the message, in words that say nothing of our patients (a held
    result gives its reference only; administrators read why it was held)."""
    message = outcome.message
    if message.outcome == FeedMessageOutcome.ACCEPTED:
        stored = sum(1 for i in outcome.items if i.outcome in ("stored", "replaced"))
        return f"accepted: {stored} result(s) stored, {len(outcome.items)} observation(s) read"
    if message.outcome == FeedMessageOutcome.QUARANTINED:
        held = [
            f"{i.reference} (reference Q{i.quarantine_id})"
            for i in outcome.items
            if i.outcome == "quarantined"
        ]
        return f"{HELD_FOR_REVIEW}: " + "; ".join(held)
    if message.outcome in (FeedMessageOutcome.FAILED, FeedMessageOutcome.RECEIVED):
        return f"processing failed; the message is kept and retried (reference M{message.pk})"
    return message.detail


def ack_build(er7: str, outcome: MessageOutcome) -> str:
    """The ACK for one message: MSH addressed back to its sender, MSA with the code, the
    original control id and a text saying why."""
    fields = er7.split("\r", 1)[0].split("|") if er7.startswith("MSH|") else []

    def msh(n: int) -> str:
        return fields[n - 1] if len(fields) >= n else ""

    code = ack_code(outcome.message.outcome)
    now = timezone.now().strftime("%Y%m%d%H%M%S+0000")
    control = f"ACK{outcome.message.pk}"
    header = "|".join(
        ["MSH", "^~\\&", "CLOZREMS", "CLOZREMS", msh(3), msh(4), now, "", "ACK^R01^ACK"]
        + [control, msh(11) or "P", msh(12) or "2.5.1"]
    )
    original = _escape(outcome.message.control_id or msh(10))
    return f"{header}\rMSA|{code}|{original}|{_escape(ack_text(outcome))[:500]}"


def _escape(text: str) -> str:
    table = {"\\": "\\E\\", "|": "\\F\\", "^": "\\S\\", "&": "\\T\\", "~": "\\R\\"}
    return "".join(table.get(ch, ch) for ch in text.replace("\r", " ").replace("\n", " "))
