"""The audit entries in monthly partitions by `created_at`, on PostgreSQL (audit/partitions.py,
docs/scaling.md). The rows are copied into the partitioned table inside the migration; `seq`,
`hash` and the id stay unique through the side table `audit_auditentry_key`; the append-only
guard is installed again on the partitioned table. Reversible: backwards, the rows go back
into a plain table with the indexes and constraints Django gives the model. Nothing on SQLite,
and nothing in Django's model state (the model is the same)."""

from django.db import migrations
from django.utils import timezone


def forward(apps, schema_editor):
    from audit.partitions import ENTRIES, partition

    partition(schema_editor, ENTRIES, now=timezone.now())


def backward(apps, schema_editor):
    from audit.partitions import ENTRIES, unpartition

    unpartition(schema_editor, ENTRIES, apps.get_model("audit", "AuditEntry"))


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0003_sealed_chain"),
    ]

    operations = [migrations.RunPython(forward, backward)]
