"""The code book (LOINC and local codes) and the unit spellings labs use."""

from __future__ import annotations

from decimal import Decimal

import pytest

from feeds.codes import Analyte, CodeBook
from monitoring.units import UnitError, to_per_ul


@pytest.mark.parametrize(
    ("codes", "analyte"),
    [
        ([("751-8", "LN")], Analyte.ANC),
        ([("753-4", "LN")], Analyte.ANC),  # the manual absolute count
        ([("26499-4", "http://loinc.org")], Analyte.ANC),
        ([("6690-2", "LN")], Analyte.WBC),
        ([("26464-8", "LN")], Analyte.WBC),
        ([("804-5", "LN")], Analyte.WBC),
        ([("770-8", "LN")], Analyte.NEUTROPHIL_PERCENT),
        ([("23761-0", "LN")], Analyte.NEUTROPHIL_PERCENT),
        ([("26511-6", "LN")], Analyte.NEUTROPHIL_PERCENT),
        # Band neutrophils are recognised as bands, never as the neutrophil percent or count.
        ([("26508-2", "LN")], Analyte.BAND_PERCENT),
        ([("764-1", "LN")], Analyte.BAND_PERCENT),
        ([("35332-6", "LN")], Analyte.BAND_PERCENT),
        ([("763-3", "LN")], Analyte.BAND_COUNT),
        ([("26507-4", "LN")], Analyte.BAND_COUNT),
        ([("751-8", "")], Analyte.ANC),  # a bare LOINC-shaped code
        ([("751-8", "L")], None),  # a local code system that happens to say 751-8
        ([("NEUT", "L"), ("751-8", "LN")], Analyte.ANC),  # the alternate identifier
        ([("718-7", "LN")], None),
        ([("769-0", "LN")], None),  # a LOINC code the rules do not read: held, never guessed
        ([("ANC1", "L")], Analyte.ANC),  # mapped for this lab
        ([("ANC2", "L")], Analyte.ANC),  # mapped for every lab
        ([("ANC3", "L")], None),  # mapped for another lab only
        ([("SEG", "L")], Analyte.SEGMENTED_PERCENT),  # mapped by meaning, confirmed
    ],
)
def test_the_code_book_maps_loinc_and_local_codes(codes, analyte):
    book = CodeBook(
        [
            ("ACME", "ANC1", "751-8", ""),
            ("", "ANC2", "751-8", ""),
            ("OTHER", "ANC3", "751-8", ""),
            ("ACME", "SEG", "", "segmented_neutrophil_percent"),
        ]
    )
    assert book.analyte_for(lab="ACME", codes=codes) == analyte


@pytest.mark.parametrize(
    ("value", "unit", "per_ul"),
    [
        ("2500", "cells/µL", 2500),
        ("2500", "/cmm", 2500),
        ("2.5", "x10^3/uL", 2500),
        ("2.5", "10E3/uL", 2500),
        ("2.5", "K/µL", 2500),
        ("2.5", "thou/uL", 2500),
        ("2.5", "10*9/l", 2500),
        ("2.5", "G/L", 2500),
        ("1.4999", "10*3/uL", 1499),  # never rounded up into a better band
    ],
)
def test_lab_unit_spellings_convert_exactly(value, unit, per_ul):
    assert to_per_ul(Decimal(value), unit) == per_ul


@pytest.mark.parametrize("unit", ["mmol/L", "10*6/uL", "mg/dL", "%", "K"])
def test_other_units_are_unknown_never_guessed(unit):
    with pytest.raises(UnitError):
        to_per_ul(Decimal("2.5"), unit)
