from django.contrib.auth import views as auth_views
from django.urls import path

from patients.otp import LoginForm
from web import views

urlpatterns = [
    path("", views.home, name="home"),
    path(
        "login/",
        auth_views.LoginView.as_view(template_name="web/login.html", authentication_form=LoginForm),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("counter/", views.counter, name="counter"),
    path("counter/worklist/", views.counter_worklist, name="counter-worklist"),
    path("counter/patients/<int:pk>/", views.counter_patient, name="counter-patient"),
    path("counter/patients/<int:pk>/dispense/", views.counter_dispense, name="counter-dispense"),
    path("counter/patients/<int:pk>/observe/", views.counter_observe, name="counter-observe"),
    path("counter/patients/<int:pk>/emergency/", views.counter_emergency, name="counter-emergency"),
    path(
        "counter/patients/<int:pk>/dispenses/<int:dispense_pk>/",
        views.counter_dispense_record,
        name="counter-dispense-record",
    ),
    path("clinic/", views.clinic, name="clinic"),
    path("clinic/patients/new/", views.clinic_new_patient, name="clinic-new-patient"),
    path("clinic/results/batch/", views.clinic_batch, name="clinic-batch"),
    path("clinic/patients/<int:pk>/", views.clinic_patient, name="clinic-patient"),
    path("clinic/patients/<int:pk>/enroll/", views.clinic_enroll, name="clinic-enroll"),
    path("clinic/patients/<int:pk>/results/", views.clinic_result, name="clinic-result"),
    path(
        "clinic/patients/<int:pk>/results/<int:result_pk>/void/",
        views.clinic_result_void,
        name="clinic-result-void",
    ),
    path(
        "clinic/patients/<int:pk>/results/<int:result_pk>/correct/",
        views.clinic_result_correct,
        name="clinic-result-correct",
    ),
    path("clinic/patients/<int:pk>/events/", views.clinic_event, name="clinic-event"),
    path("clinic/patients/<int:pk>/levels/", views.clinic_level, name="clinic-level"),
    path("clinic/patients/<int:pk>/plan/", views.clinic_plan, name="clinic-plan"),
    path(
        "clinic/patients/<int:pk>/authorizations/",
        views.clinic_authorization,
        name="clinic-authorization",
    ),
    path("clinic/patients/<int:pk>/consult/", views.clinic_consult, name="clinic-consult"),
    path("clinic/patients/<int:pk>/review/", views.clinic_review, name="clinic-review"),
    path("clinic/patients/<int:pk>/step-down/", views.clinic_step_down, name="clinic-step-down"),
    path("inbox/", views.inbox, name="inbox"),
    path("inbox/<int:pk>/read/", views.inbox_read, name="inbox-read"),
    path("oversight/", views.oversight, name="oversight"),
    path("oversight/audit/", views.audit_trail, name="audit-trail"),
    path("oversight/patients/", views.oversight_patients, name="oversight-patients"),
    path("oversight/feeds/", views.oversight_feeds, name="oversight-feeds"),
    path("oversight/reports/<slug:slug>/", views.oversight_report, name="oversight-report"),
    path(
        "oversight/emergency-supplies/<int:dispense_pk>/review/",
        views.oversight_review,
        name="oversight-review",
    ),
    path(
        "oversight/patients/<int:pk>/timeline/",
        views.oversight_timeline,
        name="oversight-timeline",
    ),
]
