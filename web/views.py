"""Server-rendered pages: the pharmacist's counter, the prescriber's clinic and the
administrators' oversight. Every decision and every write goes through the same services as the
API; the views only gather what a page shows."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from fractions import Fraction
from functools import wraps
from typing import Any
from urllib.parse import urlencode, urlsplit

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Exists, Max, OuterRef, Q
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django_htmx.middleware import HtmxDetails

from audit.models import Action, AuditEntry
from audit.selectors import audit_chain_verify
from audit.services import audit_record
from clinical.models import InteractingDrug
from clinical.plan import plan_for
from clinical.selectors import patient_clinical, plan_counts
from clinical.services import (
    counter_observation_record,
    level_result_record,
    plan_entry_record,
)
from clozrems.db_router import replica_view
from clozrems.zones import clinic_zone
from engine.core import local_date
from engine.protocols import get_protocol
from engine.types import Reason, TreatmentStatus
from engine.wording import reason_remedies, repeat_due_caution
from feeds.clinic_batch import BatchRow, RowOutcome, clinic_batch_file
from feeds.models import FeedMessage, FeedMessageOutcome, QuarantinedResult, QuarantineStatus
from monitoring.acts import (
    authorization_record,
    patient_create,
    patient_enroll,
    treatment_event_record,
)
from monitoring.models import ConsultAcknowledgement, LabResult, MonitoringState, ResultStatus
from monitoring.presenters import decision_payload
from monitoring.services import (
    anc_result_record,
    anc_result_void,
    anc_result_void_refusal,
    consult_acknowledge,
    patient_monitoring,
    review_acknowledge,
    step_down_confirm,
)
from notifications.models import Channel, Notification
from notifications.services import notification_mark_read
from oversight import reports
from oversight.reports import ReportFilter, report_compliance, report_dispenses, report_overrides
from patients.auth import credential_of, deactivated_link
from patients.models import Dispense, Patient, Pharmacy, Prescriber, Role, User
from patients.otp import second_factor_missing
from patients.selectors import patient_list_visible, patient_reachable, pharmacist_bound
from patients.services import patient_lookup_record, patient_read_audit
from pharmacy.decisions import counter_decision, dispense_verdict, dispensing_decision
from pharmacy.presenters import decision_body
from pharmacy.selectors import pharmacy_worklist
from pharmacy.services import (
    EmergencyRequest,
    dispense_record,
    eligibility_check,
    emergency_supply_review,
)
from web import forms
from web.charts import anc_chart
from web.selectors import URGENCY, band_edges, chart_band_of, inbox_of, prescriber_worklist
from web.templatetags.clozrems_words import words

CLINICIANS: set[str] = {Role.PRESCRIBER, Role.DESIGNEE}
OVERSEERS: set[str] = {Role.ADMIN, Role.AUDITOR}


class HtmxHttpRequest(HttpRequest):
    """What HtmxMiddleware adds to a request (django-htmx's typing recipe)."""

    htmx: HtmxDetails


def role_required(*roles: str) -> Callable[[Callable[..., HttpResponseBase]], Any]:
    """Logged in, with one of these roles (administrators may open every page)."""

    def decorate(view: Callable[..., HttpResponseBase]) -> Any:
        @wraps(view)
        def expired(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            # An htmx request after the session ended would follow the redirect and put the
            # login page inside this one: say plainly that nothing was done, and where to go.
            if not request.user.is_authenticated and getattr(request, "htmx", False):
                return _session_expired(request)
            return checked(request, *args, **kwargs)

        @login_required
        @wraps(view)
        def checked(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            user = request.user
            if second_factor_missing(request):
                return redirect(f"{reverse('login')}?next={request.path}")
            if not isinstance(user, User) or not (user.is_admin or user.role in roles):
                raise PermissionDenied("Your role may not open this page.")
            refused = deactivated_link(user)
            if refused:
                raise PermissionDenied(refused)
            return view(request, *args, **kwargs)

        return expired

    return decorate


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponseBase:
    """A form sent from a page whose sign-in has ended (its cookies gone with it) fails the
    CSRF check before any view: for the pages' htmx forms, say that nothing was done."""
    if request.headers.get("HX-Request") == "true" and not request.user.is_authenticated:
        return _session_expired(request)
    from django.views.csrf import csrf_failure as django_csrf_failure

    return django_csrf_failure(request, reason=reason)


def _session_expired(request: HttpRequest) -> HttpResponse:
    """The answer to an htmx request without a session: a message swapped where the answer
    would go (htmx swaps 200s only), and a link to log in and come back to this page."""
    page = request.headers.get("HX-Current-URL") or request.path
    path = urlsplit(page).path if page.startswith(("http://", "https://")) else request.path
    if not url_has_allowed_host_and_scheme(path, allowed_hosts=None):
        path = reverse("home")
    writing = request.method == "POST"
    dispensing = writing and request.path.rstrip("/").endswith(("dispense", "emergency"))
    response = render(
        request,
        "web/partials/session_expired.html",
        {
            "login_url": f"{reverse('login')}?{urlencode({'next': path})}",
            "dispensing": dispensing,
            "writing": writing,
        },
    )
    response["X-Session-Expired"] = "1"
    return response


def _user(request: HttpRequest) -> User:
    if not isinstance(request.user, User):  # role_required guarantees it; asserts vanish under -O
        raise PermissionDenied("Sign in first.")
    return request.user


@login_required
def home(request: HttpRequest) -> HttpResponseBase:
    """Each role lands on its own page."""
    user = _user(request)
    if user.is_admin or user.role == Role.AUDITOR:
        return redirect("oversight")
    if user.role == Role.PHARMACIST:
        return redirect("counter")
    if user.role in CLINICIANS:
        return redirect("clinic")
    return render(request, "web/no_pages.html")


# --- pharmacist -----------------------------------------------------------------------------


def _pharmacy_of(user: User) -> Pharmacy | None:
    if user.pharmacy_id is not None:
        return Pharmacy.objects.filter(pk=user.pharmacy_id).first()
    return None


@role_required(Role.PHARMACIST)
def counter(request: HtmxHttpRequest) -> HttpResponse:
    """Find a patient by date of birth with the last name or the id. Those found open by id for
    the rest of the sign-in, and the search is in the audit trail."""
    user = _user(request)
    form = forms.PatientSearchForm(request.GET or None)
    found = None
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        visible = (
            patient_list_visible(user=user)
            .select_related("monitoring")
            .filter(date_of_birth=data["date_of_birth"])
        )
        if data.get("patient_id"):
            visible = visible.filter(pk=data["patient_id"])
        else:
            # The start of the last name is enough, with the date of birth.
            visible = visible.filter(last_name__istartswith=data["last_name"].strip())
        found = list(visible.order_by("last_name", "first_name", "pk")[:20])
        patient_lookup_record(
            user=user,
            patient_ids=[p.pk for p in found],
            credential=credential_of(request),
            criteria={
                "last_name": (data.get("last_name") or "").strip(),
                "patient_id": data.get("patient_id"),
                "date_of_birth": data["date_of_birth"],
                "page": "counter",
            },
        )
        if len(found) == 1:
            # One match: straight to the patient (an htmx search follows in the browser).
            url = reverse("counter-patient", args=[found[0].pk])
            if request.htmx:
                response = HttpResponse(status=204)
                response["HX-Redirect"] = url
                return response
            return redirect(url)
        pharmacy = _pharmacy_of(user)
        if pharmacy is not None:
            # The verdict of each, as the counter would give it (the search entry above records
            # who was looked at).
            now = timezone.now()
            for p in found:
                a = dispensing_decision(patient=p, pharmacy=pharmacy, as_of=now)
                p.verdict = {  # type: ignore[attr-defined]
                    "decision": a.decision.value,
                    "max_days_supply": a.max_days_supply,
                }
    template = "web/partials/search_results.html" if request.htmx else "web/counter.html"
    return render(request, template, {"form": form, "found": found})


def _decision_context(
    patient: Patient, pharmacy: Pharmacy | None, *, user: User, audited: bool
) -> dict[str, Any]:
    """The decision for the counter. Opening a patient is an eligibility check and is audited
    like the API's; the re-checks around a dispense are not (the dispense attempt itself writes
    its audit entry)."""
    if pharmacy is None:
        raise PermissionDenied("Your account names no pharmacy; ask an administrator.")
    now = timezone.now()
    if audited:
        decided = eligibility_check(patient=patient, pharmacy=pharmacy, actor=user, as_of=now)
    else:
        decided = counter_decision(patient=patient, pharmacy=pharmacy, as_of=now)
    decision = decision_body(decided, patient.pk)
    reasons = [
        {
            "code": item["code"],
            "message": item["message"],
            "remedy": reason_remedies(patient.protocol).get(item["code"], ""),
        }
        for item in decision["reasons"]
    ]
    latest = decision["latest_anc"]
    emergency = decision.get("emergency_supply") or {}
    allowed = decision["max_days_supply"] if decision["decision"] == "allowed" else 0
    return {
        "patient": patient,
        "pharmacy": pharmacy,
        "prescriber": patient.prescriber,
        "decision": decision,
        "reasons": reasons,
        "supply": _supply_note(decision),
        "cautions": _cautions(decision),
        "latest_drawn": datetime.fromisoformat(latest["drawn_at"]).astimezone(clinic_zone())
        if latest
        else None,
        "dispense_form": forms.DispenseForm(
            max_days=allowed, initial={"idempotency_key": uuid.uuid4().hex}
        ),
        "emergency_form": forms.EmergencySupplyForm(
            max_days=emergency.get("max_days_supply", 0),
            initial={"idempotency_key": uuid.uuid4().hex},
        )
        if emergency
        else None,
        "observe_form": forms.CounterObservationForm(),
    }


def _supply_note(decision: dict[str, Any]) -> dict[str, Any]:
    """Why the days are what they are: the largest supply for the patient's frequency, less
    the supply on hand (docs/rules.md §9.13). `capped` when the supply on hand lowers it."""
    frequency = decision.get("monitoring_frequency")
    full = get_protocol(decision["protocol"]).max_supply_days.get(frequency) if frequency else None
    allowed = decision["max_days_supply"]
    until = decision.get("supply_until")
    codes = {r["code"] for r in decision["reasons"]}
    on_hand_only = codes == {Reason.DAYS_SUPPLY_EXCEEDS_LIMIT} and allowed == 0
    return {
        "full": full,
        "frequency": frequency,
        # `supply_until` is the first day without supply: the supply lasts through the day before.
        "through": date.fromisoformat(until) - timedelta(days=1) if until else None,
        "capped": full is not None and until is not None and 0 < allowed < full,
        # Blocked only because enough is on hand: nothing more today, nothing else wrong.
        "on_hand_only": on_hand_only,
    }


def _cautions(decision: dict[str, Any]) -> list[str]:
    """What the pharmacist should know even when the supply is allowed: a repeat of a first low
    result due (the protocol's hours) and the engine's warnings (neither blocks a supply)."""
    out = []
    due = decision.get("confirmation_due")
    if due:
        by = datetime.fromisoformat(due).astimezone(clinic_zone())
        out.append(repeat_due_caution(decision["protocol"], f"{by:%Y-%m-%d %H:%M}"))
    out.extend(w["message"] for w in decision.get("warnings") or [])
    return out


def _counter_patient(request: HttpRequest, pk: int) -> Patient:
    """A patient the pharmacist found in this sign-in, or one dispensed at its pharmacy; any
    other is a 404, like an unknown id."""
    user = _user(request)
    patient = get_object_or_404(patient_list_visible(user=user), pk=pk)
    if pharmacist_bound(user) and not patient_reachable(
        user=user, patient_id=patient.pk, credential=credential_of(request), now=timezone.now()
    ):
        raise Http404("No patient matches the given query.")
    return patient


@role_required(Role.PHARMACIST)
def counter_patient(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """The decision as a banner, its reasons, the patient's monitoring, and the dispense form.
    Opening it is an eligibility check, audited as one: that entry records the read."""
    user = _user(request)
    patient = _counter_patient(request, pk)
    context = _decision_context(patient, _pharmacy_of(user), user=user, audited=True)
    return render(request, "web/counter_patient.html", context)


def _counter_write(request: HtmxHttpRequest, pk: int, *, emergency: bool) -> HttpResponse:
    if request.method != "POST":
        return redirect("counter-patient", pk=pk)
    user = _user(request)
    patient = _counter_patient(request, pk)
    pharmacy = _pharmacy_of(user)
    context = _decision_context(patient, pharmacy, user=user, audited=False)
    decision = context["decision"]
    form: forms.forms.Form
    if emergency:
        limit = (decision.get("emergency_supply") or {}).get("max_days_supply", 0)
        form = forms.EmergencySupplyForm(request.POST, max_days=limit)
    else:
        limit = decision["max_days_supply"] if decision["decision"] == "allowed" else 0
        form = forms.DispenseForm(request.POST, max_days=limit)
    outcome = None
    if form.is_valid() and pharmacy is not None:
        data = form.cleaned_data
        outcome = forms.apply(
            form,
            lambda: dispense_record(
                patient=patient,
                pharmacy=pharmacy,
                actor=user,
                days_supply=data["days_supply"],
                idempotency_key=data.get("idempotency_key") or "",
                emergency=EmergencyRequest(
                    data["reason"],
                    data.get("remark", ""),
                    True if data.get("last_dose_confirmed") else None,
                )
                if emergency
                else None,
            ),
        )
    if outcome is not None:
        # The patient read again: the verdict after a dispense counts the supply just recorded
        # (the loaded patient still holds the state from before it).
        patient = _counter_patient(request, pk)
        context = _decision_context(patient, pharmacy, user=user, audited=False)
        context["dispensed"] = outcome.dispense
    else:
        context["emergency_form" if emergency else "dispense_form"] = form
    template = "web/partials/dispense.html" if request.htmx else "web/counter_patient.html"
    return render(request, template, context)


@role_required(Role.PHARMACIST)
def counter_observe(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """What the pharmacist saw (a reported last dose, a smoking change, an interacting medicine,
    doubtful adherence), recorded by the clinic's own services; the counter page again after."""
    if request.method != "POST":
        return redirect("counter-patient", pk=pk)
    user = _user(request)
    patient = _counter_patient(request, pk)
    form = forms.CounterObservationForm(request.POST)
    done = None
    if form.is_valid():
        data = dict(form.cleaned_data)
        if data.get("last_dose_at"):
            data["last_dose_at"] = _aware(data["last_dose_at"])
        if data.get("drug"):
            data["drug"] = InteractingDrug.objects.get(name=data["drug"])
        done = forms.apply(
            form,
            lambda: counter_observation_record(patient=patient, actor=user, data=data),
        )
    if done is not None:
        return redirect("counter-patient", pk=pk)
    context = _decision_context(patient, _pharmacy_of(user), user=user, audited=False)
    context["observe_form"] = form
    return render(request, "web/counter_patient.html", context, status=422)


@role_required(Role.PHARMACIST)
def counter_dispense(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    return _counter_write(request, pk, emergency=False)


@role_required(Role.PHARMACIST)
def counter_emergency(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """A pharmacist's emergency supply, offered only when the decision says it exists."""
    return _counter_write(request, pk, emergency=True)


@role_required(Role.PHARMACIST)
def counter_dispense_record(request: HtmxHttpRequest, pk: int, dispense_pk: int) -> HttpResponse:
    """A printable record of one dispense made at this pharmacy, with its authorization code.
    Reading it is audited like any read of the patient's record."""
    user = _user(request)
    patient = _counter_patient(request, pk)
    pharmacy = _pharmacy_of(user)
    if pharmacy is None:
        raise PermissionDenied("Your account names no pharmacy; ask an administrator.")
    dispense = get_object_or_404(
        Dispense.objects.filter(patient=patient, pharmacy=pharmacy).select_related(
            "pharmacy", "recorded_by"
        ),
        pk=dispense_pk,
    )
    patient_read_audit(actor=user, patient_id=patient.pk, what="dispense_record")
    return render(
        request,
        "web/dispense_record.html",
        {"patient": patient, "dispense": dispense, "prescriber": patient.prescriber},
    )


@role_required(Role.PHARMACIST)
@replica_view
def counter_worklist(request: HtmxHttpRequest) -> HttpResponse:
    pharmacy = _pharmacy_of(_user(request))
    if pharmacy is None:
        raise PermissionDenied("Your account names no pharmacy; ask an administrator.")
    rows = pharmacy_worklist(pharmacy=pharmacy, now=timezone.now(), due_within_days=2)
    return render(request, "web/counter_worklist.html", {"rows": rows, "pharmacy": pharmacy})


# --- prescriber -----------------------------------------------------------------------------


@role_required(*CLINICIANS)
@replica_view
def clinic(request: HtmxHttpRequest) -> HttpResponse:
    """My patients, most urgent first, with a count per urgency."""
    form = forms.ClinicListForm(request.GET or None)
    unknown = sorted(set(request.GET) - set(form.fields))
    if unknown or (form.is_bound and not form.is_valid()):
        if unknown:
            form.is_valid()
            form.add_error(None, f"Unknown filter: {', '.join(unknown)} (known: q, need, sort).")
        return render(request, "web/clinic.html", {"rows": [], "form": form}, status=400)
    rows, counts = prescriber_worklist(
        patients=patient_list_visible(user=_user(request)), now=timezone.now()
    )
    urgency = [(key, label, counts[key]) for key, label in URGENCY]
    data = form.cleaned_data if form.is_bound else {}
    query = (data.get("q") or "").strip().lower()
    if query:
        rows = [r for r in rows if r.patient.last_name.lower().startswith(query)]
    if data.get("need"):
        rows = [r for r in rows if data["need"] in r.needs]
    sort = data.get("sort") or "urgency"
    if sort == "name":
        rows.sort(key=lambda r: (r.patient.last_name.lower(), r.patient.first_name.lower()))
    elif sort == "next_draw":
        rows.sort(key=lambda r: r.assessment.next_draw_due or date.max)
    elif sort == "supply":
        rows.sort(key=lambda r: r.assessment.supply_until or date.max)
    last_dispensed = dict(
        Dispense.objects.filter(patient__in=[r.patient.pk for r in rows])
        .values_list("patient_id")
        .annotate(last=Max("dispensed_at"))
        .values_list("patient_id", "last")
    )
    # The monitoring plan's other checks due and overdue, per row (clinical/).
    checks = plan_counts(patients=[r.patient for r in rows], now=timezone.now())
    listed = [(r, checks[r.patient.pk], last_dispensed.get(r.patient.pk)) for r in rows]
    return render(
        request,
        "web/clinic.html",
        {"rows": listed, "urgency": urgency, "form": form, "filtered": bool(data)},
    )


@role_required(*CLINICIANS)
def clinic_new_patient(request: HtmxHttpRequest) -> HttpResponse:
    """A new patient of this prescriber's. Next on its page: the baseline ANCs, then Enroll."""
    user = _user(request)
    if user.prescriber_id is None:
        raise PermissionDenied("Your account names no prescriber; ask an administrator.")
    form = forms.NewPatientForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        prescriber = Prescriber.objects.get(pk=user.prescriber_id)
        patient = forms.apply(
            form,
            lambda: patient_create(
                actor=user,
                first_name=data["first_name"].strip(),
                last_name=data["last_name"].strip(),
                date_of_birth=data["date_of_birth"],
                sex=data["sex"],
                population=data["population"],
                prescriber=prescriber,
            ),
        )
        if patient is not None:
            return redirect("clinic-patient", pk=patient.pk)
    status = 422 if request.method == "POST" else 200
    return render(request, "web/clinic_new_patient.html", {"form": form}, status=status)


def _clinic_patient(request: HtmxHttpRequest, pk: int) -> Patient:
    return get_object_or_404(patient_list_visible(user=_user(request)), pk=pk)


def _patient_context(patient: Patient, *, user: User) -> dict[str, Any]:
    zone = clinic_zone()
    assessment = patient_monitoring(patient=patient)
    results = list(LabResult.objects.filter(patient=patient).order_by("-drawn_at", "-id"))
    # The void control, only on results this user may void (the service's own rule).
    void_forms = {
        r.pk: forms.VoidForm(prefix=f"void-{r.pk}")
        for r in results
        if r.status != ResultStatus.ENTERED_IN_ERROR
        and not r.superseded
        and anc_result_void_refusal(result=r, actor=user, patient=patient) is None
    }
    for r in results:
        r.void_form = void_forms.get(r.pk)  # type: ignore[attr-defined]
    reads_wbc = "wbc" in get_protocol(patient.protocol).analytes
    used = [r for r in results if r.usable]
    baseline = (
        Fraction(str(assessment.baseline_per_ul))
        if assessment.baseline_per_ul is not None
        else None
    )
    limits: dict[str, int] = dict(getattr(assessment, "limits", None) or {})
    dispenses = list(Dispense.objects.filter(patient=patient).select_related("pharmacy")[:200])
    chart = anc_chart(
        [(r.drawn_at, r.value_per_ul) for r in used if r.analyte == "anc"],
        band_edges(patient.protocol, patient.population, baseline, limits),
        chart_band_of(patient.protocol, patient.population, baseline, limits),
        zone,
        normal_band=str(get_protocol(patient.protocol).normal_band.value),
        now=timezone.now(),
        next_due=assessment.next_draw_due
        if assessment.treatment_status != TreatmentStatus.NOT_STARTED
        else None,
        dispenses=[(d.dispensed_at, d.days_supply) for d in dispenses],
        interruptions=_interruptions(patient),
    )
    episode = getattr(patient.monitoring, "episode_opened_at", None)
    consult_open = bool(
        assessment.hematology_consult
        and episode is not None
        and not ConsultAcknowledgement.objects.filter(
            patient=patient, episode_opened_at=episode
        ).exists()
    )
    return {
        "patient": patient,
        "assessment": assessment,
        # Auditors read; only clinicians (and administrators) see the forms.
        "can_write": user.is_admin or user.role in CLINICIANS,
        "consult_open": consult_open,
        "consult_form": forms.ReviewForm(),
        "review_form": forms.ReviewForm(),
        "monitoring": decision_payload(patient.pk, assessment),
        "reasons": [{"code": i.code.value, "message": i.message} for i in assessment.reasons],
        "results": results,
        "void_forms": void_forms,
        "chart": chart,
        "events": patient.treatment_events.order_by("-effective_date", "-id"),
        "authorizations": patient.authorizations.order_by("-starts_on", "-id"),
        "dispenses": dispenses[:50],
        "identifiers": patient.identifiers.all(),
        "enroll_form": forms.EnrollForm(),
        "result_form": forms.AncResultForm(),
        "reads_wbc": reads_wbc,
        "event_form": forms.TreatmentEventForm(),
        "authorization_form": forms.AuthorizationForm(),
        "step_down_form": forms.StepDownForm(
            initial={"frequency": assessment.step_down_offered.value}
        )
        if assessment.step_down_offered
        else None,
        # Clozapine levels and the monitoring plan (clinical/).
        "clinical": patient_clinical(patient=patient, now=timezone.now()),
        "level_form": forms.LevelForm(),
        "plan_form": forms.PlanEntryForm(items=_plan_choices(patient)),
    }


def _interruptions(patient: Patient) -> list[tuple[date, date | None]]:
    """The recorded interruptions, each to the resumption (or stop) that ended it."""
    spans: list[tuple[date, date | None]] = []
    since: date | None = None
    for event in patient.treatment_events.order_by("effective_date", "id"):
        if event.kind == "interrupt" and since is None:
            since = event.effective_date
        elif event.kind in ("resume", "start", "discontinue") and since is not None:
            spans.append((since, event.effective_date))
            since = None
    if since is not None:
        spans.append((since, None))
    return spans


def _plan_choices(patient: Patient) -> list[tuple[str, str]]:
    return [(item.code, item.label) for item in plan_for(patient.protocol)]


@role_required(*CLINICIANS, Role.AUDITOR)
def clinic_patient(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    patient = _clinic_patient(request, pk)
    patient_read_audit(actor=_user(request), patient_id=patient.pk, what="clinic_page")
    return render(
        request, "web/clinic_patient.html", _patient_context(patient, user=_user(request))
    )


def _clinic_form(
    request: HtmxHttpRequest,
    pk: int,
    form_class: type[forms.forms.Form],
    name: str,
    act: Callable[[Patient, User, dict[str, Any]], object],
    roles: set[str] = CLINICIANS,
) -> HttpResponse:
    """POST one of the patient page's forms: on success the page reloads with the new state;
    on refusal the form comes back with the rule's error in place."""
    user = _user(request)
    if not (user.is_admin or user.role in roles):
        raise PermissionDenied("Your role may not do this.")
    patient = _clinic_patient(request, pk)
    url = reverse("clinic-patient", args=[patient.pk])
    if request.method != "POST":
        return redirect(url)
    form = form_class(request.POST)
    if form.is_valid():
        done = forms.apply(form, lambda: act(patient, user, form.cleaned_data))
        if done is not None:
            if request.htmx:
                response = HttpResponse(status=204)
                response["HX-Redirect"] = url
                return response
            return redirect(url)
    if request.htmx:
        return render(
            request, f"web/partials/form_{name}.html", {"patient": patient, f"{name}_form": form}
        )
    context = _patient_context(patient, user=user)
    context[f"{name}_form"] = form
    return render(request, "web/clinic_patient.html", context, status=422)


def _aware(moment: datetime) -> datetime:
    if timezone.is_naive(moment):
        return timezone.make_aware(moment, clinic_zone())
    return moment


@role_required(*CLINICIANS)
def clinic_enroll(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    return _clinic_form(
        request,
        pk,
        forms.EnrollForm,
        "enroll",
        lambda p, u, d: patient_enroll(patient=p, actor=u, effective_date=d.get("effective_date")),
    )


@role_required(*CLINICIANS)
def clinic_result(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    return _clinic_form(
        request,
        pk,
        forms.AncResultForm,
        "result",
        lambda p, u, d: anc_result_record(
            patient=p,
            actor=u,
            drawn_at=_aware(d["drawn_at"]),
            value=d["value"],
            unit=d["unit"],
            accession=d.get("accession") or "",
            analyte=d.get("analyte") or "anc",
            confirm_unusual=bool(d.get("confirm_unusual")),
        ),
    )


@role_required(*CLINICIANS)
def clinic_result_void(request: HtmxHttpRequest, pk: int, result_pk: int) -> HttpResponse:
    """Void one result entered in error. Only those the service lets void it get this far (the
    page offers the control only to them); a refusal comes back in place."""
    user = _user(request)
    patient = _clinic_patient(request, pk)
    result = get_object_or_404(LabResult.objects.filter(patient=patient), pk=result_pk)
    if anc_result_void_refusal(result=result, actor=user, patient=patient) is not None:
        raise PermissionDenied("You may not void this result.")
    url = reverse("clinic-patient", args=[patient.pk])
    if request.method != "POST":
        return redirect(url)
    form = forms.VoidForm(request.POST, prefix=f"void-{result.pk}")
    if form.is_valid():
        voided = forms.apply(
            form,
            lambda: anc_result_void(result=result, actor=user, reason=form.cleaned_data["reason"]),
        )
        if voided is not None:
            return redirect(url)
    context = _patient_context(patient, user=user)
    for shown in context["results"]:
        if shown.pk == result.pk:
            shown.void_form = form
    return render(request, "web/clinic_patient.html", context, status=422)


@role_required(*CLINICIANS)
def clinic_result_correct(request: HtmxHttpRequest, pk: int, result_pk: int) -> HttpResponse:
    """Correct one result's value, unit or draw time, with a reason (docs/rules.md §8): the
    corrected result decides from then on, the one it replaces stays in the history,
    superseded; both are audited. Offered to those who may void the result; a refusal comes
    back in place."""
    user = _user(request)
    patient = _clinic_patient(request, pk)
    result = get_object_or_404(LabResult.objects.filter(patient=patient), pk=result_pk)
    if anc_result_void_refusal(result=result, actor=user, patient=patient) is not None:
        raise PermissionDenied("You may not correct this result.")
    url = reverse("clinic-patient", args=[patient.pk])
    if result.superseded or result.status == ResultStatus.ENTERED_IN_ERROR:
        raise Http404("This result was replaced or voided; correct the current one.")
    zone = clinic_zone()
    form = forms.CorrectionForm(
        request.POST if request.method == "POST" else None,
        prefix=f"correct-{result.pk}",
        initial={
            "drawn_at": result.drawn_at.astimezone(zone).replace(tzinfo=None),
            "value": result.value.normalize(),
            "unit": result.unit,
        },
    )
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            corrected = forms.apply(
                form,
                lambda: anc_result_record(
                    patient=patient,
                    actor=user,
                    drawn_at=_aware(data["drawn_at"]),
                    value=data["value"],
                    unit=data["unit"],
                    confirm_unusual=bool(data.get("confirm_unusual")),
                    replaces=result,
                    reason=data["reason"],
                ),
            )
            if corrected is not None:
                return redirect(url)
        status = 422
    return render(
        request,
        "web/clinic_correct.html",
        {"patient": patient, "result": result, "form": form},
        status=status,
    )


@role_required(Role.PRESCRIBER)
def clinic_consult(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """The prescriber acknowledges the recommended hematology consult (its reminder stops)."""
    return _clinic_form(
        request,
        pk,
        forms.ReviewForm,
        "consult",
        lambda p, u, d: consult_acknowledge(patient=p, actor=u, note=d.get("note", "")),
        roles={Role.PRESCRIBER},
    )


@role_required(Role.PRESCRIBER)
def clinic_review(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """The prescriber has reviewed what `review_needed` lists."""
    return _clinic_form(
        request,
        pk,
        forms.ReviewForm,
        "review",
        lambda p, u, d: review_acknowledge(patient=p, actor=u, note=d.get("note", "")),
        roles={Role.PRESCRIBER},
    )


@role_required(Role.PRESCRIBER)
def clinic_step_down(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """The prescriber confirms the longer interval the schedule offers (uk-cpms)."""
    return _clinic_form(
        request,
        pk,
        forms.StepDownForm,
        "step_down",
        lambda p, u, d: step_down_confirm(
            patient=p, actor=u, frequency=d["frequency"], note=d.get("note", "")
        ),
        roles={Role.PRESCRIBER},
    )


@role_required(*CLINICIANS)
def clinic_level(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    return _clinic_form(
        request,
        pk,
        forms.LevelForm,
        "level",
        lambda p, u, d: level_result_record(
            patient=p,
            actor=u,
            sampled_at=_aware(d["sampled_at"]),
            clozapine=d["clozapine"],
            norclozapine=d.get("norclozapine"),
            unit=d["unit"],
            last_dose_at=_aware(d["last_dose_at"]) if d.get("last_dose_at") else None,
            daily_dose_mg=d.get("daily_dose_mg"),
            dose_stable_days=d.get("dose_stable_days"),
            serious_infection=bool(d.get("serious_infection")),
        ),
    )


@role_required(*CLINICIANS)
def clinic_plan(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    return _clinic_form(
        request,
        pk,
        forms.PlanEntryForm,
        "plan",
        lambda p, u, d: plan_entry_record(
            patient=p,
            actor=u,
            item=d["item"],
            done_on=d["done_on"],
            value=d.get("value") or "",
            symptoms=d.get("symptoms"),
            answers=d.get("answers") or {},
        ),
    )


@role_required(Role.PRESCRIBER, Role.DESIGNEE)
def clinic_event(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    return _clinic_form(
        request,
        pk,
        forms.TreatmentEventForm,
        "event",
        lambda p, u, d: treatment_event_record(
            patient=p,
            actor=u,
            kind=d["kind"],
            effective_date=d["effective_date"],
            reason=d["reason"],
        ),
        roles={Role.PRESCRIBER},
    )


@role_required(Role.PRESCRIBER, Role.DESIGNEE)
def clinic_authorization(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    return _clinic_form(
        request,
        pk,
        forms.AuthorizationForm,
        "authorization",
        lambda p, u, d: authorization_record(
            patient=p,
            actor=u,
            kind=d["kind"],
            rationale=d["rationale"],
            starts_on=d.get("starts_on"),
            expires_on=d["expires_on"],
        ),
        roles={Role.PRESCRIBER},
    )


# --- administrators and auditors ------------------------------------------------------------


@role_required(*OVERSEERS)
@replica_view
def oversight(request: HtmxHttpRequest) -> HttpResponse:
    """Counts an administrator checks first, and the prescriber and pharmacy directory."""
    now = timezone.now()
    today = local_date(now, clinic_zone())
    # A consult counts until the prescriber acknowledges it for its episode, as on the clinic's
    # worklist.
    acknowledged = ConsultAcknowledgement.objects.filter(
        patient_id=OuterRef("patient_id"), episode_opened_at=OuterRef("episode_opened_at")
    )
    states = MonitoringState.objects.annotate(acknowledged=Exists(acknowledged)).aggregate(
        enrolled=Count("pk", filter=Q(enrollment_status="enrolled")),
        pending=Count("pk", filter=Q(enrollment_status="pending")),
        reenrollment=Count("pk", filter=Q(enrollment_status="reenrollment_required")),
        overdue=Count(
            "pk",
            filter=Q(enrollment_status="enrolled", next_draw_due__lt=today)
            & ~Q(treatment_status="not_started"),
        ),
        confirmations=Count("pk", filter=Q(confirmation_due__isnull=False)),
        consults=Count("pk", filter=Q(hematology_consult=True, acknowledged=False)),
    )
    bands = dict(
        MonitoringState.objects.filter(enrollment_status="enrolled")
        .values_list("band")
        .annotate(n=Count("pk"))
        .values_list("band", "n")
    )
    feeds = {
        "quarantine_open": QuarantinedResult.objects.filter(status=QuarantineStatus.OPEN).count(),
        "failed_messages": FeedMessage.objects.filter(outcome=FeedMessageOutcome.FAILED).count(),
    }
    form = _range_form(request)
    if form.is_bound and not form.is_valid():
        return render(request, "web/oversight_refused.html", {"form": form}, status=400)
    window = _report_window(form, today)
    lo, hi = window.window()
    recent = Dispense.objects.filter(dispensed_at__gte=lo, dispensed_at__lte=hi).count()
    compliance = _compliance_both_ways(report_dispenses(window))
    unreviewed = report_overrides(window, reviewed=False)
    query = _query(window)
    report_links = [
        (
            title,
            reverse("oversight-report", args=[slug]) + f"?{query}",
            f"/api/v1/reports/{slug}/?{query}&format=csv",
        )
        for slug, (title, _run, _columns) in REPORTS.items()
    ]
    prescribers = list(
        Prescriber.objects.annotate(patient_count=Count("patients")).order_by("name")
    )
    pharmacies = list(Pharmacy.objects.annotate(dispense_count=Count("dispenses")).order_by("name"))
    # Certified today: from `certified_on` through the expiry (docs/rules.md §9.12).
    for prescriber in prescribers:
        prescriber.certified_today = prescriber.is_certified_on(today)  # type: ignore[attr-defined]
    for pharmacy in pharmacies:
        pharmacy.certified_today = pharmacy.is_certified_on(today)  # type: ignore[attr-defined]
    return render(
        request,
        "web/oversight.html",
        {
            "states": states,
            "bands": sorted(bands.items(), key=lambda kv: str(kv[0])),
            "feeds": feeds,
            "recent_dispenses": recent,
            "prescribers": prescribers,
            "pharmacies": pharmacies,
            "today": today,
            "window": window,
            "compliance": compliance,
            "unreviewed": unreviewed,
            "reports": report_links,
            "form": form,
            "query": query,
            "unreviewed_url": reverse("oversight-report", args=["overrides"])
            + "?"
            + _query(window, reviewed="false"),
        },
    )


# The report pages: the same report functions the API serves, as tables (CSV from the API).
REPORTS: dict[str, tuple[str, Callable[..., list[dict[str, Any]]], list[str]]] = {
    "dispenses": (
        "Dispenses and the decision in force",
        report_dispenses,
        reports.DISPENSE_COLUMNS,
    ),
    "overrides": ("Overrides and emergency supplies", report_overrides, reports.OVERRIDE_COLUMNS),
    "overdue": ("Overdue draws", reports.report_overdue, reports.OVERDUE_COLUMNS),
    "low-anc-episodes": (
        "Low-ANC episodes",
        reports.report_low_anc_episodes,
        reports.EPISODE_COLUMNS,
    ),
    "enrollment-gaps": ("Enrollment gaps", reports.report_enrollment_gaps, reports.GAP_COLUMNS),
    "compliance": ("Compliance rates", report_compliance, reports.COMPLIANCE_COLUMNS),
}


def _report_window(form: forms.ReportRangeForm, today: date) -> ReportFilter:
    data = form.cleaned_data if form.is_bound and form.is_valid() else {}
    end = data.get("end") or today
    start = data.get("start") or end - timedelta(days=30)
    return ReportFilter(start=start, end=end)


def _query(window: ReportFilter, **extra: Any) -> str:
    params = {"from": window.start.isoformat(), "to": window.end.isoformat()}
    params.update({k: v for k, v in extra.items() if v is not None})
    return urlencode(params)


@role_required(*OVERSEERS)
@replica_view
def oversight_report(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    """One report as a page, for the period asked (`from`, `to`; the API's names)."""
    if slug not in REPORTS:
        raise Http404("No such report.")
    title, run, columns = REPORTS[slug]
    today = local_date(timezone.now(), clinic_zone())
    form = _range_form(request)
    if form.is_bound and not form.is_valid():
        return render(
            request,
            "web/report.html",
            {"title": title, "slug": slug, "form": form, "rows": None, "columns": columns},
            status=400,
        )
    window = _report_window(form, today)
    reviewed = form.cleaned_data.get("reviewed") if form.is_bound else None
    if slug == "overrides":
        rows = report_overrides(window, reviewed=reviewed)
    elif slug == "overdue":
        rows = reports.report_overdue(window, now=timezone.now())
    else:
        rows = run(window)
    query = _query(window, reviewed=None if reviewed is None else str(reviewed).lower())
    return render(
        request,
        "web/report.html",
        {
            "title": title,
            "slug": slug,
            "form": form,
            "window": window,
            "columns": [c.replace("_", " ") for c in columns],
            "rows": [
                {
                    "cells": [(c.replace("_", " "), _cell(row.get(c))) for c in columns],
                    "dispense_id": row.get("dispense_id"),
                    "reviewed": row.get("reviewed"),
                }
                for row in rows
            ],
            "csv_url": f"/api/v1/reports/{slug}/?{query}&format=csv",
            "can_review": slug == "overrides" and _user(request).is_admin,
        },
    )


def _cell(value: Any) -> str:
    """A report's value as the page shows it: dates in clinic time, lists joined, codes in
    words."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return f"{value.astimezone(clinic_zone()):%Y-%m-%d %H:%M}"
    if isinstance(value, list | tuple):
        return ", ".join(words(v) for v in value) or "—"
    if isinstance(value, str):
        return words(value)
    return str(value)


def _range_form(request: HttpRequest) -> forms.ReportRangeForm:
    """The period from the query (`from`/`to`, as the API names them); unknown keys refused."""
    if not request.GET:
        return forms.ReportRangeForm()
    known = {"from", "to", "reviewed"}
    data = {
        "start": request.GET.get("from", ""),
        "end": request.GET.get("to", ""),
        "reviewed": request.GET.get("reviewed", ""),
    }
    form = forms.ReportRangeForm(data)
    unknown = sorted(set(request.GET) - known)
    if unknown:
        form.is_valid()
        form.add_error(None, f"Unknown filter: {', '.join(unknown)} (known: from, to, reviewed).")
    return form


def _compliance_both_ways(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per pharmacy and per prescriber, the share of dispenses with an acceptable ANC two ways,
    side by side: as known at the time (the decision stored with the dispense allowed it; an
    emergency supply never did) and in hindsight (the report's re-evaluation with every result
    recorded since, drawn before the dispense). A result entered late moves only the second."""
    groups: dict[tuple[str, int], dict[str, Any]] = {}
    for row in rows:
        then = row["stored_decision"] == "allowed" and not row["emergency_reason"]
        for group, key, name in (
            ("pharmacy", row["pharmacy_id"], row["pharmacy"]),
            ("prescriber", row["prescriber_id"], row["prescriber"]),
        ):
            g = groups.setdefault(
                (group, key),
                {
                    "group": group,
                    "name": name,
                    "dispenses": 0,
                    "known_then": 0,
                    "hindsight": 0,
                    "emergency_supplies": 0,
                    "disagreements": 0,
                },
            )
            g["dispenses"] += 1
            g["known_then"] += int(then)
            g["hindsight"] += int(bool(row["acceptable_anc"]))
            g["emergency_supplies"] += int(bool(row["emergency_reason"]))
            g["disagreements"] += int(bool(row["disagrees"]))
    return [groups[k] for k in sorted(groups)]


# What each oversight counter lists (the same filters as its count).
PATIENT_FILTERS: dict[str, tuple[str, Callable[[date], Q]]] = {
    "enrolled": ("Enrolled", lambda today: Q(monitoring__enrollment_status="enrolled")),
    "pending": ("Enrollment pending", lambda today: Q(monitoring__enrollment_status="pending")),
    "reenrollment": (
        "Re-enrollment needed",
        lambda today: Q(monitoring__enrollment_status="reenrollment_required"),
    ),
    "overdue": (
        "Draw overdue",
        lambda today: (
            Q(monitoring__enrollment_status="enrolled", monitoring__next_draw_due__lt=today)
            & ~Q(monitoring__treatment_status="not_started")
        ),
    ),
    "confirmation": (
        "Repeat of a first low result pending",
        lambda today: Q(monitoring__confirmation_due__isnull=False),
    ),
    "consult": (
        "Specialist consult not yet acknowledged",
        lambda today: Q(monitoring__hematology_consult=True, consult_acknowledged=False),
    ),
}


# The lab-feed lists behind the oversight page's two feed counters (GET `show`).
FEED_LISTS = {
    "quarantine": "Lab results held in quarantine",
    "failed": "Lab messages that failed",
}
FEED_LIST_LIMIT = 200


@role_required(*OVERSEERS)
@replica_view
def oversight_feeds(request: HtmxHttpRequest) -> HttpResponse:
    """The open quarantine entries, or the failed lab messages, newest first, for an
    administrator or an auditor (read only: resolving them is the administrator's, in the
    admin). No names or birth dates from the messages: a matched patient is a link to the
    audited timeline."""
    show = request.GET.get("show", "quarantine")
    unknown = sorted(set(request.GET) - {"show"})
    if unknown or show not in FEED_LISTS:
        problem = (
            f"Unknown filter: {', '.join(unknown)} (known: show)."
            if unknown
            else f"show: one of {', '.join(FEED_LISTS)}, not {show!r}."
        )
        return render(
            request,
            "web/oversight_feeds.html",
            {"problem": problem, "lists": FEED_LISTS, "show": None},
            status=400,
        )
    rows: list[QuarantinedResult] | list[FeedMessage]
    if show == "quarantine":
        held = QuarantinedResult.objects.filter(status=QuarantineStatus.OPEN)
        total = held.count()
        rows = list(
            held.select_related("message")
            .only(
                "id",
                "reason",
                "lab",
                "analyte",
                "drawn_at",
                "patient_id",
                "message__channel",
                "message__received_at",
            )
            .order_by("-message__received_at", "-id")[:FEED_LIST_LIMIT]
        )
    else:
        failed = FeedMessage.objects.filter(outcome=FeedMessageOutcome.FAILED)
        total = failed.count()
        rows = list(
            failed.only("id", "channel", "lab", "control_id", "received_at", "attempts").order_by(
                "-received_at", "-id"
            )[:FEED_LIST_LIMIT]
        )
    return render(
        request,
        "web/oversight_feeds.html",
        {
            "show": show,
            "title": FEED_LISTS[show],
            "lists": FEED_LISTS,
            "rows": rows,
            "total": total,
            "limit": FEED_LIST_LIMIT,
        },
    )


@role_required(*OVERSEERS)
@replica_view
def oversight_patients(request: HtmxHttpRequest) -> HttpResponse:
    """Patients by name (prefix) and date of birth, or those behind one oversight counter.
    Unknown filters are refused (400) naming what is known. The search is audited."""
    user = _user(request)
    today = local_date(timezone.now(), clinic_zone())
    form = forms.OversightSearchForm(request.GET or None, needs=PATIENT_FILTERS)
    unknown = sorted(set(request.GET) - set(form.fields))
    if unknown:
        form.is_valid()
        form.add_error(None, f"Unknown filter: {', '.join(unknown)}.")
    found = None
    status = 200
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        acknowledged = ConsultAcknowledgement.objects.filter(
            patient_id=OuterRef("pk"), episode_opened_at=OuterRef("monitoring__episode_opened_at")
        )
        patients = (
            patient_list_visible(user=user)
            .annotate(consult_acknowledged=Exists(acknowledged))
            .order_by("last_name", "first_name", "pk")
        )
        if data.get("need"):
            patients = patients.filter(PATIENT_FILTERS[data["need"]][1](today))
        if (data.get("name") or "").strip():
            patients = patients.filter(last_name__istartswith=data["name"].strip())
        if data.get("date_of_birth"):
            patients = patients.filter(date_of_birth=data["date_of_birth"])
        found = list(patients[:200])
        ids = [p.pk for p in found]
        audit_record(
            action=Action.PATIENT_LOOKUP,
            actor=user,
            object_type="patient",
            object_id=ids[0] if len(ids) == 1 else "",
            patient_id=ids[0] if len(ids) == 1 else None,
            output={"patient_ids": ids},
            inputs={
                "last_name": (data.get("name") or "").strip(),
                "date_of_birth": data.get("date_of_birth"),
                "need": data.get("need") or "",
                "page": "oversight",
            },
        )
    elif form.is_bound:
        status = 400
    return render(
        request,
        "web/oversight_patients.html",
        {"form": form, "found": found, "needs": PATIENT_FILTERS},
        status=status,
    )


@role_required(Role.ADMIN)
def oversight_review(request: HtmxHttpRequest, dispense_pk: int) -> HttpResponse:
    """An administrator marks one emergency supply reviewed (the service checks the role and
    that it is one, once)."""
    dispense = get_object_or_404(Dispense.objects.exclude(emergency_reason=""), pk=dispense_pk)
    back = reverse("oversight-report", args=["overrides"]) + "?reviewed=false"
    if request.method != "POST":
        return redirect(back)
    form = forms.ReviewForm(request.POST)
    if form.is_valid():
        done = forms.apply(
            form,
            lambda: emergency_supply_review(
                dispense=dispense, actor=_user(request), note=form.cleaned_data.get("note", "")
            ),
        )
        if done is not None:
            return redirect(back)
    return render(
        request, "web/review_refused.html", {"form": form, "dispense": dispense}, status=409
    )


@role_required(*OVERSEERS)
def oversight_timeline(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """One patient's record in time order, printable: results, treatment events,
    authorizations, dispenses (with the decision stored with each) and emergency supplies.
    Reading it is audited."""
    user = _user(request)
    patient = get_object_or_404(patient_list_visible(user=user), pk=pk)
    patient_read_audit(actor=user, patient_id=patient.pk, what="timeline")
    zone = clinic_zone()
    entries: list[dict[str, Any]] = []
    for r in LabResult.objects.filter(patient=patient).order_by("drawn_at", "id"):
        entries.append(
            {
                "at": r.drawn_at.astimezone(zone),
                "kind": "result",
                "what": f"{r.analyte.upper()} {r.value_per_ul}/µL ({words(r.source)}, "
                f"{words(r.status)}{', replaced' if r.superseded else ''})"
                + (f": {r.void_reason}" if r.void_reason else ""),
            }
        )
    for e in patient.treatment_events.order_by("effective_date", "id"):
        entries.append(
            {
                "at": datetime.combine(e.effective_date, datetime.min.time(), zone),
                "kind": "event",
                "what": f"Treatment {words(e.kind)}: {e.reason}",
            }
        )
    for a in patient.authorizations.order_by("starts_on", "id"):
        entries.append(
            {
                "at": datetime.combine(a.starts_on, datetime.min.time(), zone),
                "kind": "authorization",
                "what": f"{a.kind} authorization to {a.expires_on:%Y-%m-%d}: {a.rationale}",
            }
        )
    for d in Dispense.objects.filter(patient=patient).select_related("pharmacy", "reviewed_by"):
        stored = dispense_verdict(d)
        kind = "emergency supply" if d.emergency_reason else "dispense"
        what = f"{forms.days(d.days_supply)} at {d.pharmacy.name} ({d.authorization_code}); "
        what += f"decision then: {words(stored.decision or '')}"
        if d.emergency_reason:
            what += f"; reason {words(d.emergency_reason)}"
            what += f"; reviewed by {d.reviewed_by.username}" if d.reviewed_by else "; not reviewed"
        entries.append({"at": d.dispensed_at.astimezone(zone), "kind": kind, "what": what})
    entries.sort(key=lambda e: e["at"])
    return render(
        request,
        "web/timeline.html",
        {
            "patient": patient,
            "entries": entries,
            "monitoring": decision_payload(patient.pk, patient_monitoring(patient=patient)),
        },
    )


# --- everyone's inbox ------------------------------------------------------------------------

INBOX_ROLES = (Role.PRESCRIBER, Role.DESIGNEE, Role.PHARMACIST, Role.AUDITOR)


@role_required(*INBOX_ROLES)
def inbox(request: HtmxHttpRequest) -> HttpResponse:
    """My reminders, unread first marked; each links to its patient where there is one."""
    user = _user(request)
    items = list(inbox_of(user).select_related("patient")[:100])
    return render(request, "web/inbox.html", {"items": items})


@role_required(*INBOX_ROLES)
def inbox_read(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    # Any of mine (as the API's read), delivered or not yet.
    item = get_object_or_404(
        Notification.objects.filter(recipient=user, channel=Channel.IN_APP), pk=pk
    )
    if request.method == "POST":
        notification_mark_read(notification=item, user=user)
    return redirect("inbox")


@role_required(*OVERSEERS)
def audit_trail(request: HtmxHttpRequest) -> HttpResponse:
    """The audit trail, newest first, filtered; unknown filters and values refused (400). With
    `verify=1`, the whole chain is checked (audit_chain_verify) and the result shown."""
    form = forms.AuditTrailForm({k: v for k, v in request.GET.items() if k != "verify"} or None)
    known = set(form.fields) | {"verify", "page"}
    unknown = sorted(set(request.GET) - known)
    if unknown:
        form.is_valid()
        form.add_error(None, f"Unknown filter: {', '.join(unknown)}.")
    if form.is_bound and not form.is_valid():
        return render(request, "web/audit_trail.html", {"form": form, "entries": None}, status=400)
    entries = AuditEntry.objects.order_by("-id")
    data = form.cleaned_data if form.is_bound else {}
    zone = clinic_zone()
    if data.get("action"):
        entries = entries.filter(action=data["action"])
    if data.get("outcome"):
        entries = entries.filter(outcome=data["outcome"])
    if data.get("patient"):
        entries = entries.filter(patient_id=data["patient"])
    if (data.get("actor") or "").strip():
        entries = entries.filter(actor_username=data["actor"].strip())
    if data.get("since"):
        entries = entries.filter(created_at__gte=datetime.combine(data["since"], time.min, zone))
    if data.get("until"):
        entries = entries.filter(created_at__lte=datetime.combine(data["until"], time.max, zone))
    chain = audit_chain_verify() if request.GET.get("verify") == "1" else None
    return render(
        request,
        "web/audit_trail.html",
        {"form": form, "entries": list(entries[:200]), "chain": chain},
    )


# --- batch entry of results (several patients at once) ----------------------------------------

BATCH_ROWS = 10
CSV_COLUMNS = {"drawn_at", "value", "unit"}


def _batch_forms(
    data: dict[str, Any] | None, patients: list[tuple[int, str]], count: int = BATCH_ROWS
) -> list[forms.BatchRowForm]:
    return [forms.BatchRowForm(data, prefix=f"row-{i}", patients=patients) for i in range(count)]


def _rows_from_csv(text: str, mine: dict[int, Patient]) -> tuple[dict[str, str], int, list[str]]:
    """A CSV as the grid's POST data (the preview): each row's patient found among mine by id,
    or by last name and date of birth. A row that names none of mine stays in the grid with the
    name and date it gave (filed, it is held in the quarantine); the file's own problems (its
    header) are said."""
    import csv
    import io

    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = {(h or "").strip().lower() for h in reader.fieldnames or []}
    problems = []
    missing = CSV_COLUMNS - header
    if missing or not ({"patient_id"} <= header or {"last_name", "date_of_birth"} <= header):
        need = ", ".join(sorted(missing)) or "patient_id, or last_name and date_of_birth"
        return {}, 0, [f"The header lacks {need}."]
    data: dict[str, str] = {}
    count = 0
    for line, raw in enumerate(reader, start=2):
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items()}
        if not any(row.values()):
            continue
        patient: Patient | None = None
        if row.get("patient_id", "").isdigit():
            patient = mine.get(int(row["patient_id"]))
        elif row.get("last_name") and row.get("date_of_birth"):
            matches = [
                p
                for p in mine.values()
                if p.last_name.lower() == row["last_name"].lower()
                and p.date_of_birth.isoformat() == row["date_of_birth"]
            ]
            patient = matches[0] if len(matches) == 1 else None
        if patient is None:
            problems.append(
                f"Line {line}: no patient of yours matches; filed, the row is held in the "
                "quarantine for an administrator."
            )
        prefix = f"row-{count}"
        data[f"{prefix}-patient"] = str(patient.pk) if patient else ""
        data[f"{prefix}-last_name"] = row.get("last_name", "") or (
            f"patient id {row['patient_id']}" if row.get("patient_id") and not patient else ""
        )
        data[f"{prefix}-date_of_birth"] = row.get("date_of_birth", "")
        data[f"{prefix}-drawn_at"] = row.get("drawn_at", "").replace(" ", "T")[:16]
        data[f"{prefix}-value"] = row.get("value", "")
        data[f"{prefix}-unit"] = row.get("unit", "")
        count += 1
    return data, count, problems


@role_required(*CLINICIANS)
def clinic_batch(request: HtmxHttpRequest) -> HttpResponse:
    """Results for several patients at once: typed into a grid, or a CSV read into the grid to
    check first (the preview, which writes nothing). Filing sends the rows, as they stand,
    through the feed path as one kept CSV message (feeds/clinic_batch.py): each row
    is filed, held in the quarantine (no patient of mine, a value or unit that cannot be read)
    or refused by the manual-entry rules (it stays in the grid with the rule beside it)."""
    user = _user(request)
    mine = {p.pk: p for p in patient_list_visible(user=user).order_by("last_name", "first_name")}
    choices = [
        (p.pk, f"{p.last_name}, {p.first_name} (born {p.date_of_birth:%Y-%m-%d})")
        for p in mine.values()
    ]
    problems: list[str] = []
    outcomes: list[RowOutcome] = []
    message: FeedMessage | None = None
    upload = forms.BatchUploadForm()
    status = 200
    batch_count = BATCH_ROWS
    if request.method == "POST" and request.POST.get("action") == "preview":
        upload = forms.BatchUploadForm(request.POST, request.FILES)
        rows = _batch_forms(None, choices)
        if upload.is_valid():
            raw = upload.cleaned_data["file"].read()
            try:
                text = raw.decode("utf-8-sig")
            except UnicodeDecodeError:
                upload.add_error("file", "The file is not UTF-8 text.")
            else:
                data, count, problems = _rows_from_csv(text, mine)
                if data:
                    batch_count = max(count, 1)
                    rows = _batch_forms(data, choices, batch_count)
                    for form in rows:
                        form.is_valid()
        if not upload.is_valid():
            status = 400
    elif request.method == "POST":
        try:
            count = max(1, min(int(request.POST.get("rows") or BATCH_ROWS), 200))
        except ValueError:
            count = BATCH_ROWS
        filled = [f for f in _batch_forms(request.POST, choices, count) if not f.blank]
        rows = _batch_forms(None, choices)
        if filled:
            filed = clinic_batch_file(
                rows=[_batch_row(form) for form in filled], actor=user, mine=mine
            )
            message, outcomes = filed.message, filed.rows
            # A refused row stays in the grid, the rule beside it, to be fixed and filed again.
            kept = []
            for form, outcome in zip(filled, outcomes, strict=True):
                if outcome.outcome == "refused":
                    form.is_valid()
                    target = outcome.field if outcome.field in form.fields else None
                    form.add_error(target, outcome.detail)
                    kept.append(form)
            if kept:
                rows = kept
            if not all(o.filed for o in outcomes):
                status = 422
        batch_count = count
    else:
        rows = _batch_forms(None, choices)
    return render(
        request,
        "web/clinic_batch.html",
        {
            "rows": rows,
            "upload": upload,
            "problems": problems,
            "outcomes": outcomes,
            "message": message,
            "saved": sum(1 for o in outcomes if o.filed),
            "count": batch_count,
            "units": [u for u, _ in forms.UNITS],
        },
        status=status,
    )


def _batch_row(form: forms.BatchRowForm) -> BatchRow:
    """The row as typed (its text, not the preview's reading of it) for the feed path."""
    drawn = form.raw("drawn_at")
    patient = form.raw("patient")
    return BatchRow(
        patient_id=int(patient) if patient.isdigit() else None,
        drawn_at=drawn,
        value=form.raw("value"),
        unit=form.raw("unit"),
        last_name=form.raw("last_name"),
        date_of_birth=form.raw("date_of_birth"),
        confirm_unusual=form.raw("confirm_unusual") in ("on", "true", "1"),
    )
