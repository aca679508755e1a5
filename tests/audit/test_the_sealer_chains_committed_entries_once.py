"""The request path writes an entry with one INSERT and no lock; the sealer (`audit_seal`, the
periodic task `audit.tasks.audit_seal`, `manage.py audit_seal`) later chains every committed
entry exactly once, in id order within a run, whatever order the entries committed in, and
writes a signed checkpoint per batch (to the checkpoint file only after its commit). Unsealed
entries are listed by the API like any other."""

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit.keys import keyring
from audit.models import Action, AuditCheckpoint, AuditEntry
from audit.selectors import audit_chain_verify
from audit.services import audit_record, audit_seal, checkpoint_mac, entry_mac


def _write(admin, **inputs):
    return audit_record(action=Action.QUARANTINE_RESOLVE, actor=admin, inputs=inputs)


def _audit_statements(captured):
    return [
        q["sql"]
        for q in captured.captured_queries
        if "audit_auditentry" in q["sql"] or "advisory" in q["sql"]
    ]


def test_an_audit_append_is_one_insert_and_nothing_else(admin):
    with transaction.atomic(), CaptureQueriesContext(connection) as captured:
        _write(admin, n=1)

    assert len(captured) == 1, [q["sql"] for q in captured.captured_queries]
    assert captured.captured_queries[0]["sql"].startswith('INSERT INTO "audit_auditentry"')


def test_an_eligibility_checks_audit_entry_costs_one_statement(api, phil, active_patient):
    client = api(phil)
    url = f"/api/v1/patients/{active_patient.pk}/eligibility/"
    client.get(url)  # warm up the client's token lookups

    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)

    assert response.status_code == 200, response.json()
    [statement] = _audit_statements(captured)
    assert statement.startswith('INSERT INTO "audit_auditentry"')


def test_an_entry_is_listed_before_it_is_sealed_and_chained_after(api, aud, admin):
    entry = _write(admin, n=1)

    [listed] = api(aud).get("/api/v1/audit-entries/").json()["results"]
    assert listed["id"] == entry.pk
    assert (listed["sealed"], listed["seq"], listed["hash"]) == (False, None, None)

    audit_seal()

    [listed] = api(aud).get("/api/v1/audit-entries/").json()["results"]
    assert listed["sealed"] is True
    assert (listed["seq"], listed["prev_hash"]) == (1, "0" * 64)
    assert listed["hash"] == AuditEntry.objects.get(pk=entry.pk).hash
    assert listed["key_id"] == keyring().current.key_id


def test_each_run_seals_in_id_order_in_batches_with_one_checkpoint_each(admin):
    entries = [_write(admin, n=n) for n in range(5)]

    report = audit_seal(batch_size=2)

    assert (report.sealed, report.head_seq) == (5, 5)
    assert [AuditEntry.objects.get(pk=e.pk).seq for e in entries] == [1, 2, 3, 4, 5]
    checkpoints = list(AuditCheckpoint.objects.order_by("seq"))
    assert [(c.seq, c.sealed) for c in checkpoints] == [(2, 2), (4, 2), (5, 1)]
    key = keyring().current
    for checkpoint in checkpoints:
        assert checkpoint.hash == AuditEntry.objects.get(seq=checkpoint.seq).hash
        assert checkpoint.mac == checkpoint_mac(checkpoint, key)
    assert audit_seal().sealed == 0
    assert AuditCheckpoint.objects.count() == 3  # nothing new, no new checkpoint


