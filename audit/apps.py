from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.backends.signals import connection_created
        from django.db.models.signals import post_migrate

        from audit import triggers

        connection_created.connect(triggers.sqlite_functions_register)
        # The triggers are (re)installed after every migrate: SQLite drops a table's triggers
        # when a migration rebuilds the table, so a later migration of another app must not
        # silently remove them.
        post_migrate.connect(triggers.triggers_install_after_migrate, sender=self)
