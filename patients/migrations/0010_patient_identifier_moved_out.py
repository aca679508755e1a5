"""PatientIdentifier moves to the feeds app (the feeds app's first migration): removed from
patients' state only; its table and rows stay as they are (docs/architecture.md)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("patients", "0009_prescriber_phone"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="PatientIdentifier")],
            database_operations=[],
        ),
    ]
