"""The admin, curated for administrators: the audit trail and the clinical records are
read-only there (no add, change or delete); prescriber and pharmacy edits go through the
audited services."""

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.models import Action, AuditEntry
from audit.services import audit_seal
from tests.audit.conftest import entries_after, head

READ_ONLY = [
    "audit_auditentry",
    "audit_auditcheckpoint",
    "audit_fieldchange",
    "patients_patient",
    "patients_enrollmentevent",
    "patients_treatmentevent",
    "patients_authorization",
    "monitoring_labresult",
    "patients_dispense",
]


@pytest.fixture
def browser(client, root):
    client.force_login(root)
    return client


@pytest.mark.parametrize("name", READ_ONLY)
def test_lists_show_and_nothing_can_be_added(browser, name, dispense_world):
    audit_seal()  # a checkpoint to list, and some entries sealed
    AuditEntry.objects.create(created_at=timezone.now(), action="unsealed", outcome="ok")
    assert browser.get(reverse(f"admin:{name}_changelist")).status_code == 200
    assert browser.get(reverse(f"admin:{name}_add")).status_code == 403


def test_an_audit_entry_cannot_be_changed_or_deleted(browser, dispense_world):
    entry = AuditEntry.objects.earliest("id")
    change = reverse("admin:audit_auditentry_change", args=[entry.pk])
    delete = reverse("admin:audit_auditentry_delete", args=[entry.pk])

    page = browser.get(change)
    assert page.status_code == 200  # viewable
    assert b'name="_save"' not in page.content
    assert browser.post(change, {"action": "x"}).status_code == 403
    assert browser.post(delete, {"post": "yes"}).status_code == 403
    assert AuditEntry.objects.get(pk=entry.pk).action == entry.action


def test_a_dispense_cannot_be_deleted_or_edited(browser, dispense_world):
    dispense = dispense_world["regular"]
    delete = reverse("admin:patients_dispense_delete", args=[dispense.pk])
    assert browser.post(delete, {"post": "yes"}).status_code == 403
    change = reverse("admin:patients_dispense_change", args=[dispense.pk])
    assert browser.post(change, {"days_supply": 28}).status_code == 403


def test_the_list_filters_and_search_work(browser, dispense_world):
    url = reverse("admin:patients_dispense_changelist")
    page = browser.get(url, {"emergency": "unreviewed"})
    assert page.status_code == 200
    assert dispense_world["emergency"].authorization_code.encode() in page.content
    assert dispense_world["regular"].authorization_code.encode() not in page.content
    trail = browser.get(reverse("admin:audit_auditentry_changelist"), {"q": "phil"})
    assert trail.status_code == 200
    assert b"dispense.record" in trail.content


def test_a_certification_change_in_the_admin_is_audited(browser, root, alice_prescriber):
    url = reverse("admin:patients_prescriber_change", args=[alice_prescriber.pk])
    before = head()
    response = browser.post(
        url,
        {
            "name": alice_prescriber.name,
            "npi": alice_prescriber.npi,
            "email": alice_prescriber.email,
            "active": "on",
            "certified_on": "2020-01-01",
            "certification_expires_on": "",
            # "certified" unchecked: certification withdrawn
        },
    )
    assert response.status_code == 302, response.content[:2000]
    alice_prescriber.refresh_from_db()
    assert alice_prescriber.certified is False
    [entry] = entries_after(before)
    assert entry.action == Action.PRESCRIBER_UPDATE
    assert entry.actor_username == "root"
    assert entry.output == {"changed": {"certified": [True, False]}}
    assert (
        browser.post(
            reverse("admin:patients_prescriber_delete", args=[alice_prescriber.pk]), {"post": "yes"}
        ).status_code
        == 403
    )
