"""A dispense keeps the decision it was made under in the engine's terms (`decided`), no longer
the HTTP answer's body. The bodies kept so far stay, in the same column, as
`decision_as_answered`: nothing is lost, and a dispense recorded before this shows its decision
as it was answered then."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("pharmacy", "0003_patient_reach"),
    ]

    operations = [
        migrations.RenameField("dispense", "decision", "decision_as_answered"),
        migrations.AlterField(
            model_name="dispense",
            name="decision_as_answered",
            field=models.JSONField(blank=True, db_column="decision", null=True),
        ),
        migrations.AddField(
            model_name="dispense",
            name="decided",
            field=models.JSONField(blank=True, null=True),
        ),
    ]
