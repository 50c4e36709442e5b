"""NEWS2, the National Early Warning Score 2: six bedside observations and whether the patient breathes air or
oxygen, each banded to 0-3 points, summed to 0-20.

Source: Royal College of Physicians. National Early Warning Score (NEWS) 2: Standardising the assessment of
acute-illness severity in the NHS. Updated report of a working party. London: RCP, 2017 (Chart 1: the NEWS
scoring system; Chart 2: thresholds and triggers).

What this reading of the record decides, and why:
- "Within the last 24 hours" is "the same day as `Facts.on`": Facts carries dates, not times. Each observation is
  the newest of that day; none that day is a gap (the chart is never filled from an older value).
- Air or oxygen is a coded answer (SNOMED 371825009 patient on oxygen / 722742002 breathing room air), or else an
  inhaled oxygen concentration (LOINC 3150-0, above 21 % is oxygen) or oxygen flow rate (LOINC 3151-8, above
  0 L/min) of that day.
- SpO2 scale 2 (target 88-92 %) is for patients with hypercapnic respiratory failure for whom a clinician has
  prescribed that target; the record says so only as a Condition, so scale 2 is used when an active hypercapnic
  respiratory failure (ICD-10-CM J96.x2) is on the problem list, scale 1 otherwise, and the Input says which.
"""

from __future__ import annotations

from careledger.insight._model import ICD10, LOINC, SNOMED, Assessment, Code, Facts, Input, Result
from careledger.insight.scores._points import Table, award, plural, points
from careledger.insight.scores._reading import Bounds, Reading
from careledger.insight.scores._vitals import (
    OXYGEN_SATURATION,
    PULSE,
    PULSE_RANGE,
    RESPIRATORY_RANGE,
    RESPIRATORY_RATE,
    SATURATION_RANGE,
    SYSTOLIC_BP,
    SYSTOLIC_RANGE,
    TEMPERATURE,
    TEMPERATURE_RANGE,
    TODAY,
    consciousness,
    today,
)

VERSION = "NEWS2 (Royal College of Physicians 2017)"
OPEN = float("inf")

# Chart 1, row by row: (highest value of the band, points).
RESPIRATION_POINTS: Table = ((8, 3), (11, 1), (20, 0), (24, 2), (OPEN, 3))
SPO2_SCALE_1_POINTS: Table = ((91, 3), (93, 2), (95, 1), (OPEN, 0))
# Scale 2: 88-92 % scores 0, and so does ≥ 93 % on air; on oxygen, ≥ 93 % scores 1-3 (over-oxygenation).
SPO2_SCALE_2_AIR_POINTS: Table = ((83, 3), (85, 2), (87, 1), (OPEN, 0))
SPO2_SCALE_2_OXYGEN_POINTS: Table = ((83, 3), (85, 2), (87, 1), (92, 0), (94, 1), (96, 2), (OPEN, 3))
OXYGEN_POINTS = 2
SYSTOLIC_POINTS: Table = ((90, 3), (100, 2), (110, 1), (219, 0), (OPEN, 3))
PULSE_POINTS: Table = ((40, 3), (50, 1), (90, 0), (110, 1), (130, 2), (OPEN, 3))
CONSCIOUSNESS_POINTS = {"A": 0, "C": 3, "V": 3, "P": 3, "U": 3}
TEMPERATURE_POINTS: Table = ((35.0, 3), (36.0, 1), (38.0, 0), (39.0, 1), (OPEN, 2))

# Chart 2: aggregate 0-4 low, 3 in any single parameter low-medium, 5-6 medium, 7 or more high.
MEDIUM_FROM = 5
HIGH_FROM = 7
RED_SCORE = 3

ON_OXYGEN = {Code(SNOMED, "371825009"): "oxygen", Code(SNOMED, "722742002"): "air"}
INHALED_OXYGEN_CONCENTRATION = Code(LOINC, "3150-0")
OXYGEN_FLOW_RATE = Code(LOINC, "3151-8")
ROOM_AIR_PERCENT = 21.0
FIO2_RANGE = Bounds(21, 100, "%")
FLOW_RANGE = Bounds(0, 70, "L/min")
# Acute, chronic, acute-on-chronic and unspecified respiratory failure with hypercapnia.
HYPERCAPNIC_RESPIRATORY_FAILURE = frozenset(Code(ICD10, c) for c in ("J96.02", "J96.12", "J96.22", "J96.92"))


