"""Renal dosing rules: for the ingredients whose labels or guidelines change the dose or forbid the drug as kidney
function falls, the eGFR band each rule covers, what to do, and where it is written.

Labels state their limits in creatinine clearance (Cockcroft-Gault, mL/min) and guidelines in eGFR
(mL/min/1.73 m²); a node holds eGFR, so the rules are read against the latest eGFR and every alert says the label's
measure is creatinine clearance where it is. A band is [low, high): "below 30" is low 0, high 30. A `Dose` is the
most a band allows; an order at or under it is within the rule.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from careledger.insight._model import LOINC, RXNORM, Code
from careledger.insight.knowledge._drugs import ingredients

Severity = Literal["info", "warning", "critical"]

# The eGFR observations the rules read: CKD-EPI 2021 (race-free), CKD-EPI 2009, and MDRD, newest first wins.
EGFR: tuple[Code, ...] = (Code(LOINC, "98979-8"), Code(LOINC, "62238-1"), Code(LOINC, "33914-3"))

FDA_METFORMIN = (
    "FDA Drug Safety Communication: revised warnings for metformin in reduced kidney function (2016-04-08)",
    "https://www.fda.gov/drugs/drug-safety-and-availability/fda-drug-safety-communication-fda-revises-warnings-"
    "regarding-use-diabetes-medicine-metformin-certain",
)
KDIGO_DIABETES = (
    "KDIGO 2022 Clinical Practice Guideline for Diabetes Management in CKD (Kidney Int 2022;102:S1-S127)",
    "https://kdigo.org/guidelines/diabetes-ckd/",
)
KDIGO_CKD = (
    "KDIGO 2024 Clinical Practice Guideline for the Evaluation and Management of CKD, 3.11 (medication management)",
    "https://kdigo.org/guidelines/ckd-evaluation-and-management/",
)
BEERS = (
    "2023 American Geriatrics Society Beers Criteria, Table 6 (J Am Geriatr Soc 2023;71:2052-2081)",
    "https://doi.org/10.1111/jgs.18372",
)


def _label(name: str, holder: str) -> tuple[str, str]:
    """A prescribing label as a source: who publishes it and where DailyMed or the EMA shows it."""
    if holder == "EMA":
        return (
            f"{name.capitalize()}: EMA summary of product characteristics, 4.2 and 4.3",
            f"https://www.ema.europa.eu/en/medicines/human/EPAR/{name}",
        )
    return (
        f"{name.capitalize()} ({holder}): FDA prescribing information, 2.x Dosage in renal impairment",
        f"https://dailymed.nlm.nih.gov/dailymed/search.cfm?query={name}",
    )


@dataclass(frozen=True, slots=True)
class Dose:
    """The most a band allows: `amount` `unit` taken `per_day` times a day."""

    amount: float
    unit: str
    per_day: int

    @property
    def daily(self) -> float:
        """The most a day, which an order's daily amount is compared with."""
        return self.amount * self.per_day

    def __str__(self) -> str:
        times = {1: "once a day", 2: "twice a day", 3: "three times a day"}.get(self.per_day, f"{self.per_day}x a day")
        return f"{self.amount:g} {self.unit} {times}"


@dataclass(frozen=True, slots=True)
class RenalRule:
    """One ingredient's rule for one eGFR band: `summary` (what is wrong, for a card), `advice` (what to do), the
    `source` and its `url`, and the reduced `dose` when the rule gives one."""

    ingredient: str
    low: float
    high: float
    severity: Severity
    summary: str
    advice: str
    source: str
    url: str
    dose: Dose | None = None

    def covers(self, egfr: float) -> bool:
        """Whether `egfr` falls in the band [low, high)."""
        return self.low <= egfr < self.high


