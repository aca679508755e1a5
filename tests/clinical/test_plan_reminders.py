"""The plan's daily scan reminds the prescriber of checks due and overdue (a baseline ECG and a
metabolic check here), once per occasion, and of a supply that ran out 48 hours ago."""

from datetime import timedelta
from decimal import Decimal

from clinical.reminders import plan_scan
from clinical.tasks import plan_scan as plan_scan_task
from notifications.models import Notification
from tests import factories
from tests.clinical.conftest import dispensed
from tests.conftest import NOW, TODAY


def scan(now=NOW):
    return plan_scan(lo=0, hi=10**9, now=now)


def reminders(kind, subject_contains=""):
    return Notification.objects.filter(
        kind=kind, channel="in_app", subject__contains=subject_contains
    )


def started(alice, days_ago, **kw):
    return factories.enrolled_patient(actor=alice, start=TODAY - timedelta(days=days_ago), **kw)


def test_a_baseline_ecg_not_done_is_overdue_from_the_day_after_the_start(alice, clock):
    patient = started(alice, 0)
    scan()
    assert not reminders("plan_item_overdue", "ECG").exists()
    [due] = reminders("plan_item_due", "ECG")
    assert due.recipient_id == alice.pk and due.key_date == TODAY
    clock.shift(timedelta(days=1))
    scan(NOW + timedelta(days=1))
    [overdue] = reminders("plan_item_overdue", "ECG")
    assert overdue.patient_id == patient.pk
    assert "seed 001" in overdue.body


def test_a_baseline_done_before_the_start_is_not_reminded(alice, clock):
    patient = started(alice, 0)
    factories_entry(patient, alice, "ecg", TODAY - timedelta(days=10))
    scan()
    assert not reminders("plan_item_due", "ECG").exists()


# Answers that find nothing, for the items that ask for some.
CALM: dict[str, dict] = {
    "ecg": {"answers": {"qtc_ms": 420}},
    "vitals": {
        "answers": {
            "temperature_c": "36.8",
            "systolic_mmhg": 120,
            "diastolic_mmhg": 75,
            "pulse_per_min": 80,
        }
    },
    "bowel": {"answers": {"days_since_bowel_movement": 0, "abdominal_pain": False}},
    "seizure": {"symptoms": False},
    "myocarditis_watch": {"symptoms": False},
    "pregnancy": {"answers": {"pregnant": False}},
}


def factories_entry(patient, actor, item, day):
    from clinical.services import plan_entry_record

    return plan_entry_record(
        patient=patient, actor=actor, item=item, done_on=day, **CALM.get(item, {})
    )


def test_the_three_month_glucose_is_reminded_when_due_then_weekly_when_overdue(alice, clock):
    patient = started(alice, 77)  # day 91 is 14 days away: the window opens today
    factories_entry(patient, alice, "glucose", TODAY - timedelta(days=77))
    scan()
    [due] = reminders("plan_item_due", "Fasting glucose")
    assert due.key_date == TODAY + timedelta(days=14)
    scan()  # the same day again: nothing new
    assert reminders("plan_item_due", "Fasting glucose").count() == 1
    for day in range(29, 44):  # day 91 + 14 of grace = first overdue day 106 (today + 29)
        scan(NOW + timedelta(days=day))
    overdue = reminders("plan_item_overdue", "Fasting glucose").order_by("occurrence")
    assert [n.occurrence for n in overdue] == [0, 1, 2]  # days 15, 22 and 29 overdue
    assert "was due on" in overdue[0].body


def test_a_check_done_stops_its_reminders(alice, clock):
    from clinical.services import level_result_record

    patient = started(alice, 120)
    items = ("ecg", "vitals", "bowel", "weight", "glucose", "lipids", "liver", "symptom_rating")
    for item in (*items, "seizure", "pregnancy"):
        factories_entry(patient, alice, item, TODAY)
    # the scheduled clozapine level is done by a valid steady-state trough level
    level_result_record(
        patient=patient,
        actor=alice,
        sampled_at=NOW - timedelta(hours=1),
        clozapine=Decimal(420),
        unit="ng/mL",
        last_dose_at=NOW - timedelta(hours=13),
        dose_stable_days=14,
    )
    scan()
    assert not Notification.objects.filter(kind__startswith="plan_item").exists()


def test_patients_not_started_or_discontinued_are_not_scanned(alice, clock):
    started(alice, 10, started=False)
    scan()
    assert not Notification.objects.exists()


def test_a_supply_that_ran_out_two_days_ago_reminds_the_prescriber_once(
    alice, phil, pharmacy, clock
):
    patient = started(alice, 30)
    dispensed(patient, pharmacy, phil, days_ago=9, days_supply=7)  # ran out 2 days ago
    scan()
    scan()
    [reminder] = reminders("retitration_needed")
    assert reminder.patient_id == patient.pk
    assert "12.5 mg" in reminder.body


def test_no_retitration_reminder_while_supply_lasts(alice, phil, pharmacy, clock):
    patient = started(alice, 30)
    dispensed(patient, pharmacy, phil, days_ago=6, days_supply=7)
    scan()
    assert not reminders("retitration_needed").exists()


def test_the_periodic_task_fans_out_and_runs(alice, clock):
    started(alice, 0)
    assert plan_scan_task.delay(NOW.isoformat()).get() == 1
    assert reminders("plan_item_due", "ECG").exists()
