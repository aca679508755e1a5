"""`manage.py db_roles --app-role NAME [--owner-role NAME] [--apply]`: the PostgreSQL roles of a
deployment (audit/roles.py, docs/audit.md). Prints the SQL; --apply runs it on the configured
database, as a role allowed to (a superuser the first time: it creates the roles and hands the
tables to the owner)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction

from audit.roles import db_roles_sql


class Command(BaseCommand):
    help = (
        "Create the owner and application roles and grant the application's role what it may "
        "do: INSERT and SELECT on the audit trail, never UPDATE, DELETE or TRUNCATE it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--app-role", required=True, help="the role requests and workers use")
        parser.add_argument(
            "--owner-role", help="the role that runs migrations and owns the tables"
        )
        parser.add_argument("--apply", action="store_true", help="run the SQL, not just print it")

    def handle(self, *args: Any, **options: Any) -> None:
        if connection.vendor != "postgresql":
            raise CommandError(
                f"database roles are PostgreSQL's; this database is {connection.vendor}"
            )
        statements = db_roles_sql(connection, app=options["app_role"], owner=options["owner_role"])
        if not options["apply"]:
            for sql in statements:
                self.stdout.write(f"{sql};")
            return
        with transaction.atomic(), connection.cursor() as cursor:
            for sql in statements:
                cursor.execute(sql)
        self.stdout.write(self.style.SUCCESS(f"applied {len(statements)} statements."))
