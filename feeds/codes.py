"""Which laboratory codes are the counts the rules read (docs/rules.md §8).

LOINC names, as published by Regenstrief (loinc.org), for each code mapped here:
- Absolute neutrophil count: 751-8 Neutrophils [#/volume] in Blood by Automated count,
  753-4 ... by Manual count, 26499-4 Neutrophils [#/volume] in Blood (method unspecified);
- WBC: 6690-2 Leukocytes [#/volume] in Blood by Automated count, 804-5 ... by Manual count,
  26464-8 Leukocytes [#/volume] in Blood;
- Neutrophils per 100 leukocytes: 770-8 (automated), 23761-0 (manual), 26511-6 (unspecified);
- Band neutrophils per 100 leukocytes: 764-1 (manual), 26508-2 (unspecified), 35332-6
  (automated); band neutrophils #/volume: 763-3 (manual), 26507-4 (unspecified).

Band counts are recognised so that they are never read as something else: a band percent is not
the neutrophil percent, and a band count is not the ANC. Alone (or with a WBC) they derive
nothing. A lab that reports segmented and band neutrophils as separate percentages gives an ANC
of WBC x (segmented % + band %) / 100, but only through a local code an administrator has mapped
to `segmented_neutrophil_percent` and confirmed (LOINC has no code the rules could trust for
"segmented" alone, so the mapping names the meaning, not a LOINC code).

A lab that sends its own codes is mapped through `LabCodeMapping`, edited by administrators. A
code that is neither a LOINC code listed here nor mapped is unknown: held, never guessed.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from feeds.models import LabCodeMapping


class Analyte(StrEnum):
    ANC = "anc"
    WBC = "wbc"
    NEUTROPHIL_PERCENT = "neutrophil_percent"
    BAND_PERCENT = "band_neutrophil_percent"
    BAND_COUNT = "band_neutrophil_count"
    # Only through a confirmed local mapping (see the module docstring).
    SEGMENTED_PERCENT = "segmented_neutrophil_percent"


LOINC_ANALYTES: dict[str, Analyte] = {
    "751-8": Analyte.ANC,
    "753-4": Analyte.ANC,
    "26499-4": Analyte.ANC,
    "6690-2": Analyte.WBC,
    "804-5": Analyte.WBC,
    "26464-8": Analyte.WBC,
    "770-8": Analyte.NEUTROPHIL_PERCENT,
    "23761-0": Analyte.NEUTROPHIL_PERCENT,
    "26511-6": Analyte.NEUTROPHIL_PERCENT,
    "764-1": Analyte.BAND_PERCENT,
    "26508-2": Analyte.BAND_PERCENT,
    "35332-6": Analyte.BAND_PERCENT,
    "763-3": Analyte.BAND_COUNT,
    "26507-4": Analyte.BAND_COUNT,
}
# The analytes a local code may be mapped to without a LOINC code: the mapping itself says what
# the code counts, and an administrator confirms it.
MAPPED_ONLY_ANALYTES = frozenset({Analyte.SEGMENTED_PERCENT})
# The LOINC for each analyte when results are exported (FHIR).
ANALYTE_LOINC = {Analyte.ANC: "751-8", Analyte.WBC: "6690-2", Analyte.NEUTROPHIL_PERCENT: "770-8"}
LOINC_SYSTEMS = frozenset({"LN", "LOINC", "http://loinc.org"})


class CodeBook:
    """LOINC plus the administrators' local-code table, read once per batch."""

    def __init__(self, mappings: Iterable[tuple[str, str, str, str]]) -> None:
        """`mappings`: (lab, local code, LOINC, analyte) rows; the LOINC decides when given."""
        self._local: dict[tuple[str, str], Analyte] = {}
        for lab, code, loinc, analyte in mappings:
            meaning = LOINC_ANALYTES.get(loinc.strip()) if loinc.strip() else None
            if meaning is None and analyte in MAPPED_ONLY_ANALYTES:
                meaning = Analyte(analyte)
            if meaning is not None:
                self._local[(lab, code)] = meaning

    @classmethod
    def load(cls) -> CodeBook:
        # A mapping to a meaning without a LOINC code counts only once it is confirmed.
        rows = LabCodeMapping.objects.exclude(loinc="", confirmed_at__isnull=True).values_list(
            "lab", "local_code", "loinc", "analyte"
        )
        return cls(rows)

    def analyte_for(self, *, lab: str, codes: Iterable[tuple[str, str]]) -> Analyte | None:
        """What the (code, coding system) pairs count: a LOINC-coded one first, then a local
        code mapped for this lab, then one mapped for every lab; None when none is known."""
        pairs = [(code.strip(), system.strip()) for code, system in codes if code.strip()]
        for code, system in pairs:
            if code in LOINC_ANALYTES and (system in LOINC_SYSTEMS or not system):
                return LOINC_ANALYTES[code]
        for code, _ in pairs:
            for key in ((lab, code), ("", code)):
                if key in self._local:
                    return self._local[key]
        return None
