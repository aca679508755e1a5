"""HL7 messages applied a chunk at a time (feeds/chunks.py) file what one message at
a time files: the same results, quarantine entries, stored states, audit entries, outcomes and
ACKs; a bad message costs only itself; a chunk's statements do not grow with its size."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit.models import AuditEntry
from feeds import chunks
from feeds.hl7v2 import hl7_ingest, hl7_messages_ingest, message_ingest
from feeds.ingest import Filer
from feeds.models import FeedMessage, PatientIdentifier, QuarantinedResult
from monitoring.models import LabResult, MonitoringState
from monitoring.services import STATE_COLUMNS
from notifications.models import PendingTask
from patients.models import Patient
from tests import factories
from tests.conftest import TODAY
from tests.feeds.conftest import LAB, WBC, message, msh, obr, obx, pid

PERCENT = "770-8^Neutrophils/100 leukocytes in Blood by Automated count^LN"


@pytest.fixture
def ward(alice, clock):
    """Three patients ACMELAB knows by MRN (M2000...): two us-label-2015, one uk-cpms, each
    with a history of weekly draws."""
    start = TODAY - timedelta(days=60)
    patients = []
    for n, protocol in enumerate(("us-label-2015", "us-label-2015", "uk-cpms")):
        patient = factories.enrolled_patient(
            actor=alice,
            start=start,
            draws=factories.weekly_draws(start, TODAY - timedelta(days=6)),
            last_name=f"Ward{n}",
            protocol=protocol,
        )
        PatientIdentifier.objects.create(
            patient=patient, issuer=LAB, value=f"M{2000 + n}", recorded_by=alice
        )
        patients.append(patient)
    return patients


def _er7(
    n: int,
    *,
    patient: int,
    accession: str,
    day: int,
    value: str,
    status: str = "F",
    derived: bool = False,
) -> str:
    """Message n for patient `patient` (0-2 known, 3 unknown), drawn `day` days ago."""
    drawn = (TODAY - timedelta(days=day)).strftime("%Y%m%d") + "0800-0400"
    name = f"WARD{patient}^P" if patient < 3 else "NOBODY^N"
    mrn = f"M{2000 + patient}^^^{LAB}^MR" if patient < 3 else f"X{n}^^^{LAB}^MR"
    order = obr(accession, drawn) if accession else f"OBR|1|||57021-8^CBC^LN|||{drawn}"
    results = [obx(1, WBC, "6.0", status=status)]
    if derived:
        results.append(obx(2, PERCENT, value, "%", status=status))
    else:
        results.append(obx(2, value=value, status=status))
    return message(msh(f"C{n:04d}"), pid(mrn, name, "19850615"), order, *results).rstrip("\r")


def _one_by_one(texts: list[str], actor) -> list[Any]:
    return [message_ingest(er7=text, actor=actor) for text in texts]


def _chunked(texts: list[str], actor, size: int) -> list[Any]:
    return hl7_messages_ingest(messages=texts, actor=actor, chunk_size=size)


def _picture(patients: list[Patient]) -> dict[str, Any]:
    """Everything filing writes, with the times the frozen clock makes equal."""
    return {
        "messages": list(
            FeedMessage.objects.order_by("pk").values_list(
                "pk", "control_id", "lab", "outcome", "ack_code", "detail", "results", "ack"
            )
        ),
        "results": list(
            LabResult.objects.order_by("pk").values_list(
                "pk",
                "patient_id",
                "analyte",
                "value",
                "unit",
                "value_per_ul",
                "drawn_at",
                "accession",
                "lab",
                "source",
                "status",
                "superseded",
                "corrects_id",
                "derived",
                "derivation",
            )
        ),
        "held": list(
            QuarantinedResult.objects.order_by("pk").values_list(
                "pk",
                "message_id",
                "reason",
                "detail",
                "accession",
                "analyte",
                "value",
                "unit",
                "drawn_at",
                "result_status",
                "derivation",
                "patient_id",
                "status",
            )
        ),
        "states": list(
            MonitoringState.objects.filter(patient__in=patients)
            .order_by("patient_id")
            .values_list("patient_id", *STATE_COLUMNS)
        ),
        "patients": list(
            Patient.objects.filter(pk__in=[p.pk for p in patients])
            .order_by("pk")
            .values_list("pk", "enrollment_status", "treatment_status")
        ),
        "audit": sorted(
            AuditEntry.objects.values_list(
                "action", "outcome", "object_type", "object_id", "patient_id", "inputs", "output"
            ),
            key=repr,
        ),
        "pending": sorted(PendingTask.objects.values_list("task", "args"), key=repr),
    }


_TABLES = (LabResult, QuarantinedResult, FeedMessage, AuditEntry, PendingTask)


def _same_ids_next() -> None:
    """On PostgreSQL a rolled-back insert still used its id: start the sequences where they
    stood, so that both runs give the same ids (SQLite's roll back with the rows)."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for model in _TABLES:
            table = model._meta.db_table
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                f"COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"
            )


