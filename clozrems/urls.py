"""Root URL configuration."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from clozrems.health import health
from monitoring.feeds.api import FhirBundleView, FhirObservationView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/v1/", include("clozrems.api_urls")),
    path("health/", health, name="health"),
    path("fhir/Observation", FhirObservationView.as_view(), name="fhir-observation"),
    path("fhir", FhirBundleView.as_view(), name="fhir-bundle"),
    path("", include("web.urls")),
]
