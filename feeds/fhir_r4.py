"""FHIR R4 Observations in and out, validated with fhir.resources' R4B models.

In: an Observation (or a Bundle of them) becomes a lab report for the common feed path.
- code.coding (system http://loinc.org) says what it is; local codes go through the mapping;
- valueQuantity: the UCUM `code` when the system is UCUM, else `unit`;
- effectiveDateTime, effectiveInstant or effectivePeriod.start is the draw time;
- subject: `Patient/<our id>`, or an identifier (system + value) recorded on the patient;
- identifier[0].value is the accession and its assigner.display (else its system) the lab;
- status: final; amended or corrected (replaces); preliminary (stored, never decides);
  cancelled (nothing stored); anything else (entered-in-error, registered, unknown) is
  quarantined for an administrator.
In a Bundle, Observations of one subject drawn at the same instant form one result set, so a WBC
and a neutrophil percent derive an ANC; a transaction Bundle is applied as one message (all or
nothing), a batch Bundle entry by entry.

Out: stored results as Observations (LOINC 751-8, value in /uL), in a searchset Bundle.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import dateparse, timezone
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.operationoutcome import OperationOutcome
from pydantic import ValidationError

from feeds.codes import CodeBook
from feeds.ingest import (
    CANCELLED,
    CORRECTED,
    FINAL,
    PRELIMINARY,
    LabObservation,
    LabReport,
    MessageOutcome,
    PatientIdentity,
    feed_message_process,
    message_keep_refused,
)
from feeds.models import FeedMessageOutcome
from monitoring.models import LabResult, ResultSource, ResultStatus
from patients.models import User

UCUM = "http://unitsofmeasure.org"
LOINC = "http://loinc.org"
_STATUSES = {
    "final": FINAL,
    "amended": CORRECTED,
    "corrected": CORRECTED,
    "preliminary": PRELIMINARY,
    "cancelled": CANCELLED,
}


class Invalid(Exception):
    """The body is not a valid FHIR resource of the kind expected: 400 OperationOutcome (or
    `status`, such as 413 for a Bundle of too many entries)."""

    def __init__(self, issues: list[dict[str, Any]], status: int = 400) -> None:
        super().__init__("; ".join(i["diagnostics"] for i in issues))
        self.issues = issues
        self.status = status


def fhir_load(raw: str) -> Any:
    """The JSON of a FHIR body, refused (`Invalid`) when it is not JSON, holds NUL, or nests
    deeper than CLOZREMS_FHIR_MAX_DEPTH objects and arrays (the FHIR models recurse once per
    level, so a deeply nested body must never reach them)."""
    if "\x00" in raw or "\\u0000" in raw:
        raise Invalid([issue("error", "invalid", "NUL (\\u0000) characters are not allowed.")])
    try:
        body = json.loads(raw)
    except RecursionError:
        body = None
        deep = True
    except ValueError as error:
        raise Invalid([issue("error", "structure", f"The body is not JSON: {error}")]) from None
    else:
        deep = _deeper_than(body, settings.CLOZREMS_FHIR_MAX_DEPTH)
    if deep:
        limit = settings.CLOZREMS_FHIR_MAX_DEPTH
        raise Invalid([issue("error", "too-costly", f"The body nests deeper than {limit} levels.")])
    return body


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether objects and arrays nest deeper than `limit` (counted without recursion)."""
    stack = [(value, 1)] if isinstance(value, dict | list) else []
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item
        if depth > limit:
            return True
        stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
    return False


def operation_outcome(issues: Iterable[dict[str, Any]]) -> dict[str, Any]:
    body = {"resourceType": "OperationOutcome", "issue": list(issues)}
    OperationOutcome.model_validate(body)  # what we send is valid too
    return body


def issue(severity: str, code: str, diagnostics: str, expression: str = "") -> dict[str, Any]:
    found: dict[str, Any] = {"severity": severity, "code": code, "diagnostics": diagnostics}
    if expression:
        found["expression"] = [expression]
    return found


