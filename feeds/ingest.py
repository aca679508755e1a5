"""The one path every lab feed takes (HL7 v2, FHIR, CSV): a channel parses what it received into
`LabReport`s, and `feed_message_process` matches the patient, maps the codes, derives an ANC
from WBC and neutrophil percent when that is all the lab sent, and stores each result through
`anc_result_record`, the service manual entry uses. What cannot be applied is quarantined with
the raw message and the reason; nothing is dropped.

Readings chosen here (where the sources leave room), each the safer one for the patient:
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
- WBC. For a patient whose protocol reads the white cell count (uk-cpms), every WBC
  the lab sends (6690-2, 26464-8, 804-5, or a local code mapped to one) is stored too, as a
  result of analyte `wbc` with the draw time and accession of its report, so the history
  selector pairs it with the ANC of the same draw; a WBC sent alone is stored as well (an
  incomplete set can still show red). For a patient on an ANC-only protocol (us-label-2015),
  WBC is used only to derive an ANC, as before. A WBC whose patient cannot be matched is not
  held in quarantine (its protocol is unknown); the ANC of the same report is.
- A report whose observations are all unknown codes is quarantined (`unknown_code`): the lab may
  have changed its codes, and an administrator can map them. Unknown codes next to a count the
  rules read (the rest of a CBC) are ignored. Band neutrophils (docs/rules.md §8) are never
  read as the neutrophil count or percent; segmented + band percentages derive an ANC only
  through a local code an administrator mapped to segmented neutrophils and confirmed.
- A lab account (`LabAccount`) speaks for one lab: its results are recorded under that lab's
  name whatever the message says, and an identifier without an issuer is read as that lab's.
  A result matched on last name and date of birth alone (no identifier we know) is held
  (`demographic_match_only`) unless the account allows such matches (off by default).
- The same result sent again without an accession (same lab, patient, analyte, draw instant and
  value) is stored once, whatever the channel (`feed_result_record`). Manual entry is left out
  on purpose: a clinician who voids a result and types the same value again means it.
- Every message is kept before it is read (`received`), in its own write, so neither a parser
  failure nor a rolled-back transaction loses it; a crash leaves it for the retry task.
- What the lab is told never depends on who our patients are: a held result is answered
  "held for review" with its reference, whatever the reason (an unknown patient, a birth date
  that differs, a name-only match); the reasons are for administrators.
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
from engine.protocols import get_protocol
from feeds.codes import Analyte, CodeBook
from feeds.models import (
    FeedBatch,
    FeedMessage,
    FeedMessageOutcome,
    LabAccount,
    PatientIdentifier,
    QuarantinedResult,
    QuarantineReason,
    QuarantineStatus,
)
from monitoring.models import LabResult, ResultSource, ResultStatus
from monitoring.services import RecordedResult, anc_result_record
from monitoring.units import PERCENT_UNITS, UNIT_FACTORS, UnitError, canonical_unit
from monitoring.units import to_per_ul as unit_to_per_ul
from patients.models import Patient, User

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
    # The stored result and the quarantine entry the outcome names: a chunk inserts them after
    # the outcome is made, and gives the ids then.
    stored: LabResult | None = field(default=None, repr=False, compare=False)
    held: QuarantinedResult | None = field(default=None, repr=False, compare=False)

    @property
    def lab_detail(self) -> str:
        """What the lab is told: a held result's reason may reveal who our patients are."""
        if self.outcome == "quarantined":
            return f"{HELD_FOR_REVIEW}, reference Q{self.quarantine_id}"
        return self.detail

    def as_dict(self) -> dict[str, Any]:
        """The outcome as the lab sees it (a held result: its reference, never its reason)."""
        return {
            "reference": self.reference,
            "outcome": self.outcome,
            "detail": self.lab_detail,
            "result": self.result_id,
            "quarantine": self.quarantine_id,
            "reason": None if self.outcome == "quarantined" else (self.reason or None),
        }


