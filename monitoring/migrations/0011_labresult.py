"""AncResult is LabResult: it holds WBC counts too. A rename of the model only: the table keeps
its name (`monitoring_ancresult`, which its partitions, side table and triggers are named
after), so no row moves and no constraint changes; the content type is renamed with it."""

from django.db import migrations


def _content_type(apps, schema_editor, old, new):
    ContentType = apps.get_model("contenttypes", "ContentType")
    db = schema_editor.connection.alias
    ContentType.objects.using(db).filter(app_label="monitoring", model=old).update(model=new)


def forwards(apps, schema_editor):
    _content_type(apps, schema_editor, "ancresult", "labresult")


def backwards(apps, schema_editor):
    _content_type(apps, schema_editor, "labresult", "ancresult")


class Migration(migrations.Migration):
    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("monitoring", "0010_feeds_moved_out"),
        # The feeds' quarantine points at the results: its state must exist before the rename,
        # which then renames the reference too.
        ("feeds", "0001_initial"),
    ]

    operations = [
        migrations.AlterModelTable(name="ancresult", table="monitoring_ancresult"),
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.RenameModel("AncResult", "LabResult")],
            database_operations=[],
        ),
        migrations.RunPython(forwards, backwards),
    ]