def observation_validate(body: Any, where: str = "Observation") -> Observation:
    if not isinstance(body, dict):
        raise Invalid([issue("error", "structure", "The body must be a JSON object.")])
    if body.get("resourceType") != "Observation":
        raise Invalid(
            [
                issue(
                    "error", "invalid", "resourceType must be Observation.", f"{where}.resourceType"
                )
            ]
        )
    try:
        observation = Observation.model_validate(body)
    except ValidationError as error:
        raise Invalid(_issues(error, where)) from None
    except RecursionError:
        raise Invalid([issue("error", "too-costly", "The resource nests too deeply.")]) from None
    if observation.valueQuantity is None or observation.valueQuantity.value is None:
        raise Invalid(
            [issue("error", "required", "valueQuantity.value is required.", f"{where}.value")]
        )
    if observation.code is None or not observation.code.coding:
        raise Invalid([issue("error", "required", "code.coding is required.", f"{where}.code")])
    return observation


def _issues(error: ValidationError, where: str) -> list[dict[str, Any]]:
    found = []
    for problem in error.errors()[:20]:
        path = ".".join(str(p) for p in problem.get("loc", ()))
        found.append(
            issue("error", "invalid", f"{path}: {problem.get('msg', 'invalid')}", f"{where}.{path}")
        )
    return found or [issue("error", "invalid", str(error)[:500])]


def _instant(observation: Observation) -> datetime | None:
    value: Any = observation.effectiveDateTime or observation.effectiveInstant
    if value is None and observation.effectivePeriod is not None:
        value = observation.effectivePeriod.start
    zone = ZoneInfo(settings.TIME_ZONE)
    if isinstance(value, datetime):
        return value if timezone.is_aware(value) else timezone.make_aware(value, zone)
    if value is None:
        return None
    text = str(value)
    moment = dateparse.parse_datetime(text)
    if moment is None:
        day = dateparse.parse_date(text[:10]) if len(text) >= 10 else None
        if day is None:
            return None
        moment = datetime.combine(day, time())
    return moment if timezone.is_aware(moment) else timezone.make_aware(moment, zone)


def _identity(observation: Observation) -> PatientIdentity:
    subject = observation.subject
    if subject is None:
        return PatientIdentity()
    reference = subject.reference or ""
    number = reference[8:]
    if reference.startswith("Patient/") and number.isascii() and number.isdigit():
        # An id longer than any of ours names no patient (0): unmatched, quarantined.
        return PatientIdentity(patient_id=int(number) if len(number) <= 18 else 0)
    if subject.identifier is not None and subject.identifier.value:
        return PatientIdentity(
            identifiers=[(subject.identifier.system or "", subject.identifier.value)]
        )
    return PatientIdentity()


def _lab_and_accession(observation: Observation) -> tuple[str, str]:
    for identifier in observation.identifier or []:
        if identifier.value:
            assigner = identifier.assigner.display if identifier.assigner else None
            return (assigner or identifier.system or "")[:100], identifier.value[:100]
    return "", ""


def observation_lab_observation(observation: Observation, reference: str) -> LabObservation:
    quantity = observation.valueQuantity
    if quantity is None:  # observation_validate refuses these
        raise Invalid([issue("error", "required", "valueQuantity is required.")])
    unit = (quantity.code if quantity.system == UCUM and quantity.code else quantity.unit) or ""
    status = _STATUSES.get(observation.status or "", f"unsupported:{observation.status}")
    lab, accession = _lab_and_accession(observation)
    drawn_at = _instant(observation)
    return LabObservation(
        codes=[(c.code or "", c.system or "") for c in observation.code.coding or []],
        value=str(quantity.value),
        unit=unit,
        status=status,
        reference=reference,
        drawn_at=drawn_at,
        accession=accession,
        group=drawn_at.isoformat() if drawn_at else "",
    )


def reports_of(observations: Sequence[tuple[Observation, str]]) -> tuple[str, list[LabReport]]:
    """Group Observations by subject and lab: each group is one report."""
    reports: dict[tuple[Any, ...], LabReport] = {}
    for observation, reference in observations:
        identity = _identity(observation)
        lab, _ = _lab_and_accession(observation)
        key = (identity.patient_id, tuple(identity.identifiers), lab)
        report = reports.setdefault(key, LabReport(lab, "", identity, []))
        report.observations.append(observation_lab_observation(observation, reference))
    labs = {r.lab for r in reports.values()}
    return (labs.pop() if len(labs) == 1 else ""), list(reports.values())


