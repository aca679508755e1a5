"""The starting list of interacting medications (clinical/defaults.py)."""

from django.db import migrations


def add(apps, schema_editor):
    from clinical.defaults import interacting_drugs_ensure

    interacting_drugs_ensure(apps.get_model("clinical", "InteractingDrug"))


class Migration(migrations.Migration):
    dependencies = [("clinical", "0001_initial")]

    operations = [migrations.RunPython(add, migrations.RunPython.noop)]
