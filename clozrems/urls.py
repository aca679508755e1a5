"""Root URL configuration."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from clozrems.health import health
from clozrems.otp import ClozremsAdminSite
from feeds.api import FhirBundleView, FhirObservationView
from feeds.urls import former_admin_urls

# The admin site asks administrators for their second factor (CLOZREMS_ADMIN_OTP).
admin.site.__class__ = ClozremsAdminSite

urlpatterns = [
    # The lab feeds' admin pages where they were before the feeds became an app (feeds/urls.py).
    path("admin/monitoring/", include((former_admin_urls(), "admin"), namespace="feeds-former")),
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
