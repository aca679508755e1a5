"""HTTP for clozapine levels, smoking status, interacting medication, dose entries and the
monitoring plan, nested under /api/v1/patients/{id}/ (404 for a patient the caller may not see).

Prescribers and designees read and record; auditors read; pharmacists see none of it (they get
the re-titration warning in the dispensing decision)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from clinical import selectors, services
from clinical.models import (
    CounterObservationKind,
    DoseEntry,
    DoseEntryKind,
    DrugEffect,
    InteractingDrug,
    LevelIndication,
    LevelIndicationReason,
    LevelResult,
    MedicationEvent,
    MedicationEventKind,
    NicotineSource,
    PlanEntry,
    SmokingChange,
    SmokingStatus,
    SmokingStatusChange,
)
from clinical.plan import PlanStatus
from patients.access import ActionRoles, PatientRecords, PatientScoped, user_of
from patients.models import Patient, Role, User

READERS = {Role.AUDITOR, Role.PRESCRIBER, Role.DESIGNEE}
WRITERS = {Role.PRESCRIBER, Role.DESIGNEE}
NESTED_ROLES = {"list": READERS, "retrieve": READERS, "create": WRITERS}


def _with_offset(serializer: serializers.Serializer[Any], name: str, value: Any) -> Any:
    raw = serializer.initial_data.get(name) if hasattr(serializer, "initial_data") else None
    if isinstance(raw, str):
        tail = raw.strip()[10:]
        if not (tail.endswith(("Z", "z")) or "+" in tail or "-" in tail):
            raise serializers.ValidationError(
                "Give the time with a UTC offset, e.g. 2026-03-04T08:15:00-05:00."
            )
    return value


class FlagSerializer(serializers.Serializer[Any]):
    code = serializers.CharField()
    severity = serializers.ChoiceField(choices=["info", "warning", "urgent"])
    message = serializers.CharField()
    source = serializers.CharField()  # type: ignore[assignment]


class InterpretationSerializer(serializers.Serializer[Any]):
    metabolic_ratio = serializers.CharField(allow_null=True)
    previous_metabolic_ratio = serializers.CharField(allow_null=True)
    hours_after_dose = serializers.CharField(allow_null=True)
    valid_trough = serializers.BooleanField()
    adherence_doubt = serializers.BooleanField(required=False)
    unexpected = serializers.BooleanField()
    urgent = serializers.BooleanField()
    flags = FlagSerializer(many=True)


class LevelResultSerializer(serializers.ModelSerializer[LevelResult]):
    clozapine = serializers.DecimalField(
        max_digits=14, decimal_places=4, source="clozapine_value", min_value=0
    )
    norclozapine = serializers.DecimalField(
        max_digits=14,
        decimal_places=4,
        source="norclozapine_value",
        required=False,
        allow_null=True,
        min_value=0,
    )
    unit = serializers.CharField(
        max_length=20, help_text="ng/mL, µg/L (ug/L), mg/L, nmol/L or µmol/L (umol/L)."
    )
    smoking = serializers.ChoiceField(
        choices=SmokingStatus.choices,
        required=False,
        allow_null=True,
        help_text="At the draw; omitted: the patient's recorded smoking status on that day.",
    )
    dose_stable = serializers.BooleanField(
        required=False,
        allow_null=True,
        help_text="Dose unchanged for the past 5 days (when the number of days is not known).",
    )
    unit_confirmed = serializers.BooleanField(
        required=False,
        default=False,
        write_only=True,
        help_text="The value and unit are right although the value looks like mg/L sent as "
        "ng/mL (below 5 ng/mL).",
    )
    interpretation = InterpretationSerializer(read_only=True)
    sampled_at_local = serializers.SerializerMethodField()

    class Meta:
        model = LevelResult
        fields = [
            "id",
            "sampled_at",
            "clozapine",
            "norclozapine",
            "unit",
            "clozapine_ng_ml",
            "norclozapine_ng_ml",
            "metabolic_ratio",
            "last_dose_at",
            "last_dose_mg",
            "daily_dose_mg",
            "dose_stable_days",
            "dose_stable",
            "unit_confirmed",
            "smoking",
            "serious_infection",
            "lab",
            "accession",
            "note",
            "valid_trough",
            "interpretation",
            "sampled_at_local",
            "recorded_by",
            "created_at",
        ]
        read_only_fields = [
            "clozapine_ng_ml",
            "norclozapine_ng_ml",
            "metabolic_ratio",
            "valid_trough",
            "recorded_by",
            "created_at",
        ]

    def validate_sampled_at(self, value: Any) -> Any:
        return _with_offset(self, "sampled_at", value)

    def get_sampled_at_local(self, level: LevelResult) -> str:
        return selectors.local_time_text(level.sampled_at)

    def validate_last_dose_at(self, value: Any) -> Any:
        return _with_offset(self, "last_dose_at", value)


class LevelResultViewSet(mixins.RetrieveModelMixin, PatientRecords):
    """Clozapine and norclozapine levels with their interpretation (flags with plain-language
    explanations and sources), newest first."""

    serializer_class = LevelResultSerializer
    action_roles = {**NESTED_ROLES, "summary": READERS}
    model = LevelResult
    ordering = ("-sampled_at", "-id")

    def record(self, patient: Patient, actor: User, data: dict[str, Any]) -> Any:
        return services.level_result_record(
            patient=patient,
            actor=actor,
            sampled_at=data["sampled_at"],
            clozapine=data["clozapine_value"],
            norclozapine=data.get("norclozapine_value"),
            unit=data["unit"],
            last_dose_at=data.get("last_dose_at"),
            last_dose_mg=data.get("last_dose_mg"),
            daily_dose_mg=data.get("daily_dose_mg"),
            dose_stable_days=data.get("dose_stable_days"),
            # A yes/no answer is kept as given: no number of days is made up from it.
            dose_stable=data.get("dose_stable"),
            unit_confirmed=data.get("unit_confirmed", False),
            smoking=data.get("smoking"),
            serious_infection=data.get("serious_infection", False),
            lab=data.get("lab", ""),
            accession=data.get("accession", ""),
            note=data.get("note", ""),
        )

    @extend_schema(
        responses={
            200: inline_serializer(
                "LevelsSummary",
                {
                    "latest": serializers.DictField(allow_null=True),
                    "levels_count": serializers.IntegerField(),
                    "adequate_trial": serializers.DictField(),
                    "smoking_status": serializers.ChoiceField(choices=SmokingStatus.choices),
                    "interacting_medications": serializers.ListField(child=serializers.DictField()),
                    "level_suggested": serializers.ListField(child=serializers.DictField()),
                    "dose_tracking": serializers.DictField(),
                },
            )
        }
    )
    @action(detail=False, methods=["get"], pagination_class=None)
    def summary(self, request: Request, patient_pk: str) -> Response:
        """The last level and its interpretation, the adequate-trial summary (seed 001), what
        calls for a new level, and the dose tracking."""
        return Response(
            selectors.patient_levels_summary(patient=self.get_patient(), now=timezone.now())
        )


class SmokingStatusSerializer(serializers.ModelSerializer[SmokingStatusChange]):
    status = serializers.ChoiceField(choices=SmokingChange.choices)
    nicotine = serializers.ChoiceField(
        choices=NicotineSource.choices,
        required=False,
        allow_blank=True,
        help_text="vaping or nicotine_replacement with status non_smoker: no smoke, so it "
        "counts as stopping.",
    )

    class Meta:
        model = SmokingStatusChange
        fields = [
            "id",
            "status",
            "previous_status",
            "nicotine",
            "effective_on",
            "cigarettes_per_day",
            "context",
            "recorded_by",
            "created_at",
        ]
        read_only_fields = ["previous_status", "recorded_by", "created_at"]


class SmokingStatusViewSet(PatientRecords):
    """Changes in smoking status (e.g. stopping on a hospital admission). Each one reminds the
    prescriber to check a clozapine level."""

    serializer_class = SmokingStatusSerializer
    action_roles = NESTED_ROLES
    model = SmokingStatusChange

    def record(self, patient: Patient, actor: User, data: dict[str, Any]) -> Any:
        return services.smoking_status_record(
            patient=patient,
            actor=actor,
            status=data["status"],
            effective_on=data["effective_on"],
            cigarettes_per_day=data.get("cigarettes_per_day"),
            context=data.get("context", ""),
            nicotine=data.get("nicotine", ""),
        )


class InteractingDrugSerializer(serializers.ModelSerializer[InteractingDrug]):
    effect = serializers.ChoiceField(choices=DrugEffect.choices)

    class Meta:
        model = InteractingDrug
        fields = ["id", "name", "effect", "enzyme", "strong", "advice", "note", "active"]

    def create(self, validated_data: dict[str, Any]) -> InteractingDrug:
        actor = user_of(self.context["request"])
        return services.interacting_drug_save(actor=actor, drug=None, data=validated_data)

    def update(self, instance: InteractingDrug, validated_data: dict[str, Any]) -> InteractingDrug:
        actor = user_of(self.context["request"])
        return services.interacting_drug_save(actor=actor, drug=instance, data=validated_data)


class InteractingDrugViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet[InteractingDrug],
):
    """The editable list of medications whose start or stop prompts a level; administrators
    edit it."""

    serializer_class = InteractingDrugSerializer
    permission_classes = [ActionRoles]
    queryset = InteractingDrug.objects.order_by("name")
    action_roles = {"list": READERS, "retrieve": READERS}


class MedicationEventSerializer(serializers.ModelSerializer[MedicationEvent]):
    kind = serializers.ChoiceField(choices=MedicationEventKind.choices)
    drug = serializers.SlugRelatedField(
        slug_field="name",
        queryset=InteractingDrug.objects.all(),
        help_text="A name from /api/v1/interacting-drugs/.",
    )

    class Meta:
        model = MedicationEvent
        fields = ["id", "drug", "kind", "effective_on", "note", "recorded_by", "created_at"]
        read_only_fields = ["recorded_by", "created_at"]


class MedicationEventViewSet(PatientRecords):
    """Starts and stops of interacting medications; each reminds the prescriber to check a
    level."""

    serializer_class = MedicationEventSerializer
    action_roles = NESTED_ROLES
    model = MedicationEvent
    related = ("drug",)

    def record(self, patient: Patient, actor: User, data: dict[str, Any]) -> Any:
        return services.medication_event_record(
            patient=patient,
            actor=actor,
            drug=data["drug"],
            kind=data["kind"],
            effective_on=data["effective_on"],
            note=data.get("note", ""),
        )


class DoseEntrySerializer(serializers.ModelSerializer[DoseEntry]):
    kind = serializers.ChoiceField(choices=DoseEntryKind.choices)

    class Meta:
        model = DoseEntry
        fields = [
            "id",
            "kind",
            "effective_at",
            "daily_dose_mg",
            "note",
            "recorded_by",
            "created_at",
        ]
        read_only_fields = ["recorded_by", "created_at"]

    def validate_effective_at(self, value: datetime) -> datetime:
        return _with_offset(self, "effective_at", value)


class DoseEntryViewSet(PatientRecords):
    """The prescriber's dose changes and reported last doses: with the dispenses, they give the
    dose tracking (and the re-titration warning)."""

    serializer_class = DoseEntrySerializer
    action_roles = NESTED_ROLES
    model = DoseEntry

    def record(self, patient: Patient, actor: User, data: dict[str, Any]) -> Any:
        return services.dose_entry_record(
            patient=patient,
            actor=actor,
            kind=data["kind"],
            effective_at=data["effective_at"],
            daily_dose_mg=data.get("daily_dose_mg"),
            note=data.get("note", ""),
        )


class LevelIndicationSerializer(serializers.ModelSerializer[LevelIndication]):
    reason = serializers.ChoiceField(choices=LevelIndicationReason.choices)

    class Meta:
        model = LevelIndication
        fields = ["id", "reason", "noted_on", "note", "recorded_by", "created_at"]
        read_only_fields = ["recorded_by", "created_at"]


class LevelIndicationViewSet(PatientRecords):
    """Reasons to check a level (poor response, more side effects, doubtful adherence,
    infection, pregnancy); each prompts a level until one is drawn after it."""

    serializer_class = LevelIndicationSerializer
    action_roles = NESTED_ROLES
    model = LevelIndication

    def record(self, patient: Patient, actor: User, data: dict[str, Any]) -> Any:
        return services.level_indication_record(
            patient=patient,
            actor=actor,
            reason=data["reason"],
            noted_on=data["noted_on"],
            note=data.get("note", ""),
        )


# --- the counter: what a pharmacist sees ----------------------------------------------------


class CounterObservationSerializer(serializers.Serializer[Any]):
    kind = serializers.ChoiceField(choices=CounterObservationKind.choices)
    last_dose_at = serializers.DateTimeField(required=False)
    smoking_status = serializers.ChoiceField(choices=SmokingChange.choices, required=False)
    nicotine = serializers.ChoiceField(
        choices=NicotineSource.choices, required=False, allow_blank=True
    )
    drug = serializers.SlugRelatedField(
        slug_field="name", queryset=InteractingDrug.objects.all(), required=False
    )
    change = serializers.ChoiceField(choices=MedicationEventKind.choices, required=False)
    effective_on = serializers.DateField(required=False)
    note = serializers.CharField(max_length=500, required=False, allow_blank=True)

    NEEDS = {
        "last_dose_reported": ("last_dose_at",),
        "smoking_change": ("smoking_status", "effective_on"),
        "interacting_drug": ("drug", "change", "effective_on"),
        "adherence_doubt": ("effective_on",),
    }

    def validate_last_dose_at(self, value: datetime) -> datetime:
        return _with_offset(self, "last_dose_at", value)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        missing = [f for f in self.NEEDS[attrs["kind"]] if attrs.get(f) in (None, "")]
        if missing:
            raise serializers.ValidationError(
                {f: [f"Required when kind is {attrs['kind']}."] for f in missing}
            )
        return attrs


class CounterObservationView(PatientScoped, viewsets.GenericViewSet[Any]):
    """POST /patients/{id}/counter-observations/: what a pharmacist (or the clinic) sees at the
    counter - the patient's reported last dose, a change in smoking, a new or stopped
    interacting medication, doubtful adherence. Each is recorded by the same service (and
    audit entry) as the clinic's own entry, and reminds the prescriber."""

    serializer_class = CounterObservationSerializer
    permission_classes = [ActionRoles]
    action_roles = {"create": {Role.PHARMACIST, Role.PRESCRIBER, Role.DESIGNEE}}

    @extend_schema(
        request=CounterObservationSerializer,
        responses={
            201: inline_serializer(
                "CounterObservationRecorded",
                {
                    "kind": serializers.CharField(),
                    "id": serializers.IntegerField(),
                    "retitration_warning": serializers.DictField(allow_null=True),
                    "level_suggested": serializers.BooleanField(),
                },
            )
        },
    )
    def create(self, request: Request, patient_pk: str) -> Response:
        patient = self.get_patient()  # 404 before any validation detail
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response(
            services.counter_observation_record(
                patient=patient, actor=user_of(request), data=serializer.validated_data
            ),
            status=status.HTTP_201_CREATED,
        )