def observation_ingest(
    *, body: Any, raw: str, actor: User, codes: CodeBook | None = None
) -> MessageOutcome:
    observation = observation_validate(body)
    lab, reports = reports_of([(observation, "Observation")])
    return feed_message_process(
        channel=ResultSource.FHIR,
        raw=raw,
        actor=actor,
        parse=lambda: (observation.id or "", lab, reports),
        codes=codes,
    )


def bundle_ingest(
    *, body: Any, raw: str, actor: User, codes: CodeBook | None = None
) -> tuple[str, list[MessageOutcome | list[dict[str, Any]]]]:
    """(bundle type, one outcome per entry, or the entry's issues when it is invalid; a
    transaction's entries share one outcome, and one invalid entry refuses them all)."""
    if not isinstance(body, dict) or body.get("resourceType") != "Bundle":
        raise Invalid([issue("error", "invalid", "resourceType must be Bundle.", "Bundle")])
    entries_raw = body.get("entry") or []
    if not isinstance(entries_raw, list) or not all(isinstance(e, dict) for e in entries_raw):
        raise Invalid([issue("error", "structure", "Bundle.entry must be a list.", "Bundle.entry")])
    most = settings.CLOZREMS_FHIR_MAX_ENTRIES
    if len(entries_raw) > most:
        raise Invalid(
            [
                issue(
                    "error",
                    "too-costly",
                    f"The Bundle holds {len(entries_raw)} entries; at most {most} are taken. "
                    "Send it in smaller Bundles.",
                    "Bundle.entry",
                )
            ],
            status=413,
        )
    # The envelope is validated without its resources, each of which is validated on its own,
    # so that one bad entry of a batch does not refuse the others.
    shell = {
        **body,
        "entry": [{k: v for k, v in e.items() if k != "resource"} for e in entries_raw],
    }
    try:
        bundle = Bundle.model_validate(shell)
    except ValidationError as error:
        raise Invalid(_issues(error, "Bundle")) from None
    if bundle.type not in ("batch", "transaction"):
        raise Invalid(
            [issue("error", "invalid", "Bundle.type must be batch or transaction.", "Bundle.type")]
        )
    codes = codes or CodeBook.load()
    entries = bundle.entry or []
    observations: list[tuple[Observation, str] | list[dict[str, Any]]] = []
    problems: list[dict[str, Any]] = []
    for index in range(len(entries)):
        where = f"Bundle.entry[{index}].resource"
        resource = entries_raw[index].get("resource")
        try:
            observations.append((observation_validate(resource, where), f"entry {index}"))
        except Invalid as invalid:
            problems += invalid.issues
            observations.append(invalid.issues)
    if bundle.type == "transaction":
        if problems:
            raise Invalid(problems)
        valid = [o for o in observations if isinstance(o, tuple)]
        lab, reports = reports_of(valid)
        outcome = feed_message_process(
            channel=ResultSource.FHIR,
            raw=raw,
            actor=actor,
            parse=lambda: (bundle.id or "", lab, reports),
            codes=codes,
        )
        return "transaction", [outcome for _ in entries]
    return "batch", _batch(body, observations, actor, codes)


def _batch(
    body: dict[str, Any],
    observations: list[tuple[Observation, str] | list[dict[str, Any]]],
    actor: User,
    codes: CodeBook,
) -> list[MessageOutcome | list[dict[str, Any]]]:
    results: list[MessageOutcome | list[dict[str, Any]]] = []
    for index, found in enumerate(observations):
        if isinstance(found, list):
            # An invalid entry is kept too, refused, with its issues.
            message_keep_refused(
                channel=ResultSource.FHIR,
                raw=_entry_raw(body, index),
                actor=actor,
                detail="; ".join(i["diagnostics"] for i in found),
            )
            results.append(found)
            continue
        lab, reports = reports_of([found])
        entry_raw = _entry_raw(body, index)
        results.append(
            feed_message_process(
                channel=ResultSource.FHIR,
                raw=entry_raw,
                actor=actor,
                parse=lambda lab=lab, reports=reports: ("", lab, reports),  # type: ignore[misc]
                codes=codes,
            )
        )
    return results


def _entry_raw(body: dict[str, Any], index: int) -> str:
    return json.dumps(body["entry"][index].get("resource"), sort_keys=True, default=str)


