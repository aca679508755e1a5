"""The feeds' admin pages also at the addresses they had while the feeds were part of the
monitoring app (/admin/monitoring/<model>/...): the same admin views, so links and bookmarks
keep working (docs/architecture.md). Their canonical addresses are /admin/feeds/<model>/."""

from __future__ import annotations

from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path

from feeds.models import (
    FeedBatch,
    FeedMessage,
    LabAccount,
    LabCertificate,
    LabCodeMapping,
    QuarantinedResult,
)

# The models whose admin pages lived under /admin/monitoring/ before the move.
FORMERLY_MONITORING = (
    FeedBatch,
    FeedMessage,
    LabAccount,
    LabCertificate,
    LabCodeMapping,
    QuarantinedResult,
)


def former_admin_urls() -> list[URLPattern | URLResolver]:
    """For `path("admin/monitoring/", include(...))`: each model's admin views (login, second
    factor and permissions as on the admin itself), under an instance of the admin namespace of
    its own, so that every `admin:` URL the pages reverse still names the canonical address."""
    return [
        path(f"{model._meta.model_name}/", include(admin.site.get_model_admin(model).urls))
        for model in FORMERLY_MONITORING
    ]
