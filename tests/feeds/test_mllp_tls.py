"""MLLP over TLS against a real socket: a throwaway CA issues the listener's certificate and the
labs' client certificates. Only a registered certificate from an allowed address is served, as
the lab account it is registered for; a slow or stuck sender never holds up another; an
oversized frame is refused, kept and the connection closed; an idle connection is closed."""

from __future__ import annotations

import socket
import ssl
import threading

import pytest

from feeds import mllp
from feeds.hl7v2 import hl7_ingest
from feeds.mllp import (
    ListenerConfig,
    certificate_fingerprint,
    networks,
    server_tls_context,
)
from feeds.models import FeedMessage, LabAccount, LabCertificate
from monitoring.models import LabResult
from tests import factories
from tests.feeds.certs import Authority
from tests.feeds.conftest import message, msh, obr, obx, pid

START, END = b"\x0b", b"\x1c\r"
LOOPBACK = networks("127.0.0.1/32")


@pytest.fixture
def pki(tmp_path):
    ca = Authority(tmp_path)
    return ca, ca.issue("mllp-server", server=True)


@pytest.fixture
def acme(transactional_db):
    """ACMELAB's interface account with its registered client certificate."""
    user = factories.LabUserFactory.create(username="acme-mllp")
    return LabAccount.objects.create(user=user, lab="ACMELAB")


@pytest.fixture
def acme_cert(pki, acme):
    ca, _ = pki
    issued = ca.issue("acme-lis")
    LabCertificate.objects.create(
        account=acme, fingerprint_sha256=certificate_fingerprint(issued.der), note="test"
    )
    return issued


def _config(pki, **overrides):
    ca, server = pki
    tls = server_tls_context(certfile=str(server.cert), keyfile=str(server.key), cafile=str(ca.pem))
    return ListenerConfig(**{"allowed": LOOPBACK, "tls": tls, **overrides})


def _connect(port, ca, issued=None):
    context = ssl.create_default_context(cafile=str(ca.pem))
    if issued is not None:
        context.load_cert_chain(str(issued.cert), str(issued.key))
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    return context.wrap_socket(raw, server_hostname="127.0.0.1")


def _frame(text: str) -> bytes:
    return START + text.encode() + END


def _read_ack(conn) -> str:
    data = b""
    while not data.endswith(END):
        chunk = conn.recv(65536)
        assert chunk, "the listener closed the connection before answering"
        data += chunk
    return data[1:-2].decode()


def _msa(ack: str) -> list[str]:
    return ack.split("\r")[1].split("|")[:3]


def _refused(port, ca, issued=None) -> None:
    """The listener ends the connection without reading or answering a message."""
    try:
        with _connect(port, ca, issued) as conn:
            conn.sendall(_frame(message(msh("NO"), pid(), obr("NO1"), obx(1))))
            assert conn.recv(65536) == b""
    except (ssl.SSLError, ConnectionError, OSError):
        pass  # refused during the handshake, or reset after it
    assert not FeedMessage.objects.exists()
    assert not LabResult.objects.filter(source="hl7").exists()


def _cbc(control: str, accession: str, value: str = "2.4") -> str:
    # MSH-4 names another lab, and PID-3 no assigning authority: the lab is the connection's.
    return message(
        msh(control, lab="OTHERLAB"), pid("M1001^^^^MR"), obr(accession), obx(1, value=value)
    )


def test_a_registered_certificate_is_acked_and_stored_under_its_lab(
    mllp_listener, pki, acme, acme_cert, ann
):
    port = mllp_listener(_config(pki))
    with _connect(port, pki[0], acme_cert) as conn:
        conn.sendall(_frame(_cbc("T1", "TA1")))
        ack = _read_ack(conn)
    assert _msa(ack) == ["MSA", "AA", "T1"]
    result = LabResult.objects.get(accession="TA1")
    assert (result.lab, result.recorded_by, result.patient) == ("ACMELAB", acme.user, ann)
    assert FeedMessage.objects.get().lab == "ACMELAB"


def test_a_certificate_registered_by_subject_is_accepted(mllp_listener, pki, acme, ann):
    issued = pki[0].issue("acme-backup", organization="Acme Lab")
    LabCertificate.objects.create(account=acme, subject="CN=acme-backup,O=Acme Lab")
    port = mllp_listener(_config(pki))
    with _connect(port, pki[0], issued) as conn:
        conn.sendall(_frame(_cbc("S1", "SA1")))
        assert _msa(_read_ack(conn)) == ["MSA", "AA", "S1"]


def test_no_client_certificate_is_refused(mllp_listener, pki, acme, acme_cert, ann):
    _refused(mllp_listener(_config(pki)), pki[0])


def test_an_unregistered_certificate_of_the_same_ca_is_refused(mllp_listener, pki, acme, ann):
    stranger = pki[0].issue("stranger-lis")
    _refused(mllp_listener(_config(pki)), pki[0], stranger)


def test_a_certificate_of_another_ca_is_refused(mllp_listener, pki, acme, ann, tmp_path):
    other = Authority(tmp_path, name="Other CA").issue("acme-lis-forged")
    LabCertificate.objects.create(
        account=acme, fingerprint_sha256=certificate_fingerprint(other.der)
    )
    _refused(mllp_listener(_config(pki)), pki[0], other)


