"""Lab accounts: the lab a feed user speaks for (its results are recorded under that lab whatever
the message says), whether it may file on a last name + birth date match (off by default, on
every channel), and its TLS client certificates; administrators edit them in the admin, and
every change is audited."""

from __future__ import annotations

import pytest

from audit.models import AuditEntry
from feeds.mllp import certificate_fingerprint
from feeds.models import LabAccount, LabCertificate, QuarantinedResult
from monitoring.models import LabResult
from tests import factories
from tests.feeds.certs import Authority
from tests.feeds.conftest import message, msh, obr, obx, pid

CSV = "/api/v1/feeds/csv/"
HEADER = "lab,accession,mrn,last_name,date_of_birth,drawn_at,code,value,unit\n"


def _csv(api, user, row: str) -> dict:
    response = api(user).post(CSV, data=(HEADER + row + "\n").encode(), content_type="text/csv")
    assert response.status_code == 200, response.content
    return response.json()["rows"][0]


def test_a_name_and_birth_date_match_in_a_csv_is_held_unless_the_lab_may_file_so(
    api, lab_user, ann
):
    row = "ACMELAB,{acc},,O'Brien,1985-06-15,2026-05-19T08:00:00-04:00,751-8,2.2,10*3/uL"
    assert _csv(api, lab_user, row.format(acc="D1"))["outcome"] == "quarantined"
    assert QuarantinedResult.objects.get().reason == "demographic_match_only"
    LabAccount.objects.create(user=lab_user, lab="ACMELAB", allow_demographic_match=True)
    assert _csv(api, lab_user, row.format(acc="D2"))["outcome"] == "stored"
    assert LabResult.objects.get(accession="D2").patient == ann


def test_a_lab_accounts_results_are_recorded_under_its_own_lab(api, lab_user, ann):
    LabAccount.objects.create(user=lab_user, lab="ACMELAB")
    # The CSV says OTHERLAB and gives no MRN issuer: the account's lab decides both.
    row = "OTHERLAB,L1,M1001,,,2026-05-19T08:00:00-04:00,751-8,2.2,10*3/uL"
    assert _csv(api, lab_user, row)["outcome"] == "stored"
    assert LabResult.objects.get(accession="L1").lab == "ACMELAB"
    text = message(msh(lab="OTHERLAB"), pid("M1001^^^^MR"), obr("H1"), obx(1))
    response = api(lab_user).post(
        "/api/v1/feeds/hl7/", data=text.encode(), content_type="text/plain"
    )
    assert response.json()["messages"][0]["ack_code"] == "AA"
    assert LabResult.objects.get(accession="H1").lab == "ACMELAB"


def test_another_labs_account_cannot_match_on_this_labs_mrns_by_default(api, ann):
    other = factories.LabUserFactory.create(username="other-lab")
    LabAccount.objects.create(user=other, lab="OTHERLAB")
    # M1001 is ACMELAB's number for Ann; OTHERLAB's own M1001 names nobody.
    row = "ACMELAB,O1,M1001,,,2026-05-19T08:00:00-04:00,751-8,2.2,10*3/uL"
    assert _csv(api, other, row)["outcome"] == "quarantined"
    assert not LabResult.objects.filter(source="csv").exists()


@pytest.fixture
def admin_client(client, root):
    client.force_login(root)
    return client


def test_an_administrator_sets_up_a_lab_account_in_the_admin_audited(admin_client, root, lab_user):
    url = "/admin/monitoring/labaccount/add/"
    assert admin_client.get(url).status_code == 200
    bad = admin_client.post(url, {"user": lab_user.pk, "lab": "ACMELAB", "allowed_networks": "x"})
    assert bad.status_code == 200 and "Not an address or network" in bad.content.decode()
    nurse = factories.PrescriberUserFactory.create(username="not-a-lab")
    wrong = admin_client.post(url, {"user": nurse.pk, "lab": "ACMELAB"})
    assert wrong.status_code == 200 and "role lab" in wrong.content.decode()
    made = admin_client.post(
        url,
        {"user": lab_user.pk, "lab": " ACMELAB ", "allowed_networks": "10.1.0.0/16 192.0.2.7"},
    )
    assert made.status_code == 302, made.content.decode()[:2000]
    account = LabAccount.objects.get()
    assert (account.lab, account.allowed_networks, account.allow_demographic_match) == (
        "ACMELAB",
        "10.1.0.0/16, 192.0.2.7",
        False,
    )
    entry = AuditEntry.objects.get(action="lab_account.save")
    assert entry.actor_id == root.pk and entry.inputs["lab"] == "ACMELAB"
    change = f"/admin/monitoring/labaccount/{account.pk}/change/"
    admin_client.post(
        change,
        {"user": lab_user.pk, "lab": "ACMELAB", "allow_demographic_match": "on"},
    )
    account.refresh_from_db()
    assert account.allow_demographic_match
    assert AuditEntry.objects.filter(action="lab_account.save").count() == 2
    assert (
        admin_client.post(f"/admin/monitoring/labaccount/{account.pk}/delete/").status_code == 403
    )


def test_an_administrator_registers_a_client_certificate_by_pasting_it(
    admin_client, root, lab_user, tmp_path
):
    account = LabAccount.objects.create(user=lab_user, lab="ACMELAB")
    issued = Authority(tmp_path).issue("acme-lis")
    url = "/admin/monitoring/labcertificate/add/"
    assert admin_client.get(url).status_code == 200
    nothing = admin_client.post(url, {"account": account.pk, "active": "on"})
    assert nothing.status_code == 200 and "fingerprint" in nothing.content.decode()
    made = admin_client.post(
        url, {"account": account.pk, "pem": issued.cert.read_text(), "active": "on", "note": "LIS"}
    )
    assert made.status_code == 302, made.content.decode()[:2000]
    certificate = LabCertificate.objects.get()
    assert certificate.fingerprint_sha256 == certificate_fingerprint(issued.der)
    again = admin_client.post(url, {"account": account.pk, "pem": issued.cert.read_text()})
    assert again.status_code == 200 and "already registered" in again.content.decode()
    entry = AuditEntry.objects.get(action="lab_certificate.save")
    assert entry.inputs["fingerprint_sha256"] == certificate.fingerprint_sha256
    assert entry.actor_id == root.pk
