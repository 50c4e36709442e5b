"""Coverage ids and what a CoverageEligibilityRequest asks, as this node reads them."""

from __future__ import annotations

import pytest

from careledger.claims import CPT, ServiceClass, coverage_id
from careledger.claims._coverage import coverage_patient, eligibility_ask
from careledger.errors import ValidationError
from careledger.fhir import systems


def _request(*items: dict[str, object], **more: object) -> dict[str, object]:
    return {
        "resourceType": "CoverageEligibilityRequest",
        "status": "active",
        "purpose": ["benefits"],
        "patient": {"reference": "Patient/p-1"},
        "created": "2026-12-01",
        "insurer": {"display": "the plan"},
        "item": list(items),
        **more,
    }


def test_a_coverage_id_names_its_patient_and_plan() -> None:
    assert coverage_id("p-plan-x", 3) == "p-plan-x-plan-3"
    assert coverage_patient("p-plan-x-plan-3") == "p-plan-x"
    for not_ours in ("p-1", "p-1-plan-", "-plan-3", "p-1-plan-three"):
        assert coverage_patient(not_ours) is None, not_ours


def test_an_eligibility_request_asks_classes_by_category_or_by_code() -> None:
    lab = {"category": {"coding": [{"system": systems.SERVICE_CLASS, "code": "lab"}]}}
    visit = {"productOrService": {"coding": [{"system": CPT, "code": "99213"}]}}
    coverage = {"insurance": [{"coverage": {"reference": "Coverage/p-1-plan-1"}}]}
    ask = eligibility_ask(_request(visit, lab, lab, id="req-1", **coverage))
    assert (ask.patient_id, ask.coverage_id, ask.request_id) == ("p-1", "p-1-plan-1", "req-1")
    assert ask.classes == (ServiceClass.OFFICE_VISIT, ServiceClass.LAB)
    assert eligibility_ask(_request()).classes == ()  # every class


@pytest.mark.parametrize(
    ("request_body", "problem"),
    [
        ({**_request(), "resourceType": "Claim"}, "not a CoverageEligibilityRequest"),
        (_request(patient={"reference": "Group/g-1"}), "must reference a Patient here"),
        (_request(insurance=[{"coverage": {"reference": "Plan/1"}}]), "at most one Coverage"),
        (_request({"category": {"coding": [{"system": systems.SERVICE_CLASS, "code": "astrology"}]}}), "astrology"),
        (_request({"category": {"coding": [{"system": "urn:other", "code": "lab"}]}}), "needs a category"),
    ],
)
def test_a_request_this_node_cannot_answer_is_refused_with_its_reason(
    request_body: dict[str, object], problem: str
) -> None:
    with pytest.raises(ValidationError, match=problem):
        eligibility_ask(request_body)
