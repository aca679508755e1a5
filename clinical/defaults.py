"""The starting list of interacting medications (editable afterwards, audited): seed 001
"Caution with: CYP1A2 inhibitors (fluvoxamine, ciprofloxacin) and inducers (smoking,
carbamazepine)"; seed 000 names phenytoin as an inducer ("exposure to an inducer (e.g. smoking,
phenytoin)") and fluvoxamine and ciprofloxacin as strong 1A2 inhibitors."""

from __future__ import annotations

from typing import Any

# (name, effect, enzyme, strong, note)
DEFAULT_INTERACTING_DRUGS = (
    ("fluvoxamine", "inhibitor", "CYP1A2", True, "seed 000/001: strong CYP1A2 inhibitor"),
    ("ciprofloxacin", "inhibitor", "CYP1A2", True, "seed 000/001: strong CYP1A2 inhibitor"),
    ("carbamazepine", "inducer", "CYP1A2/3A4", True, "seed 001: inducer"),
    ("phenytoin", "inducer", "CYP1A2/3A4", True, "seed 000: inducer"),
)


def interacting_drugs_ensure(model: Any) -> int:
    """Create the missing defaults (never changes an edited one); returns how many were added.
    `model` is InteractingDrug, or the migration's historical model."""
    added = 0
    for name, effect, enzyme, strong, note in DEFAULT_INTERACTING_DRUGS:
        _, created = model.objects.get_or_create(
            name=name, defaults={"effect": effect, "enzyme": enzyme, "strong": strong, "note": note}
        )
        added += created
    return added
