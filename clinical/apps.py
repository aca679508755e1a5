from django.apps import AppConfig


class ClinicalConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "clinical"
    verbose_name = "clozapine levels and the monitoring plan"

    def ready(self) -> None:
        # The re-titration facts are derived from the history: monitoring_rebuild checks and
        # rewrites them with the monitoring state (monitoring.derived).
        from clinical.dose_facts import dose_facts_check, dose_facts_rebuild
        from monitoring.derived import DerivedState, derived_state_register

        derived_state_register(
            DerivedState("dose_facts", check=dose_facts_check, rebuild=dose_facts_rebuild)
        )
