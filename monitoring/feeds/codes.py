"""Which laboratory codes are the counts the rules read (issue 4).

LOINC names, as published by Regenstrief (loinc.org), for each code mapped here:
- 751-8   Neutrophils [#/volume] in Blood by Automated count
- 26499-4 Neutrophils [#/volume] in Blood
- 6690-2  Leukocytes [#/volume] in Blood by Automated count
- 804-5   Leukocytes [#/volume] in Blood by Manual count
- 26464-8 Leukocytes [#/volume] in Blood
- 770-8   Neutrophils/100 leukocytes in Blood by Automated count
- 26508-2 Neutrophils/100 leukocytes in Blood

A lab that sends its own codes is mapped through `LabCodeMapping`, edited by administrators.

753-4 (by its neighbours in LOINC, likely "Neutrophils [#/volume] in Blood by Manual count") is
not mapped: we could not confirm it against a LOINC source here, and filing an unknown count as
an ANC is the unsafe mistake. Results coded 753-4 are quarantined as `unknown_code`; once an
administrator has checked the code, a mapping of 753-4 to 751-8 in the code table (for one lab
or for all) makes them count.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from monitoring.models import LabCodeMapping


class Analyte(StrEnum):
    ANC = "anc"
    WBC = "wbc"
    NEUTROPHIL_PERCENT = "neutrophil_percent"


LOINC_ANALYTES: dict[str, Analyte] = {
    "751-8": Analyte.ANC,
    "26499-4": Analyte.ANC,
    "6690-2": Analyte.WBC,
    "804-5": Analyte.WBC,
    "26464-8": Analyte.WBC,
    "770-8": Analyte.NEUTROPHIL_PERCENT,
    "26508-2": Analyte.NEUTROPHIL_PERCENT,
}
# The LOINC for each analyte when results are exported (FHIR).
ANALYTE_LOINC = {Analyte.ANC: "751-8", Analyte.WBC: "6690-2", Analyte.NEUTROPHIL_PERCENT: "770-8"}
LOINC_SYSTEMS = frozenset({"LN", "LOINC", "http://loinc.org"})


class CodeBook:
    """LOINC plus the administrators' local-code table, read once per batch."""

    def __init__(self, mappings: Iterable[tuple[str, str, str]]) -> None:
        self._local = {(lab, code): loinc for lab, code, loinc in mappings}

    @classmethod
    def load(cls) -> CodeBook:
        return cls(LabCodeMapping.objects.values_list("lab", "local_code", "loinc"))

    def loinc_for(self, *, lab: str, codes: Iterable[tuple[str, str]]) -> str | None:
        """The LOINC among (code, coding system) pairs: a LOINC-coded one first, then a local
        code mapped for this lab, then one mapped for every lab."""
        pairs = [(code.strip(), system.strip()) for code, system in codes if code.strip()]
        for code, system in pairs:
            if code in LOINC_ANALYTES and (system in LOINC_SYSTEMS or not system):
                return code
        for code, _ in pairs:
            for key in ((lab, code), ("", code)):
                if key in self._local:
                    return self._local[key]
        return next((code for code, system in pairs if system in LOINC_SYSTEMS), None)

    def analyte_for(self, *, lab: str, codes: Iterable[tuple[str, str]]) -> Analyte | None:
        loinc = self.loinc_for(lab=lab, codes=codes)
        return LOINC_ANALYTES.get(loinc) if loinc else None
