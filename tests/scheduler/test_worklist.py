"""GET /api/v1/pharmacies/{id}/worklist/: patients dispensed at this pharmacy in the last
`recent_days` (default 60) whose ANC draw is due (by today, or `due_within_days`) or overdue,
most overdue first, so the pharmacy can chase a result before the next pickup."""

from datetime import timedelta

import pytest

from pharmacy.services import dispense_record
from tests import factories
from tests.conftest import NOW, TODAY


def url(pharmacy):
    return f"/api/v1/pharmacies/{pharmacy.pk}/worklist/"


def weekly_patient_drawn(alice, last_draw_days_ago, last_name):
    """Alice's weekly patient whose latest draw was `last_draw_days_ago` days ago."""
    start = TODAY - timedelta(days=last_draw_days_ago + 14)
    return factories.enrolled_patient(
        actor=alice,
        start=start,
        draws=factories.weekly_draws(start, TODAY - timedelta(days=last_draw_days_ago)),
        last_name=last_name,
    )


def dispensed(patient, pharmacy, actor, days_ago):
    """A 7-day supply recorded at 13:00 on the day of the latest draw (an imported record)."""
    dispense_record(
        patient=patient,
        pharmacy=pharmacy,
        actor=actor,
        days_supply=7,
        dispensed_at=factories.at(TODAY - timedelta(days=days_ago), 13),
    )


@pytest.fixture
def clinic(clock, alice, admin, pharmacy, other_pharmacy):
    overdue = weekly_patient_drawn(alice, 10, "Overdue")  # due 3 days ago
    due_today = weekly_patient_drawn(alice, 7, "Duetoday")
    not_due = weekly_patient_drawn(alice, 6, "Tomorrow")  # due tomorrow
    elsewhere = weekly_patient_drawn(alice, 10, "Elsewhere")
    dispensed(overdue, pharmacy, admin, 10)
    dispensed(due_today, pharmacy, admin, 7)
    dispensed(not_due, pharmacy, admin, 6)
    dispensed(elsewhere, other_pharmacy, admin, 10)
    return {"overdue": overdue, "due_today": due_today, "not_due": not_due, "elsewhere": elsewhere}


def names(response):
    assert response.status_code == 200, response.json()
    return [entry["last_name"] for entry in response.json()["results"]]


def test_lists_overdue_and_due_today_patients_dispensed_here_most_overdue_first(
    api, clinic, phil, pharmacy
):
    response = api(phil).get(url(pharmacy))

    assert names(response) == ["Overdue", "Duetoday"]
    overdue, due_today = response.json()["results"]
    assert overdue["patient"] == clinic["overdue"].pk
    assert overdue["days_overdue"] == 3
    assert overdue["next_draw_due"] == (TODAY - timedelta(days=3)).isoformat()
    assert overdue["monitoring_frequency"] == "weekly"
    assert overdue["last_dispensed_at"] is not None
    assert overdue["latest_anc_drawn_at"] is not None
    assert due_today["days_overdue"] == 0
    assert due_today["next_draw_due"] == TODAY.isoformat()


def test_patients_dispensed_only_at_another_pharmacy_are_not_listed(
    api, clinic, phil, pharmacy, other_pharmacy, aud
):
    assert "Elsewhere" not in names(api(phil).get(url(pharmacy)))
    assert names(api(aud).get(url(other_pharmacy))) == ["Elsewhere"]


def test_patients_not_yet_due_are_not_listed_unless_asked_for_a_horizon(
    api, clinic, phil, pharmacy
):
    assert "Tomorrow" not in names(api(phil).get(url(pharmacy)))
    assert names(api(phil).get(url(pharmacy), {"due_within_days": 1})) == [
        "Overdue",
        "Duetoday",
        "Tomorrow",
    ]


@pytest.mark.parametrize(
    ("recent_days", "listed"),
    [
        pytest.param(9, ["Duetoday"], id="dispensed 10 days ago, window 9 days: not listed"),
        pytest.param(10, ["Overdue", "Duetoday"], id="window 10 days: listed"),
    ],
)
def test_patients_dispensed_longer_ago_than_recent_days_are_not_listed(
    api, clinic, phil, pharmacy, recent_days, listed
):
    response = api(phil).get(url(pharmacy), {"recent_days": recent_days})

    assert names(response) == listed


def test_the_worklist_follows_the_clock(api, clock, clinic, phil, pharmacy):
    clock.move_to(NOW + timedelta(days=1))

    entries = api(phil).get(url(pharmacy)).json()["results"]

    assert [(e["last_name"], e["days_overdue"]) for e in entries] == [
        ("Overdue", 4),
        ("Duetoday", 1),
        ("Tomorrow", 0),
    ]


def test_a_patient_whose_draw_arrived_leaves_the_worklist(api, clinic, alice, phil, pharmacy):
    factories.record_anc(clinic["overdue"], alice, TODAY, 2000, hour=8)

    assert names(api(phil).get(url(pharmacy))) == ["Duetoday"]


# --- who may see it --------------------------------------------------------------------------


def test_a_pharmacist_of_another_pharmacy_gets_404(api, clinic, pharmacy, other_pharmacy):
    stranger = factories.PharmacistUserFactory.create(pharmacy=other_pharmacy)

    assert api(stranger).get(url(pharmacy)).status_code == 404


def test_an_auditor_may_read_any_worklist(api, clinic, aud, pharmacy):
    assert names(api(aud).get(url(pharmacy))) == ["Overdue", "Duetoday"]


def test_an_admin_may_read_any_worklist(api, clinic, admin, pharmacy):
    assert names(api(admin).get(url(pharmacy))) == ["Overdue", "Duetoday"]


@pytest.mark.parametrize("persona", ["alice", "designee"])
def test_prescribers_and_designees_get_403(api, clinic, pharmacy, persona, request):
    assert api(request.getfixturevalue(persona)).get(url(pharmacy)).status_code == 403


def test_anonymous_gets_401(api, clinic, pharmacy):
    assert api().get(url(pharmacy)).status_code == 401


def test_bad_parameters_are_400(api, clinic, phil, pharmacy):
    response = api(phil).get(url(pharmacy), {"recent_days": 0})

    assert response.status_code == 400
    assert "recent_days" in response.json()