HELD_FOR_REVIEW = "held for review"


@dataclass
class MessageOutcome:
    message: FeedMessage
    items: list[ItemOutcome]

    @property
    def outcome(self) -> str:
        return self.message.outcome

    def held(self) -> list[str]:
        """The held results as the lab is told of them."""
        return [f"{i.reference}: {i.lab_detail}" for i in self.items if i.outcome == "quarantined"]


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
    # (WBC, neutrophil percent) or (WBC, segmented percent, band percent)
    inputs: tuple[LabObservation, ...] = ()
    analyte: str = Analyte.ANC


def lab_account_of(user: User) -> LabAccount | None:
    """The lab account a feed user speaks for, if one is configured."""
    return LabAccount.objects.filter(user=user).first()


# The default of `account`: look the lab account up from the actor (None is "no account").
ACCOUNT_OF_ACTOR: Any = object()


def feed_message_process(
    *,
    channel: ResultSource,
    raw: str,
    actor: User,
    parse: Callable[[], tuple[str, str, Sequence[LabReport]]],
    codes: CodeBook | None = None,
    now: datetime | None = None,
    message: FeedMessage | None = None,
    account: LabAccount | None = ACCOUNT_OF_ACTOR,
    acknowledge: Callable[[MessageOutcome], str] | None = None,
    batch: FeedBatch | None = None,
    position: int | None = None,
    filer: Filer | None = None,
) -> MessageOutcome:
    """Keep one message, then parse and apply it in one transaction. `parse` returns
    (control id, lab, reports) and may raise `Unreadable`; a failure half-way rolls the results
    back and keeps the message as `failed`, to be retried. Pass `message` to retry a kept one,
    `account` (else looked up from `actor`) for the lab the sender speaks for,
    `acknowledge` to build the acknowledgement kept with the message, and `filer` for how
    patients are found and results stored (a clinician's batch: feeds/clinic_batch.py)."""
    codes = codes or CodeBook.load()
    now = now or timezone.now()
    if account is ACCOUNT_OF_ACTOR:
        account = lab_account_of(actor)
    if "\x00" in raw:
        # No lab message holds NUL, and PostgreSQL text cannot: kept with U+FFFD in its place.
        shown = raw.replace("\x00", "\ufffd")
        detail = "the message contains NUL (0x00) characters; refused"
        kept = _keep(
            message, channel, shown, actor, FeedMessageOutcome.REJECTED, detail, batch, position
        )
        return _finish(MessageOutcome(kept, []), acknowledge)
    # Kept before it is read, in a write of its own: nothing below can lose it.
    kept = _keep(message, channel, raw, actor, FeedMessageOutcome.RECEIVED, "", batch, position)
    try:
        control_id, lab, reports = parse()
    except Unreadable as error:
        kept = _keep(kept, channel, raw, actor, FeedMessageOutcome.REJECTED, str(error))
        if error.control_id:
            kept.control_id = error.control_id[:100]
            FeedMessage.objects.filter(pk=kept.pk).update(control_id=kept.control_id)
        return _finish(MessageOutcome(kept, []), acknowledge)
    except Exception as error:  # noqa: BLE001 - a parser fault: kept and retried, never lost
        logger.exception("feed message could not be parsed; kept for retry")
        detail = f"processing failed: {type(error).__name__}: {error}"[:2000]
        kept = _keep(kept, channel, raw, actor, FeedMessageOutcome.FAILED, detail)
        return _finish(MessageOutcome(kept, []), acknowledge)
    if account is not None:
        # The lab is the one the sender authenticated as, never what the message claims.
        lab = account.lab
        for report in reports:
            report.lab = account.lab
    for report in reports:
        report.identity.identifiers = [
            (issuer or report.lab, value) for issuer, value in report.identity.identifiers
        ]
    try:
        with transaction.atomic():
            kept.control_id, kept.lab = control_id[:100], lab[:100]
            items: list[ItemOutcome] = []
            for report in reports:
                items += report_ingest(
                    report=report,
                    channel=channel,
                    actor=actor,
                    message=kept,
                    codes=codes,
                    now=now,
                    account=account,
                    filer=filer,
                )
            held = [i for i in items if i.outcome == "quarantined"]
            kept.outcome = FeedMessageOutcome.QUARANTINED if held else FeedMessageOutcome.ACCEPTED
            kept.detail = "; ".join(f"{i.reference}: {i.detail}" for i in held)[:2000]
            kept.ack_code = ACK_CODES[FeedMessageOutcome(kept.outcome)]
            done = MessageOutcome(kept, items)
            kept.results = [i.as_dict() for i in items]
            kept.ack = acknowledge(done) if acknowledge is not None else ""
            kept.save(
                update_fields=[
                    "control_id",
                    "lab",
                    "outcome",
                    "ack_code",
                    "detail",
                    "attempts",
                    "results",
                    "ack",
                ]
            )
            return done
    except Exception as error:  # noqa: BLE001 - kept and retried, never lost
        logger.exception("feed message processing failed; kept for retry")
        detail = f"processing failed: {type(error).__name__}: {error}"[:2000]
        kept = _keep(kept, channel, raw, actor, FeedMessageOutcome.FAILED, detail)
        kept.control_id, kept.lab = control_id[:100], lab[:100]
        FeedMessage.objects.filter(pk=kept.pk).update(control_id=kept.control_id, lab=kept.lab)
        return _finish(MessageOutcome(kept, []), acknowledge)