def test_a_revoked_certificate_or_an_inactive_user_is_refused(
    mllp_listener, pki, acme, acme_cert, ann
):
    port = mllp_listener(_config(pki))
    LabCertificate.objects.update(active=False)
    _refused(port, pki[0], acme_cert)
    LabCertificate.objects.update(active=True)
    type(acme.user).objects.filter(pk=acme.user.pk).update(is_active=False)
    _refused(port, pki[0], acme_cert)


def test_a_sender_off_the_allowlist_is_refused(mllp_listener, pki, acme, acme_cert, ann):
    _refused(mllp_listener(_config(pki, allowed=networks("10.0.0.0/8"))), pki[0], acme_cert)


def test_a_sender_off_its_labs_own_networks_is_refused(mllp_listener, pki, acme, acme_cert, ann):
    LabAccount.objects.filter(pk=acme.pk).update(allowed_networks="10.1.0.0/16, 192.0.2.7")
    _refused(mllp_listener(_config(pki)), pki[0], acme_cert)


def test_a_slow_sender_does_not_block_another(mllp_listener, pki, acme, acme_cert, ann):
    port = mllp_listener(_config(pki))
    slow = _frame(_cbc("SLOW", "SL1"))
    with _connect(port, pki[0], acme_cert) as first:
        first.sendall(slow[:40])  # half a frame, then nothing for now
        with _connect(port, pki[0], acme_cert) as second:
            second.sendall(_frame(_cbc("FAST", "FA1")))
            assert _msa(_read_ack(second)) == ["MSA", "AA", "FAST"]
        first.sendall(slow[40:])
        assert _msa(_read_ack(first)) == ["MSA", "AA", "SLOW"]
    assert LabResult.objects.filter(accession__in=["SL1", "FA1"]).count() == 2


def test_a_message_stuck_in_processing_does_not_block_another_sender(
    mllp_listener, pki, acme, acme_cert, ann
):
    """The first sender's message holds its worker (as a huge batch would); the second sender
    is answered meanwhile, from a worker of its own."""
    entered, release = threading.Event(), threading.Event()

    def ingest(*, text, actor, account):
        if "HOLD" in text:
            entered.set()
            assert release.wait(20)
        return hl7_ingest(text=text, actor=actor, account=account)

    port = mllp_listener(_config(pki, ingest=ingest))
    with _connect(port, pki[0], acme_cert) as first:
        first.sendall(_frame(_cbc("HOLD", "HO1")))
        assert entered.wait(10)
        with _connect(port, pki[0], acme_cert) as second:
            second.sendall(_frame(_cbc("FREE", "FR1")))
            assert _msa(_read_ack(second)) == ["MSA", "AA", "FREE"]
        release.set()
        assert _msa(_read_ack(first)) == ["MSA", "AA", "HOLD"]


def test_an_oversized_frame_is_refused_kept_and_the_connection_closed(
    mllp_listener, pki, acme, acme_cert, ann
):
    port = mllp_listener(_config(pki, max_frame_bytes=2048))
    huge = _cbc("BIG", "BG1").replace("O'BRIEN", "O'BRIEN" + "X" * 5000)
    with _connect(port, pki[0], acme_cert) as conn:
        conn.sendall(_frame(huge))
        ack = _read_ack(conn)
        assert _msa(ack) == ["MSA", "AR", "BIG"]
        assert conn.recv(65536) == b""  # closed
    kept = FeedMessage.objects.get()
    assert kept.outcome == "rejected" and "larger than 2048 bytes" in kept.detail
    assert huge.startswith(kept.raw) and 0 < len(kept.raw) <= 2048
    assert not LabResult.objects.filter(source="hl7").exists()


def test_an_idle_connection_is_closed(mllp_listener, pki, acme, acme_cert, ann):
    port = mllp_listener(_config(pki, idle_timeout=0.2))
    with _connect(port, pki[0], acme_cert) as conn:
        assert conn.recv(65536) == b""  # the listener hangs up; no frame was sent


def test_without_tls_the_listener_binds_loopback_only(acme):
    config = ListenerConfig(allowed=LOOPBACK, actor=acme.user)
    with pytest.raises(ValueError, match="loopback"):
        mllp.listener_check(host="0.0.0.0", config=config)  # noqa: S104
    with pytest.raises(ValueError, match="needs the lab account"):
        mllp.listener_check(host="127.0.0.1", config=ListenerConfig(allowed=LOOPBACK))
    mllp.listener_check(host="::1", config=config)


def test_the_command_needs_tls_or_a_loopback_account(pki, db):
    from django.core.management import CommandError, call_command

    ca, server = pki
    with pytest.raises(CommandError, match="Configure TLS"):
        call_command("mllp_listen")
    with pytest.raises(CommandError, match="together"):
        call_command("mllp_listen", "--tls-cert", str(server.cert))
    with pytest.raises(CommandError, match="--user is for a plain loopback listener"):
        call_command(
            "mllp_listen",
            "--tls-cert",
            str(server.cert),
            "--tls-key",
            str(server.key),
            "--tls-ca",
            str(ca.pem),
            "--user",
            "x",
        )
    with pytest.raises(CommandError, match="loopback"):
        call_command("mllp_listen", "--user", "local-engine", "--host", "0.0.0.0")  # noqa: S104
    with pytest.raises(CommandError, match="--allow"):
        call_command("mllp_listen", "--user", "local-engine", "--allow", "not-a-network")
