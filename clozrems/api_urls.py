"""/api/v1/ routes (docs/api.md)."""

from django.urls import include, path
from rest_framework.routers import DefaultRouter

from clinical.api import (
    CounterObservationView,
    DoseEntryViewSet,
    InteractingDrugViewSet,
    LevelIndicationViewSet,
    LevelResultViewSet,
    MedicationEventViewSet,
    PlanViewSet,
    SmokingStatusViewSet,
)
from clozrems.api import PingView
from feeds.api import (
    CsvFeedView,
    FeedBatchViewSet,
    FeedMessageViewSet,
    Hl7FeedView,
    LabCodeMappingViewSet,
    PatientIdentifierViewSet,
    QuarantineViewSet,
)
from monitoring.api import AncResultViewSet, WbcResultViewSet
from monitoring.patient_api import (
    AuthorizationViewSet,
    LimitAgreementViewSet,
    PatientViewSet,
    TreatmentEventViewSet,
)
from notifications.api import NotificationViewSet
from oversight.api import (
    AuditEntryViewSet,
    ComplianceReportView,
    DispenseReportView,
    EnrollmentGapReportView,
    LowAncEpisodeReportView,
    OverdueReportView,
    OverrideReportView,
)
from patients.api import PrescriberViewSet, UserViewSet
from patients.auth_views import TokenObtainView, TokenRevokeView
from pharmacy.api import DispenseViewSet, EligibilityView, PharmacyViewSet

router = DefaultRouter()
router.register("prescribers", PrescriberViewSet, basename="prescriber")
router.register("pharmacies", PharmacyViewSet, basename="pharmacy")
router.register("users", UserViewSet, basename="user")
router.register("patients", PatientViewSet, basename="patient")
router.register("dispenses", DispenseViewSet, basename="dispense")
router.register("notifications", NotificationViewSet, basename="notification")
router.register("feeds/messages", FeedMessageViewSet, basename="feed-message")
router.register("feeds/batches", FeedBatchViewSet, basename="feed-batch")
router.register("feeds/quarantine", QuarantineViewSet, basename="quarantine")
router.register("feeds/code-mappings", LabCodeMappingViewSet, basename="code-mapping")
router.register("audit-entries", AuditEntryViewSet, basename="audit-entry")
router.register("interacting-drugs", InteractingDrugViewSet, basename="interacting-drug")

patient_router = DefaultRouter()
patient_router.include_root_view = False
patient_router.register("anc-results", AncResultViewSet, basename="anc-result")
patient_router.register("wbc-results", WbcResultViewSet, basename="wbc-result")
patient_router.register("limit-agreements", LimitAgreementViewSet, basename="limit-agreement")
patient_router.register("treatment-events", TreatmentEventViewSet, basename="treatment-event")
patient_router.register("authorizations", AuthorizationViewSet, basename="authorization")
patient_router.register("identifiers", PatientIdentifierViewSet, basename="patient-identifier")
patient_router.register("levels", LevelResultViewSet, basename="level")
patient_router.register("plan", PlanViewSet, basename="plan")
patient_router.register("smoking-status", SmokingStatusViewSet, basename="smoking-status")
patient_router.register("medications", MedicationEventViewSet, basename="medication")
patient_router.register("doses", DoseEntryViewSet, basename="dose")
patient_router.register("level-indications", LevelIndicationViewSet, basename="level-indication")
patient_router.register(
    "counter-observations", CounterObservationView, basename="counter-observation"
)

urlpatterns = [
    path("auth/token/", TokenObtainView.as_view(), name="auth-token"),
    path("auth/token/revoke/", TokenRevokeView.as_view(), name="auth-token-revoke"),
    path("ping/", PingView.as_view(), name="ping"),
    path("feeds/hl7/", Hl7FeedView.as_view(), name="feed-hl7"),
    path("feeds/csv/", CsvFeedView.as_view(), name="feed-csv"),
    path("reports/dispenses/", DispenseReportView.as_view(), name="report-dispenses"),
    path("reports/overrides/", OverrideReportView.as_view(), name="report-overrides"),
    path("reports/overdue/", OverdueReportView.as_view(), name="report-overdue"),
    path(
        "reports/low-anc-episodes/",
        LowAncEpisodeReportView.as_view(),
        name="report-low-anc-episodes",
    ),
    path(
        "reports/enrollment-gaps/",
        EnrollmentGapReportView.as_view(),
        name="report-enrollment-gaps",
    ),
    path("reports/compliance/", ComplianceReportView.as_view(), name="report-compliance"),
    path("patients/<int:pk>/eligibility/", EligibilityView.as_view(), name="patient-eligibility"),
    path("patients/<int:patient_pk>/", include(patient_router.urls)),
    path("", include(router.urls)),
]
