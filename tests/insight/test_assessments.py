"""Scores as FHIR: a RiskAssessment naming its equation, version and basis; an Observation for eGFR; an
OperationOutcome issue saying what is missing. Each resource valid R4 (the record service's own parser)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from careledger.insight import LOINC, Assessment, CannotCompute, Facts
from careledger.insight._assessments import RISK_EQUATION, as_fhir, outcome
from careledger.insight._gather import facts_from_resources
from careledger.insight.scores._cha2ds2vasc import CHA2DS2_VASC
from careledger.insight.scores._ckd_epi import CKD_EPI
from careledger.insight.scores._pce import PCE
from careledger.records import parse_resource
from tests.insight import charts

ON = date(2026, 12, 6)


def _facts(*, hdl: bool = True, more: tuple[dict[str, Any], ...] = ()) -> Facts:
    found = charts.records("p1", ON, hdl=hdl)
    for name, resource in found.items():
        resource["id"] = name
    return facts_from_resources({**charts.patient(ON), "id": "p1"}, [*found.values(), *more], ON)


def test_pce_is_a_risk_assessment_with_its_equation_basis_and_probability() -> None:
    facts = _facts()
    result = PCE.assess(facts)
    assert isinstance(result, Assessment)
    resource = parse_resource(as_fhir(result, facts, PCE))
    assert resource["resourceType"] == "RiskAssessment"
    assert (resource["status"], resource["subject"], resource["occurrenceDateTime"]) == (
        "final",
        {"reference": "Patient/p1"},
        "2026-12-06",
    )
    (method,) = resource["method"]["coding"]
    assert (method["system"], method["code"], method["version"]) == (RISK_EQUATION, PCE.id, PCE.version)
    assert [b["reference"] for b in resource["basis"]] == [  # her Patient once, for both age and sex
        "Patient/p1",
        "Observation/total",
        "Observation/hdl",
        "Observation/pressure",
        "Observation/smoking",
    ]
    (prediction,) = resource["prediction"]
    assert round(prediction["probabilityDecimal"], 3) == charts.WHITE_WOMAN_RISK
    assert prediction["qualitativeRisk"]["text"] == result.band == "low"
    notes = " ".join(n["text"] for n in resource["note"])
    assert PCE.version in notes  # the equation's version
    assert "213" in notes  # and the inputs, as read


def test_what_would_lower_it_is_the_mitigation() -> None:
    smoker = {
        "resourceType": "Observation",
        "id": "smokes",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "72166-2"}]},
        "effectiveDateTime": "2026-12-01",
        "valueCodeableConcept": {"coding": [{"system": "http://snomed.info/sct", "code": "449868002"}]},
    }
    facts = _facts(more=(smoker,))  # her newest smoking status: every day
    result = PCE.assess(facts)
    assert isinstance(result, Assessment)
    assert result.lowering
    resource = as_fhir(result, facts, PCE)
    assert "stop smoking" in resource["mitigation"]
    assert "Observation/smokes" in [b["reference"] for b in resource["basis"]]


def test_egfr_is_an_observation_derived_from_the_creatinine() -> None:
    creatinine = {
        "resourceType": "Observation",
        "id": "creatinine",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "2160-0"}]},
        "effectiveDateTime": "2026-11-20",
        "valueQuantity": {"value": 70.7, "unit": "umol/L", "system": "http://unitsofmeasure.org", "code": "umol/L"},
    }
    facts = _facts(more=(creatinine,))
    result = CKD_EPI.assess(facts)
    assert isinstance(result, Assessment)
    resource = parse_resource(as_fhir(result, facts, CKD_EPI))
    assert resource["resourceType"] == "Observation"
    assert resource["code"]["coding"] == [{"system": LOINC, "code": "98979-8"}]
    assert resource["valueQuantity"]["code"] == "mL/min/{1.73_m2}"
    assert resource["valueQuantity"]["value"] == pytest.approx(result.value, abs=1e-4)
    assert resource["derivedFrom"] == [{"reference": "Observation/creatinine"}]
    assert resource["method"]["coding"][0]["version"] == CKD_EPI.version


def test_a_point_score_has_its_band_no_probability_and_only_her_patient_as_basis_from_age_and_sex() -> None:
    facts = _facts()
    result = CHA2DS2_VASC.assess(facts)  # age and sex only: no condition on her list
    assert isinstance(result, Assessment)
    assert [(i.label, i.source) for i in result.inputs[:2]] == [("Age", "Patient/p1"), ("Sex", "Patient/p1")]
    resource = parse_resource(as_fhir(result, facts, CHA2DS2_VASC))
    (prediction,) = resource["prediction"]
    assert "probabilityDecimal" not in prediction
    assert prediction["qualitativeRisk"]["text"] == result.band
    assert prediction["rationale"] == result.display
    assert resource["basis"] == [{"reference": "Patient/p1"}]


def test_a_missing_input_is_an_information_issue_saying_what() -> None:
    facts = _facts(hdl=False)
    result = PCE.assess(facts)
    assert isinstance(result, CannotCompute)
    resource = as_fhir(result, facts, PCE)
    assert resource == outcome([(PCE, result)])
    (issue,) = resource["issue"]
    assert issue["severity"] == "information"
    assert issue["diagnostics"] == "cannot compute: no HDL cholesterol in the last 5 years"
    assert issue["details"]["coding"][0]["code"] == PCE.id
    parse_resource(resource)
