"""HL7 v2 ORU^R01 over HTTP: realistic messages, each with the right ACK and database effect."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from feeds.models import FeedMessage, LabAccount, QuarantinedResult
from monitoring.models import LabResult, MonitoringState, ResultSource
from tests.feeds.conftest import (
    HGB,
    PERCENT,
    WBC,
    message,
    msh,
    obr,
    obx,
    pid,
)

URL = "/api/v1/feeds/hl7/"
NY = ZoneInfo("America/New_York")


@pytest.fixture
def post(api, lab_user):
    client = api(lab_user)

    def send(text: str, content_type: str = "x-application/hl7-v2+er7"):
        response = client.post(URL, data=text.encode(), content_type=content_type)
        assert response.status_code == 200, response.content
        return response.json()

    return send


def only(body):
    assert len(body["messages"]) == 1
    return body["messages"][0]


def test_a_final_anc_is_stored_acked_aa_and_updates_monitoring(post, ann):
    answer = only(post(message(msh(), pid(), obr(), obx(1, value="1.2"))))
    assert answer["ack_code"] == "AA"
    assert answer["ack"].split("\r")[1].startswith("MSA|AA|MSG0001|")
    result = LabResult.objects.get(patient=ann, accession="ACC1")
    assert (result.value_per_ul, result.unit, result.lab, result.source) == (
        1200,
        "10*3/uL",
        "ACMELAB",
        ResultSource.HL7,
    )
    assert result.drawn_at == datetime(2026, 5, 20, 8, 0, tzinfo=NY)
    state = MonitoringState.objects.get(patient=ann)
    assert state.band == "mild"
    assert state.confirmation_due is not None
    assert FeedMessage.objects.get().outcome == "accepted"


def test_several_obx_per_message_unknown_codes_ignored_and_abs_count_used(post, ann):
    answer = only(
        post(
            message(
                msh(),
                pid(),
                obr(),
                obx(1, code=WBC, value="5.0"),
                obx(2, code=HGB, value="13.1", unit="g/dL"),
                obx(3, value="2.6"),
                obx(4, code=PERCENT, value="52", unit="%"),
            )
        )
    )
    assert answer["ack_code"] == "AA"
    outcomes = {r["reference"]: r["outcome"] for r in answer["results"]}
    assert outcomes == {
        "OBX 1": "ignored",
        "OBX 2": "ignored",
        "OBX 3": "stored",
        "OBX 4": "ignored",
    }
    result = LabResult.objects.get(patient=ann, accession="ACC1")
    assert result.value_per_ul == 2600 and not result.derived


def test_several_messages_in_one_batch_each_get_their_own_ack(post, ann):
    text = message(
        "FHS|^~\\&|LIS|ACMELAB",
        "BHS|^~\\&|LIS|ACMELAB",
        msh("M1"),
        pid(),
        obr("A1", "202605180800-0400"),
        obx(1, value="2.2"),
        msh("M2"),
        pid(),
        obr("A2", "202605190800-0400"),
        obx(1, value="2.3"),
        msh("M3", kind="ADT^A01^ADT_A01"),
        pid(),
        "BTS|3",
        "FTS|1",
    )
    body = post(text)
    assert [(m["control_id"], m["ack_code"]) for m in body["messages"]] == [
        ("M1", "AA"),
        ("M2", "AA"),
        ("M3", "AR"),
    ]
    assert body["summary"] == {"messages": 3, "AA": 2, "AR": 1}
    assert LabResult.objects.filter(patient=ann, source="hl7").count() == 2


def test_lf_and_crlf_segment_endings_are_accepted(post, ann):
    text = "\r\n".join([msh(), pid(), obr(), obx(1)]) + "\n"
    assert only(post(text, "text/plain"))["ack_code"] == "AA"
    assert LabResult.objects.filter(patient=ann, accession="ACC1").exists()


def test_repeated_pid3_matches_on_any_repetition_and_escapes_are_decoded(post, ann):
    identifiers = "X77^^^OTHERHOSP^MR~M1001^^^ACMELAB^MR"
    answer = only(post(message(msh(), pid(identifiers, "O\\T\\BRIEN^ANN"), obr(), obx(1))))
    # \T\ is the escaped "&": a last name "O&BRIEN" does not match "O'Brien", so the identity
    # contradicts the MRN's patient and the result is held, not filed on her.
    assert answer["ack_code"] == "AE"
    held = QuarantinedResult.objects.get()
    assert held.reason == "identity_mismatch"
    assert held.last_name == "O&BRIEN"
    assert held.patient == ann
    answer = only(post(message(msh("M2"), pid(identifiers), obr("ACC2"), obx(1))))
    assert answer["ack_code"] == "AA"


def test_assigning_authority_defaults_to_the_sending_facility(post, ann):
    answer = only(post(message(msh(), pid("M1001^^^^MR"), obr(), obx(1))))
    assert answer["ack_code"] == "AA"


def test_unusual_but_valid_units(post, ann):
    post(message(msh("U1"), pid(), obr("U1"), obx(1, value="2500", unit="cells/mm3")))
    post(message(msh("U2"), pid(), obr("U2"), obx(1, value="2.4", unit="x10E9/L")))
    post(message(msh("U3"), pid(), obr("U3"), obx(1, value="2.3", unit="K/µL")))
    post(message(msh("U4"), pid(), obr("U4"), obx(1, value="2.2", unit="thou/uL")))
    stored = dict(LabResult.objects.filter(source="hl7").values_list("accession", "value_per_ul"))
    assert stored == {"U1": 2500, "U2": 2400, "U3": 2300, "U4": 2200}


def test_structured_numeric_value_is_read(post, ann):
    post(message(msh(), pid(), obr(), obx(1, kind="SN", value="^1.9")))
    assert LabResult.objects.get(accession="ACC1").value_per_ul == 1900


def test_a_comparator_value_is_held_not_guessed(post, ann):
    answer = only(post(message(msh(), pid(), obr(), obx(1, kind="SN", value="<^0.5"))))
    assert answer["ack_code"] == "AE"
    assert QuarantinedResult.objects.get().reason == "implausible_value"
    assert not LabResult.objects.filter(source="hl7").exists()


def test_a_corrected_result_replaces_the_one_with_the_same_accession(post, ann):
    post(message(msh("M1"), pid(), obr(), obx(1, value="0.9")))
    assert MonitoringState.objects.get(patient=ann).band == "moderate"
    answer = only(post(message(msh("M2"), pid(), obr(), obx(1, value="1.9", status="C"))))
    assert answer["ack_code"] == "AA"
    assert answer["results"][0]["outcome"] == "replaced"
    old, new = LabResult.objects.filter(accession="ACC1").order_by("id")
    assert old.superseded and new.corrects == old and new.status == "corrected"
    assert MonitoringState.objects.get(patient=ann).band == "normal"


def test_a_preliminary_result_is_stored_but_not_used_until_its_final(post, ann):
    before = MonitoringState.objects.get(patient=ann).latest_anc_per_ul
    answer = only(post(message(msh("M1"), pid(), obr(), obx(1, value="0.4", status="P"))))
    assert answer["ack_code"] == "AA"
    assert answer["results"][0]["outcome"] == "preliminary"
    assert LabResult.objects.get(accession="ACC1").status == "preliminary"
    state = MonitoringState.objects.get(patient=ann)
    assert state.band == "normal" and state.latest_anc_per_ul == before
    post(message(msh("M2"), pid(), obr(), obx(1, value="1.8", status="F")))
    prelim, final = LabResult.objects.filter(accession="ACC1").order_by("id")
    assert prelim.superseded and final.status == "final" and final.corrects == prelim
    assert MonitoringState.objects.get(patient=ann).latest_anc_per_ul == 1800
    # A preliminary that arrives after its final is not kept over it.
    late = only(post(message(msh("M3"), pid(), obr(), obx(1, value="0.3", status="P"))))
    assert late["results"][0]["outcome"] == "ignored"
    assert LabResult.objects.filter(accession="ACC1", superseded=False).get() == final


def test_a_cancelled_result_stores_nothing(post, ann):
    answer = only(post(message(msh(), pid(), obr(), obx(1, value="", status="X"))))
    assert answer["ack_code"] == "AA"
    assert answer["results"][0]["outcome"] == "ignored"
    assert not LabResult.objects.filter(source="hl7").exists()


def test_an_unsupported_status_is_held_for_an_administrator(post, ann):
    answer = only(post(message(msh(), pid(), obr(), obx(1, status="W"))))
    assert answer["ack_code"] == "AE"
    assert QuarantinedResult.objects.get().reason == "unsupported_status"


def test_wbc_and_percent_without_an_absolute_count_derive_the_anc(post, ann):
    answer = only(
        post(
            message(
                msh(),
                pid(),
                obr(),
                obx(1, code=WBC, value="4.2"),
                obx(2, code=PERCENT, value="45.5", unit="%"),
            )
        )
    )
    assert answer["ack_code"] == "AA"
    result = LabResult.objects.get(patient=ann, accession="ACC1")
    # floor(4200 x 45.5 / 100) = floor(1911) = 1911
    assert result.value_per_ul == 1911 and result.derived
    assert result.derivation["wbc"] == {"value": "4.2", "unit": "10*3/uL", "per_ul": 4200}
    assert result.derivation["neutrophil_percent"] == {"value": "45.5", "unit": "%"}


def test_a_derived_anc_is_rounded_down_never_into_a_better_band(post, ann):
    post(
        message(
            msh(),
            pid(),
            obr(),
            obx(1, code=WBC, value="3.333"),
            obx(2, code=PERCENT, value="45", unit="%"),
        )
    )
    # 3333 x 0.45 = 1499.85: mild, not 1500
    assert LabResult.objects.get(accession="ACC1").value_per_ul == 1499


def test_wbc_alone_derives_nothing_and_is_reported(post, ann):
    answer = only(post(message(msh(), pid(), obr(), obx(1, code=WBC, value="4.2"))))
    assert answer["ack_code"] == "AA"
    assert answer["results"][0]["outcome"] == "ignored"
    assert "both needed" in answer["results"][0]["detail"]
    assert not LabResult.objects.filter(source="hl7").exists()


def test_an_unknown_patient_is_quarantined_with_the_raw_message(post, ann):
    text = message(msh(), pid("Z999^^^ACMELAB^MR", "NOBODY^NEMO", "19700101"), obr(), obx(1))
    answer = only(post(text))
    assert answer["ack_code"] == "AE"
    held = QuarantinedResult.objects.get()
    assert (
        answer["ack"].split("\r")[1]
        == f"MSA|AE|MSG0001|held for review: OBX 1 (reference Q{held.pk})"
    )
    assert held.reason == "unmatched_patient"
    assert held.patient_identifiers == [["ACMELAB", "Z999"]]
    assert held.message.raw == text.rstrip("\r")
    assert (held.value, held.unit, held.accession) == ("2.1", "10*3/uL", "ACC1")


def test_an_ambiguous_name_and_birth_date_match_is_quarantined(post, twins):
    text = message(msh(), pid("", "TWIN^T", "19850615"), obr(), obx(1))
    answer = only(post(text))
    assert answer["ack_code"] == "AE"
    assert QuarantinedResult.objects.get().reason == "ambiguous_patient"
    assert not LabResult.objects.filter(source="hl7").exists()


def test_a_unique_name_and_birth_date_match_is_held_by_default(post, ann):
    answer = only(post(message(msh(), pid("", "o'brien^ann", "19850615"), obr(), obx(1))))
    assert answer["ack_code"] == "AE"
    assert not LabResult.objects.filter(source="hl7").exists()
    held = QuarantinedResult.objects.get()
    assert held.reason == "demographic_match_only" and held.patient is None


def test_a_unique_name_and_birth_date_match_files_the_result_for_a_lab_allowed_to(
    post, lab_user, ann
):
    LabAccount.objects.create(user=lab_user, lab="ACMELAB", allow_demographic_match=True)
    answer = only(post(message(msh(), pid("", "o'brien^ann", "19850615"), obr(), obx(1))))
    assert answer["ack_code"] == "AA"
    assert LabResult.objects.get(accession="ACC1").patient == ann


def test_an_implausible_value_and_an_unknown_unit_are_quarantined(post, ann):
    body = post(
        message(msh("M1"), pid(), obr("A1"), obx(1, value="250", unit="10*3/uL"))
        + message(msh("M2"), pid(), obr("A2"), obx(1, value="2.1", unit="mmol/L"))
        + message(msh("M3"), pid(), obr("A3"), obx(1, value="-1", unit="/uL"))
    )
    assert [m["ack_code"] for m in body["messages"]] == ["AE", "AE", "AE"]
    reasons = list(QuarantinedResult.objects.order_by("id").values_list("reason", flat=True))
    assert reasons == ["implausible_value", "unknown_unit", "implausible_value"]
    assert not LabResult.objects.filter(source="hl7").exists()


def test_a_future_draw_time_is_quarantined(post, ann):
    answer = only(post(message(msh(), pid(), obr(drawn="202606010800-0400"), obx(1))))
    assert answer["ack_code"] == "AE"
    assert QuarantinedResult.objects.get().reason == "bad_draw_time"


def test_obx14_wins_over_obr7_and_no_offset_means_clinic_time(post, ann):
    post(message(msh(), pid(), obr(), obx(1, drawn="202605191530")))
    result = LabResult.objects.get(accession="ACC1")
    assert result.drawn_at == datetime(2026, 5, 19, 15, 30, tzinfo=NY)


def test_a_malformed_segment_is_rejected_ar_and_kept(post, ann):
    text = message(msh(), pid(), "obx 1 garbage", obx(1))
    answer = only(post(text))
    assert answer["ack_code"] == "AR"
    assert "malformed segment" in answer["detail"]
    kept = FeedMessage.objects.get()
    assert kept.outcome == "rejected" and kept.raw == text.rstrip("\r")
    assert not LabResult.objects.filter(source="hl7").exists()


def test_a_non_oru_message_is_rejected_ar_echoing_its_control_id(post, ann):
    answer = only(post(message(msh("ADT9", kind="ADT^A08^ADT_A01"), pid())))
    assert answer["ack_code"] == "AR"
    assert answer["ack"].split("\r")[1].startswith("MSA|AR|ADT9|")
    assert "ADT^A08" in answer["detail"]


def test_text_that_is_not_hl7_is_answered_ar(post):
    answer = only(post("hello, this is not HL7"))
    assert answer["ack_code"] == "AR"


def test_the_same_message_twice_is_stored_once(post, ann):
    text = message(msh(), pid(), obr(), obx(1, value="2.4"))
    post(text)
    again = only(post(text))
    assert again["ack_code"] == "AA"
    assert again["results"][0]["outcome"] == "duplicate"
    assert LabResult.objects.filter(accession="ACC1").count() == 1


def test_the_same_accession_with_other_values_is_held_as_a_conflict(post, ann):
    post(message(msh("M1"), pid(), obr(), obx(1, value="2.4")))
    answer = only(post(message(msh("M2"), pid(), obr(), obx(1, value="0.4"))))
    assert answer["ack_code"] == "AE"
    assert QuarantinedResult.objects.get().reason == "conflicting_result"
    assert LabResult.objects.get(accession="ACC1").value_per_ul == 2400


def test_a_resent_quarantined_result_is_held_once(post, ann):
    text = message(msh(), pid("Z999^^^ACMELAB^MR", "NOBODY^NEMO", "19700101"), obr(), obx(1))
    post(text)
    post(text)
    assert QuarantinedResult.objects.count() == 1
    assert FeedMessage.objects.count() == 2


def test_only_lab_accounts_and_admins_may_post(api, alice, phil, aud, admin, ann):
    text = message(msh(), pid(), obr(), obx(1)).encode()
    for user in (None, alice, phil, aud):
        response = api(user).post(URL, data=text, content_type="text/plain")
        assert response.status_code in (401, 403)
    assert not FeedMessage.objects.exists()
    response = api(admin).post(URL, data=text, content_type="text/plain")
    assert response.status_code == 200


def test_an_empty_body_is_a_400(api, lab_user):
    response = api(lab_user).post(URL, data=b"  ", content_type="text/plain")
    assert response.status_code == 400
    assert "body" in response.json()


def test_a_message_with_nul_bytes_is_rejected_and_kept_readably(post, ann):
    answer = only(post(message(msh(), pid(), obr(), obx(1, value="2\x001"))))
    assert answer["ack_code"] == "AR"
    kept = FeedMessage.objects.get()
    assert "\x00" not in kept.raw and "\ufffd" in kept.raw
    assert not LabResult.objects.filter(source="hl7").exists()
