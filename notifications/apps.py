from django.apps import AppConfig
from django.db.models.signals import post_migrate


class NotificationsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "notifications"

    def ready(self) -> None:
        from notifications.schedule import create_missing_periodic_tasks

        # The versioned default schedule appears on migrate; edits made in production stay.
        post_migrate.connect(create_missing_periodic_tasks, sender=self)
