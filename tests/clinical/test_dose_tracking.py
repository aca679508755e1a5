"""clinical.doses: when the supply ran out, and the re-titration warning from 48 hours."""

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from clinical.doses import SupplyRecord, dose_tracking

ZONE = ZoneInfo("America/New_York")
NOW = datetime(2026, 5, 20, 12, 0, tzinfo=ZONE)


def supply(days_ago: float, days: int) -> SupplyRecord:
    return SupplyRecord(NOW - timedelta(days=days_ago), days)


@pytest.mark.parametrize(
    ("hours_without", "warned"),
    [(0, False), (47, False), (47.99, False), (48, True), (72, True)],
)
def test_re_titration_is_needed_from_48_hours_without_clozapine(hours_without, warned):
    ran_out = NOW - timedelta(hours=hours_without)
    tracking = dose_tracking(
        [SupplyRecord(ran_out - timedelta(days=7), 7)], [], NOW, after_hours=48
    )
    assert tracking.supply_ran_out_at == ran_out
    assert tracking.retitration_needed is warned
    warning = tracking.warning()
    assert (warning is not None) is warned
    if warning:
        assert warning["restart_dose_mg"] == "12.5"
        assert "12.5 mg" in warning["message"]
        assert "label" in warning["source"]


def test_supply_left_means_no_gap():
    tracking = dose_tracking([supply(3, 7)], [], NOW, after_hours=48)
    assert tracking.hours_without == Decimal("0.0")
    assert tracking.days_since_supply_ran_out == 0
    assert tracking.warning() is None


def test_days_since_the_supply_ran_out():
    tracking = dose_tracking([supply(17, 7)], [], NOW, after_hours=48)  # ran out 10 days ago
    assert tracking.days_since_supply_ran_out == 10
    assert tracking.retitration_needed


def test_an_early_refill_does_not_carry_the_old_supply_over():
    # 14 days dispensed 20 days ago, then 7 days dispensed 10 days ago (4 days of the first left
    # then): the later end counts, not a carried-over one.
    tracking = dose_tracking([supply(20, 14), supply(10, 7)], [], NOW, after_hours=48)
    assert tracking.supply_ran_out_at == NOW - timedelta(days=3)
    assert tracking.retitration_needed


def test_a_reported_last_dose_after_the_dispense_overrides_the_supply():
    tracking = dose_tracking([supply(5, 28)], [NOW - timedelta(hours=50)], NOW, after_hours=48)
    assert tracking.without_since == NOW - timedelta(hours=50)
    assert tracking.retitration_needed


def test_a_reported_last_dose_before_the_latest_dispense_is_old_news():
    tracking = dose_tracking([supply(5, 28)], [NOW - timedelta(days=6)], NOW, after_hours=48)
    assert not tracking.retitration_needed


def test_no_dispense_and_no_report_gives_no_warning():
    tracking = dose_tracking([], [], NOW, after_hours=48)
    assert tracking.without_since is None
    assert tracking.warning() is None
    assert tracking.as_dict()["hours_without"] is None


@pytest.mark.django_db
@pytest.mark.parametrize("protocol", ["us-label-2015", "uk-cpms"])
def test_the_counters_warning_asks_the_patients_protocol_for_the_hours(
    protocol, monkeypatch, alice, pharmacy, phil
):
    """Ran out 48 hours ago: re-titration under the protocol's 48 hours (from the hour itself),
    none when the same protocol said 72 (the number is the protocol's, not the clinical
    module's)."""
    from clinical.selectors import patient_dose_tracking, retitration_warning
    from engine.protocols import get_protocol
    from tests import factories
    from tests.clinical.conftest import dispensed
    from tests.conftest import NOW as SUITE_NOW

    patient = factories.enrolled_patient(
        actor=alice, start=SUITE_NOW.date() - timedelta(days=30), protocol=protocol
    )
    # 7 days supplied 9 days ago at noon: ran out 2 days before the suite's noon.
    dispensed(patient, pharmacy, phil, days_ago=9, days_supply=7)
    patient.refresh_from_db()
    assert retitration_warning(patient=patient, now=SUITE_NOW) is not None

    monkeypatch.setattr(get_protocol(protocol), "retitration_after_hours", 72)

    assert retitration_warning(patient=patient, now=SUITE_NOW) is None
    tracking = patient_dose_tracking(patient_id=patient.pk, protocol=protocol, now=SUITE_NOW)
    assert tracking.retitration_needed is False
