"""Expiries (docs/rules.md §4: "reminders go out before a deadline passes"): the expiries scan
(`monitoring.tasks.scan_expiries`, 06:45 daily) warns 14 days ahead (CLOZREMS_EXPIRY_WARNING_DAYS),
once per expiry date, the people who can renew:

- a prescriber's certification: the administrators and the prescriber's people;
- a pharmacy's certification: the administrators and the pharmacy's pharmacists;
- a continuation authorization: the patient's prescriber's people.
"""

from datetime import timedelta

import pytest

from monitoring.acts import authorization_record
from notifications.models import Kind
from tests import factories
from tests.conftest import TODAY
from tests.scheduler.helpers import recipients, reminders, run_scan_on, user_key


def expiries_on(clock, day):
    run_scan_on(clock, "expiries", day, 6, 45)


def expire(record, day):
    record.certification_expires_on = day
    record.save(update_fields=["certification_expires_on"])


@pytest.fixture
def people(alice, designee, bob, phil, admin, root):
    """Everyone exists before the scan runs."""


# --- prescriber certification ----------------------------------------------------------------


def test_a_prescriber_certification_14_days_out_warns_admins_and_the_prescribers_people(
    clock, people, alice_prescriber, alice_people, admin_people
):
    expire(alice_prescriber, TODAY + timedelta(days=14))

    expiries_on(clock, TODAY)

    warning = reminders(kind=Kind.PRESCRIBER_CERTIFICATION_EXPIRING)
    assert recipients(kind=Kind.PRESCRIBER_CERTIFICATION_EXPIRING) == alice_people | admin_people
    assert set(warning.values_list("subject_key", "key_date")) == {
        (f"prescriber:{alice_prescriber.pk}", TODAY + timedelta(days=14))
    }
    assert "Dr Alice Adams" in warning[0].subject


def test_a_prescriber_certification_15_days_out_warns_no_one_until_the_next_day(
    clock, people, alice_prescriber, alice_people, admin_people
):
    expire(alice_prescriber, TODAY + timedelta(days=15))

    expiries_on(clock, TODAY)
    assert not reminders().exists()

    expiries_on(clock, TODAY + timedelta(days=1))
    assert recipients() == alice_people | admin_people


def test_other_prescribers_and_pharmacists_are_not_told_of_a_prescribers_expiry(
    clock, people, alice_prescriber, bob, phil
):
    expire(alice_prescriber, TODAY + timedelta(days=3))

    expiries_on(clock, TODAY)

    assert reminders().exists()
    assert not recipients() & {user_key(bob), user_key(phil)}


def test_the_warning_is_sent_once_for_each_expiry_date(
    clock, people, alice_prescriber, alice_people, admin_people
):
    expire(alice_prescriber, TODAY + timedelta(days=14))
    for days in range(0, 15):
        expiries_on(clock, TODAY + timedelta(days=days))

    assert reminders().count() == len(alice_people | admin_people)

    # Renewed, then expiring again: a new date is a new occasion.
    later = TODAY + timedelta(days=14 + 365)
    expire(alice_prescriber, later)
    expiries_on(clock, later - timedelta(days=14))
    assert set(reminders().values_list("key_date", flat=True)) == {
        TODAY + timedelta(days=14),
        later,
    }


def test_an_already_expired_certification_is_not_warned_about(clock, people, alice_prescriber):
    expire(alice_prescriber, TODAY - timedelta(days=1))

    expiries_on(clock, TODAY)

    assert not reminders().exists()


# --- pharmacy certification ------------------------------------------------------------------


def test_a_pharmacy_certification_14_days_out_warns_admins_and_its_pharmacists(
    clock, people, pharmacy, phil, admin_people, alice_people
):
    other_pharmacist = factories.PharmacistUserFactory.create(username="olga")
    expire(pharmacy, TODAY + timedelta(days=14))

    expiries_on(clock, TODAY)

    pharmacists = {user_key(phil), f"email:{phil.email}"}
    assert recipients(kind=Kind.PHARMACY_CERTIFICATION_EXPIRING) == admin_people | pharmacists
    assert set(reminders().values_list("subject_key", "key_date")) == {
        (f"pharmacy:{pharmacy.pk}", TODAY + timedelta(days=14))
    }
    assert not recipients() & alice_people
    assert user_key(other_pharmacist) not in recipients()


def test_a_pharmacy_certification_15_days_out_warns_no_one(clock, people, pharmacy):
    expire(pharmacy, TODAY + timedelta(days=15))

    expiries_on(clock, TODAY)

    assert not reminders().exists()


# --- continuation authorization --------------------------------------------------------------


@pytest.fixture
def moderate(weekly_patient, alice, people):
    """Alice's patient, interrupted by a moderate ANC this morning."""
    factories.record_anc(weekly_patient, alice, TODAY, 800, hour=9)
    return weekly_patient


def authorize(patient, actor, days):
    return authorization_record(
        patient=patient,
        actor=actor,
        kind="continuation",
        rationale="benefit outweighs risk; daily ANC",
        expires_on=TODAY + timedelta(days=days),
    )


def test_a_continuation_authorization_expiring_within_14_days_warns_the_prescribers_people(
    clock, moderate, alice, alice_people, admin_people
):
    authorization = authorize(moderate, alice, 14)

    expiries_on(clock, TODAY)

    warning = reminders(kind=Kind.AUTHORIZATION_EXPIRING)
    assert recipients(kind=Kind.AUTHORIZATION_EXPIRING) == alice_people
    assert set(warning.values_list("subject_key", "key_date", "patient")) == {
        (f"authorization:{authorization.pk}", TODAY + timedelta(days=14), moderate.pk)
    }
    assert not recipients() & admin_people


def test_a_continuation_authorization_expiring_in_15_days_warns_no_one_yet(clock, moderate, alice):
    authorize(moderate, alice, 15)

    expiries_on(clock, TODAY)
    assert not reminders().exists()

    expiries_on(clock, TODAY + timedelta(days=1))
    assert reminders(kind=Kind.AUTHORIZATION_EXPIRING).exists()


def test_another_prescribers_people_are_not_told_of_an_authorization_expiry(
    clock, moderate, alice, bob
):
    authorize(moderate, alice, 5)

    expiries_on(clock, TODAY)

    assert reminders().exists()
    assert user_key(bob) not in recipients()


def test_a_certification_not_yet_begun_is_not_warned_about_until_it_begins(
    clock, people, alice_prescriber, phil
):
    """docs/rules.md §9.12: a certification counts from its date; until then the scan, like every
    decision, treats it as not (yet) held."""
    alice_prescriber.certified_on = TODAY + timedelta(days=2)
    alice_prescriber.save(update_fields=["certified_on"])
    expire(alice_prescriber, TODAY + timedelta(days=10))
    pharmacy = phil.pharmacy
    pharmacy.certified_on = TODAY + timedelta(days=2)
    pharmacy.save(update_fields=["certified_on"])
    expire(pharmacy, TODAY + timedelta(days=10))

    expiries_on(clock, TODAY)
    assert not reminders().exists()

    expiries_on(clock, TODAY + timedelta(days=2))
    assert reminders(kind=Kind.PRESCRIBER_CERTIFICATION_EXPIRING).exists()
    assert reminders(kind=Kind.PHARMACY_CERTIFICATION_EXPIRING).exists()