def _finish(
    outcome: MessageOutcome, acknowledge: Callable[[MessageOutcome], str] | None
) -> MessageOutcome:
    """Keep the acknowledgement of a message that was not applied."""
    message = outcome.message
    message.results = []
    message.ack = acknowledge(outcome) if acknowledge is not None else ""
    FeedMessage.objects.filter(pk=message.pk).update(ack=message.ack, results=[])
    return outcome


class Unreadable(Exception):
    """The message cannot be read at all, or is not a result message (HL7 AR)."""

    def __init__(self, message: str, control_id: str = "") -> None:
        super().__init__(message)
        self.control_id = control_id


# The HL7 acknowledgement for each outcome; the other channels keep it for the record.
ACK_CODES = {
    FeedMessageOutcome.RECEIVED: "AE",
    FeedMessageOutcome.ACCEPTED: "AA",
    FeedMessageOutcome.QUARANTINED: "AE",
    FeedMessageOutcome.FAILED: "AE",
    FeedMessageOutcome.REJECTED: "AR",
}


def message_keep_refused(
    *, channel: ResultSource, raw: str, actor: User, detail: str
) -> FeedMessage:
    """Keep what a channel refused before reading it (too large, too deeply nested, not
    JSON), with why; `raw` is what was received, or as much of it as is kept."""
    return _keep(
        None, channel, raw.replace("\x00", "\ufffd"), actor, FeedMessageOutcome.REJECTED, detail
    )


def _keep(
    message: FeedMessage | None,
    channel: ResultSource,
    raw: str,
    actor: User,
    outcome: FeedMessageOutcome,
    detail: str,
    batch: FeedBatch | None = None,
    position: int | None = None,
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
            batch=batch,
            position=position,
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
    account: LabAccount | None = None,
    filer: Filer | None = None,
) -> list[ItemOutcome]:
    """Apply one report (one order, one patient): every observation gets an outcome. `filer`:
    how patients are found and results stored or held (the database, one by one, by default;
    a chunk's in feeds/chunks.py)."""
    filer = filer or DATABASE_FILER
    outcomes: list[ItemOutcome] = []
    by_analyte, unknown = report_analytes(report, codes)

    if not by_analyte:
        if unknown:
            first = unknown[0]
            names = ", ".join(sorted({c for o in unknown for c, _ in o.codes[:1]}))
            outcomes.append(
                filer.quarantine(
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
                        f"no count the rules read: codes {names} are not LOINC codes of an "
                        "ANC, WBC, neutrophil or band percent, nor mapped to one",
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
        patient, how = filer.match(identity=report.identity)
        _still_matches(patient, report.identity)
        if how == DEMOGRAPHICS and not (account is not None and account.allow_demographic_match):
            refused = Refusal(
                QuarantineReason.DEMOGRAPHIC_MATCH,
                f"matched patient {patient.pk} on last name and date of birth alone; this lab "
                "is not allowed to file on such a match: confirm the patient",
            )
            patient = None
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
                filer=filer,
            )
        )
    return outcomes


