"""`python manage.py mllp_listen` as its own process, against this test run's PostgreSQL
database: a sender on a loopback port gets ACKs and the results are in the database. Needs
PostgreSQL (another process shares the database); elsewhere it skips and says why (the
in-process listener test, test_mllp_live.py, runs everywhere)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from monitoring.models import LabResult
from tests.feeds.conftest import message, msh, obr, obx, pid
from tests.scheduler.test_live_worker import _database_url

REPO = Path(__file__).resolve().parents[2]
START, END = b"\x0b", b"\x1c\r"

pytestmark = pytest.mark.postgres


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.django_db(transaction=True)
def test_the_mllp_listen_command_acks_and_stores(ann, tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: the listener is another process sharing the database")
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "DJANGO_SETTINGS_MODULE": "clozrems.settings",
    }
    env.pop("REDIS_URL", None)
    log = (tmp_path / "mllp.log").open("w")
    listener = subprocess.Popen(  # noqa: S603 - our own command
        [sys.executable, "manage.py", "mllp_listen", "--port", str(port), "--user", "mllp-cmd"],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:  # wait for the port, bounded; not a timing assertion
            try:
                conn = socket.create_connection(("127.0.0.1", port), timeout=10)
                break
            except OSError:
                if time.monotonic() > deadline or listener.poll() is not None:
                    pytest.fail(f"listener did not start:\n{(tmp_path / 'mllp.log').read_text()}")
                time.sleep(0.2)
        with conn:
            conn.sendall(
                START + message(msh("P1"), pid(), obr("PA1"), obx(1, value="2.7")).encode() + END
            )
            data = b""
            while not data.endswith(END):
                chunk = conn.recv(65536)
                assert chunk, (tmp_path / "mllp.log").read_text()
                data += chunk
        assert data[1:-2].decode().split("\r")[1].startswith("MSA|AA|P1|")
        result = LabResult.objects.get(accession="PA1")
        assert result.value_per_ul == 2700 and result.recorded_by.username == "mllp-cmd"
    finally:
        listener.terminate()
        listener.wait(10)
        log.close()


@pytest.mark.django_db(transaction=True)
def test_the_mllp_listen_command_over_tls_serves_a_registered_lab(ann, tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: the listener is another process sharing the database")
    import ssl

    from feeds.mllp import certificate_fingerprint
    from feeds.models import LabAccount, LabCertificate
    from tests import factories
    from tests.feeds.certs import Authority

    ca = Authority(tmp_path)
    server, client = ca.issue("mllp-server", server=True), ca.issue("acme-lis")
    account = LabAccount.objects.create(
        user=factories.LabUserFactory.create(username="acme-tls"), lab="ACMELAB"
    )
    LabCertificate.objects.create(
        account=account, fingerprint_sha256=certificate_fingerprint(client.der)
    )
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "DJANGO_SETTINGS_MODULE": "clozrems.settings",
        "CLOZREMS_MLLP_TLS_CERT": str(server.cert),
        "CLOZREMS_MLLP_TLS_KEY": str(server.key),
        "CLOZREMS_MLLP_TLS_CA": str(ca.pem),
    }
    env.pop("REDIS_URL", None)
    log = (tmp_path / "mllp.log").open("w")
    listener = subprocess.Popen(  # noqa: S603 - our own command
        [sys.executable, "manage.py", "mllp_listen", "--port", str(port)],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    context = ssl.create_default_context(cafile=str(ca.pem))
    context.load_cert_chain(str(client.cert), str(client.key))
    try:
        deadline = time.monotonic() + 30
        while True:  # wait for the port, bounded; not a timing assertion
            try:
                raw = socket.create_connection(("127.0.0.1", port), timeout=10)
                break
            except OSError:
                if time.monotonic() > deadline or listener.poll() is not None:
                    pytest.fail(f"listener did not start:\n{(tmp_path / 'mllp.log').read_text()}")
                time.sleep(0.2)
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as conn:
            text = message(msh("T1", lab="OTHERLAB"), pid("M1001^^^^MR"), obr("TA1"), obx(1))
            conn.sendall(START + text.encode() + END)
            data = b""
            while not data.endswith(END):
                chunk = conn.recv(65536)
                assert chunk, (tmp_path / "mllp.log").read_text()
                data += chunk
        assert data[1:-2].decode().split("\r")[1].startswith("MSA|AA|T1|")
        result = LabResult.objects.get(accession="TA1")
        assert (result.lab, result.recorded_by.username) == ("ACMELAB", "acme-tls")
    finally:
        listener.terminate()
        listener.wait(10)
        log.close()
