"""Root URL configuration."""

from django.contrib import admin
from django.db.models import Model
from django.urls import URLPattern, URLResolver, include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from clozrems.health import health
from feeds.api import FhirBundleView, FhirObservationView
from feeds.models import (
    FeedBatch,
    FeedMessage,
    LabAccount,
    LabCertificate,
    LabCodeMapping,
    QuarantinedResult,
)
from patients.models import Dispense, PatientReach, Pharmacy
from patients.otp import ClozremsAdminSite

# The admin site asks administrators for their second factor (CLOZREMS_ADMIN_OTP).
admin.site.__class__ = ClozremsAdminSite

# Models whose admin pages had another address before their model moved to another app
# (docs/architecture.md): the lab feeds were the monitoring app's, the pharmacies and their
# dispenses the pharmacy app's. Their canonical addresses are under their app's label now.
FORMERLY = {
    "monitoring": (
        FeedBatch,
        FeedMessage,
        LabAccount,
        LabCertificate,
        LabCodeMapping,
        QuarantinedResult,
    ),
    "pharmacy": (Pharmacy, Dispense, PatientReach),
}


def former_admin_urls(models: tuple[type[Model], ...]) -> list[URLPattern | URLResolver]:
    """For `path("admin/<former label>/", include(...))`: each registered model's admin views
    (login, second factor and permissions as on the admin itself), under an instance of the
    admin namespace of its own, so that every `admin:` URL the pages reverse still names the
    canonical address; links and bookmarks to the former address keep working."""
    return [
        path(f"{model._meta.model_name}/", include(admin.site.get_model_admin(model).urls))
        for model in models
        if admin.site.is_registered(model)
    ]


urlpatterns = [
    *(
        path(
            f"admin/{label}/",
            include((former_admin_urls(models), "admin"), namespace=f"{label}-former"),
        )
        for label, models in FORMERLY.items()
    ),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # Swagger UI from this site's static files (drf-spectacular-sidecar), its start-up script
    # a file of its own (the split view), so the site's CSP applies unchanged.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/v1/", include("clozrems.api_urls")),
    path("health/", health, name="health"),
    path("fhir/Observation", FhirObservationView.as_view(), name="fhir-observation"),
    path("fhir", FhirBundleView.as_view(), name="fhir-bundle"),
    path("", include("web.urls")),
]
