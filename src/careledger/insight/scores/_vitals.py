"""The bedside observations NEWS2 and qSOFA both read, and how: the same day's value (Facts carries dates, not
times, so "the last 24 hours" of the RCP chart is read as "today", the day of `Facts.on`), and the level of
consciousness as one ACVPU letter from a coded answer.

ACVPU answers are the SNOMED CT codes of the NHS NEWS2 observation set (Royal College of Physicians, NEWS2 2017,
as the PRSB/NHS England FHIR profiles bind them): matched by exact code, a descendant not listed is not read.
"""

from __future__ import annotations

from datetime import timedelta

from careledger.insight._model import LOINC, SNOMED, Code, Facts, Finding, Input
from careledger.insight.scores._reading import Bounds, Reading, Window

RESPIRATORY_RATE = Code(LOINC, "9279-1")
# SpO2 by pulse oximetry, and arterial oxygen saturation.
OXYGEN_SATURATION = (Code(LOINC, "59408-5"), Code(LOINC, "2708-6"))
SYSTOLIC_BP = Code(LOINC, "8480-6")
PULSE = Code(LOINC, "8867-4")
TEMPERATURE = Code(LOINC, "8310-5")
GLASGOW_COMA_SCALE = Code(LOINC, "9269-2")

TODAY = Window(timedelta(0), "today")

# Plausibility, not the scores' own ranges: a value outside is far likelier a unit or typing error than a patient.
RESPIRATORY_RANGE = Bounds(0, 80, "/min")
SATURATION_RANGE = Bounds(50, 100, "%")
SYSTOLIC_RANGE = Bounds(40, 300, "mmHg")
PULSE_RANGE = Bounds(20, 300, "/min")
TEMPERATURE_RANGE = Bounds(25, 45, "°C")
GCS_RANGE = Bounds(3, 15, "points")

# ACVPU: Alert, new Confusion, responds to Voice, to Pain, Unresponsive (RCP NEWS2 2017, chart 1).
ACVPU: dict[Code, str] = {
    Code(SNOMED, "248234008"): "A",  # Mentally alert
    Code(SNOMED, "1104441000000107"): "C",  # New confusion (UK extension)
    Code(SNOMED, "130987000"): "C",  # Acute confusion
    Code(SNOMED, "300202002"): "V",  # Responds to voice
    Code(SNOMED, "450847001"): "P",  # Responds to pain
    Code(SNOMED, "422768004"): "U",  # Unresponsive
}
ACVPU_WORDS = {
    "A": "alert",
    "C": "new confusion",
    "V": "responds to voice",
    "P": "responds to pain",
    "U": "unresponsive",
}


def today(facts: Facts, codes: dict[Code, str]) -> Finding | None:
    """The newest coded answer of `codes` dated the day of `facts.on` (an undated answer is not today's)."""
    given = [f for f in facts.answers if f.code in codes and f.when == facts.on]
    return given[-1] if given else None


def consciousness(reading: Reading, gap: str = "no level of consciousness (ACVPU) today") -> str | None:
    """The ACVPU letter recorded today, as an Input; the `gap` when none was."""
    found = today(reading.facts, ACVPU)
    if found is None:
        reading.missing.append(gap)
        return None
    letter = ACVPU[found.code]
    reading.inputs.append(Input("Consciousness (ACVPU)", f"{letter}: {ACVPU_WORDS[letter]}", found.source))
    return letter
