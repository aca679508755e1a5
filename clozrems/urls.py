"""Root URL configuration."""

from csp.decorators import csp_exempt
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from clozrems.health import health
from clozrems.otp import ClozremsAdminSite
from monitoring.feeds.api import FhirBundleView, FhirObservationView

# The admin site asks administrators for their second factor (CLOZREMS_ADMIN_OTP).
admin.site.__class__ = ClozremsAdminSite

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The Swagger UI loads its scripts from a CDN: exempt from the site's CSP.
    path(
        "api/docs/",
        csp_exempt()(SpectacularSwaggerView.as_view(url_name="schema")),
        name="swagger-ui",
    ),
    path("api/v1/", include("clozrems.api_urls")),
    path("health/", health, name="health"),
    path("fhir/Observation", FhirObservationView.as_view(), name="fhir-observation"),
    path("fhir", FhirBundleView.as_view(), name="fhir-bundle"),
    path("", include("web.urls")),
]
