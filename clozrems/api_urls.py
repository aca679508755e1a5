"""/api/v1/ routes (api.md)."""

from django.urls import include, path
from rest_framework.authtoken.views import obtain_auth_token
from rest_framework.routers import DefaultRouter

from clozrems.api import PingView
from monitoring.api import AncResultViewSet, WbcResultViewSet
from monitoring.feeds.api import (
    CsvFeedView,
    FeedMessageViewSet,
    Hl7FeedView,
    LabCodeMappingViewSet,
    PatientIdentifierViewSet,
    QuarantineViewSet,
)
from notifications.api import NotificationViewSet
from patients.api import (
    AuthorizationViewSet,
    LimitAgreementViewSet,
    PatientViewSet,
    PrescriberViewSet,
    TreatmentEventViewSet,
    UserViewSet,
)
from pharmacy.api import DispenseViewSet, PharmacyViewSet

router = DefaultRouter()
router.register("prescribers", PrescriberViewSet, basename="prescriber")
router.register("pharmacies", PharmacyViewSet, basename="pharmacy")
router.register("users", UserViewSet, basename="user")
router.register("patients", PatientViewSet, basename="patient")
router.register("dispenses", DispenseViewSet, basename="dispense")
router.register("notifications", NotificationViewSet, basename="notification")
router.register("feeds/messages", FeedMessageViewSet, basename="feed-message")
router.register("feeds/quarantine", QuarantineViewSet, basename="quarantine")
router.register("feeds/code-mappings", LabCodeMappingViewSet, basename="code-mapping")

patient_router = DefaultRouter()
patient_router.include_root_view = False
patient_router.register("anc-results", AncResultViewSet, basename="anc-result")
patient_router.register("wbc-results", WbcResultViewSet, basename="wbc-result")
patient_router.register("limit-agreements", LimitAgreementViewSet, basename="limit-agreement")
patient_router.register("treatment-events", TreatmentEventViewSet, basename="treatment-event")
patient_router.register("authorizations", AuthorizationViewSet, basename="authorization")
patient_router.register("identifiers", PatientIdentifierViewSet, basename="patient-identifier")

urlpatterns = [
    path("auth/token/", obtain_auth_token, name="auth-token"),
    path("ping/", PingView.as_view(), name="ping"),
    path("feeds/hl7/", Hl7FeedView.as_view(), name="feed-hl7"),
    path("feeds/csv/", CsvFeedView.as_view(), name="feed-csv"),
    path("patients/<int:patient_pk>/", include(patient_router.urls)),
    path("", include(router.urls)),
]
