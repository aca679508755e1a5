"""The dispensing decision carries `retitration_warning` (information, never a block): set when
the last supply ran out 48 hours or more ago, null otherwise; on the counter page too."""

from datetime import datetime, timedelta

from audit.models import Action, AuditEntry
from tests.clinical.conftest import dispensed
from tests.conftest import NOW


def eligibility(api, user, patient, **params):
    return api(user).get(f"/api/v1/patients/{patient.pk}/eligibility/", params).json()


def test_no_warning_while_the_supply_lasts(api, phil, pharmacy, patient):
    dispensed(patient, pharmacy, phil, days_ago=5, days_supply=7)
    decision = eligibility(api, phil, patient)
    assert decision["retitration_warning"] is None


def test_no_warning_without_any_dispense(api, phil, patient):
    assert eligibility(api, phil, patient)["retitration_warning"] is None


def test_a_supply_run_out_for_two_days_warns_without_blocking(api, phil, pharmacy, patient):
    dispensed(patient, pharmacy, phil, days_ago=9, days_supply=7)  # ran out 48 h ago
    decision = eligibility(api, phil, patient)
    assert decision["decision"] == "allowed"  # information, not a block
    warning = decision["retitration_warning"]
    assert datetime.fromisoformat(warning["without_since"]) == NOW - timedelta(days=2)
    assert warning["hours_without"] == "48.0"
    assert warning["days_without"] == 2
    assert warning["restart_dose_mg"] == "12.5"
    assert "re-titration from 12.5 mg" in warning["message"]
    # The audited decision is unchanged: the warning is not part of the rules' output.
    entry = AuditEntry.objects.filter(action=Action.ELIGIBILITY_CHECK).latest("seq")
    assert entry.outcome == "allowed"


def test_47_hours_is_not_yet_a_warning(api, phil, pharmacy, patient, clock):
    dispensed(patient, pharmacy, phil, days_ago=9, days_supply=7)
    clock.shift(-timedelta(hours=1))
    assert eligibility(api, phil, patient)["retitration_warning"] is None


def test_the_prescriber_sees_the_same_warning(api, alice, phil, pharmacy, patient):
    dispensed(patient, pharmacy, phil, days_ago=12, days_supply=7)
    decision = eligibility(api, alice, patient, pharmacy=pharmacy.pk)
    assert decision["retitration_warning"]["days_without"] == 5


def test_the_counter_page_shows_the_warning(client, phil, pharmacy, patient):
    dispensed(patient, pharmacy, phil, days_ago=12, days_supply=7)
    client.force_login(phil)
    html = client.get(f"/counter/patients/{patient.pk}/").content.decode()
    assert 'data-testid="retitration-warning"' in html
    assert "12.5 mg" in html
