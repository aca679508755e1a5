"""St John's wort is a strong CYP3A4 inducer (the clozapine label): its counter advice is then
to avoid the combination (clinical.messages STRONG_INDUCER_STARTED). A row an administrator has
edited since it was added (another note) is left as it is."""

from django.db import migrations


def forward(apps, schema_editor):
    drug = apps.get_model("clinical", "InteractingDrug")
    drug.objects.filter(name="St John's wort", strong=False, note="Maudsley: inducer").update(
        strong=True, note="clozapine label: strong CYP3A4 inducer"
    )


class Migration(migrations.Migration):
    dependencies = [("clinical", "0004_counter_and_plan_facts")]

    operations = [migrations.RunPython(forward, migrations.RunPython.noop)]
