"""factory-boy factories and small history builders for the API and database tests.

Patients go through `monitoring.acts.patient_create` (so the monitoring-state row exists), and
histories through the same services the API calls, except where a test needs hundreds of rows
fast: `bulk_history` writes the rows directly and then runs `monitoring_state_refresh`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import factory
from factory.django import DjangoModelFactory, Password

from clozrems.zones import clinic_zone
from monitoring.acts import patient_create, patient_enroll, treatment_event_record
from monitoring.models import LabResult
from monitoring.services import anc_result_record, monitoring_state_refresh
from patients.models import (
    EnrollmentEvent,
    Patient,
    Pharmacy,
    Prescriber,
    Role,
    TreatmentEvent,
    User,
)

PASSWORD = "Clozrems-test-pass-2026!"


def npi_with_check_digit(nine: str) -> str:
    """A valid NPI: nine digits plus the Luhn check digit over the 80840 prefix."""
    digits = [int(c) for c in "80840" + nine]
    total = 0
    for index, digit in enumerate(reversed(digits)):
        if index % 2 == 0:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return nine + str((10 - total % 10) % 10)


def bad_npi(npi: str) -> str:
    """The same NPI with a wrong check digit."""
    return npi[:9] + str((int(npi[9]) + 1) % 10)


# --- directory ------------------------------------------------------------------------------


class PrescriberFactory(DjangoModelFactory[Prescriber]):
    class Meta:
        model = Prescriber

    name = factory.Sequence(lambda n: f"Dr Test {n:03d}")
    npi = factory.Sequence(lambda n: npi_with_check_digit(f"{100000000 + n:09d}"))
    email = factory.Sequence(lambda n: f"prescriber{n}@example.org")
    active = True
    certified = True
    certified_on = date(2020, 1, 1)


class PharmacyFactory(DjangoModelFactory[Pharmacy]):
    class Meta:
        model = Pharmacy

    name = factory.Sequence(lambda n: f"Test Pharmacy {n:03d}")
    ncpdp_id = factory.Sequence(lambda n: f"{1000000 + n:07d}")
    active = True
    certified = True
    certified_on = date(2020, 1, 1)


class UserFactory(DjangoModelFactory[User]):
    """A user with no role; the per-role factories below set role and the link it needs."""

    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n:03d}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.org")
    password = Password(PASSWORD)
    role = ""


class PrescriberUserFactory(UserFactory):
    role = Role.PRESCRIBER
    prescriber = factory.SubFactory(PrescriberFactory)


class DesigneeUserFactory(UserFactory):
    role = Role.DESIGNEE
    prescriber = factory.SubFactory(PrescriberFactory)


class PharmacistUserFactory(UserFactory):
    role = Role.PHARMACIST
    pharmacy = factory.SubFactory(PharmacyFactory)


class AuditorUserFactory(UserFactory):
    role = Role.AUDITOR


class LabUserFactory(UserFactory):
    role = Role.LAB


class AdminUserFactory(UserFactory):
    role = Role.ADMIN


class SuperuserFactory(UserFactory):
    is_superuser = True
    is_staff = True


# --- patients -------------------------------------------------------------------------------


class PatientFactory(factory.Factory[Patient]):
    """A pending patient, created through `patient_create` (which stores its monitoring row).

    `actor` defaults to a new prescriber user of the patient's prescriber.
    """

    class Meta:
        model = Patient

    first_name = factory.Iterator(["Ada", "Bea", "Cy", "Dana", "Eli", "Fay", "Gus"])
    last_name = factory.Sequence(lambda n: f"Patient{n:03d}")
    date_of_birth = date(1985, 6, 15)
    sex = "female"
    population = "general"
    prescriber = factory.SubFactory(PrescriberFactory)
    protocol = None
    actor = factory.LazyAttribute(lambda o: PrescriberUserFactory.create(prescriber=o.prescriber))

    @classmethod
    def _create(cls, model_class: type[Patient], *args: Any, **kwargs: Any) -> Patient:
        return patient_create(**kwargs)

    @classmethod
    def _build(cls, model_class: type[Patient], *args: Any, **kwargs: Any) -> Patient:
        kwargs.pop("actor")
        return model_class(**kwargs)


# --- histories ------------------------------------------------------------------------------


def at(day: date, hour: int = 9, minute: int = 0) -> datetime:
    """A clinic-local, timezone-aware moment on `day`."""
    return datetime.combine(day, time(hour, minute), tzinfo=clinic_zone())


def record_anc(
    patient: Patient,
    actor: User,
    day: date,
    value: int | str | Decimal,
    *,
    unit: str = "/uL",
    hour: int = 9,
    accession: str = "",
) -> LabResult:
    """A manual entry, confirmed: histories built here are the test's premises, not entries the
    manual entry guards (docs/rules.md §8) should hold back; their own tests post through HTTP."""
    return anc_result_record(
        patient=patient,
        actor=actor,
        drawn_at=at(day, hour),
        value=Decimal(str(value)),
        unit=unit,
        accession=accession,
        confirm_unusual=True,
    ).result


def _result(patient: Patient, actor: User, day: date, value: int) -> LabResult:
    return LabResult(
        patient=patient,
        value=Decimal(value),
        unit="/uL",
        value_per_ul=value,
        drawn_at=at(day),
        recorded_by=actor,
    )


def enrolled_patient(
    *,
    actor: User,
    prescriber: Prescriber | None = None,
    start: date,
    population: str = "general",
    baselines: Iterable[int] = (2400,),
    draws: Iterable[tuple[date, int]] = (),
    started: bool = True,
    via_services: bool = False,
    **patient_fields: Any,
) -> Patient:
    """A patient with baseline ANCs in the days before `start`, enrolled on `start` and (unless
    `started=False`) started on it, then the given `(day, value)` draws at 09:00 local.

    By default the history rows are written directly and the monitoring state is rebuilt once
    (fast; the property test checks that this equals the incremental path). `via_services=True`
    goes through the services, one call per item, as the API would.
    """
    prescriber = prescriber or actor.prescriber
    patient = PatientFactory.create(
        actor=actor, prescriber=prescriber, population=population, **patient_fields
    )
    baseline_days = [
        (start - timedelta(days=offset * 2), value)
        for offset, value in enumerate(reversed(list(baselines)), start=1)
    ]
    draws = list(draws)
    if via_services:
        for day, value in baseline_days:
            record_anc(patient, actor, day, value)
        patient_enroll(patient=patient, actor=actor, effective_date=start)
        if started:
            treatment_event_record(
                patient=patient, actor=actor, kind="start", effective_date=start, reason="first"
            )
        for day, value in draws:
            record_anc(patient, actor, day, value)
    else:
        LabResult.objects.bulk_create(
            _result(patient, actor, day, value) for day, value in [*baseline_days, *draws]
        )
        EnrollmentEvent.objects.create(
            patient=patient, kind=EnrollmentEvent.Kind.ENROLL, effective_date=start, actor=actor
        )
        if started:
            TreatmentEvent.objects.create(
                patient=patient, kind="start", effective_date=start, reason="first", actor=actor
            )
        monitoring_state_refresh(patient=patient)
    patient = Patient.objects.select_related("prescriber", "monitoring").get(pk=patient.pk)
    assert patient.enrollment_status != "pending", "the history does not allow enrollment"
    return patient


def weekly_draws(start: date, until: date, value: int = 2100, every: int = 7) -> list:
    """(day, value) every `every` days after `start`, through `until`."""
    out = []
    day = start + timedelta(days=every)
    while day <= until:
        out.append((day, value))
        day += timedelta(days=every)
    return out


def bulk_history(*, actor: User, prescriber: Prescriber, results: int, today: date) -> Patient:
    """An enrolled, started patient with `results` daily normal ANCs ending yesterday, written
    with bulk_create; the monitoring state is then rebuilt from the history."""
    patient = PatientFactory.create(actor=actor, prescriber=prescriber)
    first = today - timedelta(days=results)
    LabResult.objects.bulk_create(
        _result(patient, actor, first + timedelta(days=i), 2000 + i % 7) for i in range(results)
    )
    EnrollmentEvent.objects.create(
        patient=patient, kind=EnrollmentEvent.Kind.ENROLL, effective_date=first, actor=actor
    )
    TreatmentEvent.objects.create(
        patient=patient, kind="start", effective_date=first, reason="first dose", actor=actor
    )
    monitoring_state_refresh(patient=patient)
    return Patient.objects.select_related("prescriber", "monitoring").get(pk=patient.pk)
