"""Clozapine and norclozapine concentrations as laboratories send them, to ng/mL.

ng/mL and µg/L are the same quantity; mg/L is 1000 ng/mL. Molar units convert with the molar
masses (PubChem): clozapine C18H19ClN4 326.8 g/mol (CID 135398737), norclozapine
(N-desmethylclozapine) C17H17ClN4 312.8 g/mol (CID 135409453). So 1 nmol/L of clozapine is
0.3268 ng/mL (1 ng/mL = 3.06 nmol/L) and 1 nmol/L of norclozapine is 0.3128 ng/mL. µmol/L is
1000 nmol/L.

Thresholds in `clinical.levels` are in ng/mL (seed 000: "350 ng/ml", ">1000 ng/ml"), so a value
is converted once, here, and the value as received is kept next to it.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum


class Analyte(StrEnum):
    CLOZAPINE = "clozapine"
    NORCLOZAPINE = "norclozapine"


# g/mol, PubChem (see the module docstring).
MOLAR_MASS_G_PER_MOL: dict[Analyte, Decimal] = {
    Analyte.CLOZAPINE: Decimal("326.8"),  # C18H19ClN4
    Analyte.NORCLOZAPINE: Decimal("312.8"),  # C17H17ClN4
}

# Mass units: factor to ng/mL.
MASS_FACTORS: dict[str, Decimal] = {
    "ng/mL": Decimal(1),
    "ug/L": Decimal(1),
    "mg/L": Decimal(1000),
}
# Molar units: factor to nmol/L (then times the molar mass / 1000 to ng/mL).
MOLAR_FACTORS: dict[str, Decimal] = {
    "nmol/L": Decimal(1),
    "umol/L": Decimal(1000),
}
_ALIASES = {
    "ng/ml": "ng/mL",
    "NG/ML": "ng/mL",
    "µg/L": "ug/L",
    "μg/L": "ug/L",
    "ug/l": "ug/L",
    "µg/l": "ug/L",
    "mcg/L": "ug/L",
    "mg/l": "mg/L",
    "MG/L": "mg/L",
    "nmol/l": "nmol/L",
    "NMOL/L": "nmol/L",
    "µmol/L": "umol/L",
    "μmol/L": "umol/L",
    "umol/l": "umol/L",
}
KNOWN_UNITS = (*MASS_FACTORS, "µg/L", *MOLAR_FACTORS, "µmol/L")
# Far above any level a living patient has had (fatal cases report a few thousand ng/mL): a
# bigger number is a unit or typing mistake, refused rather than stored.
MAX_NG_ML = Decimal(20000)


class LevelUnitError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def canonical_unit(unit: str) -> str:
    unit = unit.strip()
    return _ALIASES.get(unit, unit)


def to_ng_ml(value: Decimal, unit: str, analyte: Analyte, *, field: str = "value") -> Decimal:
    """The concentration in ng/mL, to two decimals (half up: no threshold sits that close)."""
    if not unit or not unit.strip():
        raise LevelUnitError("unit", f"A unit is required; known units: {', '.join(KNOWN_UNITS)}.")
    name = canonical_unit(unit)
    if value < 0:
        raise LevelUnitError(field, "A concentration cannot be negative.")
    if name in MASS_FACTORS:
        ng_ml = value * MASS_FACTORS[name]
    elif name in MOLAR_FACTORS:
        ng_ml = value * MOLAR_FACTORS[name] * MOLAR_MASS_G_PER_MOL[analyte] / Decimal(1000)
    else:
        raise LevelUnitError(
            "unit", f"Unknown unit {unit!r}; known units: {', '.join(KNOWN_UNITS)}."
        )
    ng_ml = ng_ml.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    if ng_ml > MAX_NG_ML:
        raise LevelUnitError(
            field,
            f"{value} {unit} is {ng_ml} ng/mL, above the plausible maximum of {MAX_NG_ML} ng/mL; "
            "check the value and unit.",
        )
    return ng_ml


# A value sent as ng/mL (or µg/L) this small but above zero is far more likely a level in mg/L
# (0.42 mg/L = 420 ng/mL) than a real level: it is asked to be confirmed, never stored silently
# as "undetectable" (or, worse, taken for a true low level).
UNIT_SLIP_BELOW = Decimal(5)


def looks_like_mg_per_l(value: Decimal, unit: str) -> bool:
    name = canonical_unit(unit or "")
    return MASS_FACTORS.get(name) == Decimal(1) and Decimal(0) < value < UNIT_SLIP_BELOW
