"""The starting list of interacting medications (editable afterwards): seed 001 "Caution with:
CYP1A2 inhibitors (fluvoxamine, ciprofloxacin) and inducers (smoking, carbamazepine)"; seed 000
names phenytoin as an inducer ("exposure to an inducer (e.g. smoking, phenytoin)")."""

from django.db import migrations

DRUGS = [
    ("fluvoxamine", "inhibitor", "CYP1A2", True, "seed 000/001: strong CYP1A2 inhibitor"),
    ("ciprofloxacin", "inhibitor", "CYP1A2", True, "seed 000/001: strong CYP1A2 inhibitor"),
    ("carbamazepine", "inducer", "CYP1A2/3A4", True, "seed 001: inducer"),
    ("phenytoin", "inducer", "CYP1A2/3A4", True, "seed 000: inducer"),
]


def add(apps, schema_editor):
    drug = apps.get_model("clinical", "InteractingDrug")
    for name, effect, enzyme, strong, note in DRUGS:
        drug.objects.get_or_create(
            name=name, defaults={"effect": effect, "enzyme": enzyme, "strong": strong, "note": note}
        )


class Migration(migrations.Migration):
    dependencies = [("clinical", "0001_initial")]

    operations = [migrations.RunPython(add, migrations.RunPython.noop)]
