"""The audit entries (by `created_at`) and the field history (by `changed_at`) in monthly
partitions, on PostgreSQL (audit/partitions.py, docs/scaling.md). The rows are copied into the
partitioned tables inside the migration; the entries' `seq`, `hash` and id stay unique through
the side table `audit_auditentry_key`, the field history's id through `audit_fieldchange_key`;
the append-only guards are installed again on the partitioned tables. Reversible: backwards, the rows go back
into a plain table with the indexes and constraints Django gives the model. Nothing on SQLite,
and nothing in Django's model state (the model is the same)."""

from django.db import migrations
from django.utils import timezone


def forward(apps, schema_editor):
    from audit.partitions import CHANGES, ENTRIES, partition

    partition(schema_editor, ENTRIES, now=timezone.now())
    partition(schema_editor, CHANGES, now=timezone.now())


def backward(apps, schema_editor):
    from audit.partitions import CHANGES, ENTRIES, unpartition

    unpartition(schema_editor, CHANGES, apps.get_model("audit", "FieldChange"))
    unpartition(schema_editor, ENTRIES, apps.get_model("audit", "AuditEntry"))


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0003_sealed_chain"),
    ]

    operations = [migrations.RunPython(forward, backward)]
