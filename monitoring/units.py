"""ANC units as laboratories send them (docs/rules.md §8), and the whole-cells check of manual entry
(docs/rules.md §8, manual entry guards)."""

from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal

# docs/rules.md §8: cells per µL (= per mm³) as received, or thousands per µL (= 10⁹/L).
UNIT_FACTORS: dict[str, int] = {
    "/uL": 1,
    "/mm3": 1,
    "cells/uL": 1,
    "cells/mm3": 1,
    "10*3/uL": 1000,
    "10*3/mm3": 1000,
    "10*9/L": 1000,
    "K/uL": 1000,
}
# Spellings laboratories use for exactly the units above (UCUM's case-insensitive forms, the
# micro sign, caret and "x10E" notations, "thou/uL"). Anything else is unknown: never guessed.
_ALIASES = {
    "/µL": "/uL",
    "/μL": "/uL",
    "/UL": "/uL",
    "/MM3": "/mm3",
    "/cmm": "/mm3",
    "cells/µL": "cells/uL",
    "cells/μL": "cells/uL",
    "10*3/µL": "10*3/uL",
    "10*3/μL": "10*3/uL",
    "10^3/uL": "10*3/uL",
    "10^3/µL": "10*3/uL",
    "x10^3/uL": "10*3/uL",
    "x10E3/uL": "10*3/uL",
    "10E3/uL": "10*3/uL",
    "10*3/UL": "10*3/uL",
    "K/µL": "K/uL",
    "K/UL": "K/uL",
    "k/uL": "K/uL",
    "thou/uL": "K/uL",
    "thou/mm3": "10*3/mm3",
    "10^9/L": "10*9/L",
    "x10^9/L": "10*9/L",
    "x10E9/L": "10*9/L",
    "10E9/L": "10*9/L",
    "10*9/l": "10*9/L",
    "10^9/l": "10*9/L",
    "G/L": "10*9/L",
}
PERCENT_UNITS = frozenset({"%", "percent", "/100{WBCs}", "/100 WBC", "%{WBCs}"})
MAX_PER_UL = 100_000


class UnitError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def canonical_unit(unit: str) -> str:
    unit = unit.strip()
    return _ALIASES.get(unit, unit)


def to_per_ul(value: Decimal, unit: str) -> int:
    """The value in cells/µL, rounded down so that no value moves up into a better band."""
    if not unit or not unit.strip():
        raise UnitError("unit", "A unit is required, for example /uL or 10*3/uL.")
    factor = UNIT_FACTORS.get(canonical_unit(unit))
    if factor is None:
        known = ", ".join(UNIT_FACTORS)
        raise UnitError("unit", f"Unknown unit {unit!r}; known units: {known}.")
    if value < 0:
        raise UnitError("value", "An ANC cannot be negative.")
    per_ul = int((value * factor).to_integral_value(rounding=ROUND_FLOOR))
    if per_ul > MAX_PER_UL:
        raise UnitError(
            "value",
            f"{value} {unit} is {per_ul}/µL, above the plausible maximum of {MAX_PER_UL}/µL; "
            "check the value and unit.",
        )
    return per_ul


# The units that count cells one by one (factor 1): a value in them is a whole number.
CELL_UNITS = frozenset(unit for unit, factor in UNIT_FACTORS.items() if factor == 1)


def plain(value: Decimal) -> str:
    """A decimal as a person typed it: 2.1, not 2.1000 or 2.1E+0."""
    return format(value.normalize(), "f")


def check_whole_cells(value: Decimal, unit: str) -> None:
    """Cells per µL (or mm³) are whole numbers: a fraction in one of those units is almost
    certainly a count in thousands typed with the wrong unit (2.1 meant as 10*3/uL would
    otherwise be stored as 2/µL, a severe ANC). Refused (UnitError on `value`), naming the
    unit it probably is; for manual entry, where a person chose the unit."""
    if canonical_unit(unit) not in CELL_UNITS or value == value.to_integral_value():
        return
    typed = plain(value)
    thousands = plain(value * 1000)
    raise UnitError(
        "value",
        f"{typed} {unit.strip()} is not a whole number of cells, and cells/µL are counted "
        f"whole. {typed} is almost certainly 10*3/uL (the same as 10*3/mm3 or 10*9/L: "
        f"{thousands}/µL): choose that unit, or enter the count in cells/µL.",
    )
