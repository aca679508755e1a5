"""The one path every lab feed takes (HL7 v2, FHIR, CSV): a channel parses what it received into
`LabReport`s, and `feed_message_process` matches the patient, maps the codes, derives an ANC
from WBC and neutrophil percent when that is all the lab sent, and stores each result through
`anc_result_record`, the service manual entry uses. What cannot be applied is quarantined with
the raw message and the reason; nothing is dropped.

Readings chosen here (issue 4 is silent on them), each the safer one for the patient:
- A patient is matched by an identifier the lab sends (issuer + value) first. When that
  identifier's patient has another date of birth or last name than the message says, the result
  is quarantined (`identity_mismatch`) rather than filed: a wrong-patient result is worse than a
  late one. Without an identifier match, last name (case-insensitive, otherwise exact) and date
  of birth must name exactly one patient.
- Result status: F final, C corrected, P preliminary (stored, never decides), X cancelled
  (nothing stored). Any other status (W "posted as wrong", D, I, R, S, ...) is quarantined for
  an administrator: the product does not guess what a lab meant by it.
- A draw time without a UTC offset is read in the clinic's time zone; a date without a time is
  read as 00:00 there, so the result is never taken as more recent than it can be.
- The derived ANC is floor(WBC/µL x percent / 100), so rounding never lifts it into a better
  band; a derived result is final only when both inputs are.
- WBC (issue 9). For a patient whose protocol reads the white cell count (uk-cpms), every WBC
  the lab sends (6690-2, 26464-8, 804-5, or a local code mapped to one) is stored too, as a
  result of analyte `wbc` with the draw time and accession of its report, so the history
  selector pairs it with the ANC of the same draw; a WBC sent alone is stored as well (an
  incomplete set can still show red). For a patient on an ANC-only protocol (us-label-2015),
  WBC is used only to derive an ANC, as before. A WBC whose patient cannot be matched is not
  held in quarantine (its protocol is unknown); the ANC of the same report is.
- A report whose observations are all unknown codes is quarantined (`unknown_code`): the lab may
  have changed its codes, and an administrator can map them. Unknown codes next to a count the
  rules read (the rest of a CBC) are ignored.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_FLOOR, Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from clozrems.errors import FieldInvalid, StateConflict
from monitoring.engine.protocols import get_protocol
from monitoring.feeds.codes import Analyte, CodeBook
from monitoring.models import (
    FeedMessage,
    FeedMessageOutcome,
    QuarantinedResult,
    QuarantineReason,
    QuarantineStatus,
    ResultSource,
    ResultStatus,
)
from monitoring.services import anc_result_record
from monitoring.units import PERCENT_UNITS, UNIT_FACTORS, UnitError, canonical_unit
from monitoring.units import to_per_ul as unit_to_per_ul
from patients.models import Patient, PatientIdentifier, User

logger = logging.getLogger(__name__)

# Normalized observation statuses; `unsupported:<raw>` for anything else.
FINAL, CORRECTED, PRELIMINARY, CANCELLED = "final", "corrected", "preliminary", "cancelled"
_RECORDED_STATUS = {
    FINAL: ResultStatus.FINAL,
    CORRECTED: ResultStatus.CORRECTED,
    PRELIMINARY: ResultStatus.PRELIMINARY,
}


@dataclass
class PatientIdentity:
    identifiers: list[tuple[str, str]] = field(default_factory=list)  # (issuer, value)
    last_name: str = ""
    date_of_birth: date | None = None
    patient_id: int | None = None  # a direct reference to our own id (FHIR Patient/ID)


@dataclass
class LabObservation:
    codes: list[tuple[str, str]]  # (code, coding system) as sent
    value: str
    unit: str
    status: str
    reference: str  # where it was in the message: "OBX 3", "row 12", "entry 2"
    drawn_at: datetime | None = None
    accession: str = ""
    # Observations of one group make one result set (a WBC and a percent derive an ANC);
    # empty: the accession groups them.
    group: str = ""


@dataclass
class LabReport:
    lab: str
    accession: str
    identity: PatientIdentity
    observations: list[LabObservation]
    drawn_at: datetime | None = None


@dataclass
class ItemOutcome:
    reference: str
    outcome: str  # stored, replaced, preliminary, duplicate, ignored, quarantined
    detail: str = ""
    result_id: int | None = None
    quarantine_id: int | None = None
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "reference": self.reference,
            "outcome": self.outcome,
            "detail": self.detail,
            "result": self.result_id,
            "quarantine": self.quarantine_id,
            "reason": self.reason or None,
        }


@dataclass
class MessageOutcome:
    message: FeedMessage
    items: list[ItemOutcome]

    @property
    def outcome(self) -> str:
        return self.message.outcome

    def reasons(self) -> list[str]:
        return [f"{i.reference}: {i.detail}" for i in self.items if i.outcome == "quarantined"]


class Refusal(Exception):
    """A result cannot be applied: it goes to quarantine with this reason."""

    def __init__(self, reason: QuarantineReason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass
class _Candidate:
    """One ANC to store: reported, or derived from WBC and neutrophil percent."""

    reference: str
    accession: str
    status: str
    value: str
    unit: str
    drawn_at: datetime | None
    derivation: dict[str, Any] = field(default_factory=dict)
    inputs: tuple[LabObservation, ...] = ()
    analyte: str = Analyte.ANC


def feed_message_process(
    *,
    channel: ResultSource,
    raw: str,
    actor: User,
    parse: Callable[[], tuple[str, str, Sequence[LabReport]]],
    codes: CodeBook | None = None,
    now: datetime | None = None,
    message: FeedMessage | None = None,
) -> MessageOutcome:
    """Parse and apply one message in one transaction. `parse` returns (control id, lab,
    reports) and may raise `Unreadable`; a failure half-way rolls the whole message back and
    keeps it as `failed`, to be retried. Pass `message` to retry a kept one."""
    codes = codes or CodeBook.load()
    now = now or timezone.now()
    if "\x00" in raw:
        # No lab message holds NUL, and PostgreSQL text cannot: kept with U+FFFD in its place.
        shown = raw.replace("\x00", "\ufffd")
        detail = "the message contains NUL (0x00) characters; refused"
        return MessageOutcome(
            _keep(message, channel, shown, actor, FeedMessageOutcome.REJECTED, detail), []
        )
    try:
        control_id, lab, reports = parse()
    except Unreadable as error:
        kept = _keep(message, channel, raw, actor, FeedMessageOutcome.REJECTED, str(error))
        if error.control_id:
            kept.control_id = error.control_id[:100]
            FeedMessage.objects.filter(pk=kept.pk).update(control_id=kept.control_id)
        return MessageOutcome(kept, [])
    try:
        with transaction.atomic():
            kept = _keep(message, channel, raw, actor, FeedMessageOutcome.ACCEPTED, "")
            kept.control_id, kept.lab = control_id[:100], lab[:100]
            items: list[ItemOutcome] = []
            for report in reports:
                items += report_ingest(
                    report=report, channel=channel, actor=actor, message=kept, codes=codes, now=now
                )
            held = [i for i in items if i.outcome == "quarantined"]
            kept.outcome = FeedMessageOutcome.QUARANTINED if held else FeedMessageOutcome.ACCEPTED
            kept.detail = "; ".join(f"{i.reference}: {i.detail}" for i in held)[:2000]
            kept.ack_code = ACK_CODES[FeedMessageOutcome(kept.outcome)]
            kept.save(
                update_fields=["control_id", "lab", "outcome", "ack_code", "detail", "attempts"]
            )
            return MessageOutcome(kept, items)
    except Exception as error:  # noqa: BLE001 - kept and retried, never lost
        logger.exception("feed message processing failed; kept for retry")
        detail = f"processing failed: {type(error).__name__}: {error}"[:2000]
        kept = _keep(message, channel, raw, actor, FeedMessageOutcome.FAILED, detail)
        kept.control_id, kept.lab = control_id[:100], lab[:100]
        FeedMessage.objects.filter(pk=kept.pk).update(control_id=kept.control_id, lab=kept.lab)
        return MessageOutcome(kept, [])


class Unreadable(Exception):
    """The message cannot be read at all, or is not a result message (HL7 AR)."""

    def __init__(self, message: str, control_id: str = "") -> None:
        super().__init__(message)
        self.control_id = control_id


# The HL7 acknowledgement for each outcome; the other channels keep it for the record.
ACK_CODES = {
    FeedMessageOutcome.ACCEPTED: "AA",
    FeedMessageOutcome.QUARANTINED: "AE",
    FeedMessageOutcome.FAILED: "AE",
    FeedMessageOutcome.REJECTED: "AR",
}


def _keep(
    message: FeedMessage | None,
    channel: ResultSource,
    raw: str,
    actor: User,
    outcome: FeedMessageOutcome,
    detail: str,
) -> FeedMessage:
    code = ACK_CODES[outcome]
    if message is None:
        return FeedMessage.objects.create(
            channel=channel,
            raw=raw,
            received_by=actor,
            outcome=outcome,
            ack_code=code,
            detail=detail[:2000],
        )
    # A retry keeps the message's row and counts the attempt.
    message.outcome, message.detail, message.ack_code = outcome, detail[:2000], code
    FeedMessage.objects.filter(pk=message.pk).update(
        outcome=outcome, ack_code=code, detail=detail[:2000], attempts=message.attempts
    )
    return message


def report_ingest(
    *,
    report: LabReport,
    channel: ResultSource,
    actor: User,
    message: FeedMessage,
    codes: CodeBook,
    now: datetime,
) -> list[ItemOutcome]:
    """Apply one report (one order, one patient): every observation gets an outcome."""
    outcomes: list[ItemOutcome] = []
    by_analyte: dict[str, dict[Analyte, list[LabObservation]]] = {}
    unknown: list[LabObservation] = []
    for obs in report.observations:
        analyte = codes.analyte_for(lab=report.lab, codes=obs.codes)
        if analyte is None:
            unknown.append(obs)
            continue
        group = obs.group or obs.accession or report.accession
        by_analyte.setdefault(group, {}).setdefault(analyte, []).append(obs)

    if not by_analyte:
        if unknown:
            first = unknown[0]
            names = ", ".join(sorted({c for o in unknown for c, _ in o.codes[:1]}))
            outcomes.append(
                _quarantine(
                    report=report,
                    message=message,
                    candidate=_Candidate(
                        first.reference,
                        first.accession or report.accession,
                        first.status,
                        first.value,
                        first.unit,
                        first.drawn_at or report.drawn_at,
                    ),
                    refusal=Refusal(
                        QuarantineReason.UNKNOWN_CODE,
                        f"no count the rules read: codes {names} are not mapped to LOINC "
                        "751-8/26499-4/753-4 (ANC), WBC or neutrophil percent",
                    ),
                    patient=None,
                )
            )
        return outcomes
    outcomes += [
        ItemOutcome(o.reference, "ignored", f"code {_code(o)} is not a count the rules read")
        for o in unknown
    ]

    candidates: list[_Candidate] = []
    for found in by_analyte.values():
        made, notes = _candidates(report.accession, found, report.drawn_at)
        candidates += made
        outcomes += notes

    patient: Patient | None = None
    refused: Refusal | None = None
    try:
        patient = patient_match(identity=report.identity)
        _still_matches(patient, report.identity)
    except Refusal as refusal:
        refused = refusal
    if (
        patient is not None
        and refused is None
        and Analyte.WBC in get_protocol(patient.protocol).analytes
    ):
        wbc_candidates = _wbc_candidates(report, by_analyte)
        stored_refs = {c.reference for c in wbc_candidates}
        outcomes = [o for o in outcomes if o.reference not in stored_refs]
        candidates += wbc_candidates
    for candidate in candidates:
        outcomes.append(
            _apply(
                candidate=candidate,
                report=report,
                patient=patient,
                identity_refusal=refused,
                channel=channel,
                actor=actor,
                message=message,
                now=now,
            )
        )
    return outcomes


def _code(obs: LabObservation) -> str:
    return obs.codes[0][0] if obs.codes else "(none)"


def _wbc_candidates(
    report: LabReport, by_analyte: dict[str, dict[Analyte, list[LabObservation]]]
) -> list[_Candidate]:
    """The WBC of each group (the last one sent), to store next to its ANC (issue 9)."""
    made = []
    for found in by_analyte.values():
        wbcs = found.get(Analyte.WBC, [])
        if wbcs:
            o = wbcs[-1]
            made.append(
                _Candidate(
                    o.reference,
                    o.accession or report.accession,
                    o.status,
                    o.value,
                    o.unit,
                    o.drawn_at or report.drawn_at,
                    analyte=Analyte.WBC,
                )
            )
    return made


def _candidates(
    accession: str, found: dict[Analyte, list[LabObservation]], default_drawn: datetime | None
) -> tuple[list[_Candidate], list[ItemOutcome]]:
    notes: list[ItemOutcome] = []
    ancs = found.get(Analyte.ANC, [])
    wbcs = found.get(Analyte.WBC, [])
    percents = found.get(Analyte.NEUTROPHIL_PERCENT, [])
    if ancs:
        notes += [
            ItemOutcome(o.reference, "ignored", "an absolute count was sent; not used")
            for o in (*wbcs, *percents)
        ]
        made = [
            _Candidate(
                o.reference,
                o.accession or accession,
                o.status,
                o.value,
                o.unit,
                o.drawn_at or default_drawn,
            )
            for o in ancs
        ]
        return made, notes
    if wbcs and percents:
        wbc, percent = wbcs[-1], percents[-1]
        notes += [
            ItemOutcome(o.reference, "ignored", "a later count of the same kind was used")
            for o in (*wbcs[:-1], *percents[:-1])
        ]
        statuses = {wbc.status, percent.status}
        status = next(
            (s for s in statuses if s.startswith("unsupported:")),
            CANCELLED
            if CANCELLED in statuses
            else PRELIMINARY
            if PRELIMINARY in statuses
            else CORRECTED
            if CORRECTED in statuses
            else FINAL,
        )
        drawn = wbc.drawn_at or percent.drawn_at or default_drawn
        if wbc.accession and percent.accession and wbc.accession != percent.accession:
            accession = f"{wbc.accession}+{percent.accession}"
        else:
            accession = wbc.accession or percent.accession or accession
        derived = _Candidate(
            f"{wbc.reference} + {percent.reference}",
            accession,
            status,
            "",
            "",
            drawn,
            inputs=(wbc, percent),
        )
        return [derived], notes
    lone = wbcs or percents
    notes += [
        ItemOutcome(
            o.reference,
            "ignored",
            "WBC and neutrophil percent are both needed to derive an ANC; only one was sent",
        )
        for o in lone
    ]
    return [], notes


def _apply(
    *,
    candidate: _Candidate,
    report: LabReport,
    patient: Patient | None,
    identity_refusal: Refusal | None,
    channel: ResultSource,
    actor: User,
    message: FeedMessage,
    now: datetime,
) -> ItemOutcome:
    if candidate.status == CANCELLED:
        return ItemOutcome(candidate.reference, "ignored", "cancelled by the lab (status X)")
    try:
        if candidate.status.startswith("unsupported:"):
            raw = candidate.status.split(":", 1)[1]
            raise Refusal(
                QuarantineReason.UNSUPPORTED_STATUS,
                f"result status {raw!r} is not F, C, P or X; an administrator decides",
            )
        if candidate.inputs:
            _derivation_inputs(candidate)
            _derive(candidate)
        value = _number(candidate.value, candidate.analyte.upper())
        _known_unit(candidate.unit)
        if candidate.drawn_at is None:
            raise Refusal(QuarantineReason.BAD_DRAW_TIME, "no draw time (OBX-14 or OBR-7)")
        if identity_refusal is not None:
            raise identity_refusal
        if patient is None:  # pragma: no cover - patient_match raises instead
            raise Refusal(QuarantineReason.UNMATCHED, "no patient")
        try:
            recorded = anc_result_record(
                patient=patient,
                actor=actor,
                drawn_at=candidate.drawn_at,
                value=value,
                unit=candidate.unit,
                accession=candidate.accession,
                lab=report.lab,
                source=channel,
                status=_RECORDED_STATUS[candidate.status],
                derivation=candidate.derivation or None,
                now=now,
                analyte=candidate.analyte,
            )
        except FieldInvalid as error:
            raise _refusal_of(error) from None
        except StateConflict as error:
            raise Refusal(QuarantineReason.CONFLICT, error.message) from None
    except Refusal as refusal:
        return _quarantine(
            report=report,
            message=message,
            candidate=candidate,
            refusal=refusal,
            patient=patient,
        )
    result = recorded.result
    if not recorded.created:
        detail = (
            "a final result is already stored; the preliminary one is not kept"
            if recorded.stale
            else "already stored"
        )
        return ItemOutcome(
            candidate.reference, "ignored" if recorded.stale else "duplicate", detail, result.pk
        )
    if result.status == ResultStatus.PRELIMINARY:
        return ItemOutcome(candidate.reference, "preliminary", "stored, not used", result.pk)
    kind = "replaced" if result.corrects_id else "stored"
    label = candidate.analyte.upper()
    detail = f"{label} {result.value_per_ul}/µL" + (" (derived)" if result.derived else "")
    return ItemOutcome(candidate.reference, kind, detail, result.pk)


def _number(text: str, what: str) -> Decimal:
    try:
        value = Decimal(text.strip())
    except (InvalidOperation, AttributeError):
        raise Refusal(
            QuarantineReason.IMPLAUSIBLE, f"{what} value {text!r} is not a number"
        ) from None
    if not value.is_finite():
        raise Refusal(QuarantineReason.IMPLAUSIBLE, f"{what} value {text!r} is not a number")
    return value


def _known_unit(unit: str) -> None:
    if canonical_unit(unit) not in UNIT_FACTORS:
        shown = unit.strip() or "(none)"
        raise Refusal(QuarantineReason.UNKNOWN_UNIT, f"unknown unit {shown}")


def _derivation_inputs(candidate: _Candidate) -> None:
    """Keep the inputs as received, so a quarantined derivation can be redone."""
    wbc, percent = candidate.inputs
    candidate.derivation = {
        "formula": "ANC = WBC x neutrophil percent / 100",
        "wbc": {"value": wbc.value.strip(), "unit": wbc.unit.strip()},
        "neutrophil_percent": {"value": percent.value.strip(), "unit": percent.unit.strip()},
        "references": [wbc.reference, percent.reference],
    }


def derived_anc(derivation: dict[str, Any], *, wbc_unit: str | None = None) -> tuple[int, int]:
    """(ANC, WBC) in cells/µL from kept inputs; `Refusal` when they do not make one."""
    wbc, percent = derivation["wbc"], derivation["neutrophil_percent"]
    unit = wbc_unit or wbc["unit"]
    wbc_value = _number(wbc["value"], "WBC")
    _known_unit(unit)
    try:
        wbc_per_ul = unit_to_per_ul(wbc_value, unit)
    except UnitError as error:
        raise Refusal(QuarantineReason.IMPLAUSIBLE, f"WBC: {error.message}") from None
    share = _number(percent["value"], "neutrophil percent")
    if percent["unit"] not in PERCENT_UNITS:
        raise Refusal(
            QuarantineReason.UNKNOWN_UNIT,
            f"unknown neutrophil percent unit {percent['unit'] or '(none)'}",
        )
    if not Decimal(0) <= share <= Decimal(100):
        raise Refusal(QuarantineReason.IMPLAUSIBLE, f"neutrophil percent {share} is not 0-100")
    anc = int((wbc_per_ul * share / 100).to_integral_value(rounding=ROUND_FLOOR))
    return anc, wbc_per_ul


def _derive(candidate: _Candidate) -> None:
    anc, wbc_per_ul = derived_anc(candidate.derivation)
    candidate.value, candidate.unit = str(anc), "/uL"
    candidate.derivation["wbc"]["per_ul"] = wbc_per_ul


def _refusal_of(error: FieldInvalid) -> Refusal:
    reason = {
        "unit": QuarantineReason.UNKNOWN_UNIT,
        "drawn_at": QuarantineReason.BAD_DRAW_TIME,
    }.get(error.field, QuarantineReason.IMPLAUSIBLE)
    return Refusal(reason, f"{error.field}: {error.message}")


def _already_held(report: LabReport, candidate: _Candidate) -> QuarantinedResult | None:
    if not candidate.accession:
        return None
    return QuarantinedResult.objects.filter(
        status=QuarantineStatus.OPEN,
        lab=report.lab,
        accession=candidate.accession,
        analyte=candidate.analyte,
        value=candidate.value[:50],
        unit=candidate.unit[:20],
        result_status=candidate.status[:20],
    ).first()


def _quarantine(
    *,
    report: LabReport,
    message: FeedMessage,
    candidate: _Candidate,
    refusal: Refusal,
    patient: Patient | None,
) -> ItemOutcome:
    held = _already_held(report, candidate)
    if held is None:
        held = QuarantinedResult.objects.create(
            message=message,
            reason=refusal.reason,
            detail=refusal.detail[:500],
            lab=report.lab[:100],
            accession=candidate.accession[:100],
            analyte=candidate.analyte,
            value=candidate.value[:50],
            unit=candidate.unit[:20],
            drawn_at=candidate.drawn_at,
            result_status=candidate.status[:20],
            derivation=candidate.derivation,
            patient_identifiers=[list(pair) for pair in report.identity.identifiers],
            last_name=report.identity.last_name[:100],
            date_of_birth=report.identity.date_of_birth,
            patient=patient,
        )
    return ItemOutcome(
        candidate.reference,
        "quarantined",
        refusal.detail,
        quarantine_id=held.pk,
        reason=refusal.reason,
    )


def patient_match(*, identity: PatientIdentity) -> Patient:
    """The one patient the identity names, or a `Refusal` saying why not."""
    if identity.patient_id is not None:
        patient = Patient.objects.filter(pk=identity.patient_id).first()
        if patient is None:
            raise Refusal(QuarantineReason.UNMATCHED, f"no patient {identity.patient_id}")
        return patient
    pairs = [(i.strip(), v.strip()) for i, v in identity.identifiers if v.strip()]
    if pairs:
        query = Q()
        for issuer, value in pairs:
            query |= Q(issuer=issuer, value=value)
        named = list(
            Patient.objects.filter(
                identifiers__in=PatientIdentifier.objects.filter(query)
            ).distinct()[:2]
        )
        if len(named) > 1:
            raise Refusal(
                QuarantineReason.AMBIGUOUS,
                "the identifiers sent name different patients: "
                + ", ".join(f"{i}|{v}" for i, v in pairs),
            )
        if named:
            return named[0]
    if identity.last_name.strip() and identity.date_of_birth is not None:
        found = list(
            Patient.objects.filter(
                last_name__iexact=identity.last_name.strip(),
                date_of_birth=identity.date_of_birth,
            )[:2]
        )
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise Refusal(
                QuarantineReason.AMBIGUOUS,
                f"more than one patient named {identity.last_name.strip()} born "
                f"{identity.date_of_birth}; record the lab's MRN on the right one",
            )
    shown = ", ".join(f"{i}|{v}" for i, v in pairs) or "no identifier"
    raise Refusal(
        QuarantineReason.UNMATCHED,
        f"no patient matches ({shown}; {identity.last_name or 'no name'}, "
        f"born {identity.date_of_birth or 'unknown'})",
    )


def _still_matches(patient: Patient, identity: PatientIdentity) -> None:
    """An identifier match must not contradict the demographics the lab also sent."""
    if identity.patient_id is None and not identity.identifiers:
        return
    if identity.date_of_birth is not None and identity.date_of_birth != patient.date_of_birth:
        raise _Mismatch(f"date of birth {identity.date_of_birth} differs from the patient's")
    if identity.last_name.strip() and (
        identity.last_name.strip().casefold() != patient.last_name.casefold()
    ):
        raise _Mismatch(f"last name {identity.last_name.strip()!r} differs from the patient's")


class _Mismatch(Refusal):
    def __init__(self, detail: str) -> None:
        super().__init__(QuarantineReason.IDENTITY_MISMATCH, detail)
