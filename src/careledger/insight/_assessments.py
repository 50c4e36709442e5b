"""A score's result as FHIR: a RiskAssessment (or an Observation, for a score that is a measurement such as eGFR)
naming its equation and version and pointing at every record it read; a score that could not be computed becomes an
OperationOutcome issue saying what was missing.

    Assessment ──► RiskAssessment: method = equation id + version, basis = inputs' sources,
                   prediction = probability (risk equations) or band, note = inputs, mitigation = what would lower it
               └─► Observation (score.observation): code, valueQuantity, derivedFrom = inputs' sources, method
    CannotCompute ──► OperationOutcome issue (information): "cannot compute: no HDL cholesterol in the last 5 years"

What the `Score` protocol leaves out, a score may say with optional attributes: `probability = True` (its value is
a probability, written as `probabilityDecimal`), and, for an Observation score, `code` (a `Code`, e.g. LOINC
98979-8) and `unit` (a UCUM code); without them the Observation is coded by the equation and counted in `{score}`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from careledger.fhir.systems import UCUM
from careledger.insight._model import Assessment, CannotCompute, Code, Facts, Result, Score

RISK_EQUATION = "https://careledger.org/fhir/CodeSystem/risk-equation"
POINTS = "{score}"


def as_fhir(result: Result, facts: Facts, score: Score) -> dict[str, Any]:
    """`result` of `score` on `facts` as the FHIR resource that records it (not yet stored: no id)."""
    if isinstance(result, CannotCompute):
        return outcome([(score, result)])
    if score.observation:
        return _observation(result, facts, score)
    return _risk_assessment(result, facts, score)


def outcome(refused: Iterable[tuple[Score, CannotCompute]]) -> dict[str, Any]:
    """One OperationOutcome with an information issue per score that could not be computed, saying why."""
    return {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": "information",
                "code": "incomplete",
                "details": {"coding": [_equation(score)], "text": score.title},
                "diagnostics": str(result),
            }
            for score, result in refused
        ],
    }


def _risk_assessment(result: Assessment, facts: Facts, score: Score) -> dict[str, Any]:
    prediction: dict[str, Any] = {"qualitativeRisk": {"text": result.band}, "rationale": result.display}
    if getattr(score, "probability", False):
        prediction["probabilityDecimal"] = round(result.value, 6)
    resource: dict[str, Any] = {
        "resourceType": "RiskAssessment",
        "status": "final",
        "method": {"coding": [_equation(score)], "text": score.citation},
        "code": {"text": score.title},
        "subject": {"reference": f"Patient/{facts.patient}"},
        "occurrenceDateTime": facts.on.isoformat(),
        "prediction": [prediction],
        "note": _notes(result, score),
    }
    basis = _sources(result)
    if basis:
        resource["basis"] = basis
    if result.lowering:
        resource["mitigation"] = "; ".join(f"{low.change}: {as_read(low.value, score)}" for low in result.lowering)
    return resource


def _observation(result: Assessment, facts: Facts, score: Score) -> dict[str, Any]:
    code = getattr(score, "code", None)
    unit = getattr(score, "unit", POINTS)
    coding = {"system": code.system, "code": code.code} if isinstance(code, Code) else _equation(score)
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [coding], "text": score.title},
        "subject": {"reference": f"Patient/{facts.patient}"},
        "effectiveDateTime": facts.on.isoformat(),
        "valueQuantity": {"value": round(result.value, 4), "unit": unit, "system": UCUM, "code": unit},
        "interpretation": [{"text": result.band}],
        "method": {"coding": [_equation(score)], "text": score.citation},
        "note": _notes(result, score),
    }
    # derivedFrom names records an Observation is derived from: not her Patient (age, sex), already its subject
    derived = [s for s in _sources(result) if s != resource["subject"]]
    if derived:
        resource["derivedFrom"] = derived
    return resource


def _equation(score: Score) -> dict[str, str]:
    """The coding of a score's equation and its version in CareLedger's code system."""
    return {"system": RISK_EQUATION, "code": score.id, "version": score.version, "display": score.title}


def _sources(result: Assessment) -> list[dict[str, str]]:
    """References to the records the inputs came from, each once, in the order used."""
    return [{"reference": source} for source in dict.fromkeys(i.source for i in result.inputs if i.source)]


def _notes(result: Assessment, score: Score) -> list[dict[str, str]]:
    """The inputs as read, the equation and its version, and why it alerts, for a reader of the record."""
    inputs = "; ".join(f"{i.label}: {i.value}" for i in result.inputs)
    notes = [f"{result.display}. Inputs: {inputs}.", f"{score.title}, {score.version}. {score.citation} {score.url}"]
    if result.alert and result.why:
        notes.append(result.why)
    return [{"text": text} for text in notes]


def as_read(value: float, score: Score) -> str:
    """A score's value as a reader takes it: a probability in per cent, anything else (points, a rate) as the score
    counts it. The one wording of a value for FHIR notes, CDS cards and the portal."""
    return f"{value * 100:.1f} %" if getattr(score, "probability", False) else f"{value:g}"
