"""Low-ANC episodes: from the first low result to its confirmation, to the acknowledged
hematology consult, to resolution; a first low result refuted by a normal repeat within 24
hours is `unconfirmed`."""

from datetime import timedelta

import pytest

from monitoring.models import ConsultAcknowledgement
from tests import factories
from tests.conftest import TODAY
from tests.oversight.conftest import csv_rows

URL = "/api/v1/reports/low-anc-episodes/"


def _day(n):
    return TODAY - timedelta(days=n)


@pytest.fixture
def episodes(alice, bob):
    start = _day(60)
    moderate = factories.enrolled_patient(
        actor=alice, start=start, draws=[(_day(30), 2100)], last_name="Moderate"
    )
    factories.record_anc(moderate, alice, _day(20), 800, hour=9)  # opens: moderate
    factories.record_anc(moderate, alice, _day(19), 850, hour=8)  # 23 h later: confirms
    opened = factories.at(_day(20), 9)
    ConsultAcknowledgement.objects.create(
        patient=moderate, episode_opened_at=opened, acknowledged_by=alice
    )
    ConsultAcknowledgement.objects.filter(patient=moderate).update(
        acknowledged_at=opened + timedelta(hours=30)
    )
    factories.record_anc(moderate, alice, _day(17), 1200, hour=9)
    factories.record_anc(moderate, alice, _day(15), 1600, hour=9)  # resolves

    refuted = factories.enrolled_patient(
        actor=bob, start=start, draws=[(_day(30), 2100)], last_name="Refuted"
    )
    factories.record_anc(refuted, bob, _day(10), 1400, hour=9)  # mild: first low
    factories.record_anc(refuted, bob, _day(9), 1800, hour=8)  # normal within 24 h

    still_open = factories.enrolled_patient(
        actor=bob, start=start, draws=[(_day(30), 2100)], last_name="Open"
    )
    factories.record_anc(still_open, bob, _day(2), 1300, hour=9)
    return moderate, refuted, still_open


def test_times_to_confirmation_consult_and_resolution(api, aud, episodes):
    moderate, refuted, still_open = episodes
    rows = {r["patient_id"]: r for r in api(aud).get(URL).json()["results"]}

    assert set(rows) == {moderate.pk, refuted.pk, still_open.pk}
    m = rows[moderate.pk]
    assert m["first_value_per_ul"] == 800
    assert m["worst_band"] == "moderate"
    assert m["status"] == "resolved"
    assert m["hours_to_confirmation"] == 23.0
    assert m["consult_recommended"] is True
    assert m["hours_to_consult"] == 30.0
    assert m["days_to_resolution"] == 5.0

    r = rows[refuted.pk]
    assert (r["status"], r["worst_band"], r["confirmed_at"]) == ("unconfirmed", "mild", None)
    assert r["consult_recommended"] is False
    assert r["days_to_resolution"] == pytest.approx(23 / 24, abs=0.01)

    o = rows[still_open.pk]
    assert (o["status"], o["resolved_at"], o["hours_to_consult"]) == ("open", None, None)


def test_the_range_and_prescriber_filter_and_csv(api, admin, bob, episodes):
    moderate, refuted, still_open = episodes
    recent = api(admin).get(URL, {"from": _day(12).isoformat()}).json()["results"]
    assert {r["patient_id"] for r in recent} == {refuted.pk, still_open.pk}

    rows = csv_rows(api(admin).get(URL, {"format": "csv", "prescriber": bob.prescriber_id}))
    assert sorted((int(r["patient_id"]), r["status"]) for r in rows) == sorted(
        [(refuted.pk, "unconfirmed"), (still_open.pk, "open")]
    )
