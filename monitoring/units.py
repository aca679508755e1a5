"""ANC units as laboratories send them (rules.md §8)."""

from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal

# rules.md §8: cells per µL (= per mm³) as received, or thousands per µL (= 10⁹/L).
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
# Spellings that mean exactly the units above.
_ALIASES = {
    "/µL": "/uL",
    "cells/µL": "cells/uL",
    "10*3/µL": "10*3/uL",
    "10^3/uL": "10*3/uL",
    "10^9/L": "10*9/L",
    "x10E3/uL": "10*3/uL",
}
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
