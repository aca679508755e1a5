"""Pharmacies, dispenses and the pharmacists' reach now live in the patients app (its migration
0011): removed from this app's state only; their tables and rows stay as they are
(docs/architecture.md). After the dose facts' backfill, the last migration that reads them
here."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("clinical", "0003_dose_facts"),
        ("patients", "0011_pharmacies_and_dispenses_moved_in"),
        ("pharmacy", "0004_dispense_decided"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveField(
                    model_name="dispense",
                    name="patient",
                ),
                migrations.RemoveField(
                    model_name="dispense",
                    name="pharmacy",
                ),
                migrations.RemoveField(
                    model_name="dispense",
                    name="recorded_by",
                ),
                migrations.RemoveField(
                    model_name="dispense",
                    name="reviewed_by",
                ),
                migrations.RemoveField(
                    model_name="patientreach",
                    name="patient",
                ),
                migrations.RemoveField(
                    model_name="patientreach",
                    name="user",
                ),
                migrations.DeleteModel(
                    name="Pharmacy",
                ),
                migrations.DeleteModel(
                    name="Dispense",
                ),
                migrations.DeleteModel(
                    name="PatientReach",
                ),
            ],
            database_operations=[],
        ),
    ]
