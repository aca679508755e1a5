"""Forms of the pages. They check shapes (a date is a date); the services check the rules, and
their refusals are shown in place by `apply`."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from django import forms

from clozrems.errors import FieldInvalid, RuleRefused, StateConflict
from monitoring.units import UNIT_FACTORS, canonical_unit

T = TypeVar("T")

DATE = forms.DateInput(attrs={"type": "date"})
UNIT_CHOICES = ("/uL", "cells/uL", "10*3/uL", "10*9/L", "K/uL", "/mm3")
DATETIME = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


def apply(form: forms.Form, action: Callable[[], T]) -> T | None:
    """Run a service; its refusal becomes the form's error (on the field it names, or on the
    form with every reason), so the page shows the rule where the user typed."""
    try:
        return action()
    except FieldInvalid as error:
        # "answers.qtc_ms" belongs to the form's "answers" field, named in the message.
        field = error.field.split(".")[0]
        target = field if field in form.fields else None
        message = error.message if field == error.field else f"{error.field}: {error.message}"
        form.add_error(target, message)
    except RuleRefused as error:
        reasons = [error.reason_text(r) for r in error.reasons]
        form.add_error(None, " ".join([error.message, *reasons]))
    except StateConflict as error:
        form.add_error(None, error.message)
    return None


class PatientSearchForm(forms.Form):
    last_name = forms.CharField(
        required=False,
        max_length=100,
        widget=forms.TextInput(attrs={"autofocus": True, "autocomplete": "off"}),
        help_text="The start of the name is enough",
    )
    date_of_birth = forms.DateField(required=False, widget=DATE)
    patient_id = forms.IntegerField(required=False, min_value=1, label="Or patient id")

    def clean(self) -> dict[str, Any]:
        # A patient is found by its date of birth with the last name or the id, never by an id
        # alone (ids are sequential: anyone could walk through them).
        data = super().clean() or {}
        if not data.get("date_of_birth") or not (
            (data.get("last_name") or "").strip() or data.get("patient_id")
        ):
            raise forms.ValidationError(
                "Give the date of birth, with the last name or the patient id."
            )
        return data


def days(n: int) -> str:
    """ "1 day", "3 days"."""
    return f"{n} day" if n == 1 else f"{n} days"


# The usual pack sizes; the largest allowed supply is offered too when it is none of them (a
# patient with supply on hand may get 3 days, not 7).
USUAL_SUPPLIES = (7, 14, 28)


def supply_choices(max_days: int) -> list[tuple[int, str]]:
    offered = sorted({d for d in USUAL_SUPPLIES if d <= max_days} | ({max_days} - {0}))
    return [(d, days(d)) for d in offered]


class DispenseForm(forms.Form):
    days_supply = forms.TypedChoiceField(coerce=int, label="Days' supply")
    idempotency_key = forms.CharField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args: Any, max_days: int = 0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["days_supply"]
        field.choices = supply_choices(max_days)  # type: ignore[attr-defined]
        # Django's "Select a valid choice" says nothing of the rule: name it.
        field.error_messages["invalid_choice"] = (
            f"At most {days(max_days)} may be dispensed now; choose one of the days offered."
            if max_days
            else "No supply may be dispensed now."
        )


class EmergencySupplyForm(DispenseForm):
    """A short supply while the ANC is not current (the decision says when it is offered)."""

    # No reason is chosen for the pharmacist: the first option is a prompt, and an answer is
    # required.
    reason = forms.ChoiceField(
        choices=[
            ("", "Choose a reason"),
            ("lab_delay", "Lab delay"),
            ("weather", "Weather"),
            ("inpatient_leave", "Inpatient leave"),
            ("other", "Other"),
        ]
    )
    remark = forms.CharField(required=False, max_length=500, help_text="Required for Other")
    # The emergency supply goes out without a current ANC: the pharmacist says so in words.
    confirm_emergency = forms.BooleanField(
        required=True,
        label="I am dispensing an emergency supply without a current ANC",
        error_messages={"required": "Tick the box to confirm the emergency supply."},
    )
    # For a patient with no supply recorded here (the decision says when it is asked).
    last_dose_confirmed = forms.BooleanField(
        required=False, label="The patient's last dose was taken within the last 48 hours"
    )

    def __init__(self, *args: Any, max_days: int = 0, **kwargs: Any) -> None:
        super().__init__(*args, max_days=max_days, **kwargs)
        self.fields["days_supply"].choices = [  # type: ignore[attr-defined]
            (d, days(d)) for d in range(1, max_days + 1)
        ]


class EnrollForm(forms.Form):
    effective_date = forms.DateField(required=False, widget=DATE, help_text="Default: today")


class AncResultForm(forms.Form):
    analyte = forms.ChoiceField(
        choices=[("anc", "Neutrophils (ANC)"), ("wbc", "White cells (WBC)")],
        initial="anc",
        required=False,
        label="Count",
        help_text="WBC is read by protocols that use it (uk-cpms)",
    )
    drawn_at = forms.DateTimeField(widget=DATETIME, label="Drawn at (clinic time)")
    value = forms.DecimalField(max_digits=14, decimal_places=4)
    unit = forms.ChoiceField(choices=[(u, u) for u in UNIT_CHOICES])
    accession = forms.CharField(required=False, max_length=100)
    # Shown once the service holds a count back as unusual (docs/rules.md §8); ticking it stores
    # the count as typed.
    confirm_unusual = forms.BooleanField(
        required=False, label="I have checked this value and its unit: store it"
    )


class VoidForm(forms.Form):
    """Mark one result entered in error; offered only to those who may (the service decides)."""

    reason = forms.CharField(max_length=500, label="Reason for voiding")


class CorrectionForm(forms.Form):
    """Correct one result (a wrong value, unit or draw time), with a reason; offered to those
    who may void it (a correction replaces it: the service decides)."""

    drawn_at = forms.DateTimeField(widget=DATETIME, label="Drawn at (clinic time)")
    value = forms.DecimalField(max_digits=14, decimal_places=4)
    unit = forms.ChoiceField(choices=[(u, u) for u in UNIT_CHOICES])
    reason = forms.CharField(max_length=500, label="Reason for the correction")
    confirm_unusual = forms.BooleanField(
        required=False, label="I have checked this value and its unit: store it"
    )


class StepDownForm(forms.Form):
    frequency = forms.CharField(widget=forms.HiddenInput)
    note = forms.CharField(required=False, max_length=500)


class TreatmentEventForm(forms.Form):
    kind = forms.ChoiceField(
        choices=[(k, k) for k in ("start", "interrupt", "resume", "discontinue")]
    )
    effective_date = forms.DateField(widget=DATE)
    reason = forms.CharField(max_length=500)


class AuthorizationForm(forms.Form):
    kind = forms.ChoiceField(
        choices=[("continuation", "continuation"), ("rechallenge", "rechallenge")]
    )
    rationale = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}))
    starts_on = forms.DateField(required=False, widget=DATE, help_text="Default: today")
    expires_on = forms.DateField(widget=DATE)


# --- clozapine levels and the monitoring plan (clinical/) ---------------------------------


class LevelForm(forms.Form):
    # Labels distinct from the ANC form's ("Drawn at", "Value", "Unit") on the same page.
    sampled_at = forms.DateTimeField(widget=DATETIME, label="Sampled at (clinic time)")
    clozapine = forms.DecimalField(max_digits=14, decimal_places=4, min_value=0)
    norclozapine = forms.DecimalField(max_digits=14, decimal_places=4, min_value=0, required=False)
    unit = forms.ChoiceField(
        choices=[(u, u) for u in ("ng/mL", "ug/L", "mg/L", "nmol/L", "umol/L")],
        label="Concentrations in",
    )
    last_dose_at = forms.DateTimeField(
        widget=DATETIME, required=False, label="Last dose at (clinic time)"
    )
    daily_dose_mg = forms.DecimalField(
        max_digits=7, decimal_places=2, required=False, label="Daily dose (mg)"
    )
    dose_stable_days = forms.IntegerField(min_value=0, required=False, label="Days at this dose")
    serious_infection = forms.BooleanField(required=False, label="Serious infection now")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Element ids of their own: the ANC form on the same page has `unit` and `value` too.
        kwargs.setdefault("auto_id", "level_%s")
        super().__init__(*args, **kwargs)


class PlanEntryForm(forms.Form):
    item = forms.ChoiceField(choices=[])
    done_on = forms.DateField(widget=DATE)
    value = forms.CharField(max_length=200, required=False, label="Result (optional)")
    symptoms = forms.TypedChoiceField(
        choices=[("", "—"), ("no", "no"), ("yes", "yes")],
        coerce=lambda v: v == "yes",
        empty_value=None,
        required=False,
        label="Checklist answer: symptoms, or seizures (checklists only)",
    )
    answers = forms.CharField(
        max_length=500,
        required=False,
        label="Answers (for example qtc_ms=430)",
        help_text="The check's answers, e.g. qtc_ms=430 for an ECG, or "
        "days_since_bowel_movement=1; abdominal_pain=no; laxative=yes for the bowel check.",
    )

    def clean_answers(self) -> dict[str, Any]:
        """`name=value` pairs separated by ";" or new lines; yes/no and true/false are
        answers of their own kind, anything else is passed on as typed (the service checks it
        against the item's answers)."""
        text = self.cleaned_data.get("answers") or ""
        answers: dict[str, Any] = {}
        for part in text.replace("\n", ";").split(";"):
            if not part.strip():
                continue
            name, sep, value = part.partition("=")
            if not sep or not name.strip() or not value.strip():
                raise forms.ValidationError(f"Write each answer as name=value: {part.strip()!r}.")
            word = value.strip().lower()
            bools = {"yes": True, "true": True, "no": False, "false": False}
            answers[name.strip()] = bools.get(word, value.strip())
        return answers

    def __init__(
        self, *args: Any, items: list[tuple[str, str]] | None = None, **kwargs: Any
    ) -> None:
        kwargs.setdefault("auto_id", "plan_%s")
        super().__init__(*args, **kwargs)
        from clinical.plans import DEFAULT_PLAN

        field = self.fields["item"]
        if isinstance(field, forms.ChoiceField):  # declared above
            field.choices = items or [(i.code, i.label) for i in DEFAULT_PLAN]


class CounterObservationForm(forms.Form):
    """What the pharmacist sees at the counter (clinical.services.counter_observation_record):
    each kind names the fields it needs; a missing one is refused on that field."""

    kind = forms.ChoiceField(
        choices=[
            ("last_dose_reported", "the patient's last dose"),
            ("smoking_change", "a change in smoking"),
            ("interacting_drug", "a new or stopped interacting medicine"),
            ("adherence_doubt", "doses doubtful"),
        ],
        label="What you saw",
    )
    last_dose_at = forms.DateTimeField(
        widget=DATETIME, required=False, label="Last dose taken at (clinic time)"
    )
    smoking_status = forms.ChoiceField(
        choices=[("", "—"), ("non_smoker", "stopped smoking"), ("smoker", "started smoking")],
        required=False,
        label="Smoking",
    )
    nicotine = forms.ChoiceField(
        choices=[("", "—"), ("vaping", "vaping"), ("nicotine_replacement", "nicotine replacement")],
        required=False,
        label="Instead (counts as stopping)",
    )
    drug = forms.ChoiceField(choices=[], required=False, label="Medicine")
    change = forms.ChoiceField(
        choices=[("", "—"), ("start", "started"), ("stop", "stopped")],
        required=False,
        label="Started or stopped",
    )
    effective_on = forms.DateField(widget=DATE, required=False, label="On")
    NEEDS = {
        "last_dose_reported": ("last_dose_at",),
        "smoking_change": ("smoking_status", "effective_on"),
        "interacting_drug": ("drug", "change", "effective_on"),
        "adherence_doubt": ("effective_on",),
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "counter_%s")
        super().__init__(*args, **kwargs)
        from clinical.models import InteractingDrug

        field = self.fields["drug"]
        if isinstance(field, forms.ChoiceField):  # declared above
            names = InteractingDrug.objects.filter(active=True).values_list("name", flat=True)
            field.choices = [("", "—"), *((n, n) for n in names)]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        for name in self.NEEDS.get(data.get("kind", ""), ()):
            if not data.get(name):
                self.add_error(name, f"Required for {data['kind'].replace('_', ' ')}.")
        return data


class ReportRangeForm(forms.Form):
    """The oversight page's and the report pages' period: from and to, inclusive (clinic
    dates). Unknown values are refused, naming the field; nothing is guessed."""

    start = forms.DateField(required=False, widget=DATE, label="From")
    end = forms.DateField(required=False, widget=DATE, label="To")
    reviewed = forms.TypedChoiceField(
        choices=[("", "all"), ("false", "not reviewed"), ("true", "reviewed")],
        coerce=lambda v: v == "true",
        empty_value=None,
        required=False,
        label="Review",
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("start"), data.get("end")
        if start and end and start > end:
            self.add_error("start", "The period starts after it ends ('From' is after 'To').")
        return data


class ReviewForm(forms.Form):
    """An administrator's review of one emergency supply."""

    note = forms.CharField(required=False, max_length=500, label="Review note")


class OversightSearchForm(forms.Form):
    """An administrator's or auditor's patient search: a last-name prefix, a date of birth, or
    the patients behind one oversight counter."""

    name = forms.CharField(required=False, max_length=100, label="Last name starts with")
    date_of_birth = forms.DateField(required=False, widget=DATE)
    need = forms.ChoiceField(required=False, choices=[], label="Counter")

    def __init__(self, *args: Any, needs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["need"]
        if isinstance(field, forms.ChoiceField):
            field.choices = [("", "any")] + [(k, v[0]) for k, v in (needs or {}).items()]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not ((data.get("name") or "").strip() or data.get("date_of_birth") or data.get("need")):
            raise forms.ValidationError("Give a last name, a date of birth or a counter.")
        return data


class NewPatientForm(forms.Form):
    """A prescriber's new patient (the service checks the rules: a birth date not in the
    future, a known protocol)."""

    first_name = forms.CharField(max_length=100)
    last_name = forms.CharField(max_length=100)
    date_of_birth = forms.DateField(widget=DATE)
    sex = forms.ChoiceField(
        choices=[
            ("", "Choose"),
            ("female", "female"),
            ("male", "male"),
            ("other", "other"),
            ("unknown", "unknown"),
        ]
    )
    population = forms.ChoiceField(
        choices=[
            ("general", "general population"),
            ("ben", "benign ethnic neutropenia (BEN), documented by me"),
        ],
        initial="general",
    )


class ClinicListForm(forms.Form):
    """My patients: a last-name prefix, one need, an order."""

    q = forms.CharField(required=False, max_length=100, label="Last name starts with")
    need = forms.ChoiceField(required=False, choices=[], label="Needs")
    sort = forms.ChoiceField(
        required=False,
        choices=[
            ("urgency", "most urgent first"),
            ("name", "name"),
            ("next_draw", "next draw due"),
            ("supply", "supply runs out"),
        ],
        label="Order",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        from web.selectors import URGENCY

        field = self.fields["need"]
        if isinstance(field, forms.ChoiceField):
            field.choices = [("", "any"), *URGENCY]


class AuditTrailForm(forms.Form):
    """The audit trail's filters; a value the trail cannot have is refused, naming the field."""

    action = forms.ChoiceField(required=False, choices=[], label="Action")
    outcome = forms.ChoiceField(required=False, choices=[], label="Outcome")
    patient = forms.IntegerField(required=False, min_value=1, label="Patient id")
    actor = forms.CharField(required=False, max_length=150, label="Who (username)")
    since = forms.DateField(required=False, widget=DATE, label="From")
    until = forms.DateField(required=False, widget=DATE, label="To")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        from audit.models import Action, Outcome

        for name, choices in (("action", Action.choices), ("outcome", Outcome.choices)):
            field = self.fields[name]
            if isinstance(field, forms.ChoiceField):
                field.choices = [("", "any"), *choices]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("since") and data.get("until") and data["since"] > data["until"]:
            self.add_error("since", "The period starts after it ends ('From' is after 'To').")
        return data


# --- batch entry of results -----------------------------------------------------------------

UNITS = [(u, u) for u in UNIT_CHOICES]


class BatchRowForm(forms.Form):
    """One result of a batch: a patient of mine, when drawn, the count and its unit. A row left
    wholly blank is skipped. The checks here are the preview's; filing sends each row, as typed,
    through the feed path (feeds/clinic_batch.py), which holds in the quarantine
    what it cannot match or read. So the value and unit are text (a bad one survives to be
    kept), and a CSV row that names none of my patients keeps its name and birth date."""

    patient = forms.TypedChoiceField(coerce=int, choices=[], required=False)
    drawn_at = forms.DateTimeField(widget=DATETIME, required=False, label="Drawn at")
    value = forms.CharField(
        max_length=50, required=False, widget=forms.TextInput(attrs={"inputmode": "decimal"})
    )
    unit = forms.CharField(
        max_length=20,
        required=False,
        initial="10*3/uL",
        widget=forms.TextInput(attrs={"list": "batch-units", "autocomplete": "off"}),
    )
    confirm_unusual = forms.BooleanField(required=False, label="Checked: store as typed")
    last_name = forms.CharField(max_length=100, required=False, widget=forms.HiddenInput)
    date_of_birth = forms.CharField(max_length=20, required=False, widget=forms.HiddenInput)

    def __init__(
        self, *args: Any, patients: list[tuple[int, str]] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["patient"]
        if isinstance(field, forms.ChoiceField):
            field.choices = [("", "—"), *(patients or [])]

    def raw(self, name: str) -> str:
        """The field as posted (what the feed path is sent), checked or not."""
        if not self.is_bound:
            return ""
        return str(self.data.get(self.add_prefix(name)) or "").strip()

    @property
    def blank(self) -> bool:
        return not any(self.raw(k) for k in ("patient", "drawn_at", "value", "last_name"))

    def clean_value(self) -> str:
        value = str(self.cleaned_data.get("value") or "").strip()
        if value:
            try:
                Decimal(value)
            except InvalidOperation:
                raise forms.ValidationError(
                    "Not a number; filed as it is, the row is held in the quarantine."
                ) from None
        return value

    def clean_unit(self) -> str:
        unit = str(self.cleaned_data.get("unit") or "").strip()
        if unit and canonical_unit(unit) not in UNIT_FACTORS:
            raise forms.ValidationError(
                f"Unknown unit {unit}; filed as it is, the row is held in the quarantine."
            )
        return unit

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not self.blank:
            if data.get("patient") in (None, "") and self.raw("last_name"):
                self.add_error(
                    "patient",
                    f"No patient of yours is {self.raw('last_name')}, born "
                    f"{self.raw('date_of_birth') or 'unknown'}: filed as it is, the row is held "
                    "in the quarantine.",
                )
            for name in ("patient", "drawn_at", "value", "unit"):
                if data.get(name) in (None, "") and name not in self.errors:
                    self.add_error(name, "Required in a row that is filled in.")
        return data


class BatchUploadForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        help_text="Columns: patient_id or last_name and date_of_birth; drawn_at; value; unit",
    )
