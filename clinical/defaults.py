"""The starting list of interacting medications (editable afterwards, audited), with what to do
when each starts (`advice`, whose sentence is in clinical.messages).

Sources: seed 001 "Caution with: CYP1A2 inhibitors (fluvoxamine, ciprofloxacin) and inducers
(smoking, carbamazepine)"; seed 000 names phenytoin as an inducer, fluvoxamine and
ciprofloxacin as strong 1A2 inhibitors, and strong 2D6/3A4 inhibitors as raising levels by
40-100 %; the Maudsley Prescribing Guidelines (clozapine interactions) for the others and for
avoiding carbamazepine (its own risk of marrow suppression)."""

from __future__ import annotations

from typing import Any

# (name, effect, enzyme, strong, advice, note)
DEFAULT_INTERACTING_DRUGS = (
    (
        "fluvoxamine",
        "inhibitor",
        "CYP1A2",
        True,
        "avoid_or_reduce",
        "seed 000/001: strong CYP1A2 inhibitor (levels up to 10-fold)",
    ),
    (
        "ciprofloxacin",
        "inhibitor",
        "CYP1A2",
        True,
        "avoid_or_reduce",
        "seed 000/001: strong CYP1A2 inhibitor",
    ),
    ("enoxacin", "inhibitor", "CYP1A2", True, "avoid_or_reduce", "Maudsley: strong CYP1A2"),
    (
        "oral contraceptives (ethinylestradiol)",
        "inhibitor",
        "CYP1A2",
        False,
        "level_at_steady_state",
        "Maudsley: moderate CYP1A2 inhibitor",
    ),
    ("cimetidine", "inhibitor", "CYP1A2/3A4", False, "level_at_steady_state", "Maudsley"),
    ("fluoxetine", "inhibitor", "CYP2D6", False, "level_at_steady_state", "seed 000: 2D6"),
    ("paroxetine", "inhibitor", "CYP2D6", False, "level_at_steady_state", "seed 000: 2D6"),
    ("erythromycin", "inhibitor", "CYP3A4", False, "level_at_steady_state", "seed 000: 3A4"),
    ("clarithromycin", "inhibitor", "CYP3A4", False, "level_at_steady_state", "seed 000: 3A4"),
    (
        "carbamazepine",
        "inducer",
        "CYP1A2/3A4",
        True,
        "avoid_marrow_risk",
        "seed 001: inducer; Maudsley: avoid (marrow suppression)",
    ),
    ("phenytoin", "inducer", "CYP1A2/3A4", True, "later_level", "seed 000: inducer"),
    ("phenobarbital", "inducer", "CYP1A2/3A4", True, "later_level", "Maudsley: inducer"),
    ("rifampicin", "inducer", "CYP1A2/3A4", True, "later_level", "Maudsley: strong inducer"),
    ("omeprazole", "inducer", "CYP1A2", False, "later_level", "Maudsley: weak CYP1A2 inducer"),
    (
        "St John's wort",
        "inducer",
        "CYP3A4",
        True,
        "later_level",
        "clozapine label: strong CYP3A4 inducer",
    ),
)


def interacting_drugs_ensure(model: Any) -> int:
    """Create the missing defaults (never changes an edited one); returns how many were added.
    `model` is InteractingDrug, or the migration's historical model."""
    added = 0
    for name, effect, enzyme, strong, advice, note in DEFAULT_INTERACTING_DRUGS:
        _, created = model.objects.get_or_create(
            name=name,
            defaults={
                "effect": effect,
                "enzyme": enzyme,
                "strong": strong,
                "advice": advice,
                "note": note,
            },
        )
        added += created
    return added
