"""Append-only audit tables, no deletes of clinical records, field history (audit/triggers.py).

Depends on the latest migrations of the apps whose tables it guards; the same triggers are
reinstalled after every migrate (a SQLite table rebuild drops them)."""

from django.db import migrations


def install(apps, schema_editor):
    from audit.triggers import triggers_install

    triggers_install(schema_editor.connection)


def uninstall(apps, schema_editor):
    from audit.triggers import triggers_uninstall

    triggers_uninstall(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0001_initial"),
        ("patients", "0002_initial"),
        ("monitoring", "0003_scheduler_state"),
        ("pharmacy", "0002_dispense_emergency_supply"),
    ]

    operations = [migrations.RunPython(install, uninstall)]
