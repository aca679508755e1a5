"""Lab messages applied a chunk at a time: what `feed_message_process` does to each message, with
the database work done set-wise, so a chunk of messages costs a fixed number of statements
whatever its size (docs/scaling.md, HL7 ingest).

For a chunk (at most `CHUNK_SIZE` messages, in arrival order):
1. every message is kept first, in one INSERT committed before anything is read (as each
   message is kept on its own by `feed_message_process`), so nothing below can lose one;
2. the messages are parsed; then, in one transaction: the patients the reports name are found
   (identifiers and names read at once), locked with one `SELECT ... FOR UPDATE` in id order
   (two chunks never wait on each other in a cycle), and what the filing rules compare against
   is read at once (the stored states, the current results with the chunk's accessions or draw
   instants, the open quarantine entries);
3. each result is filed in arrival order by the same rules as `feed_result_record` and
   `anc_result_record` (a repeat stored once, a correction replacing its result, a conflict
   held), against what the chunk has already filed; results, quarantine entries and audit
   entries are inserted in bulk;
4. each patient's stored state is advanced result by result, in filing order, as one message
   at a time would (the engine's step when the result is a draw of its own and comes after
   everything stored, else a replay of the history as it was after that result), so each
   result's audit entry records the state it led to; the state row is written once per
   patient, and the messages' outcomes and acknowledgements in one UPDATE.

Anything unexpected inside the chunk's transaction (a result stored at the same moment by
another sender, a fault) rolls the chunk back to its savepoint, and its messages, kept, are then
applied one by one through `feed_message_process`, so one bad message never costs the others.
A chunk that names a patient by our own id, or a lab without a name, is applied one by one too
(rare; those paths read the database differently).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, tzinfo
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from audit.context import acting_as
from audit.models import Action, AuditEntry
from audit.services import audit_entry_build, audit_records
from clozrems.errors import FieldInvalid
from engine import assess, replay
from engine.codec import snapshot_from_json
from engine.core import advance, local_date
from engine.types import BloodCount, EnrollmentStatus, PatientHistory, Snapshot
from feeds.codes import CodeBook
from feeds.ingest import (
    ACCOUNT_OF_ACTOR,
    ACK_CODES,
    Filer,
    ItemOutcome,
    LabReport,
    MessageOutcome,
    PatientIdentity,
    Refusal,
    Unreadable,
    _Candidate,
    _repeat_of,
    feed_message_process,
    identity_pairs,
    lab_account_of,
    match_decide,
    quarantine_entry,
    report_candidates,
    report_ingest,
)
from feeds.models import (
    FeedBatch,
    FeedMessage,
    FeedMessageOutcome,
    LabAccount,
    PatientIdentifier,
    QuarantinedResult,
    QuarantineStatus,
)
from monitoring.models import (
    DECISIVE_STATUSES,
    LabResult,
    MonitoringState,
    ResultAnalyte,
    ResultSource,
    ResultStatus,
)
from monitoring.selectors import clinic_zone, is_future, patient_histories
from monitoring.services import (
    STATE_COLUMNS,
    RecordedResult,
    accession_repeat,
    anc_result_row,
    lapses_record,
    monitoring_state_from,
)
from monitoring.units import UnitError, to_per_ul
from notifications.outbox import enqueue_many_on_commit
from patients.models import Patient, User

logger = logging.getLogger(__name__)

# Messages applied in one transaction. Larger chunks save little more and hold the patients'
# locks longer.
CHUNK_SIZE = 200

Parse = Callable[[], tuple[str, str, Sequence[LabReport]]]
Acknowledge = Callable[[MessageOutcome], str]


@dataclass
class FeedInput:
    """One message of a chunk: as received, how to parse it, how to acknowledge it."""

    raw: str
    parse: Parse
    acknowledge: Acknowledge | None = None
    position: int | None = None


@dataclass
class _Message:
    given: FeedInput
    row: FeedMessage
    control_id: str = ""
    lab: str = ""
    reports: Sequence[LabReport] = ()
    # Set when the message is answered without being applied (refused, or not parsed).
    answered: bool = False


def feed_messages_process(
    *,
    channel: ResultSource,
    messages: Sequence[FeedInput],
    actor: User,
    codes: CodeBook | None = None,
    now: datetime | None = None,
    account: LabAccount | None = ACCOUNT_OF_ACTOR,
    batch: FeedBatch | None = None,
    chunk_size: int = CHUNK_SIZE,
) -> list[MessageOutcome]:
    """`feed_message_process` for each of `messages`, a chunk at a time; the outcomes in the
    same order."""
    codes = codes or CodeBook.load()
    if account is ACCOUNT_OF_ACTOR:
        account = lab_account_of(actor)
    done: list[MessageOutcome] = []
    for lo in range(0, len(messages), max(chunk_size, 1)):
        done += _chunk_process(
            channel=channel,
            messages=messages[lo : lo + chunk_size],
            actor=actor,
            codes=codes,
            now=now or timezone.now(),
            account=account,
            batch=batch,
        )
    return done


def _chunk_process(
    *,
    channel: ResultSource,
    messages: Sequence[FeedInput],
    actor: User,
    codes: CodeBook,
    now: datetime,
    account: LabAccount | None,
    batch: FeedBatch | None,
) -> list[MessageOutcome]:
    kept = _keep_all(channel=channel, messages=messages, actor=actor, batch=batch)
    for message in kept:
        _parse(message, account)
    applied = [m for m in kept if not m.answered]
    if any(_one_by_one_only(m) for m in applied):
        return _one_by_one(kept, channel=channel, actor=actor, codes=codes, account=account)
    try:
        with transaction.atomic(), acting_as(actor):
            return _Chunk(
                channel=channel, actor=actor, codes=codes, now=now, account=account
            ).apply(kept)
    except Exception:  # noqa: BLE001 - rolled back; each message is then applied on its own
        logger.exception("a feed chunk failed; its messages are applied one by one")
        for message in kept:
            message.row.refresh_from_db()
        return _one_by_one(kept, channel=channel, actor=actor, codes=codes, account=account)


def _keep_all(
    *, channel: ResultSource, messages: Sequence[FeedInput], actor: User, batch: FeedBatch | None
) -> list[_Message]:
    """Every message kept as received, in one INSERT of its own (see `_keep`)."""
    rows = []
    for given in messages:
        if "\x00" in given.raw:
            # No lab message holds NUL, and PostgreSQL text cannot: kept with U+FFFD in its place.
            outcome = FeedMessageOutcome.REJECTED
            raw = given.raw.replace("\x00", "\ufffd")
            detail = "the message contains NUL (0x00) characters; refused"
        else:
            outcome, raw, detail = FeedMessageOutcome.RECEIVED, given.raw, ""
        rows.append(
            FeedMessage(
                channel=channel,
                raw=raw,
                received_by=actor,
                outcome=outcome,
                ack_code=ACK_CODES[outcome],
                detail=detail,
                batch=batch,
                position=given.position,
            )
        )
    FeedMessage.objects.bulk_create(rows, batch_size=500)
    return [
        _Message(given, row, answered=row.outcome == FeedMessageOutcome.REJECTED)
        for given, row in zip(messages, rows, strict=True)
    ]


def _parse(message: _Message, account: LabAccount | None) -> None:
    """As `feed_message_process` reads a message: refused when unreadable, failed (kept for
    the retry) when the parser breaks; the lab the sender speaks for."""
    row = message.row
    if message.answered:
        return
    try:
        control_id, lab, reports = message.given.parse()
    except Unreadable as error:
        _answered(message, FeedMessageOutcome.REJECTED, str(error))
        if error.control_id:
            row.control_id = error.control_id[:100]
        return
    except Exception as error:  # noqa: BLE001 - a parser fault: kept and retried, never lost
        logger.exception("feed message could not be parsed; kept for retry")
        _answered(
            message,
            FeedMessageOutcome.FAILED,
            f"processing failed: {type(error).__name__}: {error}",
        )
        return
    if account is not None:
        lab = account.lab
        for report in reports:
            report.lab = account.lab
    for report in reports:
        report.identity.identifiers = [
            (issuer or report.lab, value) for issuer, value in report.identity.identifiers
        ]
    message.control_id, message.lab, message.reports = control_id, lab, reports


def _answered(message: _Message, outcome: FeedMessageOutcome, detail: str) -> None:
    row = message.row
    row.outcome, row.detail, row.ack_code = outcome, detail[:2000], ACK_CODES[outcome]
    message.answered = True


def _one_by_one_only(message: _Message) -> bool:
    return any(r.identity.patient_id is not None or not r.lab.strip() for r in message.reports)


def _one_by_one(
    kept: list[_Message],
    *,
    channel: ResultSource,
    actor: User,
    codes: CodeBook,
    account: LabAccount | None,
) -> list[MessageOutcome]:
    """Each kept message applied on its own, in its own transaction."""
    return [
        feed_message_process(
            channel=channel,
            raw=m.given.raw,
            actor=actor,
            parse=m.given.parse,
            codes=codes,
            message=m.row,
            account=account,
            acknowledge=m.given.acknowledge,
        )
        for m in kept
    ]


@dataclass
class _Filed:
    """A result the chunk stores, and what its filing needs afterwards."""

    sequence: int
    result: LabResult
    previous: LabResult | None
    # Another current result shared its draw instant or accession when it was filed.
    grouped: bool
    inputs: dict[str, Any]


@dataclass
class _PatientWork:
    patient: Patient
    snapshot: Snapshot | None
    confirmation_due: datetime | None
    filed: list[_Filed] = field(default_factory=list)


class _Chunk(Filer):
    """A chunk's filer: reads up front, files in memory, writes set-wise (`apply`)."""

    def __init__(
        self,
        *,
        channel: ResultSource,
        actor: User,
        codes: CodeBook,
        now: datetime,
        account: LabAccount | None,
    ) -> None:
        self.channel, self.actor, self.codes, self.now, self.account = (
            channel,
            actor,
            codes,
            now,
            account,
        )
        self.zone = clinic_zone()
        self.named: dict[tuple[str, str], set[int]] = {}
        self.by_name: dict[tuple[str, Any], list[int]] = {}
        self.patients: dict[int, Patient] = {}
        self.work: dict[int, _PatientWork] = {}
        # Current (not superseded) results: by (lab, analyte, accession), and by patient.
        self.by_accession: dict[tuple[str, str, str], LabResult] = {}
        self.of_patient: dict[int, list[LabResult]] = defaultdict(list)
        self.held_open: list[QuarantinedResult] = []
        self.new_held: list[QuarantinedResult] = []
        self.filed: list[_Filed] = []
        self.existing_superseded: list[LabResult] = []
        self.sequence = 0
        self.histories: dict[int, PatientHistory] = {}

    # --- reading up front -------------------------------------------------------------------

    def _prepare(self, reports: list[LabReport]) -> None:
        pairs = {p for r in reports for p in identity_pairs(r.identity)}
        if pairs:
            issuers = {i for i, _ in pairs}
            values = {v for _, v in pairs}
            for issuer, value, patient_id in PatientIdentifier.objects.filter(
                issuer__in=issuers, value__in=values
            ).values_list("issuer", "value", "patient_id"):
                if (issuer, value) in pairs:
                    self.named.setdefault((issuer, value), set()).add(patient_id)
        ids = {pk for found in self.named.values() for pk in found}
        by_name = [
            r.identity
            for r in reports
            if r.identity.last_name.strip()
            and r.identity.date_of_birth is not None
            and not any(self.named.get(p) for p in identity_pairs(r.identity))
        ]
        if by_name:
            ids |= self._names(by_name)
        self.patients = {
            p.pk: p
            for p in Patient.objects.select_for_update(of=("self",))
            .filter(pk__in=ids)
            .order_by("pk")
        }
        # A patient the identifiers name but the default manager does not list names none.
        self.named = {
            pair: {pk for pk in found if pk in self.patients} for pair, found in self.named.items()
        }
        states = {
            row[0]: row[1:]
            for row in MonitoringState.objects.filter(patient_id__in=self.patients).values_list(
                "patient_id", "snapshot", "confirmation_due"
            )
        }
        for pk, patient in self.patients.items():
            stored = states.get(pk)
            self.work[pk] = _PatientWork(
                patient=patient,
                snapshot=_decoded(stored[0]) if stored is not None else None,
                confirmation_due=stored[1] if stored is not None else None,
            )
        candidates = [(r, c) for r in reports for c in report_candidates(r, self.codes)]
        self._results(candidates)
        self._held(reports, candidates)

    def _names(self, identities: list[PatientIdentity]) -> set[int]:
        """Patients by last name and date of birth, for the identities no identifier names."""
        query = Q()
        for identity in identities:
            query |= Q(
                last_name__iexact=identity.last_name.strip(), date_of_birth=identity.date_of_birth
            )
        rows = list(Patient.objects.filter(query).values_list("pk", "last_name", "date_of_birth"))
        attributed: set[int] = set()
        for identity in identities:
            key = (identity.last_name.strip(), identity.date_of_birth)
            found = [pk for pk, name, born in rows if born == key[1] and _same_name(name, key[0])]
            self.by_name[key] = found
            attributed.update(found)
        if attributed != {pk for pk, _, _ in rows}:
            # A case-insensitive match the database made and Python cannot tell apart: asked
            # one by one, as `patient_match_how` does.
            for identity in identities:
                key = (identity.last_name.strip(), identity.date_of_birth)
                self.by_name[key] = list(
                    Patient.objects.filter(
                        last_name__iexact=key[0], date_of_birth=identity.date_of_birth or date.min
                    ).values_list("pk", flat=True)
                )
                attributed.update(self.by_name[key])
        return attributed

    def _results(self, candidates: list[tuple[LabReport, _Candidate]]) -> None:
        labs = {r.lab.strip() for r, _ in candidates}
        accessions = {c.accession.strip() for _, c in candidates} - {""}
        drawn = {c.drawn_at for _, c in candidates if c.drawn_at is not None}
        query = Q(pk__in=[])
        if accessions:
            query |= Q(lab__in=labs, analyte__in=ResultAnalyte.values, accession__in=accessions)
        if drawn and self.patients:
            query |= Q(patient_id__in=self.patients, drawn_at__in=drawn)
        for result in LabResult.objects.filter(query, superseded=False).order_by("-id"):
            self._current(result, first=False)

    def _current(self, result: LabResult, *, first: bool) -> None:
        if result.accession:
            self.by_accession[(result.lab, result.analyte, result.accession)] = result
        mine = self.of_patient[result.patient_id]
        if first:
            mine.insert(0, result)
        else:
            mine.append(result)

    def _held(
        self, reports: list[LabReport], candidates: list[tuple[LabReport, _Candidate]]
    ) -> None:
        # Every accession and draw time a held result of these reports can have: a result's,
        # or (an unknown code held) an observation's.
        labs = {r.lab[:100] for r in reports}
        accessions = {c.accession[:100] for _, c in candidates}
        drawn = {c.drawn_at for _, c in candidates}
        for report in reports:
            for obs in report.observations:
                accessions.add((obs.accession or report.accession)[:100])
                drawn.add(obs.drawn_at or report.drawn_at)
        accessions.discard("")
        undated = None in drawn
        drawn.discard(None)
        query = Q(pk__in=[])
        if accessions:
            query |= Q(accession__in=accessions)
        if drawn:
            query |= Q(accession="", drawn_at__in=drawn)
        if undated:
            query |= Q(accession="", drawn_at__isnull=True)
        self.held_open = list(
            QuarantinedResult.objects.filter(query, status=QuarantineStatus.OPEN, lab__in=labs)
        )

    # --- filing -----------------------------------------------------------------------------

    def match(self, *, identity: PatientIdentity) -> tuple[Patient, str]:
        pairs = identity_pairs(identity)
        ids: set[int] = set()
        for pair in pairs:
            ids |= self.named.get(pair, set())
        named = [self.patients[pk] for pk in sorted(ids)]

        def found() -> list[Patient]:
            key = (identity.last_name.strip(), identity.date_of_birth)
            return [self.patients[pk] for pk in self.by_name.get(key, []) if pk in self.patients]

        return match_decide(identity=identity, pairs=pairs, named=named, found=found)

    def record(self, **record: Any) -> RecordedResult:
        """`feed_result_record` (and `anc_result_record` for a lab's result) against what is
        stored and what this chunk filed before."""
        patient: Patient = record["patient"]
        value: Decimal = record["value"]
        unit: str = record["unit"]
        drawn_at: datetime = record["drawn_at"]
        status: str = record["status"]
        analyte: str = record["analyte"]
        derivation = record["derivation"]
        source: str = record["source"]
        now = record["now"] or self.now
        try:
            per_ul = to_per_ul(value, unit)
        except UnitError as error:
            raise FieldInvalid(error.field, error.message) from None
        if timezone.is_naive(drawn_at):
            raise FieldInvalid("drawn_at", "Give the draw time with a UTC offset.")
        if is_future(drawn_at, now):
            raise FieldInvalid("drawn_at", "The draw time is in the future.")
        if local_date(drawn_at, self.zone) < patient.date_of_birth:
            raise FieldInvalid("drawn_at", "The draw time is before the patient's date of birth.")
        if analyte not in ResultAnalyte.values:
            raise FieldInvalid("analyte", f"Known analytes: {', '.join(ResultAnalyte.values)}.")
        if status not in (ResultStatus.FINAL, ResultStatus.CORRECTED, ResultStatus.PRELIMINARY):
            raise FieldInvalid("status", "A new result is final, corrected or preliminary.")
        accession = record["accession"].strip()
        lab = record["lab"].strip()
        previous = None
        if accession:
            previous = self.by_accession.get((lab, analyte, accession))
        else:
            for stored in self.of_patient[patient.pk]:
                if (
                    stored.lab == lab
                    and stored.analyte == analyte
                    and stored.accession == ""
                    and stored.drawn_at == drawn_at
                    and stored.value_per_ul == per_ul
                ):
                    repeat = _repeat_of(stored, status)
                    if repeat is not None:
                        return repeat
        if previous is not None:
            answer = accession_repeat(
                previous, patient_id=patient.pk, per_ul=per_ul, drawn_at=drawn_at, status=status
            )
            if answer is not None:
                return answer
        result = anc_result_row(
            patient=patient,
            analyte=analyte,
            value=value,
            unit=unit,
            per_ul=per_ul,
            drawn_at=drawn_at,
            accession=accession,
            lab=lab,
            source=source,
            status=status,
            actor=self.actor,
            previous=previous,
            derivation=derivation,
        )
        self.sequence += 1
        if previous is not None:
            self._supersede(previous)
        grouped = previous is None and any(
            other.status in DECISIVE_STATUSES
            and (
                other.drawn_at == drawn_at
                or (accession and other.lab == lab and other.accession == accession)
            )
            for other in self.of_patient[patient.pk]
        )
        self._current(result, first=True)
        filed = _Filed(
            sequence=self.sequence,
            result=result,
            previous=previous,
            grouped=grouped,
            inputs={
                "value": value,
                "unit": result.unit,
                "drawn_at": drawn_at,
                "accession": accession,
                "lab": lab,
                "source": source,
                "status": status,
                "derivation": derivation or None,
                "confirm_unusual": None,
            },
        )
        self.filed.append(filed)
        self.work[patient.pk].filed.append(filed)
        return RecordedResult(result, created=True)

    def _supersede(self, previous: LabResult) -> None:
        previous.superseded = True
        self.of_patient[previous.patient_id].remove(previous)
        key = (previous.lab, previous.analyte, previous.accession)
        if self.by_accession.get(key) is previous:
            del self.by_accession[key]
        if previous.pk is not None:
            self.existing_superseded.append(previous)

    def quarantine(
        self,
        *,
        report: LabReport,
        message: FeedMessage,
        candidate: _Candidate,
        refusal: Refusal,
        patient: Patient | None,
    ) -> ItemOutcome:
        held = self._already_held(report, candidate)
        if held is None:
            held = quarantine_entry(
                report=report,
                message=message,
                candidate=candidate,
                refusal=refusal,
                patient=patient,
            )
            self.new_held.append(held)
        return ItemOutcome(
            candidate.reference,
            "quarantined",
            refusal.detail,
            quarantine_id=held.pk,
            reason=refusal.reason,
            held=held,
        )

    def _already_held(self, report: LabReport, candidate: _Candidate) -> QuarantinedResult | None:
        """`_already_held` (feeds/ingest.py) against the open entries read up front
        and those this chunk made, newest first as the database orders them."""
        newest_first = [*reversed(self.new_held), *_newest_first(self.held_open)]
        same = [
            held
            for held in newest_first
            if held.lab == report.lab[:100]
            and held.accession == candidate.accession[:100]
            and held.analyte == candidate.analyte
            and held.value == candidate.value[:50]
            and held.unit == candidate.unit[:20]
            and held.result_status == candidate.status[:20]
        ]
        if candidate.accession:
            return same[0] if same else None
        identity = report.identity
        at_draw = [held for held in same if held.drawn_at == candidate.drawn_at][:20]
        for held in at_draw:
            if (
                held.patient_identifiers == [list(pair) for pair in identity.identifiers]
                and held.last_name == identity.last_name[:100]
                and held.date_of_birth == identity.date_of_birth
            ):
                return held
        return None

    # --- the chunk --------------------------------------------------------------------------

    def apply(self, kept: list[_Message]) -> list[MessageOutcome]:
        applied = [m for m in kept if not m.answered]
        self._prepare([r for m in applied for r in m.reports])
        items_of: dict[int, list[ItemOutcome]] = {}
        for message in applied:
            items: list[ItemOutcome] = []
            for report in message.reports:
                items += report_ingest(
                    report=report,
                    channel=self.channel,
                    actor=self.actor,
                    message=message.row,
                    codes=self.codes,
                    now=self.now,
                    account=self.account,
                    filer=self,
                )
            items_of[id(message)] = items
        self._insert()
        entries, confirm = self._advance()
        audit_records(entries)
        if confirm:
            from monitoring.tasks import confirmation_requested

            enqueue_many_on_commit(confirmation_requested, [(pk,) for pk in confirm])
        outcomes = []
        for message in kept:
            row = message.row
            if message.answered:
                done = MessageOutcome(row, [])
                row.results = []
                row.ack = message.given.acknowledge(done) if message.given.acknowledge else ""
                outcomes.append(done)
                continue
            items = items_of[id(message)]
            for item in items:
                if item.stored is not None:
                    item.result_id = item.stored.pk
                if item.held is not None:
                    item.quarantine_id = item.held.pk
            row.control_id, row.lab = message.control_id[:100], message.lab[:100]
            held = [i for i in items if i.outcome == "quarantined"]
            row.outcome = FeedMessageOutcome.QUARANTINED if held else FeedMessageOutcome.ACCEPTED
            row.detail = "; ".join(f"{i.reference}: {i.detail}" for i in held)[:2000]
            row.ack_code = ACK_CODES[FeedMessageOutcome(row.outcome)]
            done = MessageOutcome(row, items)
            row.results = [i.as_dict() for i in items]
            row.ack = message.given.acknowledge(done) if message.given.acknowledge else ""
            outcomes.append(done)
        _outcomes_write([m.row for m in kept])
        return outcomes

    def _insert(self) -> None:
        if self.existing_superseded:
            LabResult.objects.filter(pk__in=[r.pk for r in self.existing_superseded]).update(
                superseded=True
            )
        # In filing order, so the ids are those one message at a time gives; a correction of a
        # result filed in this chunk waits for that result's id (one INSERT more).
        run: list[LabResult] = []
        for filed in self.filed:
            if filed.previous is not None and filed.previous.pk is None:
                LabResult.objects.bulk_create(run, batch_size=500)
                run = []
            run.append(filed.result)
        if run:
            LabResult.objects.bulk_create(run, batch_size=500)
        if self.new_held:
            QuarantinedResult.objects.bulk_create(self.new_held, batch_size=500)

    def _advance(self) -> tuple[list[AuditEntry], list[int]]:
        """Each patient's state, result by result in filing order; the audit entries and the
        patients whose first low result asks for a confirmation."""
        replays = [
            w.patient
            for w in self.work.values()
            if any(f.previous is not None or f.grouped for f in w.filed)
        ]
        self.histories = patient_histories(patients=replays) if replays else {}
        entries: dict[int, AuditEntry] = {}
        confirm: list[int] = []
        states: list[MonitoringState] = []
        moved: list[Patient] = []
        for work in self.work.values():
            patient = work.patient
            status = (patient.enrollment_status, patient.treatment_status)
            lapsed = False
            state: _Picture | None = None
            for filed in work.filed:
                result, previous = filed.result, filed.previous
                inputs = {
                    **filed.inputs,
                    "corrects": None
                    if previous is None
                    else {"id": previous.pk, "value_per_ul": previous.value_per_ul},
                }
                if result.status == ResultStatus.PRELIMINARY and (
                    previous is None or previous.status == ResultStatus.PRELIMINARY
                ):
                    entries[filed.sequence] = audit_entry_build(
                        action=Action.ANC_RESULT_RECORD,
                        actor=self.actor,
                        object_type="anc_result",
                        object_id=result.pk,
                        patient_id=patient.pk,
                        inputs=inputs,
                        output={"value_per_ul": result.value_per_ul, "used_for_decisions": False},
                    )
                    continue
                before = work.confirmation_due
                work.snapshot = self._step(work, filed)
                state = _picture(work.snapshot, self.now, self.zone)
                if (
                    state.enrollment_status == EnrollmentStatus.REENROLLMENT_REQUIRED
                    and state.lapsed_on
                    and status[0] != EnrollmentStatus.REENROLLMENT_REQUIRED
                ):
                    # As `_state_write` records a lapse the history makes immediate.
                    Patient.objects.filter(pk=patient.pk).update(
                        enrollment_status=status[0], treatment_status=status[1]
                    )
                    lapses_record(
                        patient_ids=[patient.pk], lapse_on=state.lapsed_on, actor=self.actor
                    )
                    lapsed = True
                status = (state.enrollment_status, state.treatment_status)
                work.confirmation_due = state.confirmation_due
                entries[filed.sequence] = audit_entry_build(
                    action=Action.ANC_RESULT_CORRECT
                    if previous is not None
                    else Action.ANC_RESULT_RECORD,
                    actor=self.actor,
                    object_type="anc_result",
                    object_id=result.pk,
                    patient_id=patient.pk,
                    inputs=inputs,
                    output={
                        "value_per_ul": result.value_per_ul,
                        "protocol": state.protocol,
                        "band": state.band,
                        "monitoring_frequency": state.monitoring_frequency,
                        "next_draw_due": state.next_draw_due,
                        "confirmation_due": state.confirmation_due,
                    },
                )
                if state.confirmation_due is not None and state.confirmation_due != before:
                    confirm.append(patient.pk)
            if state is None or work.snapshot is None:
                continue
            states.append(
                monitoring_state_from(patient=patient, snapshot=work.snapshot, now=self.now)
            )
            if lapsed or (patient.enrollment_status, patient.treatment_status) != status:
                patient.enrollment_status, patient.treatment_status = status
                moved.append(patient)
        if states:
            MonitoringState.objects.bulk_create(
                states,
                update_conflicts=True,
                unique_fields=["patient"],
                update_fields=STATE_COLUMNS,
                batch_size=500,
            )
        if moved:
            Patient.objects.bulk_update(
                moved, ["enrollment_status", "treatment_status"], batch_size=500
            )
        return [entries[k] for k in sorted(entries)], confirm

    def _step(self, work: _PatientWork, filed: _Filed) -> Snapshot:
        """The snapshot after `filed`, as `_result_applied` gives it one message at a time."""
        patient, result = work.patient, filed.result
        if filed.previous is None and not filed.grouped and work.snapshot is not None:
            wbc = result.analyte == ResultAnalyte.WBC
            reading = BloodCount(
                result.pk,
                None if wbc else result.value_per_ul,
                result.drawn_at,
                result.value_per_ul if wbc else None,
                accession=result.accession,
                lab=result.lab,
                recorded_at=result.created_at,
            )
            moved = advance(
                work.snapshot, reading, zone=self.zone, patient_protocol=patient.protocol
            )
            if moved is not None:
                return moved
        return replay(self._history_after(work, filed))

    def _history_after(self, work: _PatientWork, filed: _Filed) -> PatientHistory:
        """The patient's history as it stood once `filed` was stored: what is stored now, less
        the results the chunk filed later, with the results those later ones replaced."""
        patient = work.patient
        if patient.pk not in self.histories:
            self.histories.update(patient_histories(patients=[patient]))
        history = self.histories[patient.pk]
        later = {id(f.result) for f in work.filed if f.sequence > filed.sequence}
        later_ids = {f.result.pk for f in work.filed if f.sequence > filed.sequence}
        readings = [r for r in history.readings if r.result_id not in later_ids]
        for f in work.filed:
            replaced = f.previous
            if (
                f.sequence > filed.sequence
                and replaced is not None
                and id(replaced) not in later
                and replaced.status in DECISIVE_STATUSES
            ):
                readings.append(_reading(replaced))
        return replace(history, readings=tuple(readings))


