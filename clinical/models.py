"""Clozapine levels, what prompts them (smoking, interacting medication), dose entries and the
monitoring plan's done entries. Nothing here is ever deleted (audit/triggers.py guards the
tables like the other clinical ones)."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from clinical.levels import Smoking


class SmokingStatus(models.TextChoices):
    SMOKER = Smoking.SMOKER.value
    NON_SMOKER = Smoking.NON_SMOKER.value
    UNKNOWN = Smoking.UNKNOWN.value


class LevelResult(models.Model):
    """One clozapine (and usually norclozapine) level, as received and in ng/mL, with what was
    known about the dose at the draw, and its interpretation (derived: rebuildable from the
    history with `clinical.levels.interpret`)."""

    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="clozapine_levels"
    )
    sampled_at = models.DateTimeField()
    clozapine_value = models.DecimalField(max_digits=14, decimal_places=4)
    norclozapine_value = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    unit = models.CharField(max_length=20)
    clozapine_ng_ml = models.DecimalField(max_digits=10, decimal_places=2)
    norclozapine_ng_ml = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True)
    metabolic_ratio = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True)
    last_dose_at = models.DateTimeField(null=True, blank=True)
    last_dose_mg = models.DecimalField(max_digits=7, decimal_places=2, null=True, blank=True)
    daily_dose_mg = models.DecimalField(max_digits=7, decimal_places=2, null=True, blank=True)
    # Days at the current daily dose before the draw (null: not known).
    dose_stable_days = models.PositiveSmallIntegerField(null=True, blank=True)
    # "Dose unchanged for the past 5 days?" answered yes/no, when the days are not known.
    dose_stable = models.BooleanField(null=True, blank=True)
    smoking = models.CharField(
        max_length=12, choices=SmokingStatus.choices, default=SmokingStatus.UNKNOWN
    )
    serious_infection = models.BooleanField(default=False)
    lab = models.CharField(max_length=100, blank=True)
    accession = models.CharField(max_length=100, blank=True)
    note = models.CharField(max_length=500, blank=True)
    valid_trough = models.BooleanField(default=False)
    # What the history said at the draw, as the interpretation read it (clinical.levels'
    # `recent_changes` and `gap_hours`): kept so a rebuild re-reads the same facts.
    context = models.JSONField(default=dict, blank=True)
    interpretation = models.JSONField(default=dict)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-sampled_at", "-id"]
        indexes = [models.Index(fields=["patient", "sampled_at"])]

    def __str__(self) -> str:
        return f"clozapine {self.clozapine_ng_ml} ng/mL on {self.sampled_at:%Y-%m-%d}"


class SmokingChange(models.TextChoices):
    """What a recorded change is to (an entry is never "unknown")."""

    SMOKER = Smoking.SMOKER.value
    NON_SMOKER = Smoking.NON_SMOKER.value


class NicotineSource(models.TextChoices):
    """What a non-smoker uses instead: either way no tobacco smoke, so no CYP1A2 induction
    (smoke, not nicotine, induces it): both count as stopping."""

    NONE = ""
    VAPING = "vaping"
    NICOTINE_REPLACEMENT = "nicotine_replacement"


class SmokingStatusChange(models.Model):
    """The patient's smoking status from `effective_on` (e.g. stopping on a hospital admission):
    a change in CYP1A2 induction, so a reason to check the level."""

    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="smoking_changes"
    )
    status = models.CharField(max_length=12, choices=SmokingStatus.choices)
    # The status before this entry, as recorded then ("unknown": the first entry, not a change).
    previous_status = models.CharField(
        max_length=12, choices=SmokingStatus.choices, default=SmokingStatus.UNKNOWN
    )
    nicotine = models.CharField(max_length=24, choices=NicotineSource.choices, blank=True)
    effective_on = models.DateField()
    cigarettes_per_day = models.PositiveSmallIntegerField(null=True, blank=True)
    context = models.CharField(max_length=200, blank=True)  # "hospital admission", "discharge"
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-effective_on", "-id"]

    def __str__(self) -> str:
        return f"{self.status} from {self.effective_on}"


class DrugEffect(models.TextChoices):
    INHIBITOR = "inhibitor"
    INDUCER = "inducer"


class DrugAdvice(models.TextChoices):
    """What to do when the drug starts (clinical.messages has the sentence for each)."""

    AVOID_OR_REDUCE = "avoid_or_reduce"  # strong inhibitors: fluvoxamine, ciprofloxacin
    LEVEL_AT_STEADY_STATE = "level_at_steady_state"  # other inhibitors
    LATER_LEVEL = "later_level"  # inducers: induction builds over about 2 weeks
    AVOID_MARROW_RISK = "avoid_marrow_risk"  # carbamazepine


class InteractingDrug(models.Model):
    """The short, editable list of medications whose start or stop should prompt a level
    (seed 001 "Caution with: CYP1A2 inhibitors (fluvoxamine, ciprofloxacin) and inducers
    (smoking, carbamazepine)"; seed 000 names phenytoin as an inducer). Seeded by migration;
    administrators edit it through `interacting_drug_save`."""

    name = models.CharField(max_length=100, unique=True)
    effect = models.CharField(max_length=10, choices=DrugEffect.choices)
    enzyme = models.CharField(max_length=40, default="CYP1A2")
    strong = models.BooleanField(default=True)
    advice = models.CharField(
        max_length=30, choices=DrugAdvice.choices, default=DrugAdvice.LEVEL_AT_STEADY_STATE
    )
    note = models.CharField(max_length=300, blank=True)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.effect})"


class MedicationEventKind(models.TextChoices):
    START = "start"
    STOP = "stop"


class MedicationEvent(models.Model):
    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="medication_events"
    )
    drug = models.ForeignKey(InteractingDrug, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=10, choices=MedicationEventKind.choices)
    effective_on = models.DateField()
    note = models.CharField(max_length=500, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-effective_on", "-id"]

    def __str__(self) -> str:
        return f"{self.kind} {self.drug_id} on {self.effective_on}"


class DoseEntryKind(models.TextChoices):
    DOSE_CHANGE = "dose_change"  # a new daily dose from `effective_at`
    LAST_DOSE_TAKEN = "last_dose_taken"  # the patient reports the last dose taken


class DoseEntry(models.Model):
    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="dose_entries"
    )
    kind = models.CharField(max_length=20, choices=DoseEntryKind.choices)
    effective_at = models.DateTimeField()
    daily_dose_mg = models.DecimalField(max_digits=7, decimal_places=2, null=True, blank=True)
    note = models.CharField(max_length=500, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-effective_at", "-id"]
        verbose_name_plural = "dose entries"

    def __str__(self) -> str:
        return f"{self.kind} {self.daily_dose_mg or ''} at {self.effective_at:%Y-%m-%d}"


class PlanEntry(models.Model):
    """A check of the monitoring plan done (a result, or simply "done"), on `done_on`."""

    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="plan_entries"
    )
    item = models.CharField(max_length=40)
    done_on = models.DateField()
    value = models.CharField(max_length=200, blank=True)
    unit = models.CharField(max_length=40, blank=True)
    # Checklist items (the myocarditis watch): were there symptoms suggesting it?
    symptoms = models.BooleanField(null=True, blank=True)
    # The item's own answers (clinical.plans: the bowel check's days without a movement, the
    # troponin and CRP, the QTc...) and what they were found to mean (clinical.plans.assess).
    answers = models.JSONField(default=dict, blank=True)
    finding = models.JSONField(default=dict, blank=True)
    # A finding that needs action: the item is "action needed", never complete, until a later
    # entry without one.
    needs_action = models.BooleanField(default=False)
    note = models.CharField(max_length=500, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-done_on", "-id"]
        verbose_name_plural = "plan entries"
        indexes = [models.Index(fields=["patient", "item", "done_on"])]

    def __str__(self) -> str:
        return f"{self.item} on {self.done_on}"


class CounterObservationKind(models.TextChoices):
    """What a pharmacist may record at the counter (clinical.services: counter_observation)."""

    LAST_DOSE_REPORTED = "last_dose_reported"
    SMOKING_CHANGE = "smoking_change"
    INTERACTING_DRUG = "interacting_drug"
    ADHERENCE_DOUBT = "adherence_doubt"


class LevelIndicationReason(models.TextChoices):
    """Why a level is wanted (seed 000 "Rationale for Clozapine Levels")."""

    POOR_RESPONSE = "poor_response"
    SIDE_EFFECTS = "side_effects"
    ADHERENCE_DOUBT = "adherence_doubt"
    INFECTION = "infection"
    PREGNANCY = "pregnancy"


class LevelIndication(models.Model):
    """A reason to check a level, noted by the clinic or at the counter; it prompts a level
    until one is drawn after it."""

    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="level_indications"
    )
    reason = models.CharField(max_length=20, choices=LevelIndicationReason.choices)
    noted_on = models.DateField()
    note = models.CharField(max_length=500, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-noted_on", "-id"]

    def __str__(self) -> str:
        return f"{self.reason} on {self.noted_on}"


class DoseFacts(models.Model):
    """What the re-titration warning reads (clinical.doses), kept as each dispense and each
    reported last dose is recorded, so a dispensing decision reads it with the patient's row
    instead of the patient's dispenses. Derived: `dose_facts_rebuild` recomputes it from the
    dispenses and dose entries (and `monitoring_rebuild --check` compares)."""

    patient = models.OneToOneField(
        "patients.Patient", primary_key=True, on_delete=models.CASCADE, related_name="dose_facts"
    )
    last_dispensed_at = models.DateTimeField(null=True)
    # The latest end of any one supply (dispensed_at + days_supply): clinical.doses' reading.
    supply_runs_out_at = models.DateTimeField(null=True)
    last_dose_reported_at = models.DateTimeField(null=True)

    class Meta:
        verbose_name_plural = "dose facts"

    def __str__(self) -> str:
        return f"dose facts of patient {self.patient_id}"
