"""The lab feeds become an app of their own (docs/architecture.md). The models were
monitoring's (and PatientIdentifier patients'); their tables keep their names and their rows, so
this migration only tells Django's state where they now live (the database is left as it is).
The content types follow (monitoring.feedmessage becomes feeds.feedmessage, and so on), so the
permissions granted on them and the admin's history stay attached."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

MOVED = {
    "monitoring": (
        "feedbatch",
        "feedmessage",
        "labaccount",
        "labcertificate",
        "labcodemapping",
        "quarantinedresult",
    ),
    "patients": ("patientidentifier",),
}


def content_types_move(apps, schema_editor, *, backwards=False):
    content_type = apps.get_model("contenttypes", "ContentType")
    rows = content_type.objects.using(schema_editor.connection.alias)
    for app_label, models_ in MOVED.items():
        source, target = ("feeds", app_label) if backwards else (app_label, "feeds")
        for model in models_:
            if not rows.filter(app_label=target, model=model).exists():
                rows.filter(app_label=source, model=model).update(app_label=target)


def content_types_back(apps, schema_editor):
    content_types_move(apps, schema_editor, backwards=True)


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("monitoring", "0010_feeds_moved_out"),
        ("patients", "0010_patient_identifier_moved_out"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="FeedBatch",
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
                        (
                            "channel",
                            models.CharField(
                                choices=[
                                    ("manual", "Manual"),
                                    ("hl7", "Hl7"),
                                    ("fhir", "Fhir"),
                                    ("csv", "Csv"),
                                ],
                                max_length=10,
                            ),
                        ),
                        ("raw", models.TextField()),
                        (
                            "status",
                            models.CharField(
                                choices=[
                                    ("queued", "Queued"),
                                    ("processing", "Processing"),
                                    ("done", "Done"),
                                ],
                                default="queued",
                                max_length=12,
                            ),
                        ),
                        ("size", models.PositiveIntegerField(default=0)),
                        ("processed", models.PositiveIntegerField(default=0)),
                        ("detail", models.TextField(blank=True)),
                        ("received_at", models.DateTimeField(auto_now_add=True)),
                        ("started_at", models.DateTimeField(blank=True, null=True)),
                        ("finished_at", models.DateTimeField(blank=True, null=True)),
                        (
                            "received_by",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={
                        "db_table": "monitoring_feedbatch",
                        "ordering": ["-received_at", "-id"],
                    },
                ),
                migrations.CreateModel(
                    name="FeedMessage",
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
                        (
                            "channel",
                            models.CharField(
                                choices=[
                                    ("manual", "Manual"),
                                    ("hl7", "Hl7"),
                                    ("fhir", "Fhir"),
                                    ("csv", "Csv"),
                                ],
                                max_length=10,
                            ),
                        ),
                        ("raw", models.TextField()),
                        ("control_id", models.CharField(blank=True, max_length=100)),
                        ("lab", models.CharField(blank=True, max_length=100)),
                        (
                            "outcome",
                            models.CharField(
                                choices=[
                                    ("received", "Received"),
                                    ("accepted", "Accepted"),
                                    ("quarantined", "Quarantined"),
                                    ("rejected", "Rejected"),
                                    ("failed", "Failed"),
                                ],
                                max_length=20,
                            ),
                        ),
                        ("ack_code", models.CharField(blank=True, max_length=2)),
                        ("detail", models.TextField(blank=True)),
                        ("attempts", models.PositiveIntegerField(default=1)),
                        ("received_at", models.DateTimeField(auto_now_add=True)),
                        ("ack", models.TextField(blank=True)),
                        ("results", models.JSONField(blank=True, default=list)),
                        ("position", models.PositiveIntegerField(blank=True, null=True)),
                        (
                            "batch",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="messages",
                                to="feeds.feedbatch",
                            ),
                        ),
                        (
                            "received_by",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={
                        "db_table": "monitoring_feedmessage",
                        "ordering": ["-received_at", "-id"],
                    },
                ),
                migrations.CreateModel(
                    name="LabAccount",
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
                        ("lab", models.CharField(max_length=100)),
                        ("allow_demographic_match", models.BooleanField(default=False)),
                        ("allowed_networks", models.TextField(blank=True)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        ("updated_at", models.DateTimeField(auto_now=True)),
                        (
                            "user",
                            models.OneToOneField(
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="lab_account",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={
                        "db_table": "monitoring_labaccount",
                        "ordering": ["lab"],
                    },
                ),
                migrations.CreateModel(
                    name="LabCertificate",
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
                        ("fingerprint_sha256", models.CharField(blank=True, max_length=64)),
                        ("subject", models.CharField(blank=True, max_length=500)),
                        ("note", models.CharField(blank=True, max_length=200)),
                        ("active", models.BooleanField(default=True)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        (
                            "account",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="certificates",
                                to="feeds.labaccount",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "monitoring_labcertificate",
                        "ordering": ["account", "id"],
                    },
                ),
                migrations.CreateModel(
                    name="LabCodeMapping",
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
                        ("lab", models.CharField(blank=True, max_length=100)),
                        ("local_code", models.CharField(max_length=50)),
                        ("loinc", models.CharField(blank=True, max_length=20)),
                        ("analyte", models.CharField(blank=True, max_length=40)),
                        ("description", models.CharField(blank=True, max_length=200)),
                        ("confirmed_at", models.DateTimeField(blank=True, null=True)),
                        (
                            "confirmed_by",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={
                        "db_table": "monitoring_labcodemapping",
                        "ordering": ["lab", "local_code"],
                    },
                ),
                migrations.CreateModel(
                    name="PatientIdentifier",
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
                        ("issuer", models.CharField(max_length=200)),
                        ("value", models.CharField(max_length=100)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        (
                            "patient",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="identifiers",
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
                    ],
                    options={
                        "db_table": "patients_patientidentifier",
                        "ordering": ["issuer", "value"],
                    },
                ),
                migrations.CreateModel(
                    name="QuarantinedResult",
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
                        (
                            "reason",
                            models.CharField(
                                choices=[
                                    ("unmatched_patient", "Unmatched"),
                                    ("ambiguous_patient", "Ambiguous"),
                                    ("identity_mismatch", "Identity Mismatch"),
                                    ("demographic_match_only", "Demographic Match"),
                                    ("unknown_unit", "Unknown Unit"),
                                    ("implausible_value", "Implausible"),
                                    ("bad_draw_time", "Bad Draw Time"),
                                    ("unknown_code", "Unknown Code"),
                                    ("unsupported_status", "Unsupported Status"),
                                    ("conflicting_result", "Conflict"),
                                ],
                                max_length=30,
                            ),
                        ),
                        ("detail", models.CharField(max_length=500)),
                        ("lab", models.CharField(blank=True, max_length=100)),
                        ("accession", models.CharField(blank=True, max_length=100)),
                        ("analyte", models.CharField(default="anc", max_length=20)),
                        ("value", models.CharField(blank=True, max_length=50)),
                        ("unit", models.CharField(blank=True, max_length=20)),
                        ("drawn_at", models.DateTimeField(blank=True, null=True)),
                        ("result_status", models.CharField(blank=True, max_length=20)),
                        ("derivation", models.JSONField(blank=True, default=dict)),
                        ("patient_identifiers", models.JSONField(blank=True, default=list)),
                        ("last_name", models.CharField(blank=True, max_length=100)),
                        ("date_of_birth", models.DateField(blank=True, null=True)),
                        (
                            "status",
                            models.CharField(
                                choices=[
                                    ("open", "Open"),
                                    ("resolved", "Resolved"),
                                    ("dismissed", "Dismissed"),
                                ],
                                default="open",
                                max_length=10,
                            ),
                        ),
                        ("resolution_note", models.CharField(blank=True, max_length=500)),
                        ("resolved_at", models.DateTimeField(blank=True, null=True)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        (
                            "message",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="quarantined",
                                to="feeds.feedmessage",
                            ),
                        ),
                        (
                            "patient",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="+",
                                to="patients.patient",
                            ),
                        ),
                        (
                            "resolved_by",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                        (
                            "result",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="+",
                                to="monitoring.ancresult",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "monitoring_quarantinedresult",
                        "ordering": ["-created_at", "-id"],
                    },
                ),
                migrations.AddIndex(
                    model_name="feedbatch",
                    index=models.Index(
                        fields=["status", "received_at"], name="monitoring__status_f22aea_idx"
                    ),
                ),
                migrations.AddIndex(
                    model_name="feedmessage",
                    index=models.Index(
                        fields=["outcome", "received_at"], name="monitoring__outcome_60ead3_idx"
                    ),
                ),
                migrations.AddConstraint(
                    model_name="feedmessage",
                    constraint=models.UniqueConstraint(
                        condition=models.Q(("batch__isnull", False)),
                        fields=("batch", "position"),
                        name="feed_message_batch_position_once",
                    ),
                ),
                migrations.AddConstraint(
                    model_name="labcertificate",
                    constraint=models.UniqueConstraint(
                        condition=models.Q(("fingerprint_sha256", ""), _negated=True),
                        fields=("fingerprint_sha256",),
                        name="lab_certificate_fingerprint_once",
                    ),
                ),
                migrations.AddConstraint(
                    model_name="labcertificate",
                    constraint=models.UniqueConstraint(
                        condition=models.Q(("subject", ""), _negated=True),
                        fields=("subject",),
                        name="lab_certificate_subject_once",
                    ),
                ),
                migrations.AddConstraint(
                    model_name="labcodemapping",
                    constraint=models.UniqueConstraint(
                        fields=("lab", "local_code"), name="lab_code_mapping_once"
                    ),
                ),
                migrations.AddIndex(
                    model_name="patientidentifier",
                    index=models.Index(
                        fields=["issuer", "value"], name="patients_pa_issuer_2563d6_idx"
                    ),
                ),
                migrations.AddConstraint(
                    model_name="patientidentifier",
                    constraint=models.UniqueConstraint(
                        fields=("patient", "issuer", "value"),
                        name="patient_identifier_once_per_patient",
                    ),
                ),
                migrations.AddIndex(
                    model_name="quarantinedresult",
                    index=models.Index(
                        fields=["status", "created_at"], name="monitoring__status_611df4_idx"
                    ),
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(content_types_move, content_types_back, elidable=False),
    ]
