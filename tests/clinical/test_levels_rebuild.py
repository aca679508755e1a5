"""The stored interpretation is a cache: a level entered late, drawn before an already stored
one, changes that one's comparison; `levels_rebuild` finds and rewrites it."""

from datetime import timedelta
from decimal import Decimal
from io import StringIO

from django.core.management import call_command

from clinical.models import LevelResult
from clinical.services import level_result_record
from tests.conftest import NOW


def record(patient, actor, days_ago, clozapine):
    sampled = NOW - timedelta(days=days_ago)
    return level_result_record(
        patient=patient,
        actor=actor,
        sampled_at=sampled,
        clozapine=Decimal(clozapine),
        norclozapine=Decimal(300),
        unit="ng/mL",
        last_dose_at=sampled - timedelta(hours=12),
        daily_dose_mg=Decimal(400),
        dose_stable_days=7,
    )


def test_a_late_entered_earlier_level_is_found_and_the_later_one_reinterpreted(alice, patient):
    later = record(patient, alice, 1, 400)
    record(patient, alice, 14, 200)  # entered afterwards, drawn two weeks before
    out = StringIO()
    call_command("levels_rebuild", "--check", stdout=out)
    assert out.getvalue().startswith(f"1 level(s) differ: [{later.pk}]")
    stale = [f["code"] for f in LevelResult.objects.get(pk=later.pk).interpretation["flags"]]
    assert "level_changed_same_dose" not in stale  # stored when it was the only level

    call_command("levels_rebuild", stdout=StringIO())
    codes = [f["code"] for f in LevelResult.objects.get(pk=later.pk).interpretation["flags"]]
    assert "level_changed_same_dose" in codes and "ratio_changed" in codes
    out = StringIO()
    call_command("levels_rebuild", "--check", stdout=out)
    assert out.getvalue().startswith("0 level(s) differ")