@dataclass(frozen=True)
class _Picture:
    """What a result's audit entry records of the state it led to, and what `_state_write`
    reads of it: the columns `monitoring_state_from` gives, without encoding the snapshot."""

    protocol: str
    enrollment_status: str
    treatment_status: str
    band: str | None
    monitoring_frequency: str | None
    next_draw_due: date | None
    confirmation_due: datetime | None
    lapsed_on: date | None


def _picture(snapshot: Snapshot, now: datetime, zone: tzinfo) -> _Picture:
    assessment = assess(snapshot, max(now, snapshot.high_water or now), zone)
    return _Picture(
        protocol=snapshot.protocol,
        enrollment_status=assessment.enrollment_status.value,
        treatment_status=assessment.treatment_status.value,
        band=assessment.band.value if assessment.band else None,
        monitoring_frequency=assessment.monitoring_frequency.value
        if assessment.monitoring_frequency
        else None,
        next_draw_due=assessment.next_draw_due,
        confirmation_due=assessment.confirmation_due,
        lapsed_on=assessment.lapsed_on,
    )


def _reading(result: LabResult) -> BloodCount:
    wbc = result.analyte == ResultAnalyte.WBC
    return BloodCount(
        result.pk,
        None if wbc else result.value_per_ul,
        result.drawn_at.astimezone(UTC),
        result.value_per_ul if wbc else None,
        accession=result.accession,
        lab=result.lab,
        recorded_at=result.created_at.astimezone(UTC) if result.created_at else None,
    )


