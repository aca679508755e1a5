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
    smoking = models.CharField(
        max_length=12, choices=SmokingStatus.choices, default=SmokingStatus.UNKNOWN
    )
    serious_infection = models.BooleanField(default=False)
    lab = models.CharField(max_length=100, blank=True)
    accession = models.CharField(max_length=100, blank=True)
    note = models.CharField(max_length=500, blank=True)
    valid_trough = models.BooleanField(default=False)
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


class SmokingStatusChange(models.Model):
    """The patient's smoking status from `effective_on` (e.g. stopping on a hospital admission):
    a change in CYP1A2 induction, so a reason to check the level."""

    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="smoking_changes"
    )
    status = models.CharField(max_length=12, choices=SmokingStatus.choices)
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


class InteractingDrug(models.Model):
    """The short, editable list of medications whose start or stop should prompt a level
    (seed 001 "Caution with: CYP1A2 inhibitors (fluvoxamine, ciprofloxacin) and inducers
    (smoking, carbamazepine)"; seed 000 names phenytoin as an inducer). Seeded by migration;
    administrators edit it through `interacting_drug_save`."""

    name = models.CharField(max_length=100, unique=True)
    effect = models.CharField(max_length=10, choices=DrugEffect.choices)
    enzyme = models.CharField(max_length=40, default="CYP1A2")
    strong = models.BooleanField(default=True)
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