def _rule(
    rxcui: str,
    band: tuple[float, float],
    severity: Severity,
    summary: str,
    advice: str,
    source: tuple[str, str],
    dose: Dose | None = None,
) -> RenalRule:
    return RenalRule(rxcui, band[0], band[1], severity, summary, advice, source[0], source[1], dose)


_NONE = 0.0
# A band's high edge is excluded; the labels' "CrCl 15-50" and "≤ 50" include 50 itself, and eGFR is a float.
_THROUGH_50 = math.nextafter(50.0, math.inf)
_CRCL = " The label states creatinine clearance (Cockcroft-Gault); eGFR stands in for it here."

RULES: tuple[RenalRule, ...] = (
    # metformin
    _rule(
        "6809",
        (_NONE, 30),
        "critical",
        "Metformin is contraindicated below eGFR 30",
        "Do not give metformin: the risk of lactic acidosis rises as eGFR falls. Stop it if already taken.",
        FDA_METFORMIN,
    ),
    _rule(
        "6809",
        (30, 45),
        "warning",
        "Metformin: do not start at eGFR 30-45; at most 1000 mg a day",
        "Starting metformin at eGFR 30-45 is not recommended (FDA). If the patient already takes it, weigh "
        "benefit against risk and reduce to at most 1000 mg a day (KDIGO 2022); check eGFR every 3-6 months.",
        KDIGO_DIABETES,
        Dose(500, "mg", 2),
    ),
    # nitrofurantoin
    _rule(
        "7454",
        (_NONE, 30),
        "critical",
        "Nitrofurantoin: avoid below eGFR 30",
        "Avoid nitrofurantoin: it fails to reach the urine in effective concentration and accumulates to "
        "toxicity (neuropathy, hepatotoxicity). Choose another agent." + _CRCL,
        BEERS,
    ),
    # DOACs (non-valvular atrial fibrillation doses)
    _rule(
        "1546356",
        (_NONE, 30),
        "critical",
        "Dabigatran: contraindicated below eGFR 30",
        "Do not give dabigatran in severe renal impairment: it is cleared mainly by the kidney." + _CRCL,
        _label("pradaxa", "EMA"),
    ),
    _rule(
        "1114195",
        (_NONE, 15),
        "critical",
        "Rivaroxaban: not recommended below eGFR 15",
        "Avoid rivaroxaban below 15 outside dialysis: no trial data, higher exposure." + _CRCL,
        _label("xarelto", "EMA"),
    ),
    _rule(
        "1114195",
        (15, _THROUGH_50),
        "warning",
        "Rivaroxaban: 15 mg once daily at eGFR 15-50",
        "In atrial fibrillation, reduce to 15 mg once daily with the evening meal." + _CRCL,
        _label("rivaroxaban", "Janssen"),
        Dose(15, "mg", 1),
    ),
    _rule(
        "1364430",
        (_NONE, 15),
        "critical",
        "Apixaban: not recommended below eGFR 15",
        "Avoid apixaban below 15 outside dialysis: no clinical experience." + _CRCL,
        _label("eliquis", "EMA"),
    ),
    _rule(
        "1364430",
        (15, 30),
        "warning",
        "Apixaban: 2.5 mg twice daily at eGFR 15-29",
        "In atrial fibrillation, reduce to 2.5 mg twice daily." + _CRCL,
        _label("eliquis", "EMA"),
        Dose(2.5, "mg", 2),
    ),
    _rule(
        "1599538",
        (_NONE, 15),
        "critical",
        "Edoxaban: not recommended below eGFR 15",
        "Avoid edoxaban below 15." + _CRCL,
        _label("edoxaban", "Daiichi Sankyo"),
    ),
    _rule(
        "1599538",
        (15, _THROUGH_50),
        "warning",
        "Edoxaban: 30 mg once daily at eGFR 15-50",
        "In atrial fibrillation, reduce to 30 mg once daily." + _CRCL,
        _label("edoxaban", "Daiichi Sankyo"),
        Dose(30, "mg", 1),
    ),
    # gabapentinoids
    _rule(
        "25480",
        (_NONE, 15),
        "warning",
        "Gabapentin: at most 300 mg a day below eGFR 15",
        "Reduce gabapentin to 100-300 mg a day in one dose." + _CRCL,
        _label("gabapentin", "Pfizer"),
        Dose(300, "mg", 1),
    ),
    _rule(
        "25480",
        (15, 30),
        "warning",
        "Gabapentin: at most 700 mg a day at eGFR 15-29",
        "Reduce gabapentin to 200-700 mg a day in one dose." + _CRCL,
        _label("gabapentin", "Pfizer"),
        Dose(700, "mg", 1),
    ),
    _rule(
        "25480",
        (30, 60),
        "warning",
        "Gabapentin: at most 1400 mg a day at eGFR 30-59",
        "Reduce gabapentin to 400-1400 mg a day in two doses." + _CRCL,
        _label("gabapentin", "Pfizer"),
        Dose(700, "mg", 2),
    ),
    _rule(
        "187832",
        (_NONE, 60),
        "warning",
        "Pregabalin: reduce the dose below eGFR 60",
        "Reduce pregabalin to 75-300 mg a day at 30-59, 25-150 mg at 15-29 and 25-75 mg below 15." + _CRCL,
        _label("pregabalin", "Pfizer"),
    ),
    # SGLT2 inhibitors
    _rule(
        "1545653",
        (_NONE, 20),
        "warning",
        "Empagliflozin: do not start below eGFR 20",
        "Starting empagliflozin below 20 is not recommended; it does not lower glucose below 30.",
        _label("empagliflozin", "Boehringer Ingelheim"),
    ),
    _rule(
        "1488564",
        (_NONE, 25),
        "warning",
        "Dapagliflozin: do not start below eGFR 25",
        "Starting dapagliflozin below 25 is not recommended; it does not lower glucose below 45.",
        _label("dapagliflozin", "AstraZeneca"),
    ),
    _rule(
        "1373458",
        (_NONE, 30),
        "warning",
        "Canagliflozin: do not start below eGFR 30",
        "Starting canagliflozin below 30 is not recommended.",
        _label("canagliflozin", "Janssen"),
    ),
    _rule(
        "1373458",
        (30, 60),
        "warning",
        "Canagliflozin: 100 mg once daily at eGFR 30-59",
        "Limit canagliflozin to 100 mg once daily.",
        _label("canagliflozin", "Janssen"),
        Dose(100, "mg", 1),
    ),
)