_OUTCOME_FIELDS = ("control_id", "lab", "outcome", "ack_code", "detail", "results", "ack")


def _outcomes_write(rows: list[FeedMessage]) -> None:
    """The messages' outcomes in one statement run for every row (`bulk_update`'s CASE
    expressions cost more to build than the whole chunk's filing)."""
    fields = [f for f in FeedMessage._meta.concrete_fields if f.name in _OUTCOME_FIELDS]
    table = connection.ops.quote_name(FeedMessage._meta.db_table)
    # Plain columns, named as the fields are (no db_column).
    assignments = ", ".join(f"{connection.ops.quote_name(f.name)} = %s" for f in fields)
    sql = f"UPDATE {table} SET {assignments} WHERE id = %s"  # noqa: S608  # nosec B608 - model names
    params = [
        [f.get_db_prep_save(getattr(row, f.attname), connection) for f in fields] + [row.pk]
        for row in rows
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


def _newest_first(held: list[QuarantinedResult]) -> list[QuarantinedResult]:
    return sorted(held, key=lambda h: (h.created_at, h.pk or 0), reverse=True)


def _same_name(stored: str, sent: str) -> bool:
    return stored.upper() == sent.upper() or stored.lower() == sent.lower()


def _decoded(data: dict[str, Any] | None) -> Snapshot | None:
    if data is None:
        return None
    try:
        return snapshot_from_json(data)
    except (ValueError, KeyError, TypeError):
        return None
