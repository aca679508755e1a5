"""Feed fixtures: a lab interface account, patients with the lab's MRNs, message builders."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from feeds.models import PatientIdentifier
from tests import factories
from tests.conftest import TODAY

LAB = "ACMELAB"


@pytest.fixture
def lab_user(db):
    return factories.LabUserFactory.create(username="acme-interface")


@pytest.fixture
def ann(alice, clock):
    """Enrolled 60 days ago, weekly draws: a routine weekly patient; ACMELAB knows her as M1001."""
    start = TODAY - timedelta(days=60)
    patient = factories.enrolled_patient(
        actor=alice,
        start=start,
        draws=factories.weekly_draws(start, TODAY - timedelta(days=6)),
        last_name="O'Brien",
        first_name="Ann",
    )
    PatientIdentifier.objects.create(patient=patient, issuer=LAB, value="M1001", recorded_by=alice)
    return patient


@pytest.fixture
def twins(alice, clock):
    """Two patients with the same last name and date of birth, and no MRN."""
    start = TODAY - timedelta(days=30)
    return [
        factories.enrolled_patient(
            actor=alice, start=start, last_name="Twin", first_name=name, date_of_birth=DOB
        )
        for name in ("Tom", "Tim")
    ]


DOB = date(1985, 6, 15)


def msh(control: str = "MSG0001", kind: str = "ORU^R01^ORU_R01", lab: str = LAB) -> str:
    facility = f"{lab}^2.16.840.1.113883.3.1^ISO"
    return f"MSH|^~\\&|LIS|{facility}|CLOZREMS|CLINIC|20260520110000-0400||{kind}|{control}|P|2.5.1"


def pid(mrn: str = "M1001^^^ACMELAB^MR", name: str = "O'BRIEN^ANN", dob: str = "19850615") -> str:
    return f"PID|1||{mrn}||{name}||{dob}|F"


def obr(accession: str = "ACC1", drawn: str = "202605200800-0400") -> str:
    return f"OBR|1|PLC{accession}|{accession}|57021-8^CBC W Auto Differential panel^LN|||{drawn}"


def obx(
    n: int,
    code: str = "751-8^Neutrophils [#/volume] in Blood by Automated count^LN",
    value: str = "2.1",
    unit: str = "10*3/uL",
    status: str = "F",
    drawn: str = "",
    kind: str = "NM",
) -> str:
    return f"OBX|{n}|{kind}|{code}||{value}|{unit}|1.5-7.8|N|||{status}|||{drawn}"


def message(*segments: str) -> str:
    return "\r".join(segments) + "\r"


WBC = "6690-2^Leukocytes [#/volume] in Blood by Automated count^LN"
PERCENT = "770-8^Neutrophils/100 leukocytes in Blood by Automated count^LN"
HGB = "718-7^Hemoglobin [Mass/volume] in Blood^LN"


@pytest.fixture
def mllp_listener(transactional_db):
    """`start(config) -> port`: an MLLP listener (feeds/mllp.py) on a loopback port,
    in a thread of its own; every one started is stopped after the test."""
    import asyncio
    import threading

    from feeds.mllp import serve

    running = []

    def start(config) -> int:
        ready = threading.Event()
        port: list[int] = []
        loop = asyncio.new_event_loop()
        stop = asyncio.Event()

        def started(bound: int) -> None:
            port.append(bound)
            ready.set()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.run_until_complete(
                serve(host="127.0.0.1", port=0, config=config, started=started, stop=stop)
            )

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        assert ready.wait(10), "the MLLP listener did not start"
        running.append((loop, stop, thread))
        return port[0]

    yield start
    for loop, stop, thread in running:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        loop.close()
