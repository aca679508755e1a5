from django.db import migrations


class Migration(migrations.Migration):
    """django-rest-knox's own migrations create its default token table even though
    KNOX_TOKEN_MODEL swaps it for patients.ApiToken. Nothing uses that table, and since no model
    owns it, a database flush (the test runner's TRUNCATE) would leave it referencing the users:
    it is dropped."""

    dependencies = [
        ("patients", "0007_scoped_identifiers"),
        ("knox", "0009_extend_authtoken_field"),
    ]

    operations = [
        migrations.RunSQL("DROP TABLE IF EXISTS knox_authtoken", migrations.RunSQL.noop),
    ]
