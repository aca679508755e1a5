"""Admin pages for the feeds: the quarantine (resolve or dismiss through the services), the kept
messages (read-only), and the local-code table administrators edit."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from clozrems.errors import FieldInvalid, RuleRefused, StateConflict
from feeds.codes import LOINC_ANALYTES, MAPPED_ONLY_ANALYTES
from feeds.models import (
    FeedBatch,
    FeedMessage,
    LabAccount,
    LabCertificate,
    LabCodeMapping,
    QuarantinedResult,
)
from feeds.services import (
    lab_account_save,
    lab_certificate_save,
    lab_code_mapping_remove,
    lab_code_mapping_save,
    quarantine_dismiss,
    quarantine_resolve,
)
from patients.models import Patient


class QuarantineForm(forms.ModelForm):
    """File the held result on a patient (optionally with the unit, draw time or status the lab
    got wrong), or dismiss it with a reason. The service does the work; its refusal is shown."""

    resolve_patient = forms.ModelChoiceField(
        queryset=Patient.objects.all(), required=False, label="File on patient"
    )
    resolve_unit = forms.CharField(required=False, max_length=20, label="Unit (if wrong)")
    resolve_drawn_at = forms.DateTimeField(required=False, label="Draw time (if missing)")
    resolve_status = forms.ChoiceField(
        required=False,
        choices=[("", "-"), ("final", "final"), ("corrected", "corrected")],
        label="Status (if unknown)",
    )
    dismiss_reason = forms.CharField(required=False, max_length=500, label="Or dismiss, because")

    class Meta:
        model = QuarantinedResult
        fields: list[str] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.request: HttpRequest | None = kwargs.pop("request", None)
        super().__init__(*args, **kwargs)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        entry = self.instance
        actor: Any = getattr(self.request, "user", None)
        wants_resolution = any(
            data.get(k) for k in ("resolve_patient", "resolve_unit", "resolve_drawn_at")
        ) or (data.get("resolve_status") and not data.get("dismiss_reason"))
        try:
            if data.get("dismiss_reason"):
                quarantine_dismiss(entry=entry, actor=actor, reason=data["dismiss_reason"])
            elif wants_resolution or entry.patient_id:
                quarantine_resolve(
                    entry=entry,
                    actor=actor,
                    patient=data.get("resolve_patient"),
                    unit=data.get("resolve_unit") or None,
                    drawn_at=data.get("resolve_drawn_at"),
                    result_status=data.get("resolve_status") or None,
                    note="resolved in the admin",
                )
        except FieldInvalid as error:
            raise forms.ValidationError(f"{error.field}: {error.message}") from None
        except (StateConflict, RuleRefused) as error:
            raise forms.ValidationError(error.message) from None
        entry.refresh_from_db()
        return data


@admin.register(QuarantinedResult)
class QuarantinedResultAdmin(admin.ModelAdmin):
    form = QuarantineForm
    list_display = ("created_at", "reason", "lab", "accession", "value", "unit", "status")
    list_filter = ("status", "reason", "lab")
    search_fields = ("accession", "last_name", "detail")
    readonly_fields = [f.name for f in QuarantinedResult._meta.fields if f.name not in ("id",)]
    fieldsets = [
        (
            "Held result",
            {
                "fields": [
                    "reason",
                    "detail",
                    "status",
                    "lab",
                    "accession",
                    "value",
                    "unit",
                    "drawn_at",
                    "result_status",
                    "derivation",
                    "patient_identifiers",
                    "last_name",
                    "date_of_birth",
                    "patient",
                    "message",
                ]
            },
        ),
        (
            "Resolve",
            {
                "fields": [
                    "resolve_patient",
                    "resolve_unit",
                    "resolve_drawn_at",
                    "resolve_status",
                    "dismiss_reason",
                ]
            },
        ),
        ("Outcome", {"fields": ["result", "resolution_note", "resolved_by", "resolved_at"]}),
    ]

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        form = super().get_form(request, obj, change, **kwargs)

        class WithRequest(form):  # type: ignore[valid-type,misc]
            def __init__(self, *args: Any, **inner: Any) -> None:
                super().__init__(*args, request=request, **inner)

        return WithRequest

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        """The form's clean() already called the service; nothing else is written."""


