"""The lab results in monthly partitions by `created_at`, on PostgreSQL (audit/partitions.py,
docs/scaling.md). The rows are copied into the partitioned table inside the migration. One
current result per lab + analyte + accession (and per patient + analyte + accession when no lab
is named), one correction per result and the id's uniqueness are kept by the side table
`monitoring_ancresult_key`, under the same constraint names; the quarantine's and the
corrections' foreign keys point at its id. Reversible: backwards, the rows go back into a plain
table with the indexes and constraints Django gives the model. Nothing on SQLite, and nothing in
Django's model state (the model is the same)."""

from django.db import migrations
from django.utils import timezone


def forward(apps, schema_editor):
    from audit.partitions import RESULTS, partition

    partition(schema_editor, RESULTS, now=timezone.now())


def backward(apps, schema_editor):
    from audit.partitions import RESULTS, unpartition

    unpartition(schema_editor, RESULTS, apps.get_model("monitoring", "AncResult"))


class Migration(migrations.Migration):
    dependencies = [
        ("monitoring", "0008_scoped_identifiers"),
        ("audit", "0002_triggers"),
    ]

    operations = [migrations.RunPython(forward, backward)]
