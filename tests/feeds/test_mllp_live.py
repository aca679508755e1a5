"""A live MLLP listener on a loopback port: a sender frames messages, gets ACKs, and the results
are in the database."""

from __future__ import annotations

import socket

import pytest

from feeds.mllp import ListenerConfig, feed_user, networks
from feeds.models import FeedMessage, QuarantinedResult
from monitoring.models import LabResult
from tests.feeds.conftest import message, msh, obr, obx, pid

START, END = b"\x0b", b"\x1c\r"


@pytest.fixture
def listener(mllp_listener):
    """A plain listener on loopback, speaking for one lab interface account."""
    return mllp_listener(
        ListenerConfig(allowed=networks("127.0.0.1/32"), actor=feed_user("mllp-test"))
    )


# What a read took past the end of one ACK (two ACKs can arrive in one TCP segment), per socket.
_unread: dict[int, bytes] = {}


def read_ack(conn: socket.socket) -> str:
    """The next whole ACK frame on `conn`, however the frames were split or joined in transit."""
    data = _unread.pop(id(conn), b"")
    while END not in data:
        chunk = conn.recv(65536)
        assert chunk, "the listener closed the connection before answering"
        data += chunk
    frame, _, rest = data.partition(END)
    if rest:
        _unread[id(conn)] = rest
    assert frame.startswith(START)
    return frame[1:].decode()


def test_framed_messages_are_acked_and_stored(listener, ann):
    with socket.create_connection(("127.0.0.1", listener), timeout=10) as conn:
        conn.sendall(
            START + message(msh("L1"), pid(), obr("LA1"), obx(1, value="2.2")).encode() + END
        )
        first = read_ack(conn)
        # Two frames in one write, and one frame split over two writes.
        second = message(msh("L2"), pid(), obr("LA2"), obx(1, value="2.3")).encode()
        unknown = message(
            msh("L3"), pid("Z1^^^ACMELAB", "NOBODY^N", "19700101"), obr("LA3"), obx(1)
        )
        conn.sendall(START + second + END + START + unknown.encode()[:20])
        conn.sendall(unknown.encode()[20:] + END)
        acks = [first, read_ack(conn), read_ack(conn)]
        conn.sendall(START + b"MSH|^~\\&|LIS|ACMELAB|||20260520||ADT^A01|L4|P|2.5.1\r" + END)
        acks.append(read_ack(conn))
    msa = [ack.split("\r")[1].split("|")[:3] for ack in acks]
    assert msa == [
        ["MSA", "AA", "L1"],
        ["MSA", "AA", "L2"],
        ["MSA", "AE", "L3"],
        ["MSA", "AR", "L4"],
    ]
    assert acks[0].startswith("MSH|^~\\&|CLOZREMS|CLOZREMS|LIS|ACMELAB")
    stored = dict(LabResult.objects.filter(source="hl7").values_list("accession", "value_per_ul"))
    assert stored == {"LA1": 2200, "LA2": 2300}
    assert QuarantinedResult.objects.get().reason == "unmatched_patient"
    assert FeedMessage.objects.count() == 4


def test_a_sender_on_another_connection_is_served_too(listener, ann):
    for n in range(2):
        with socket.create_connection(("127.0.0.1", listener), timeout=10) as conn:
            conn.sendall(START + message(msh(f"C{n}"), pid(), obr(f"CA{n}"), obx(1)).encode() + END)
            assert read_ack(conn).split("\r")[1].startswith(f"MSA|AA|C{n}")
    assert LabResult.objects.filter(source="hl7").count() == 2


def test_frames_sent_without_waiting_are_acked_in_order(listener, ann):
    """A sender that does not wait for each ACK: its frames (read together when they are
    already received) are answered one ACK each, in order, every result stored."""
    frames = b"".join(
        START + message(msh(f"P{n}"), pid(), obr(f"PA{n}"), obx(1, value="2.4")).encode() + END
        for n in range(6)
    )
    with socket.create_connection(("127.0.0.1", listener), timeout=10) as conn:
        conn.sendall(frames)
        data = b""
        while data.count(END) < 6:  # the ACKs of a chunk may come in one segment
            chunk = conn.recv(65536)
            assert chunk, "the listener closed the connection before answering"
            data += chunk
    acks = [frame.lstrip(START).decode() for frame in data.split(END)[:6]]
    assert data.endswith(END) and all(frame.startswith(START) for frame in data.split(END)[:6])
    assert [a.split("\r")[1].split("|")[:3] for a in acks] == [
        ["MSA", "AA", f"P{n}"] for n in range(6)
    ]
    assert LabResult.objects.filter(source="hl7", accession__startswith="PA").count() == 6


def test_frames_read_together_are_applied_as_one_chunk(transactional_db, ann, monkeypatch):
    from feeds import chunks, mllp

    sizes = []
    original = chunks._chunk_process

    def spy(**kwargs):
        sizes.append(len(kwargs["messages"]))
        return original(**kwargs)

    monkeypatch.setattr(chunks, "_chunk_process", spy)
    texts = [message(msh(f"G{n}"), pid(), obr(f"GA{n}"), obx(1, value="2.4")) for n in range(3)]
    answers = mllp._ingest(mllp.hl7_ingest, texts, feed_user("mllp-test"), None)
    assert sizes == [3]
    assert [a.outcome.message.control_id for a in answers] == ["G0", "G1", "G2"]
    assert {a.code for a in answers} == {"AA"}
