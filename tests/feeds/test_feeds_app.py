"""The lab feeds as an app of their own (docs/architecture.md): their tables keep the names they
had in monitoring and patients, their tasks the names the periodic schedule and the outbox
store, and their content types (so the permissions granted on them) name the feeds app."""

from __future__ import annotations

import pytest
from django.contrib.contenttypes.models import ContentType
from django.utils import timezone

from clozrems.queue import task_named
from feeds import tasks
from feeds.models import (
    FeedBatch,
    FeedMessage,
    LabAccount,
    LabCertificate,
    LabCodeMapping,
    PatientIdentifier,
    QuarantinedResult,
)
from notifications.models import PendingTask
from notifications.outbox import pending_task_run
from tests.feeds.conftest import LAB, message, msh, obr, obx, pid

TABLES = {
    FeedBatch: "monitoring_feedbatch",
    FeedMessage: "monitoring_feedmessage",
    LabAccount: "monitoring_labaccount",
    LabCertificate: "monitoring_labcertificate",
    LabCodeMapping: "monitoring_labcodemapping",
    QuarantinedResult: "monitoring_quarantinedresult",
    PatientIdentifier: "patients_patientidentifier",
}


def test_the_feeds_models_keep_the_tables_they_had():
    for model, table in TABLES.items():
        assert (model._meta.app_label, model._meta.db_table) == ("feeds", table)


def test_the_feeds_tasks_answer_to_the_names_the_schedule_and_the_outbox_store():
    assert tasks.feeds_retry.name == "monitoring.tasks.feeds_retry"
    assert tasks.feed_batch_process.name == "monitoring.tasks.feed_batch_process"
    for name in ("monitoring.tasks.feeds_retry", "monitoring.tasks.feed_batch_process"):
        found = task_named(name)
        assert (found.name, found.run.__module__) == (name, "feeds.tasks")
    assert task_named("monitoring.tasks.scan").name == "monitoring.tasks.scan"


def test_a_batch_queued_under_the_tasks_former_name_is_processed(lab_user, ann):
    LabAccount.objects.create(user=lab_user, lab=LAB)
    raw = message(msh("OLD1"), pid(), obr("OLD1"), obx(1))
    batch = FeedBatch.objects.create(channel="hl7", raw=raw, received_by=lab_user, size=1)
    pending = PendingTask.objects.create(
        task="monitoring.tasks.feed_batch_process", args=[batch.pk], created_at=timezone.now()
    )
    assert pending_task_run(pending.pk)
    batch.refresh_from_db()
    assert (batch.status, batch.processed) == ("done", 1)


@pytest.mark.django_db
def test_the_content_types_name_the_feeds_app():
    for model in TABLES:
        name = model._meta.model_name
        assert ContentType.objects.filter(app_label="feeds", model=name).exists(), name
        assert not ContentType.objects.filter(app_label="monitoring", model=name).exists()
        assert not ContentType.objects.filter(app_label="patients", model=name).exists()
