"""CSV batches through the API and `manage.py import_labs`: per-row results and a summary."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.management import CommandError, call_command

from feeds.models import FeedMessage, LabCodeMapping, QuarantinedResult
from monitoring.models import LabResult
from tests.feeds.conftest import message, msh, obr, obx, pid

URL = "/api/v1/feeds/csv/"
HEADER = "lab,accession,mrn,last_name,date_of_birth,drawn_at,code,value,unit,status"
ROWS = [
    "ACMELAB,C1,M1001,,,2026-05-19T08:00:00-04:00,751-8,2.2,10*3/uL,F",  # line 2: stored
    "ACMELAB,C2,M1001,O'Brien,1985-06-15,2026-05-19T09:00,6690-2,4.0,10*3/uL,F",  # 3 + 4: derived
    "ACMELAB,C2,M1001,O'Brien,1985-06-15,2026-05-19T09:00,770-8,50,%,F",
    "ACMELAB,C3,Z999,,,2026-05-19T08:00:00-04:00,751-8,2.2,10*3/uL,F",  # 5: unmatched
    "ACMELAB,C4,M1001,,,2026-05-19T08:00:00-04:00,751-8,2.2,mg/dL,F",  # 6: unknown unit
    "ACMELAB,C1,M1001,,,2026-05-19T08:00:00-04:00,751-8,2.2,10*3/uL,F",  # 7: duplicate of 2
    "ACMELAB,C5,M1001,,,2026-05-18T08:00:00-04:00,751-8,2.0,10*3/uL,P",  # 8: preliminary
]
TEXT = "\n".join([HEADER, *ROWS]) + "\n"


def test_a_csv_upload_gives_per_row_results_and_a_summary(api, lab_user, ann):
    response = api(lab_user).post(URL, data=TEXT.encode(), content_type="text/csv")
    assert response.status_code == 200, response.content
    body = response.json()
    outcomes = {r["row"]: r["outcome"] for r in body["rows"]}
    assert outcomes == {
        2: "stored",
        3: "stored",
        4: "stored",
        5: "quarantined",
        6: "quarantined",
        7: "duplicate",
        8: "preliminary",
    }
    # The lab is told a held row's reference, never why it is held; administrators see why.
    held = {r["row"]: r for r in body["rows"] if r["outcome"] == "quarantined"}
    assert {(r["reason"], r["detail"]) for r in held.values()} == {
        (None, f"held for review, reference Q{r['quarantine']}") for r in held.values()
    }
    reasons = [QuarantinedResult.objects.get(pk=held[n]["quarantine"]).reason for n in (5, 6)]
    assert reasons == ["unmatched_patient", "unknown_unit"]
    assert body["summary"] == {
        "rows": 7,
        "stored": 3,
        "quarantined": 2,
        "duplicate": 1,
        "preliminary": 1,
    }
    derived = LabResult.objects.get(accession="C2")
    assert derived.value_per_ul == 2000 and derived.derived and derived.source == "csv"
    assert QuarantinedResult.objects.count() == 2


def test_a_multipart_file_upload_works_too(api, lab_user, ann):
    upload = io.BytesIO(("\ufeff" + TEXT).encode())
    upload.name = "results.csv"
    response = api(lab_user).post(URL, {"file": upload}, format="multipart")
    assert response.status_code == 200, response.content
    assert response.json()["summary"]["rows"] == 7


def test_a_header_without_required_columns_is_a_400_and_writes_nothing(api, lab_user, ann):
    response = api(lab_user).post(URL, data=b"mrn,value\nM1001,2.2\n", content_type="text/csv")
    assert response.status_code == 400
    assert "code" in response.json()["file"][0]
    assert not LabResult.objects.filter(source="csv").exists()
    # The refused file is kept all the same, as received, with why.
    kept = FeedMessage.objects.get()
    assert (kept.outcome, kept.raw, kept.channel) == ("rejected", "mrn,value\nM1001,2.2\n", "csv")
    assert "lacks code" in kept.detail


def test_the_same_result_by_hl7_and_by_csv_is_stored_once(api, lab_user, ann):
    hl7 = message(msh(), pid(), obr("C1", "202605190800-0400"), obx(1, value="2.2"))
    assert (
        api(lab_user)
        .post("/api/v1/feeds/hl7/", data=hl7.encode(), content_type="text/plain")
        .status_code
        == 200
    )
    response = api(lab_user).post(
        URL, data=(HEADER + "\n" + ROWS[0] + "\n").encode(), content_type="text/csv"
    )
    assert response.json()["rows"][0]["outcome"] == "duplicate"
    assert LabResult.objects.filter(accession="C1").count() == 1


def test_a_local_code_is_read_through_the_administrators_mapping(api, lab_user, ann):
    LabCodeMapping.objects.create(lab="ACMELAB", local_code="NEUT#", loinc="751-8")
    text = HEADER + "\nACMELAB,L1,M1001,,,2026-05-19T08:00:00-04:00,NEUT#,1.7,10*3/uL,F\n"
    other_lab = HEADER + "\nOTHERLAB,L2,M1001,,,2026-05-19T08:00:00-04:00,NEUT#,1.7,10*3/uL,F\n"
    first = api(lab_user).post(URL, data=text.encode(), content_type="text/csv").json()
    assert first["rows"][0]["outcome"] == "stored"
    second = api(lab_user).post(URL, data=other_lab.encode(), content_type="text/csv").json()
    # The mapping was made for ACMELAB only: another lab's NEUT# is unknown, and held.
    assert second["rows"][0]["outcome"] == "quarantined"
    assert QuarantinedResult.objects.get().reason == "unknown_code"


def test_import_labs_reads_a_csv_file_and_prints_a_summary(tmp_path, ann, capsys):
    path = tmp_path / "labs.csv"
    path.write_text(TEXT)
    results = tmp_path / "results.csv"
    call_command("import_labs", str(path), "--results", str(results), "--no-progress")
    out = capsys.readouterr().out
    assert "7 rows: 1 duplicate, 1 preliminary, 2 quarantined, 3 stored" in out
    rows = list(csv.DictReader(results.open()))
    assert [r["outcome"] for r in rows] == [
        "stored",
        "stored",
        "stored",
        "quarantined",
        "quarantined",
        "duplicate",
        "preliminary",
    ]
    assert rows[3]["reason"] == "unmatched_patient"


def test_import_labs_reads_a_file_of_hl7_messages(tmp_path, ann, capsys):
    path = tmp_path / "batch.hl7"
    path.write_text(
        message(msh("F1"), pid(), obr("F1"), obx(1))
        + message(msh("F2"), pid("Z1^^^ACMELAB", "NOBODY^N", "19700101"), obr("F2"), obx(1))
    )
    call_command("import_labs", str(path), "--no-progress")
    out = capsys.readouterr().out
    assert "2 messages: 1 accepted, 1 quarantined" in out
    assert "control_id=F2 ack=AE outcome=quarantined" in out
    assert LabResult.objects.filter(accession="F1").exists()


def test_import_labs_refuses_a_bad_header_and_a_missing_file(tmp_path, db):
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(CommandError, match="lacks code"):
        call_command("import_labs", str(bad), "--no-progress")
    with pytest.raises(CommandError, match="cannot read"):
        call_command("import_labs", str(tmp_path / "missing.csv"), "--no-progress")


def test_an_unknown_code_is_held_until_an_administrator_maps_it(api, lab_user, ann):
    row = "\nACMELAB,M1,M1001,,,2026-05-19T08:00:00-04:00,NEUTABS,1.7,10*3/uL,F\n"
    first = api(lab_user).post(URL, data=(HEADER + row).encode(), content_type="text/csv").json()
    assert first["rows"][0]["outcome"] == "quarantined"
    assert QuarantinedResult.objects.get().reason == "unknown_code"
    LabCodeMapping.objects.create(lab="", local_code="NEUTABS", loinc="751-8")
    again = row.replace("M1,", "M2,")
    second = api(lab_user).post(URL, data=(HEADER + again).encode(), content_type="text/csv").json()
    assert second["rows"][0]["outcome"] == "stored"
    assert LabResult.objects.get(accession="M2").value_per_ul == 1700


def test_a_csv_that_cannot_be_read_is_a_400_and_applies_nothing(api, lab_user, ann):
    before = LabResult.objects.count()
    # A good row, then a line the csv module refuses (a field over its size limit).
    text = HEADER + "\n" + ROWS[0] + "\n" + '"' + "x" * 200_000 + '",1\n'

    response = api(lab_user).post(URL, data=text.encode(), content_type="text/csv")
    assert response.status_code == 400 and "cannot be read" in response.json()["file"][0]
    # A bare CR is a line end, not an error: this one fails on its missing columns instead.
    lone_cr = api(lab_user).post(URL, data="?\U000617ca\rë*¸µ".encode(), content_type="text/csv")
    assert lone_cr.status_code == 400 and "lacks" in lone_cr.json()["file"][0]
    assert LabResult.objects.count() == before
    # Both files are kept, refused, as received.
    kept = FeedMessage.objects.order_by("id")
    assert [m.outcome for m in kept] == ["rejected", "rejected"]
    assert kept[0].raw == text
