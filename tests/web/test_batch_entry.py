"""Batch lab entry from the clinic: the grid for several patients, and a CSV read into it to
check first. Filing goes through the feed path: one kept CSV feed message for the batch, each
row filed, held in the quarantine (no patient of mine, a value or unit that cannot be read), or
refused by the manual-entry rules and left in the grid; the outcome of every row is shown."""

from __future__ import annotations

from django.core.files.uploadedfile import SimpleUploadedFile

from feeds.models import FeedMessage, QuarantinedResult, QuarantineReason
from monitoring.models import LabResult, ResultSource

URL = "/clinic/results/batch/"


def _rows(*rows):
    data = {"rows": str(len(rows))}
    for i, (patient, drawn_at, value, unit) in enumerate(rows):
        data |= {
            f"row-{i}-patient": "" if patient is None else str(patient.pk),
            f"row-{i}-drawn_at": drawn_at,
            f"row-{i}-value": value,
            f"row-{i}-unit": unit,
        }
    return data


def test_ten_results_are_filed_as_one_kept_feed_message(
    client, alice, allowed_patient, stale_patient
):
    client.force_login(alice)
    assert client.get(URL).status_code == 200
    before = LabResult.objects.count()
    rows = [
        (
            allowed_patient if i % 2 else stale_patient,
            f"2026-05-19T{8 + i:02d}:00",
            "2.2",
            "10*3/uL",
        )
        for i in range(10)
    ]
    response = client.post(URL, _rows(*rows))
    html = response.content.decode()
    assert response.status_code == 200, html
    assert "10 of 10 filed" in html
    assert LabResult.objects.count() == before + 10
    [message] = FeedMessage.objects.all()
    assert message.channel == ResultSource.CSV and message.received_by == alice
    assert message.outcome == "accepted"
    assert message.raw.count("\n") == 11  # the header and each row, as typed
    assert [r["outcome"] for r in message.results] == ["stored"] * 10
    filed = LabResult.objects.filter(pk__in=[r["result"] for r in message.results])
    # Typed by a person: manual entries (their guards held; the typist may void them).
    assert {r.source for r in filed} == {ResultSource.MANUAL}
    assert {r.recorded_by_id for r in filed} == {alice.pk}
    assert sorted(r.value_per_ul for r in filed) == [2200] * 10


def test_a_row_the_entry_rules_refuse_stays_in_the_grid_and_the_others_are_filed(
    client, alice, allowed_patient, stale_patient
):
    client.force_login(alice)
    before = LabResult.objects.count()
    rows = [(allowed_patient, f"2026-05-19T{8 + i:02d}:00", "2.2", "10*3/uL") for i in range(9)]
    rows.append((stale_patient, "2026-06-30T08:00", "2.2", "10*3/uL"))  # in the future
    response = client.post(URL, _rows(*rows))
    html = response.content.decode()
    assert response.status_code == 422
    assert "9 of 10 filed" in html and "The draw time is in the future." in html
    assert LabResult.objects.count() == before + 9
    assert 'value="2026-06-30T08:00"' in html  # the refused row stays to be corrected
    [message] = FeedMessage.objects.all()
    assert message.results[-1]["outcome"] == "refused"
    assert QuarantinedResult.objects.count() == 0


def test_an_unusual_count_is_filed_only_once_checked(client, alice, allowed_patient):
    client.force_login(alice)
    data = _rows((allowed_patient, "2026-05-19T08:00", "80", "/uL"))
    refused = client.post(URL, data)
    assert refused.status_code == 422
    assert "Check this ANC" in refused.content.decode()
    assert not LabResult.objects.filter(patient=allowed_patient, value_per_ul=80).exists()
    checked = client.post(URL, data | {"row-0-confirm_unusual": "on"})
    assert checked.status_code == 200
    assert LabResult.objects.filter(patient=allowed_patient, value_per_ul=80).count() == 1


