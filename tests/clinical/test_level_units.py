"""clinical.units: ng/mL, µg/L, mg/L and nmol/L (with the molar masses) to ng/mL."""

from decimal import Decimal

import pytest

from clinical.units import MOLAR_MASS_G_PER_MOL, Analyte, LevelUnitError, to_ng_ml

C = Analyte.CLOZAPINE
N = Analyte.NORCLOZAPINE


def test_the_molar_masses_are_those_of_the_formulas():
    # C18H19ClN4 and C17H17ClN4 from standard atomic weights, to one decimal.
    weights = {"C": 12.011, "H": 1.008, "Cl": 35.45, "N": 14.007}

    def mass(c, h, n):
        return round(c * weights["C"] + h * weights["H"] + weights["Cl"] + n * weights["N"], 1)

    assert MOLAR_MASS_G_PER_MOL[C] == Decimal(str(mass(18, 19, 4))) == Decimal("326.8")
    assert MOLAR_MASS_G_PER_MOL[N] == Decimal(str(mass(17, 17, 4))) == Decimal("312.8")


@pytest.mark.parametrize(
    ("value", "unit", "analyte", "ng_ml"),
    [
        ("350", "ng/mL", C, "350.00"),
        ("350", "ng/ml", C, "350.00"),
        ("350", "ug/L", C, "350.00"),
        ("350", "µg/L", C, "350.00"),
        ("350", "μg/L", C, "350.00"),  # Greek mu
        ("0.35", "mg/L", C, "350.00"),
        ("1.071", "mg/L", N, "1071.00"),
        ("1000", "nmol/L", C, "326.80"),
        ("1071", "nmol/L", C, "350.00"),  # 1071 × 0.3268 = 350.0028
        ("1000", "nmol/L", N, "312.80"),
        ("1.0", "umol/L", C, "326.80"),
        ("1.0", "µmol/L", N, "312.80"),
        ("3060", "nmol/L", C, "1000.01"),
        ("0", "ng/mL", C, "0.00"),
    ],
)
def test_units_convert_to_ng_per_ml(value, unit, analyte, ng_ml):
    assert to_ng_ml(Decimal(value), unit, analyte) == Decimal(ng_ml)


def test_the_same_molar_value_is_a_different_mass_for_each_analyte():
    assert to_ng_ml(Decimal(1000), "nmol/L", C) > to_ng_ml(Decimal(1000), "nmol/L", N)


@pytest.mark.parametrize(
    ("value", "unit", "field"),
    [
        ("350", "", "unit"),
        ("350", "mmol/L", "unit"),
        ("350", "ng/dL", "unit"),
        ("-1", "ng/mL", "value"),
        ("25", "mg/L", "value"),  # 25 000 ng/mL: a typing or unit mistake
    ],
)
def test_unknown_units_and_implausible_values_are_refused(value, unit, field):
    with pytest.raises(LevelUnitError) as error:
        to_ng_ml(Decimal(value), unit, C)
    assert error.value.field == field