@admin.register(FeedMessage)
class FeedMessageAdmin(admin.ModelAdmin):
    list_display = ("received_at", "channel", "lab", "control_id", "outcome", "ack_code")
    list_filter = ("channel", "outcome", "lab")
    search_fields = ("control_id", "raw")
    readonly_fields = [f.name for f in FeedMessage._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class LabCodeMappingForm(forms.ModelForm):
    """A local code's LOINC, or (for one lab) the meaning `segmented_neutrophil_percent`,
    which counts only once confirmed; the service checks both and audits the change."""

    analyte = forms.ChoiceField(
        required=False,
        choices=[("", "- (the LOINC code says)"), *[(a, a) for a in sorted(MAPPED_ONLY_ANALYTES)]],
    )
    confirmed = forms.BooleanField(
        required=False,
        label="I confirm: this lab's code is segmented neutrophils per 100 leukocytes, and the "
        "lab reports band neutrophils separately",
    )

    class Meta:
        model = LabCodeMapping
        fields = ["lab", "local_code", "loinc", "analyte", "description"]

    def clean(self) -> dict[str, Any]:
        """The service's checks, as form errors (its refusal at save time would be a 500)."""
        data = super().clean() or {}
        loinc = str(data.get("loinc") or "").strip()
        if loinc:
            if loinc not in LOINC_ANALYTES:
                known = ", ".join(LOINC_ANALYTES)
                self.add_error("loinc", f"Map to one of the LOINC codes the rules read: {known}.")
            elif data.get("analyte"):
                self.add_error("analyte", f"LOINC {loinc} already says what it counts.")
        elif not data.get("analyte"):
            self.add_error("loinc", "Give the LOINC code, or an analyte without one.")
        else:
            if not str(data.get("lab") or "").strip():
                self.add_error("lab", "A mapping by meaning is for one lab: name the lab.")
            if not data.get("confirmed"):
                self.add_error("confirmed", "Confirm what the code counts.")
        return data


@admin.register(LabCodeMapping)
class LabCodeMappingAdmin(admin.ModelAdmin):
    """Saves and deletes go through the audited service."""

    form = LabCodeMappingForm
    list_display = ("lab", "local_code", "loinc", "description")
    search_fields = ("lab", "local_code", "loinc")
    actions = None

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        actor: Any = request.user
        lab_code_mapping_save(
            mapping=obj,
            actor=actor,
            created=not change,
            confirmed=bool(form.cleaned_data.get("confirmed")),
        )

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        actor: Any = request.user
        lab_code_mapping_remove(mapping=obj, actor=actor)


class _ServiceForm(forms.ModelForm):
    """A form whose save is the audited service's: it runs once the instance is built and
    valid, and its refusal is shown on the form. The admin's own save then writes nothing."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.request: HttpRequest | None = kwargs.pop("request", None)
        super().__init__(*args, **kwargs)

    def _post_clean(self) -> None:
        super()._post_clean()  # type: ignore[misc]
        if self.errors:
            return
        actor: Any = getattr(self.request, "user", None)
        try:
            self.save_through_service(actor)
        except FieldInvalid as error:
            field = error.field if error.field in self.fields else None
            self.add_error(field, error.message)
        except StateConflict as error:
            self.add_error(None, error.message)

    def save_through_service(self, actor: Any) -> None:  # pragma: no cover - overridden
        raise NotImplementedError


class LabAccountForm(_ServiceForm):
    class Meta:
        model = LabAccount
        fields = ["user", "lab", "allow_demographic_match", "allowed_networks"]

    def save_through_service(self, actor: Any) -> None:
        lab_account_save(account=self.instance, actor=actor, created=self.instance.pk is None)


class LabCertificateForm(_ServiceForm):
    pem = forms.CharField(
        required=False,
        widget=forms.Textarea,
        label="Certificate (PEM)",
        help_text="Paste the lab's client certificate to register its SHA-256 fingerprint.",
    )

    class Meta:
        model = LabCertificate
        fields = ["account", "pem", "fingerprint_sha256", "subject", "note", "active"]

    def save_through_service(self, actor: Any) -> None:
        lab_certificate_save(
            certificate=self.instance,
            actor=actor,
            created=self.instance.pk is None,
            pem=self.cleaned_data.get("pem") or "",
        )


class _WithRequest:
    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        form = super().get_form(request, obj, change, **kwargs)  # type: ignore[misc]

        class WithRequest(form):  # type: ignore[valid-type,misc]
            def __init__(self, *args: Any, **inner: Any) -> None:
                super().__init__(*args, request=request, **inner)

        return WithRequest

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        """The form already saved through the audited service."""


@admin.register(LabAccount)
class LabAccountAdmin(_WithRequest, admin.ModelAdmin):
    """A lab interface account: its lab, whether it may file on name + birth date matches, and
    its sender networks. Saved through the audited service; never deleted."""

    form = LabAccountForm
    list_display = ("lab", "user", "allow_demographic_match", "allowed_networks", "updated_at")
    search_fields = ("lab", "user__username")
    actions = None


@admin.register(LabCertificate)
class LabCertificateAdmin(_WithRequest, admin.ModelAdmin):
    """A lab's TLS client certificate for the MLLP listener; deactivate it, never delete it."""

    form = LabCertificateForm
    list_display = ("account", "fingerprint_sha256", "subject", "active", "created_at")
    list_filter = ("active",)
    search_fields = ("account__lab", "fingerprint_sha256", "subject", "note")
    actions = None


@admin.register(FeedBatch)
class FeedBatchAdmin(admin.ModelAdmin):
    list_display = ("received_at", "channel", "status", "size", "processed", "received_by")
    list_filter = ("channel", "status")
    readonly_fields = [f.name for f in FeedBatch._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