def test_a_row_with_an_unknown_unit_or_no_patient_is_held_in_the_quarantine(
    client, alice, allowed_patient
):
    client.force_login(alice)
    before = LabResult.objects.count()
    response = client.post(
        URL,
        _rows(
            (allowed_patient, "2026-05-19T08:00", "2.1", "10*3/uL"),
            (allowed_patient, "2026-05-19T09:00", "2.1", "bananas"),
            (None, "2026-05-19T10:00", "2.1", "10*3/uL"),
        ),
    )
    html = response.content.decode()
    assert response.status_code == 422
    assert "1 of 3 filed" in html
    assert LabResult.objects.count() == before + 1
    held = {q.reason: q for q in QuarantinedResult.objects.all()}
    assert set(held) == {QuarantineReason.UNKNOWN_UNIT, QuarantineReason.UNMATCHED}
    [message] = FeedMessage.objects.all()
    assert message.outcome == "quarantined"
    assert {q.message_id for q in held.values()} == {message.pk}
    assert held[QuarantineReason.UNKNOWN_UNIT].unit == "bananas"
    for entry in held.values():
        assert f"held in the quarantine (reference Q{entry.pk})" in html


def test_a_csv_is_previewed_in_the_grid_then_filed_row_by_row(
    client, alice, allowed_patient, stale_patient, bobs_patient
):
    client.force_login(alice)
    text = (
        "last_name,date_of_birth,patient_id,drawn_at,value,unit\n"
        "Stale,1985-06-15,,2026-05-19 09:00,2.3,10*3/uL\n"
        f",,{allowed_patient.pk},2026-05-19 10:00,2.4,10*3/uL\n"
        "Bobson,1985-06-15,,2026-05-19 10:00,2.4,10*3/uL\n"
        f",,{allowed_patient.pk},2026-05-19 11:00,two,10*3/uL\n"
    )
    before = LabResult.objects.count()
    preview = client.post(
        URL, {"action": "preview", "file": SimpleUploadedFile("r.csv", text.encode(), "text/csv")}
    )
    html = preview.content.decode()
    assert preview.status_code == 200
    assert LabResult.objects.count() == before and not FeedMessage.objects.exists()
    # Per row: the patient found among mine, or why the row would be held.
    assert "Line 4: no patient of yours matches" in html
    assert "No patient of yours is Bobson, born 1985-06-15" in html
    assert "Not a number" in html
    assert 'value="2026-05-19T09:00"' in html and 'value="2026-05-19T10:00"' in html
    assert html.count(f'<option value="{stale_patient.pk}" selected>') == 1
    assert html.count(f'<option value="{allowed_patient.pk}" selected>') == 2
    assert f'<option value="{bobs_patient.pk}"' not in html

    # Filing sends the grid as it stands (the preview's fields, the held name included).
    grid = {
        name: value
        for name, value in preview.context["rows"][0].data.items()
        if name.startswith("row-")
    }
    filed = client.post(URL, grid | {"rows": "4"})
    html = filed.content.decode()
    assert filed.status_code == 422
    assert "2 of 4 filed" in html
    assert LabResult.objects.count() == before + 2
    assert not LabResult.objects.filter(patient=bobs_patient, drawn_at__date="2026-05-19").exists()
    held = {q.reason: q for q in QuarantinedResult.objects.all()}
    assert set(held) == {QuarantineReason.UNMATCHED, QuarantineReason.IMPLAUSIBLE}
    assert held[QuarantineReason.UNMATCHED].last_name == "Bobson"
    assert held[QuarantineReason.UNMATCHED].patient is None
    assert held[QuarantineReason.IMPLAUSIBLE].value == "two"
    assert FeedMessage.objects.count() == 1


def test_a_csv_with_a_bad_header_is_refused_and_nothing_is_kept(client, alice):
    client.force_login(alice)
    bad = client.post(
        URL, {"action": "preview", "file": SimpleUploadedFile("r.csv", b"a,b\n1,2\n", "text/csv")}
    )
    assert "The header lacks drawn_at, unit, value." in bad.content.decode()
    assert not FeedMessage.objects.exists()