# NSAIDs: every M01A ingredient the table knows shares the one rule.
_NSAIDS = ("5640", "7258", "3355", "5781", "35827", "41493", "140587")
RULES += tuple(
    _rule(
        rxcui,
        (_NONE, 30),
        "critical",
        "NSAIDs: avoid below eGFR 30",
        "Avoid NSAIDs: they lower renal blood flow and can cause acute kidney injury; use paracetamol or a "
        "topical agent.",
        KDIGO_CKD,
    )
    for rxcui in _NSAIDS
)

_BY_INGREDIENT: dict[str, tuple[RenalRule, ...]] = {
    rxcui: tuple(r for r in RULES if r.ingredient == rxcui) for rxcui in {r.ingredient for r in RULES}
}


def renal_rules(code: Code) -> tuple[RenalRule, ...]:
    """Every renal rule of the medication's ingredients (empty when none is renally dosed or the code is unknown)."""
    found = sorted(ingredients(code), key=lambda c: c.code)
    return tuple(r for c in found if c.system == RXNORM for r in _BY_INGREDIENT.get(c.code, ()))


def rules_at(code: Code, egfr: float) -> tuple[RenalRule, ...]:
    """The rules of the medication's ingredients whose band covers `egfr` (mL/min/1.73 m²)."""
    return tuple(r for r in renal_rules(code) if r.covers(egfr))
