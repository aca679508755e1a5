from django.apps import AppConfig


class OversightConfig(AppConfig):
    """The inspectors' read side: the compliance reports and the audit trail's API. It reads the
    domain apps and the trail and writes nothing, so it has no models (docs/architecture.md)."""

    name = "oversight"
    default_auto_field = "django.db.models.BigAutoField"