# --- the monitoring plan --------------------------------------------------------------------


class PlanItemStatusSerializer(serializers.Serializer[Any]):
    code = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]
    detail = serializers.CharField()
    checklist = serializers.BooleanField()
    status = serializers.ChoiceField(choices=[s.value for s in PlanStatus])
    due_on = serializers.DateField(allow_null=True)
    days_overdue = serializers.IntegerField()
    last_done_on = serializers.DateField(allow_null=True)
    next_due_on = serializers.DateField(allow_null=True)
    gates_dispensing = serializers.BooleanField()
    question = serializers.CharField()
    answers = serializers.ListField(child=serializers.DictField())
    done_by_level = serializers.BooleanField()
    source = serializers.CharField()  # type: ignore[assignment]


class PlanEntrySerializer(serializers.ModelSerializer[PlanEntry]):
    prompt = serializers.SerializerMethodField()
    answers = serializers.DictField(
        required=False,
        help_text="The item's answers (GET plan/ lists each item's): e.g. bowel "
        "{days_since_bowel_movement, abdominal_pain, laxative}, troponin_crp {troponin_ng_l, "
        "troponin_uln_ng_l, crp_mg_l}, ecg {qtc_ms}.",
    )

    class Meta:
        model = PlanEntry
        fields = [
            "id",
            "item",
            "done_on",
            "value",
            "unit",
            "symptoms",
            "answers",
            "finding",
            "needs_action",
            "note",
            "prompt",
            "recorded_by",
            "created_at",
        ]
        read_only_fields = ["finding", "needs_action", "recorded_by", "created_at"]

    def get_prompt(self, entry: PlanEntry) -> str:
        return services.plan_entry_prompt(entry)


