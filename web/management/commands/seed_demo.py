"""Demo data so a newcomer sees the product working: a prescriber, a pharmacy, one user per
role and patients in every band and frequency. Safe to run twice (it does nothing the second
time). Histories go through the same services as the API, with past effective dates.

Patients get the deployment's default protocol (CLOZREMS_DEFAULT_PROTOCOL). On a protocol that
reads the WBC (uk-cpms) every draw is a full blood count: the neutrophils below and a WBC
2.5 ×10⁹/L above them; a BEN patient there has limits agreed with a haematologist."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from dateutil.relativedelta import relativedelta
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import transaction

from engine import get_protocol
from monitoring.acts import (
    limit_agreement_record,
    patient_create,
    patient_enroll,
    treatment_event_record,
)
from monitoring.selectors import clinic_zone
from monitoring.services import anc_result_record
from patients.models import Patient, Pharmacy, Prescriber, Role, User
from patients.services import today
from pharmacy.services import dispense_record

DEMO_PASSWORD = "clozrems-demo-2026"  # noqa: S105 - printed on purpose  # nosec B105
DEMO_NPI = "1234567893"  # passes the Luhn check over 80840


def demo_logins() -> list[str]:
    """The demo's sign-ins, as `make run` ends with them."""
    users = User.objects.filter(username__startswith="demo-").order_by("username")
    return [
        f"Demo logins (password {DEMO_PASSWORD}):",
        *(f"  {user.username:18} {user.role}" for user in users),
    ]