def test_an_entry_that_appears_with_a_lower_id_after_later_ones_were_sealed_is_sealed_next(admin):
    """What a transaction that took its id first but committed last looks like to the sealer:
    a row with a lower id than sealed ones. `seq` is the sealer's, so it goes at the end."""
    later = [_write(admin, n=n) for n in range(2)]
    audit_seal()
    lower_id = min(e.pk for e in later) - 1000
    late = AuditEntry(id=lower_id, created_at=later[0].created_at, action="late", outcome="ok")
    late.save(force_insert=True)

    assert audit_seal().sealed == 1

    late.refresh_from_db()
    assert late.seq == 3
    assert late.prev_hash == AuditEntry.objects.get(seq=2).hash
    assert late.hash == entry_mac(late, keyring().current)
    assert audit_chain_verify().intact


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    st.lists(
        st.one_of(st.just(("seal", 0)), st.tuples(st.just("write"), st.integers(-50, 50))),
        max_size=25,
    )
)
def test_any_interleaving_of_writes_and_seals_seals_every_entry_exactly_once(admin, steps):
    """Writes land with any id, lower or higher than what is sealed (a late commit), between
    seal runs of any batch size; in the end every entry is in the chain once, `seq` runs 1..N,
    each run sealed in id order, and the chain verifies."""
    with transaction.atomic():
        base = AuditEntry.objects.order_by("-id").values_list("id", flat=True).first() or 0
        base += 1000
        used: set[int] = set()
        sealed = 0
        for kind, offset in steps:
            if kind == "seal":
                head = audit_seal(batch_size=3).head_seq
                run = AuditEntry.objects.filter(seq__gt=sealed, seq__lte=head).order_by("seq")
                newly = list(run.values_list("id", flat=True))
                assert newly == sorted(newly)  # one run: the waiting entries in id order
                sealed = head
            elif base + offset not in used:
                used.add(base + offset)
                AuditEntry(
                    id=base + offset, created_at=admin.date_joined, action="w", outcome="ok"
                ).save(force_insert=True)
        audit_seal(batch_size=3)

        rows = list(AuditEntry.objects.order_by("seq").values_list("seq", "id", "sealed_at"))
        assert [seq for seq, _, _ in rows] == list(range(1, len(used) + 1))
        assert {pk for _, pk, _ in rows} == used
        report = audit_chain_verify()
        assert report.intact and report.checked == len(used) and report.unsealed == 0
        transaction.set_rollback(True)


def test_the_checkpoint_file_gets_a_line_only_after_the_commit(
    admin, settings, tmp_path, django_capture_on_commit_callbacks
):
    path = tmp_path / "checkpoints.jsonl"
    settings.CLOZREMS_AUDIT_CHECKPOINT_FILE = str(path)
    _write(admin, n=1)

    with django_capture_on_commit_callbacks() as callbacks:
        with pytest.raises(RuntimeError), transaction.atomic():
            audit_seal()
            raise RuntimeError("the sealer's transaction rolls back")
    assert callbacks == [] and not path.exists()

    with django_capture_on_commit_callbacks(execute=True):
        audit_seal()
    [line] = path.read_text().splitlines()
    record = json.loads(line)
    checkpoint = AuditCheckpoint.objects.get()
    assert record == {
        "kind": "checkpoint",
        "seq": 1,
        "hash": checkpoint.hash,
        "key_id": checkpoint.key_id,
        "created_at": record["created_at"],
        "sealed": 1,
        "mac": checkpoint.mac,
    }


def test_the_periodic_task_and_the_command_seal(admin):
    from audit.tasks import audit_seal as task
    from notifications.schedule import PERIODIC_TASKS

    assert any(p.task == "audit.tasks.audit_seal" for p in PERIODIC_TASKS)
    _write(admin, n=1)
    assert task.delay().get() == 1
    _write(admin, n=2)
    out = StringIO()
    call_command("audit_seal", stdout=out)
    assert "sealed 1 entries; the chain's head is #2." in out.getvalue()
    assert AuditEntry.objects.filter(seq__isnull=True).count() == 0


def test_a_refused_request_still_writes_its_entry_after_the_rollback_unsealed(
    api, phil, pharmacy, stale_patient
):
    response = api(phil).post(
        "/api/v1/dispenses/",
        {"patient": stale_patient.pk, "pharmacy": pharmacy.pk, "days_supply": 7},
        format="json",
    )
    assert response.status_code == 422
    entry = AuditEntry.objects.filter(action=Action.DISPENSE_RECORD).get()
    assert (entry.outcome, entry.seq) == ("blocked", None)
    audit_seal()
    assert audit_chain_verify().intact