def _both_ways(texts: list[str], actor, patients: list[Patient], size: int):
    """(what one message at a time files, what chunks of `size` file), from the same start."""
    pictures, answers = [], []
    runs: list[Callable[[], list[Any]]] = [
        lambda: _one_by_one(texts, actor),
        lambda: _chunked(texts, actor, size),
    ]
    for run in runs:
        point = transaction.savepoint()
        _same_ids_next()
        done = run()
        answers.append([(a.code, a.ack, a.outcome.message.results) for a in done])
        pictures.append(_picture(patients))
        transaction.savepoint_rollback(point)
    return pictures, answers


message_specs = st.lists(
    st.fixed_dictionaries(
        {
            "patient": st.sampled_from([0, 0, 1, 2, 3]),
            # A small pool: repeats, corrections, conflicts and another patient's accession.
            "accession": st.sampled_from(["", "", "A1", "A2", "A3", "A4"]),
            "day": st.integers(min_value=0, max_value=12),
            "value": st.sampled_from(["0.4", "0.9", "1.2", "1.7", "2.5", "4.0", "45", "abc"]),
            "status": st.sampled_from(["F", "F", "F", "C", "P", "X", "W"]),
            "derived": st.booleans(),
        }
    ),
    min_size=1,
    max_size=14,
)


@pytest.mark.django_db
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(specs=message_specs, size=st.sampled_from([2, 5, 200]))
def test_chunks_file_what_one_message_at_a_time_files(ward, lab_user, specs, size):
    texts = [_er7(n, **spec) for n, spec in enumerate(specs)]
    (one, chunked), (answers_one, answers_chunked) = _both_ways(texts, lab_user, ward, size)
    assert {code for code, _, _ in answers_one} <= {"AA", "AE"}  # every message was read
    assert answers_chunked == answers_one
    for part in one:
        assert chunked[part] == one[part], part


def test_corrections_repeats_and_derived_results_in_one_chunk(ward, lab_user):
    """The cases the property draws at random, all in one chunk: a result then its corrected
    repeat, an exact repeat, a preliminary then its final, a derived ANC, an unknown patient,
    another patient's accession, a uk-cpms set (WBC stored with its ANC)."""
    texts = [
        _er7(0, patient=0, accession="B1", day=3, value="2.5"),
        _er7(1, patient=0, accession="B1", day=3, value="2.5"),  # the same again
        _er7(2, patient=0, accession="B1", day=3, value="1.2", status="C"),  # corrected
        _er7(3, patient=1, accession="B2", day=2, value="1.4", status="P"),
        _er7(4, patient=1, accession="B2", day=2, value="1.4"),  # its final
        _er7(5, patient=1, accession="", day=1, value="50", derived=True),
        _er7(6, patient=3, accession="B3", day=1, value="2.0"),  # nobody we know
        _er7(7, patient=2, accession="B1", day=1, value="2.0"),  # patient 0's accession
        _er7(8, patient=2, accession="B4", day=1, value="0.4"),  # a low uk-cpms set
        _er7(9, patient=0, accession="", day=0, value="2.2"),
        _er7(10, patient=0, accession="", day=0, value="2.2"),  # the same, no accession
        # A low uk-cpms set, then its correction: the set's WBC (a draw shared with its ANC)
        # is applied by a replay of the history as it stood then, low ANC included.
        _er7(11, patient=2, accession="B5", day=0, value="0.3"),
        _er7(12, patient=2, accession="B5", day=0, value="2.5", status="C"),
    ]
    (one, chunked), (answers_one, answers_chunked) = _both_ways(texts, lab_user, ward, 200)
    assert answers_chunked == answers_one
    assert chunked == one
    codes = [code for code, _, _ in answers_chunked]
    assert codes == ["AA", "AA", "AA", "AA", "AA", "AA", "AE", "AE", "AA", "AA", "AA", "AA", "AA"]
    outcomes = [[r["outcome"] for r in results] for _, _, results in answers_chunked]
    assert outcomes[1][-1] == "duplicate"
    assert outcomes[2][-1] == "replaced"
    assert outcomes[4][-1] == "replaced"
    assert outcomes[10][-1] == "duplicate"
    assert any(r[13] for r in chunked["results"])  # a derived ANC
    assert {r[2] for r in chunked["results"] if r[1] == ward[2].pk} >= {"anc", "wbc"}