class Command(BaseCommand):
    help = "Load demo prescribers, pharmacy, users and patients (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        if Prescriber.objects.filter(npi=DEMO_NPI).exists():
            self.stdout.write("Demo data already loaded.")
        else:
            with transaction.atomic():
                self._load()
            self.stdout.write("Demo data loaded.")
            # So the demo's overdue and low-ANC patients have their reminders at once, rather
            # than at the scans' next scheduled hour.
            call_command("scan_now", stdout=self.stdout)
            # And the demo's audit trail sealed, so `audit_verify` proves it at once (a laptop
            # runs no beat to do it every minute: docs/audit.md).
            call_command("audit_seal", stdout=self.stdout)
        self.stdout.write("\n".join(demo_logins()))

    def _load(self) -> None:
        t = today()
        prescriber = Prescriber.objects.create(
            name="Dr Demo Okafor",
            npi=DEMO_NPI,
            email="okafor@example.org",
            phone="+1 555 0100 22",
            certified=True,
            # Before the demo's oldest enrollment: a certification counts from its date.
            certified_on=t - timedelta(days=800),
        )
        pharmacy = Pharmacy.objects.create(
            name="Demo Community Pharmacy",
            ncpdp_id="1234567",
            certified=True,
            certified_on=t - timedelta(days=800),
        )
        users = {}
        for role, link in (
            (Role.ADMIN, {}),
            (Role.PRESCRIBER, {"prescriber": prescriber}),
            (Role.DESIGNEE, {"prescriber": prescriber}),
            (Role.PHARMACIST, {"pharmacy": pharmacy}),
            (Role.AUDITOR, {}),
            (Role.LAB, {}),
        ):
            user = User(username=f"demo-{role}", role=role, **link)
            user.set_password(DEMO_PASSWORD)
            user.save()
            users[role] = user
        self.actor = users[Role.PRESCRIBER]
        self.prescriber = prescriber

        weekly = self._patient("Ana", "Weekly", t - timedelta(days=40), born=date(1988, 4, 12))
        self._draws(weekly, t - timedelta(days=40), 2300, every=7, until=t - timedelta(days=2))
        dispense_record(
            patient=weekly,
            pharmacy=pharmacy,
            actor=users[Role.ADMIN],
            days_supply=7,
            dispensed_at=self._at(t - timedelta(days=2), 15),
        )

        biweekly = self._patient(
            "Ben", "Fortnight", t - relativedelta(months=8), born=date(1979, 9, 3)
        )
        self._draws(
            biweekly, t - relativedelta(months=8), 2600, every=14, until=t - timedelta(days=5)
        )

        monthly = self._patient(
            "Cara", "Monthly", t - relativedelta(months=14), born=date(1965, 1, 27)
        )
        self._draws(
            monthly, t - relativedelta(months=14), 2800, every=28, until=t - timedelta(days=10)
        )

        mild = self._patient("Dev", "Mild", t - timedelta(days=50), born=date(1992, 11, 8))
        self._draws(mild, t - timedelta(days=50), 1900, every=7, until=t - timedelta(days=8))
        self._draw(mild, t - timedelta(days=1), 1250)

        moderate = self._patient("Eve", "Moderate", t - timedelta(days=60), born=date(1983, 6, 30))
        self._draws(moderate, t - timedelta(days=60), 1800, every=7, until=t - timedelta(days=6))
        self._draw(moderate, t - timedelta(days=1), 820)

        severe = self._patient("Finn", "Severe", t - timedelta(days=90), born=date(1971, 2, 14))
        self._draws(severe, t - timedelta(days=90), 1700, every=7, until=t - timedelta(days=6))
        self._draw(severe, t - timedelta(days=2), 420)
        self._draw(severe, t - timedelta(days=1), 380)

        ben = self._patient(
            "Gia",
            "Benign",
            t - timedelta(days=24),
            born=date(1990, 8, 21),
            population="ben",
            baselines=(1100, 1200),
        )
        self._draws(ben, t - timedelta(days=24), 1050, every=7, until=t - timedelta(days=3))

        overdue = self._patient("Hal", "Overdue", t - timedelta(days=60), born=date(1976, 12, 5))
        self._draws(overdue, t - timedelta(days=60), 2100, every=7, until=t - timedelta(days=12))

        self._lab_feed(weekly, users[Role.LAB])

        lapsed = self._patient("Ines", "Lapsed", t - timedelta(days=100), born=date(1985, 3, 19))
        self._draws(lapsed, t - timedelta(days=100), 2000, every=7, until=t - timedelta(days=44))
        treatment_event_record(
            patient=lapsed,
            actor=self.actor,
            kind="interrupt",
            effective_date=t - timedelta(days=40),
            reason="patient stopped taking clozapine",
        )

    def _lab_feed(self, patient: Patient, lab: User) -> None:
        """The demo lab knows Ana by an MRN; one result of hers arrived by HL7, and one result
        for a patient nobody has enrolled waits in the quarantine."""
        from feeds.hl7v2 import hl7_ingest
        from feeds.services import patient_identifier_add

        patient_identifier_add(patient=patient, actor=self.actor, issuer="DEMOLAB", value="D-0001")
        drawn = self._at(today() - timedelta(days=1), 8).strftime("%Y%m%d%H%M%z")
        header = f"MSH|^~\\&|LIS|DEMOLAB|CLOZREMS|CLINIC|{drawn}||ORU^R01^ORU_R01"
        hl7_ingest(
            text="\r".join(
                [
                    f"{header}|DEMO1|P|2.5.1",
                    "PID|1||D-0001^^^DEMOLAB^MR||WEEKLY^ANA",
                    f"OBR|1||DEMO-ACC-1|57021-8^CBC^LN|||{drawn}",
                    "OBX|1|NM|751-8^Neutrophils^LN||2.4|10*3/uL|1.5-7.5|N|||F",
                    f"{header}|DEMO2|P|2.5.1",
                    "PID|1||D-0999^^^DEMOLAB^MR||UNKNOWN^PAT||19700101",
                    f"OBR|1||DEMO-ACC-2|57021-8^CBC^LN|||{drawn}",
                    "OBX|1|NM|751-8^Neutrophils^LN||2.0|10*3/uL|1.5-7.5|N|||F",
                ]
            ),
            actor=lab,
        )

    def _at(self, day: date, hour: int = 9) -> datetime:
        return datetime.combine(day, time(hour), tzinfo=clinic_zone())

    def _draw(self, patient: Patient, day: date, value: int) -> None:
        # The demo's histories are written on purpose (a severe drop included): confirmed, so
        # the manual entry guards (docs/rules.md §8) do not hold them back.
        anc_result_record(
            patient=patient,
            actor=self.actor,
            drawn_at=self._at(day),
            value=Decimal(value),
            unit="/uL",
            confirm_unusual=True,
        )
        if "wbc" in get_protocol(patient.protocol).analytes:
            anc_result_record(
                patient=patient,
                actor=self.actor,
                drawn_at=self._at(day),
                value=Decimal(value + 2500),
                unit="/uL",
                analyte="wbc",
                confirm_unusual=True,
            )

    def _draws(self, patient: Patient, start: date, value: int, *, every: int, until: date) -> None:
        """Draws `every` days after `start`, the last on `until` exactly: counted back from it, so
        each patient shows the same situation whatever day the demo is loaded."""
        days = []
        day = until
        while day > start:
            days.append(day)
            day -= timedelta(days=every)
        for day in reversed(days):
            self._draw(patient, day, value)

    def _patient(
        self,
        first: str,
        last: str,
        start: date,
        *,
        born: date,
        population: str = "general",
        baselines: tuple[int, ...] = (2400,),
    ) -> Patient:
        patient = patient_create(
            actor=self.actor,
            first_name=first,
            last_name=last,
            date_of_birth=born,
            sex="unknown",
            population=population,
            prescriber=self.prescriber,
        )
        standard = get_protocol(patient.protocol).overridable_limits
        if population == "ben" and standard:
            limit_agreement_record(
                patient=patient,
                actor=self.actor,
                limits={
                    name: value
                    for name, value in {
                        "neutrophils_green_per_ul": 1000,
                        "neutrophils_red_per_ul": 500,
                    }.items()
                    if name in standard
                },
                haematologist="Dr Demo Haematologist",
                # A red limit below the protocol's floor needs a second signature.
                second_haematologist="Dr Demo Second Haematologist",
                # Before the baselines, and no further back than an agreement for a patient not
                # yet enrolled may be dated (the enrollment-lab window).
                agreed_on=start - timedelta(days=5),
            )
        for offset, value in enumerate(reversed(baselines), start=1):
            self._draw(patient, start - timedelta(days=offset * 2), value)
        patient_enroll(patient=patient, actor=self.actor, effective_date=start)
        treatment_event_record(
            patient=patient,
            actor=self.actor,
            kind="start",
            effective_date=start,
            reason="first dose",
        )
        return patient