class PlanViewSet(PatientScoped, viewsets.GenericViewSet[PlanEntry]):
    """The monitoring plan beyond the ANC (seed 001): each check with its status (due,
    overdue...) relative to the treatment start; POST records a check done."""

    serializer_class = PlanEntrySerializer
    permission_classes = [ActionRoles]
    action_roles = {**NESTED_ROLES, "entries": READERS}
    pagination_class = None

    def get_queryset(self) -> QuerySet[PlanEntry]:
        if getattr(self, "swagger_fake_view", False):
            return PlanEntry.objects.none()
        return PlanEntry.objects.filter(patient=self.get_patient()).select_related("patient")

    @extend_schema(responses={200: PlanItemStatusSerializer(many=True)})
    def list(self, request: Request, patient_pk: str) -> Response:
        states = selectors.patient_plan(patient=self.get_patient(), now=timezone.now())
        return Response([s.as_dict() for s in states])

    @extend_schema(request=PlanEntrySerializer, responses={201: PlanEntrySerializer})
    def create(self, request: Request, patient_pk: str) -> Response:
        patient = self.get_patient()  # 404 before any validation detail
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        entry = services.plan_entry_record(
            patient=patient,
            actor=user_of(request),
            item=data["item"],
            done_on=data["done_on"],
            value=data.get("value", ""),
            unit=data.get("unit", ""),
            symptoms=data.get("symptoms"),
            answers=data.get("answers") or {},
            note=data.get("note", ""),
        )
        return Response(self.get_serializer(entry).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={200: PlanEntrySerializer(many=True)})
    @action(detail=False, methods=["get"])
    def entries(self, request: Request, patient_pk: str) -> Response:
        """The checks recorded, newest first."""
        return Response(self.get_serializer(self.get_queryset(), many=True).data)