def test_a_bad_message_in_the_middle_costs_only_itself(ward, lab_user):
    """An unreadable message is refused (AR) and the chunk goes on."""
    texts = [_er7(n, patient=n % 3, accession=f"D{n}", day=1, value="2.5") for n in range(5)]
    texts.insert(2, "MSH|^~\\&|LIS|ACMELAB|CLOZREMS|CLINIC|2026||ADT^A01|X1|P|2.5.1\rPID|1")
    answers = hl7_messages_ingest(messages=texts, actor=lab_user)
    assert [a.code for a in answers] == ["AA", "AA", "AR", "AA", "AA", "AA"]
    assert FeedMessage.objects.count() == 6
    assert set(FeedMessage.objects.values_list("raw", flat=True)) == set(texts)
    assert LabResult.objects.filter(accession__startswith="D", analyte="anc").count() == 5


def test_a_message_that_breaks_the_chunk_is_kept_for_retry_and_the_others_filed(
    ward, lab_user, monkeypatch
):
    """A fault while filing one message rolls its chunk back; the chunk's messages are then
    applied one by one: that message is kept as failed (AE, retried later), every other one is
    filed, and every raw message is kept."""
    for filer in (Filer, chunks._Chunk):
        original = filer.record

        def record(self, *, _original=original, **kwargs):
            if kwargs["accession"] == "BAD":
                raise RuntimeError("disk on fire")
            return _original(self, **kwargs)

        monkeypatch.setattr(filer, "record", record)
    texts = [_er7(n, patient=n % 3, accession=f"E{n}", day=1, value="2.5") for n in range(4)]
    texts.insert(2, _er7(9, patient=0, accession="BAD", day=2, value="2.5"))
    answers = hl7_messages_ingest(messages=texts, actor=lab_user)
    assert [a.code for a in answers] == ["AA", "AA", "AE", "AA", "AA"]
    assert FeedMessage.objects.count() == 5
    failed = FeedMessage.objects.get(control_id="C0009")
    assert failed.outcome == "failed"
    assert "disk on fire" in failed.detail
    assert failed.raw == texts[2]
    assert LabResult.objects.filter(accession__startswith="E", analyte="anc").count() == 4
    assert not LabResult.objects.filter(accession="BAD").exists()


def test_a_chunks_statements_do_not_grow_with_its_size(
    ward, lab_user, django_assert_max_num_queries
):
    """Filing, quarantine and the state's advance cost the same statements for 10 messages as
    for 40 or 60 (draws of their own, a derived ANC, an unknown patient among them)."""

    def texts(count: int, offset: int) -> list[str]:
        return [
            _er7(
                offset + n,
                patient=(3 if n % 10 == 9 else n % 2),
                accession=f"Q{offset + n}",
                day=5 - offset // 100,  # each call later than the one before
                value="50" if n % 5 == 4 else "2.5",
                derived=n % 5 == 4,
            ).replace("0800-0400", f"08{n // 2:02d}-0400")  # a draw of its own
            for n in range(count)
        ]

    counts = []
    for count, offset in ((10, 0), (40, 100)):
        batch = texts(count, offset)
        with CaptureQueriesContext(connection) as queries:
            answers = hl7_messages_ingest(messages=batch, actor=lab_user)
        assert {a.code for a in answers} == {"AA", "AE"}
        counts.append(len(queries))
    assert counts[0] == counts[1]
    # (Up to SQLite's 999 parameters a statement: beyond, Django splits an INSERT in two.)
    with django_assert_max_num_queries(counts[0]):
        hl7_messages_ingest(messages=texts(60, 300), actor=lab_user, chunk_size=60)


def test_hl7_ingest_of_many_messages_takes_the_chunk_path(ward, lab_user, monkeypatch):
    """A text of many messages (a batch file, a POST) is applied a chunk at a time; the
    acknowledgements come back in message order."""
    called = []
    original = chunks._chunk_process

    def spy(**kwargs):
        called.append(len(kwargs["messages"]))
        return original(**kwargs)

    monkeypatch.setattr(chunks, "_chunk_process", spy)
    texts = [_er7(n, patient=n % 3, accession=f"H{n}", day=1, value="2.5") for n in range(3)]
    answers = hl7_ingest(text="\r".join(texts), actor=lab_user)
    assert called == [3]
    assert [a.outcome.message.control_id for a in answers] == ["C0000", "C0001", "C0002"]
