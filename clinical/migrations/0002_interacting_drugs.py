"""The starting list of interacting medications, as it was first seeded (frozen here: the list
in clinical/defaults.py has grown since, with columns this migration's model does not have;
0004 adds the rest)."""

from django.db import migrations

FIRST_LIST = (
    ("fluvoxamine", "inhibitor", "CYP1A2", True, "seed 000/001: strong CYP1A2 inhibitor"),
    ("ciprofloxacin", "inhibitor", "CYP1A2", True, "seed 000/001: strong CYP1A2 inhibitor"),
    ("carbamazepine", "inducer", "CYP1A2/3A4", True, "seed 001: inducer"),
    ("phenytoin", "inducer", "CYP1A2/3A4", True, "seed 000: inducer"),
)


def add(apps, schema_editor):
    model = apps.get_model("clinical", "InteractingDrug")
    for name, effect, enzyme, strong, note in FIRST_LIST:
        model.objects.get_or_create(
            name=name, defaults={"effect": effect, "enzyme": enzyme, "strong": strong, "note": note}
        )


class Migration(migrations.Migration):
    dependencies = [("clinical", "0001_initial")]

    operations = [migrations.RunPython(add, migrations.RunPython.noop)]