def outcome_status(outcome: MessageOutcome) -> tuple[int, dict[str, Any]]:
    """The HTTP status and body for one processed Observation."""
    message = outcome.message
    if message.outcome in (FeedMessageOutcome.FAILED, FeedMessageOutcome.RECEIVED):
        return 500, operation_outcome(
            [
                issue(
                    "error",
                    "exception",
                    f"processing failed; the message is kept and retried (reference M{message.pk})",
                )
            ]
        )
    if message.outcome == FeedMessageOutcome.REJECTED:
        return 400, operation_outcome([issue("error", "invalid", message.detail)])
    if message.outcome == FeedMessageOutcome.QUARANTINED:
        # Why it is held is for administrators: it may say who our patients are.
        return 202, operation_outcome(
            issue("warning", "processing", text) for text in outcome.held()
        )
    stored = [i for i in outcome.items if i.result_id is not None]
    if stored:
        result = LabResult.objects.get(pk=stored[-1].result_id or 0)
        created = any(i.outcome in ("stored", "replaced", "preliminary") for i in stored)
        return (201 if created else 200), result_observation(result)
    notes = [f"{i.reference}: {i.outcome}, {i.detail}" for i in outcome.items] or ["no result"]
    return 200, operation_outcome(issue("information", "informational", n) for n in notes)


_EXPORT_STATUS = {
    ResultStatus.FINAL: "final",
    ResultStatus.CORRECTED: "corrected",
    ResultStatus.PRELIMINARY: "preliminary",
    ResultStatus.ENTERED_IN_ERROR: "entered-in-error",
}


_EXPORT_CODE: dict[str, dict[str, Any]] = {
    "anc": {
        "coding": [{"system": LOINC, "code": "751-8", "display": "Neutrophils [#/volume]"}],
        "text": "Absolute neutrophil count",
    },
    "wbc": {
        "coding": [{"system": LOINC, "code": "6690-2", "display": "Leukocytes [#/volume]"}],
        "text": "White blood cell count",
    },
}


def result_observation(result: LabResult) -> dict[str, Any]:
    body: dict[str, Any] = {
        "resourceType": "Observation",
        "id": f"{result.analyte}-{result.pk}",
        "status": _EXPORT_STATUS[ResultStatus(result.status)],
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "laboratory",
                    }
                ]
            }
        ],
        "code": _EXPORT_CODE.get(result.analyte, _EXPORT_CODE["anc"]),
        "subject": {"reference": f"Patient/{result.patient_id}"},
        "effectiveDateTime": result.drawn_at.isoformat(),
        "issued": result.created_at.isoformat(),
        "valueQuantity": {
            "value": result.value_per_ul,
            "unit": "/uL",
            "system": UCUM,
            "code": "/uL",
        },
    }
    if result.accession:
        identifier: dict[str, Any] = {"value": result.accession}
        if result.lab:
            identifier["assigner"] = {"display": result.lab}
        body["identifier"] = [identifier]
    notes = []
    if result.derived:
        notes.append({"text": "Derived: ANC = WBC x neutrophil percent / 100."})
    if result.void_reason:
        notes.append({"text": f"Entered in error: {result.void_reason}"})
    if notes:
        body["note"] = notes
    Observation.model_validate(body)
    return body


def searchset(results: Iterable[LabResult], total: int) -> dict[str, Any]:
    body = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": total,
        "entry": [
            {"fullUrl": f"Observation/anc-{r.pk}", "resource": result_observation(r)}
            for r in results
        ],
    }
    return body


def fhir_parse(raw: str) -> tuple[str, str, list[LabReport]]:
    """Parse a kept FHIR message again (a retry): an Observation or a Bundle of them."""
    from feeds.ingest import Unreadable

    try:
        body = fhir_load(raw)
        if isinstance(body, dict) and body.get("resourceType") == "Bundle":
            found = [
                (observation_validate(entry.get("resource")), f"entry {index}")
                for index, entry in enumerate(body.get("entry") or [])
            ]
        else:
            found = [(observation_validate(body), "Observation")]
    except (ValueError, Invalid) as error:
        raise Unreadable(f"unreadable FHIR message: {error}") from None
    lab, reports = reports_of(found)
    return "", lab, reports
