"""The lab feeds' models move to the feeds app (the feeds app's first migration): removed
from monitoring's state only; their tables and rows stay as they are (docs/architecture.md)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("monitoring", "0009_partitioned_results"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveField(model_name="feedmessage", name="batch"),
                migrations.RemoveField(model_name="feedmessage", name="received_by"),
                migrations.RemoveField(model_name="quarantinedresult", name="message"),
                migrations.RemoveField(model_name="labaccount", name="user"),
                migrations.RemoveField(model_name="labcertificate", name="account"),
                migrations.RemoveField(model_name="labcodemapping", name="confirmed_by"),
                migrations.RemoveField(model_name="quarantinedresult", name="patient"),
                migrations.RemoveField(model_name="quarantinedresult", name="resolved_by"),
                migrations.RemoveField(model_name="quarantinedresult", name="result"),
                migrations.DeleteModel(name="FeedBatch"),
                migrations.DeleteModel(name="FeedMessage"),
                migrations.DeleteModel(name="LabAccount"),
                migrations.DeleteModel(name="LabCertificate"),
                migrations.DeleteModel(name="LabCodeMapping"),
                migrations.DeleteModel(name="QuarantinedResult"),
            ],
            database_operations=[],
        ),
    ]