class News2:
    """NEWS2 as an Observation (SNOMED CT 1104051000000101, the NHS's code for the NEWS2 total score)."""

    id = "news2"
    title = "NEWS2 (National Early Warning Score 2)"
    version = VERSION
    citation = (
        "Royal College of Physicians. National Early Warning Score (NEWS) 2: Standardising the assessment of "
        "acute-illness severity in the NHS. Updated report of a working party. London: RCP, 2017."
    )
    url = "https://www.rcp.ac.uk/improving-care/resources/national-early-warning-score-news-2/"
    observation = True
    code = Code(SNOMED, "1104051000000101")
    unit = "{score}"

    def assess(self, facts: Facts) -> Result:
        """The total, its clinical risk and trigger, from today's observations; each missing one a gap."""
        reading = Reading(facts)
        scored: list[int] = []
        rate = reading.measurement("respiratory rate", [RESPIRATORY_RATE], TODAY, RESPIRATORY_RANGE)
        if rate is not None:
            scored.append(award(reading, points(rate.value, RESPIRATION_POINTS)))
        oxygen = _air_or_oxygen(reading)
        scale_2 = facts.has(facts.conditions, HYPERCAPNIC_RESPIRATORY_FAILURE)
        reading.inputs.append(
            Input(
                "SpO2 scale",
                "2 (hypercapnic respiratory failure)" if scale_2 else "1",
                getattr(scale_2, "source", None),
            )
        )
        saturation = reading.measurement("oxygen saturation", OXYGEN_SATURATION, TODAY, SATURATION_RANGE)
        if saturation is not None and oxygen is not None:
            table = SPO2_SCALE_1_POINTS
            if scale_2:
                table = SPO2_SCALE_2_OXYGEN_POINTS if oxygen else SPO2_SCALE_2_AIR_POINTS
            scored.append(award(reading, points(saturation.value, table)))
        if oxygen is not None:
            scored.append(OXYGEN_POINTS if oxygen else 0)
        systolic = reading.measurement("systolic blood pressure", [SYSTOLIC_BP], TODAY, SYSTOLIC_RANGE)
        if systolic is not None:
            scored.append(award(reading, points(systolic.value, SYSTOLIC_POINTS)))
        pulse = reading.measurement("pulse rate", [PULSE], TODAY, PULSE_RANGE)
        if pulse is not None:
            scored.append(award(reading, points(pulse.value, PULSE_POINTS)))
        letter = consciousness(reading)
        if letter is not None:
            scored.append(award(reading, CONSCIOUSNESS_POINTS[letter]))
        temperature = reading.measurement("temperature", [TEMPERATURE], TODAY, TEMPERATURE_RANGE)
        if temperature is not None:
            scored.append(award(reading, points(temperature.value, TEMPERATURE_POINTS)))
        refused = reading.refused(self.id, self.version)
        if refused is not None:
            return refused
        return _assessment(self, sum(scored), max(scored), tuple(reading.inputs))


def _air_or_oxygen(reading: Reading) -> bool | None:
    """True on supplemental oxygen today, False on air, None (a gap) when the record does not say."""
    facts = reading.facts
    answer = today(facts, ON_OXYGEN)
    if answer is not None:
        oxygen = ON_OXYGEN[answer.code] == "oxygen"
        reading.inputs.append(Input("Air or oxygen", _oxygen_words(oxygen), answer.source))
        return oxygen
    fio2 = facts.latest([INHALED_OXYGEN_CONCENTRATION], within=TODAY.span)
    flow = facts.latest([OXYGEN_FLOW_RATE], within=TODAY.span)
    if fio2 is not None and fio2.value in FIO2_RANGE:
        oxygen = fio2.value > ROOM_AIR_PERCENT
        shown = f"{_oxygen_words(oxygen)} (inhaled oxygen {fio2.value:g} %)"
        reading.inputs.append(Input("Air or oxygen", shown, fio2.source))
        return oxygen
    if flow is not None and flow.value in FLOW_RANGE:
        oxygen = flow.value > 0
        shown = f"{_oxygen_words(oxygen)} (oxygen flow {flow.value:g} L/min)"
        reading.inputs.append(Input("Air or oxygen", shown, flow.source))
        return oxygen
    reading.missing.append("no record of air or supplemental oxygen today")
    return None


def _oxygen_words(oxygen: bool) -> str:
    return f"oxygen: {plural(OXYGEN_POINTS)}" if oxygen else "air: 0 points"


def _assessment(score: News2, total: int, highest: int, inputs: tuple[Input, ...]) -> Assessment:
    if total >= HIGH_FROM:
        band = "high"
    elif total >= MEDIUM_FROM:
        band = "medium"
    elif highest >= RED_SCORE:
        band = "low-medium"
    else:
        band = "low"
    why = ""
    if total >= MEDIUM_FROM:
        why = f"NEWS2 {total} (≥ {MEDIUM_FROM}): key threshold for an urgent clinical response"
    elif highest >= RED_SCORE:
        why = f"a single parameter scores {RED_SCORE}: urgent ward-based response"
    return Assessment(
        score=score.id,
        version=score.version,
        value=float(total),
        display=f"NEWS2 {total} ({band} clinical risk)",
        band=band,
        inputs=inputs,
        alert=bool(why),
        why=why,
    )


NEWS2 = News2()
