"""HL7 escape sequences are decoded with a bounded result, malformed ones stay literal text, no
field is read past its bound, and every message is kept as received whatever the parser does."""

from __future__ import annotations

import tracemalloc

import pytest

from feeds import hl7v2
from feeds.hl7v2 import MAX_FIELD_CHARS, _Separators, unescape
from feeds.models import FeedMessage, QuarantinedResult
from monitoring.models import LabResult
from tests.feeds.conftest import message, msh, obr, obx, pid

SEP = _Separators()


@pytest.mark.parametrize(
    ("escaped", "text"),
    [
        ("O\\T\\BRIEN", "O&BRIEN"),
        ("A\\F\\B\\S\\C\\R\\D\\E\\", "A|B^C~D\\"),
        ("\\H\\bold\\N\\", "bold"),
        ("\\X41\\\\X4243\\", "ABC"),
        ("A\\.br\\B", "A\nB"),
        ("A\\.sp999999999\\B", "A\n\n\n\nB"),  # at most a few characters, whatever n says
        ("A\\.sk99999\\B", "A    B"),
        ("A\\.in+4\\\\.ti-2\\\\.fi\\\\.nf\\\\.ce\\B", "AB"),
        ("A\\.spX\\B", "A\\.spX\\B"),  # malformed: literal
        ("A\\.sp\\B", "A\nB"),
        ("A\\Cxx\\B", "A\\Cxx\\B"),  # character sets are not switched: literal
        ("A\\Zlocal\\B", "A\\Zlocal\\B"),
        ("A\\X4\\B", "A\\X4\\B"),  # odd hex: literal
        ("A\\X00\\B", "A\\X00\\B"),  # a control character (NUL): literal
        ("A\\X" + "41" * 40 + "\\B", "A\\X" + "41" * 40 + "\\B"),  # too long: literal
        ("unterminated \\F", "unterminated \\F"),
        ("\\", "\\"),
        ("\\\\", "\\\\"),
    ],
)
def test_escape_sequences_decode_to_bounded_text(escaped, text):
    assert unescape(escaped, SEP) == text


@pytest.fixture
def post(api, lab_user):
    client = api(lab_user)

    def send(text: str):
        response = client.post("/api/v1/feeds/hl7/", data=text.encode(), content_type="text/plain")
        assert response.status_code == 200, response.content
        [answer] = response.json()["messages"]
        return answer

    return send


def test_a_huge_space_escape_costs_no_memory_and_the_message_is_kept(post, ann):
    # The first request of a process loads modules and fills caches; that is not the message's
    # cost, so one ordinary message goes first (another lab's, unmatched) and is left aside.
    post(
        message(
            msh("WARM", lab="WARMLAB"),
            pid(mrn="W1^^^WARMLAB^MR", name="NOBODY^NO"),
            obr("W1"),
            obx(1),
        )
    )
    text = message(msh(), pid(name="O\\.sp50000000\\BRIEN^ANN"), obr(), obx(1))
    tracemalloc.start()
    try:
        answer = post(text)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20_000_000  # a 50,000,000-character name would need far more
    assert answer["ack_code"] == "AE"  # a name that is not Ann's: held, never filed on her
    kept = FeedMessage.objects.get(control_id="MSG0001")
    held = QuarantinedResult.objects.get(message=kept)
    assert held.reason == "identity_mismatch" and len(held.last_name) < 20
    assert kept.raw == text.rstrip("\r")


@pytest.mark.parametrize("where", ["name", "value", "unit", "mrn", "accession", "control"])
def test_a_malformed_escape_anywhere_is_answered_and_kept(post, ann, where):
    bad = "\\.spX\\"
    text = message(
        msh(control=bad if where == "control" else "MSG0001"),
        pid(
            mrn=f"M1001{bad}^^^ACMELAB" if where == "mrn" else "M1001^^^ACMELAB^MR",
            name=f"O'BRIEN{bad}^ANN" if where == "name" else "O'BRIEN^ANN",
        ),
        obr(f"ACC{bad}" if where == "accession" else "ACC1"),
        obx(
            1,
            value=f"2.1{bad}" if where == "value" else "2.1",
            unit=f"10*3/uL{bad}" if where == "unit" else "10*3/uL",
        ),
    )
    answer = post(text)
    assert answer["ack_code"] in ("AA", "AE")
    assert answer["ack"].startswith("MSH|")
    kept = FeedMessage.objects.get()
    assert kept.raw == text.rstrip("\r") and kept.outcome in ("accepted", "quarantined")


def test_a_field_past_the_bound_is_refused_ar_and_kept(post, ann):
    text = message(msh(), pid(name="O" * (MAX_FIELD_CHARS + 1) + "^ANN"), obr(), obx(1))
    answer = post(text)
    assert answer["ack_code"] == "AR"
    assert f"at most {MAX_FIELD_CHARS}" in answer["detail"]
    kept = FeedMessage.objects.get()
    assert (kept.outcome, kept.raw) == ("rejected", text.rstrip("\r"))
    assert not LabResult.objects.filter(source="hl7").exists()


def test_a_parser_fault_keeps_the_message_for_retry(post, ann, monkeypatch):
    def broken(er7: str):
        raise KeyError("an unexpected parser fault")

    monkeypatch.setattr(hl7v2, "message_parse", broken)
    text = message(msh(), pid(), obr(), obx(1))
    answer = post(text)
    assert answer["ack_code"] == "AE"
    kept = FeedMessage.objects.get()
    assert (kept.outcome, kept.raw) == ("failed", text.rstrip("\r"))
    assert "KeyError" in kept.detail and "KeyError" not in answer["detail"]
    monkeypatch.undo()
    from feeds.retry import messages_retry_failed

    assert messages_retry_failed() == 1
    assert LabResult.objects.get(accession="ACC1").patient == ann
