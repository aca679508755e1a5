"""Pharmacies, dispenses and the pharmacists' reach move from the pharmacy app to patients, below
every app that reads them (docs/architecture.md). Their tables keep their names and their rows,
so this migration only tells Django's state where they now live (the database is left as it
is); the pharmacy app's next migration removes them from its state. The content types follow
(pharmacy.dispense becomes patients.dispense, and so on), so the permissions granted on them
and the admin's history stay attached."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

import patients.validators

MOVED = ("pharmacy", "dispense", "patientreach")


def content_types_move(apps, schema_editor, *, backwards=False):
    content_type = apps.get_model("contenttypes", "ContentType")
    rows = content_type.objects.using(schema_editor.connection.alias)
    source, target = ("patients", "pharmacy") if backwards else ("pharmacy", "patients")
    for model in MOVED:
        if not rows.filter(app_label=target, model=model).exists():
            rows.filter(app_label=source, model=model).update(app_label=target)


def content_types_back(apps, schema_editor):
    content_types_move(apps, schema_editor, backwards=True)


class Migration(migrations.Migration):
    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("patients", "0010_patient_identifier_moved_out"),
        ("pharmacy", "0004_dispense_decided"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="Pharmacy",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("name", models.CharField(max_length=200)),
                        (
                            "ncpdp_id",
                            models.CharField(
                                max_length=7,
                                unique=True,
                                validators=[patients.validators.validate_ncpdp_id],
                                verbose_name="NCPDP id",
                            ),
                        ),
                        ("active", models.BooleanField(default=True)),
                        ("certified", models.BooleanField(default=False)),
                        ("certified_on", models.DateField(blank=True, null=True)),
                        ("certification_expires_on", models.DateField(blank=True, null=True)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                    ],
                    options={
                        "verbose_name_plural": "pharmacies",
                        "db_table": "pharmacy_pharmacy",
                        "ordering": ["name", "id"],
                    },
                ),
                migrations.AlterField(
                    model_name="user",
                    name="pharmacy",
                    field=models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="users",
                        to="patients.pharmacy",
                    ),
                ),
                migrations.CreateModel(
                    name="PatientReach",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("credential", models.CharField(max_length=80)),
                        ("reached_at", models.DateTimeField()),
                        (
                            "patient",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="pharmacist_reaches",
                                to="patients.patient",
                            ),
                        ),
                        (
                            "user",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={
                        "db_table": "pharmacy_patientreach",
                        "constraints": [
                            models.UniqueConstraint(
                                fields=("user", "patient", "credential"),
                                name="patient_reach_once_per_sign_in",
                            )
                        ],
                    },
                ),
                migrations.CreateModel(
                    name="Dispense",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("days_supply", models.PositiveSmallIntegerField()),
                        ("dispensed_at", models.DateTimeField()),
                        ("authorization_code", models.CharField(max_length=20, unique=True)),
                        ("idempotency_key", models.CharField(blank=True, max_length=200)),
                        ("decided", models.JSONField(blank=True, null=True)),
                        (
                            "decision_as_answered",
                            models.JSONField(blank=True, db_column="decision", null=True),
                        ),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        (
                            "emergency_reason",
                            models.CharField(
                                blank=True,
                                choices=[
                                    ("lab_delay", "Lab Delay"),
                                    ("weather", "Weather"),
                                    ("inpatient_leave", "Inpatient Leave"),
                                    ("other", "Other"),
                                ],
                                db_default="",
                                max_length=20,
                            ),
                        ),
                        (
                            "emergency_remark",
                            models.CharField(blank=True, db_default="", max_length=500),
                        ),
                        ("reviewed_at", models.DateTimeField(blank=True, null=True)),
                        (
                            "review_note",
                            models.CharField(blank=True, db_default="", max_length=500),
                        ),
                        (
                            "patient",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="dispenses",
                                to="patients.patient",
                            ),
                        ),
                        (
                            "recorded_by",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                        (
                            "reviewed_by",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                        (
                            "pharmacy",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="dispenses",
                                to="patients.pharmacy",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "pharmacy_dispense",
                        "ordering": ["-dispensed_at", "-id"],
                        "indexes": [
                            models.Index(
                                fields=["patient", "dispensed_at"],
                                name="pharmacy_di_patient_8c4134_idx",
                            ),
                            models.Index(
                                fields=["emergency_reason", "reviewed_at"],
                                name="pharmacy_di_emergen_6be718_idx",
                            ),
                        ],
                        "constraints": [
                            models.UniqueConstraint(
                                condition=models.Q(("idempotency_key", ""), _negated=True),
                                fields=("pharmacy", "idempotency_key"),
                                name="dispense_idempotency_key_once_per_pharmacy",
                            )
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(content_types_move, content_types_back, elidable=False),
    ]
