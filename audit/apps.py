from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.backends.signals import connection_created
        from django.db.models.signals import post_migrate

        from audit import checks, roles, triggers

        del checks  # imported for its @register

        connection_created.connect(triggers.sqlite_functions_register)
        # The triggers are (re)installed after every migrate: SQLite drops a table's triggers
        # when a migration rebuilds the table, so a later migration of another app must not
        # silently remove them.
        post_migrate.connect(triggers.triggers_install_after_migrate, sender=self)
        # With settings.CLOZREMS_DB_APP_ROLE, the application's role is granted again after
        # every migrate (audit/roles.py), so a new table never keeps more than it should.
        post_migrate.connect(roles.grants_apply_after_migrate, sender=self)
