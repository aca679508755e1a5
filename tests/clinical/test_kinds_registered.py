"""Every reminder kind the clinical scans store is one the notifications API documents."""

from clinical.reminders import ClinicalKind
from notifications.models import Kind


def test_every_clinical_reminder_kind_is_a_notification_kind():
    assert set(ClinicalKind.values) <= set(Kind.values)
