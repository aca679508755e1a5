"""`manage.py check --deploy`: the audit trail's checkpoints should also go outside the database
(docs/audit.md). Without the file, whoever can write the database can truncate the trail and
the checkpoint table together, and nothing is left to tell."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Tags, Warning, register


@register(Tags.security, deploy=True)
def audit_checkpoint_file_check(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    if settings.CLOZREMS_AUDIT_CHECKPOINT_FILE:
        return []
    return [
        Warning(
            "CLOZREMS_AUDIT_CHECKPOINT_FILE is not set: the audit trail's signed checkpoints "
            "are kept in the database only, so truncating the trail and the checkpoint table "
            "together would go unnoticed.",
            hint="Point it at an append-only file outside the database's reach "
            "(docs/audit.md, 'Checkpoints').",
            id="audit.W001",
        )
    ]