def report_analytes(
    report: LabReport, codes: CodeBook
) -> tuple[dict[str, dict[Analyte, list[LabObservation]]], list[LabObservation]]:
    """The report's observations by group (one draw) and analyte, and those of unknown codes."""
    by_analyte: dict[str, dict[Analyte, list[LabObservation]]] = {}
    unknown: list[LabObservation] = []
    for obs in report.observations:
        analyte = codes.analyte_for(lab=report.lab, codes=obs.codes)
        if analyte is None:
            unknown.append(obs)
            continue
        group = obs.group or obs.accession or report.accession
        by_analyte.setdefault(group, {}).setdefault(analyte, []).append(obs)
    return by_analyte, unknown


def report_candidates(report: LabReport, codes: CodeBook) -> list[_Candidate]:
    """Every result the report could store (ANCs, derived ones, and WBCs), for a chunk to look
    up what it needs of the database at once."""
    by_analyte, _ = report_analytes(report, codes)
    made: list[_Candidate] = []
    for found in by_analyte.values():
        made += _candidates(report.accession, found, report.drawn_at)[0]
    return made + _wbc_candidates(report, by_analyte)


def _code(obs: LabObservation) -> str:
    return obs.codes[0][0] if obs.codes else "(none)"


def _wbc_candidates(
    report: LabReport, by_analyte: dict[str, dict[Analyte, list[LabObservation]]]
) -> list[_Candidate]:
    """The WBC of each group (the last one sent), to store next to its ANC."""
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
    """The ANC one group (one draw) gives: the absolute count when the lab sent one; else
    derived from WBC and the neutrophil percent, or from WBC and segmented + band percentages
    (a confirmed local mapping). Band counts never stand for the neutrophil count."""
    notes: list[ItemOutcome] = []
    ancs = found.get(Analyte.ANC, [])
    wbcs = found.get(Analyte.WBC, [])
    percents = found.get(Analyte.NEUTROPHIL_PERCENT, [])
    segmented = found.get(Analyte.SEGMENTED_PERCENT, [])
    bands = [*found.get(Analyte.BAND_PERCENT, []), *found.get(Analyte.BAND_COUNT, [])]
    band_percents = found.get(Analyte.BAND_PERCENT, [])
    if ancs:
        notes += [
            ItemOutcome(o.reference, "ignored", "an absolute count was sent; not used")
            for o in (*wbcs, *percents, *segmented, *bands)
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
    shares: list[LabObservation] = []
    earlier: list[LabObservation] = []  # of a kind used, superseded by a later one
    unused: list[LabObservation] = []
    if wbcs and percents:
        shares = [percents[-1]]
        earlier = percents[:-1]
        unused = [*segmented, *bands]
    elif wbcs and segmented and band_percents:
        shares = [segmented[-1], band_percents[-1]]
        earlier = [*segmented[:-1], *band_percents[:-1]]
        unused = found.get(Analyte.BAND_COUNT, [])
    if shares:
        wbc = wbcs[-1]
        notes += [
            ItemOutcome(o.reference, "ignored", "a later count of the same kind was used")
            for o in (*wbcs[:-1], *earlier)
        ]
        notes += [ItemOutcome(o.reference, "ignored", _unused_note(o, found)) for o in unused]
        inputs = (wbc, *shares)
        statuses = {o.status for o in inputs}
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
        drawn = next((o.drawn_at for o in inputs if o.drawn_at), None) or default_drawn
        accessions = [o.accession for o in inputs if o.accession]
        if len(set(accessions)) > 1:
            accession = "+".join(accessions)
        else:
            accession = (accessions[0] if accessions else "") or accession
        derived = _Candidate(
            " + ".join(o.reference for o in inputs),
            accession,
            status,
            "",
            "",
            drawn,
            inputs=inputs,
        )
        return [derived], notes
    for o in (*wbcs, *percents, *segmented, *bands):
        notes.append(ItemOutcome(o.reference, "ignored", _unused_note(o, found)))
    return [], notes


def _unused_note(obs: LabObservation, found: dict[Analyte, list[LabObservation]]) -> str:
    if obs in found.get(Analyte.BAND_PERCENT, []) or obs in found.get(Analyte.BAND_COUNT, []):
        return "a band neutrophil count is never read as the neutrophil count"
    if obs in found.get(Analyte.SEGMENTED_PERCENT, []):
        return "segmented neutrophils derive an ANC only with the band percent and a WBC"
    return "WBC and neutrophil percent are both needed to derive an ANC; only one was sent"


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
    filer: Filer,
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
        if patient is None:  # pragma: no cover - patient_match_how raises instead
            raise Refusal(QuarantineReason.UNMATCHED, "no patient")
        try:
            recorded = filer.record(
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
        return filer.quarantine(
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
            candidate.reference,
            "ignored" if recorded.stale else "duplicate",
            detail,
            result.pk,
            stored=result,
        )
    if result.status == ResultStatus.PRELIMINARY:
        return ItemOutcome(
            candidate.reference, "preliminary", "stored, not used", result.pk, stored=result
        )
    # (A correction of a result stored in the same chunk names it before it has an id.)
    replaces = result.corrects_id is not None or result.corrects is not None
    kind = "replaced" if replaces else "stored"
    label = candidate.analyte.upper()
    detail = f"{label} {result.value_per_ul}/µL" + (" (derived)" if result.derived else "")
    return ItemOutcome(candidate.reference, kind, detail, result.pk, stored=result)


class Filer:
    """How `report_ingest` finds a patient and stores or holds a result. This one writes each
    at once (`patient_match_how`, `feed_result_record`, `_quarantine`); a chunk's defers its
    writes to set-based ones (feeds/chunks.py)."""

    def match(self, *, identity: PatientIdentity) -> tuple[Patient, str]:
        return patient_match_how(identity=identity)

    def record(self, **record: Any) -> RecordedResult:
        return feed_result_record(**record)

    def quarantine(
        self,
        *,
        report: LabReport,
        message: FeedMessage,
        candidate: _Candidate,
        refusal: Refusal,
        patient: Patient | None,
    ) -> ItemOutcome:
        return _quarantine(
            report=report, message=message, candidate=candidate, refusal=refusal, patient=patient
        )


DATABASE_FILER = Filer()


def feed_result_record(
    *,
    patient: Patient,
    actor: User,
    drawn_at: datetime,
    value: Decimal,
    unit: str,
    accession: str,
    lab: str,
    source: str,
    status: str,
    derivation: dict[str, Any] | None = None,
    now: datetime | None = None,
    analyte: str = Analyte.ANC,
) -> RecordedResult:
    """`anc_result_record` for a result a lab sent. With an accession the service itself stores
    a repeat once; without one, the same result sent again (same lab, patient, analyte, draw
    instant and value) is stored once too. The patient row is locked first, so two copies
    arriving together cannot both be stored."""
    record: dict[str, Any] = {
        "patient": patient,
        "actor": actor,
        "drawn_at": drawn_at,
        "value": value,
        "unit": unit,
        "accession": accession,
        "lab": lab,
        "source": source,
        "status": status,
        "derivation": derivation,
        "now": now,
        "analyte": analyte,
    }
    if accession.strip():
        return anc_result_record(**record)
    try:
        per_ul = unit_to_per_ul(value, unit)
    except UnitError:
        return anc_result_record(**record)  # refused there, with its message
    with transaction.atomic():
        Patient.objects.select_for_update(of=("self",)).filter(pk=patient.pk).first()
        earlier = LabResult.objects.filter(
            patient=patient,
            lab=lab.strip(),
            analyte=analyte,
            accession="",
            drawn_at=drawn_at,
            value_per_ul=per_ul,
            superseded=False,
        )
        for stored in earlier:
            repeat = _repeat_of(stored, status)
            if repeat is not None:
                return repeat
        return anc_result_record(**record)


def _repeat_of(stored: LabResult, status: str) -> RecordedResult | None:
    """How a stored result with the same draw and value answers a new copy of it: the same
    (or a weaker) status is a repeat; a void one stays void unless corrected; a final after a
    preliminary is new."""
    decisive = (ResultStatus.FINAL, ResultStatus.CORRECTED)
    if stored.status == status or (stored.status in decisive and status in decisive):
        return RecordedResult(stored, created=False)
    if stored.status == ResultStatus.ENTERED_IN_ERROR and status != ResultStatus.CORRECTED:
        return RecordedResult(stored, created=False)
    if status == ResultStatus.PRELIMINARY and stored.status != ResultStatus.PRELIMINARY:
        return RecordedResult(stored, created=False, stale=True)
    return None


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
    wbc, *shares = candidate.inputs
    candidate.derivation = {
        "wbc": {"value": wbc.value.strip(), "unit": wbc.unit.strip()},
        "references": [o.reference for o in candidate.inputs],
    }
    if len(shares) == 1:
        candidate.derivation["formula"] = "ANC = WBC x neutrophil percent / 100"
        candidate.derivation["neutrophil_percent"] = _as_received(shares[0])
    else:
        candidate.derivation["formula"] = "ANC = WBC x (segmented percent + band percent) / 100"
        candidate.derivation["segmented_percent"] = _as_received(shares[0])
        candidate.derivation["band_percent"] = _as_received(shares[1])


def _as_received(obs: LabObservation) -> dict[str, str]:
    return {"value": obs.value.strip(), "unit": obs.unit.strip()}


def derived_anc(derivation: dict[str, Any], *, wbc_unit: str | None = None) -> tuple[int, int]:
    """(ANC, WBC) in cells/µL from kept inputs; `Refusal` when they do not make one. The ANC
    is rounded down, never into a better band."""
    wbc = derivation["wbc"]
    unit = wbc_unit or wbc["unit"]
    wbc_value = _number(wbc["value"], "WBC")
    _known_unit(unit)
    try:
        wbc_per_ul = unit_to_per_ul(wbc_value, unit)
    except UnitError as error:
        raise Refusal(QuarantineReason.IMPLAUSIBLE, f"WBC: {error.message}") from None
    if "neutrophil_percent" in derivation:
        share = _share(derivation["neutrophil_percent"], "neutrophil percent")
    else:
        share = _share(derivation["segmented_percent"], "segmented percent") + _share(
            derivation["band_percent"], "band percent"
        )
        if share > Decimal(100):
            raise Refusal(
                QuarantineReason.IMPLAUSIBLE, f"segmented + band percent {share} is over 100"
            )
    anc = int((wbc_per_ul * share / 100).to_integral_value(rounding=ROUND_FLOOR))
    return anc, wbc_per_ul


def _share(kept: dict[str, str], what: str) -> Decimal:
    share = _number(kept["value"], what)
    if kept["unit"] not in PERCENT_UNITS:
        raise Refusal(
            QuarantineReason.UNKNOWN_UNIT, f"unknown {what} unit {kept['unit'] or '(none)'}"
        )
    if not Decimal(0) <= share <= Decimal(100):
        raise Refusal(QuarantineReason.IMPLAUSIBLE, f"{what} {share} is not 0-100")
    return share


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
    """The open entry holding this very result already: the same accession, or without one
    the same draw instant, value and patient identity as sent."""
    same = QuarantinedResult.objects.filter(
        status=QuarantineStatus.OPEN,
        lab=report.lab[:100],
        accession=candidate.accession[:100],
        analyte=candidate.analyte,
        value=candidate.value[:50],
        unit=candidate.unit[:20],
        result_status=candidate.status[:20],
    )
    if candidate.accession:
        return same.first()
    identity = report.identity
    for held in same.filter(drawn_at=candidate.drawn_at)[:20]:
        if (
            held.patient_identifiers == [list(pair) for pair in identity.identifiers]
            and held.last_name == identity.last_name[:100]
            and held.date_of_birth == identity.date_of_birth
        ):
            return held
    return None


def quarantine_entry(
    *,
    report: LabReport,
    message: FeedMessage,
    candidate: _Candidate,
    refusal: Refusal,
    patient: Patient | None,
) -> QuarantinedResult:
    """The quarantine entry for one refused result, unsaved: what one message at a time
    creates and a chunk (feeds/chunks.py) inserts in bulk."""
    return QuarantinedResult(
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
        held = quarantine_entry(
            report=report, message=message, candidate=candidate, refusal=refusal, patient=patient
        )
        held.save(force_insert=True)
    return ItemOutcome(
        candidate.reference,
        "quarantined",
        refusal.detail,
        quarantine_id=held.pk,
        reason=refusal.reason,
        held=held,
    )


# How a patient was found: our own id, an identifier recorded on the patient, or last name and
# date of birth alone.
REFERENCE, IDENTIFIER, DEMOGRAPHICS = "reference", "identifier", "demographics"


def patient_match_how(*, identity: PatientIdentity) -> tuple[Patient, str]:
    """(the one patient the identity names, how it was found), or a `Refusal` saying why not."""
    if identity.patient_id is not None:
        patient = Patient.objects.filter(pk=identity.patient_id).first()
        if patient is None:
            raise Refusal(QuarantineReason.UNMATCHED, f"no patient {identity.patient_id}")
        return patient, REFERENCE
    pairs = identity_pairs(identity)
    named: list[Patient] = []
    if pairs:
        query = Q()
        for issuer, value in pairs:
            query |= Q(issuer=issuer, value=value)
        named = list(
            Patient.objects.filter(
                identifiers__in=PatientIdentifier.objects.filter(query)
            ).distinct()[:2]
        )

    def found() -> list[Patient]:
        born = identity.date_of_birth
        if born is None:  # pragma: no cover - match_decide asks only with a date of birth
            return []
        return list(
            Patient.objects.filter(
                last_name__iexact=identity.last_name.strip(), date_of_birth=born
            )[:2]
        )

    return match_decide(identity=identity, pairs=pairs, named=named, found=found)


def identity_pairs(identity: PatientIdentity) -> list[tuple[str, str]]:
    """The (issuer, value) pairs an identity is looked up by."""
    return [(i.strip(), v.strip()) for i, v in identity.identifiers if v.strip()]


def match_decide(
    *,
    identity: PatientIdentity,
    pairs: list[tuple[str, str]],
    named: list[Patient],
    found: Callable[[], list[Patient]],
) -> tuple[Patient, str]:
    """`patient_match_how`'s answer from what was looked up: `named`, (up to two of) the
    patients the identifiers name; `found`, (up to two of) those with the identity's last name
    and date of birth, asked only when the identifiers name none."""
    if pairs:
        if len(named) > 1:
            raise Refusal(
                QuarantineReason.AMBIGUOUS,
                "the identifiers sent name different patients: "
                + ", ".join(f"{i}|{v}" for i, v in pairs),
            )
        if named:
            return named[0], IDENTIFIER
    if identity.last_name.strip() and identity.date_of_birth is not None:
        by_name = found()
        if len(by_name) == 1:
            return by_name[0], DEMOGRAPHICS
        if len(by_name) > 1:
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
