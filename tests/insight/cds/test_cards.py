"""Cards keep the CDS Hooks 2.0 shape (checked by a pydantic model of the spec's Card), cite their source, and carry
the suggestions a client can apply."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any, Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field, model_validator

from careledger.insight import (
    LOINC,
    RXNORM,
    SNOMED,
    Assessment,
    CannotCompute,
    Code,
    Facts,
    Finding,
    Input,
    Lowering,
    Measurement,
    Result,
)
from careledger.insight.cds._cards import order_cards, patient_view_cards

# --- the Card of CDS Hooks 2.0 ("CDS Service Response"), as the spec describes it ---


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Coding(_Strict):
    code: str
    system: str
    display: str | None = None


class Source(_Strict):
    label: str
    url: str | None = None
    icon: str | None = None
    topic: Coding | None = None


class Action(_Strict):
    type: Literal["create", "update", "delete"]
    description: str
    resource: dict[str, Any] | None = None
    resourceId: str | None = None  # noqa: N815 (the spec's name)

    @model_validator(mode="after")
    def _target(self) -> Action:
        if self.type == "delete":
            assert self.resourceId is not None, "a delete names resourceId"
        else:
            assert self.resource is not None, "a create or update carries the resource"
            assert "resourceType" in self.resource
        return self


class Suggestion(_Strict):
    label: str
    uuid: str | None = None
    isRecommended: bool | None = None  # noqa: N815
    actions: list[Action] | None = None


class Link(_Strict):
    label: str
    url: str
    type: Literal["absolute", "smart"]
    appContext: str | None = None  # noqa: N815


class Card(_Strict):
    uuid: str | None = None
    summary: str = Field(max_length=140)
    detail: str | None = None
    indicator: Literal["info", "warning", "critical"]
    source: Source
    suggestions: list[Suggestion] | None = None
    selectionBehavior: Literal["at-most-one", "any"] | None = None  # noqa: N815
    overrideReasons: list[Coding] | None = None  # noqa: N815
    links: list[Link] | None = None

    @model_validator(mode="after")
    def _selection(self) -> Card:
        assert (self.selectionBehavior is not None) == bool(self.suggestions), "selectionBehavior with suggestions"
        return self


def valid(cards: list[dict[str, Any]]) -> list[Card]:
    return [Card.model_validate(card) for card in cards]


# --- fixtures: a small fake score, a patient's facts, a draft order ---

ON = date(2026, 12, 6)


class FakeScore:
    id = "fake-risk"
    title = "Fake 10-year risk"
    version = "Fake equation 2024 (v1)"
    citation = "Doe J. A fake equation. J Tests 2024;1:1-2."
    url = "https://example.org/fake-risk"
    observation = False
    probability = False  # a risk equation's value is a fraction 0..1 (read by the cards and RiskAssessments)

    def __init__(self, result: Result) -> None:
        self.result = result

    def assess(self, facts: Facts) -> Result:
        return self.result


def assessment(*, alert: bool) -> Assessment:
    return Assessment(
        score="fake-risk",
        version="Fake equation 2024 (v1)",
        value=0.21,
        display="21 % 10-year risk",
        band="high",
        inputs=(Input("Total cholesterol", "6.2 mmol/L", "Observation/chol"), Input("Age", "61 | years")),
        alert=alert,
        why="10-year risk of 20 % or more" if alert else "",
        lowering=(Lowering("Stop smoking", 0.14),),
    )


def facts(**kw: Any) -> Facts:
    return Facts("p1", ON, date(1965, 3, 1), "male", **kw)


def draft(rxcui: str, rid: str | None = "d1", **extra: Any) -> dict[str, Any]:
    order: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "status": "draft",
        "intent": "order",
        "subject": {"reference": "Patient/p1"},
        "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": rxcui}]},
        **extra,
    }
    if rid is not None:
        order["id"] = rid
    return order


def egfr(value: float) -> dict[Code, tuple[Measurement, ...]]:
    code = Code(LOINC, "98979-8")
    return {code: (Measurement(code, value, "mL/min/{1.73_m2}", ON - timedelta(days=10), "Observation/e1"),)}


# --- patient-view ---


def test_a_score_over_its_threshold_is_a_card_citing_equation_and_version() -> None:
    score = FakeScore(assessment(alert=True))
    (card,) = valid(
        patient_view_cards(facts(), [(score, score.result)], app_url="https://node.example/portal/staff/patients")
    )
    assert card.indicator == "warning"
    assert card.source.label == "Fake 10-year risk, Fake equation 2024 (v1)"
    assert card.source.url == "https://example.org/fake-risk"
    assert card.source.topic is not None
    assert card.source.topic.code == "fake-risk"
    assert card.detail is not None
    assert "10-year risk of 20 % or more" in card.detail
    assert "| Total cholesterol | 6.2 mmol/L | Observation/chol |" in card.detail
    assert "61 \\| years" in card.detail  # a pipe in a value does not break the table
    assert "- Stop smoking: 0.14" in card.detail
    assert "Doe J." in card.detail
    (link,) = card.links or []
    assert link.type == "absolute"  # the portal is no registered SMART app: nothing to launch
    assert link.url == "https://node.example/portal/staff/patients/p1"  # her chart, for the clinician
    assert link.appContext is None


def test_a_probability_lowering_reads_in_per_cent() -> None:
    score = FakeScore(assessment(alert=True))
    score.probability = True
    (card,) = valid(patient_view_cards(facts(), [(score, score.result)], app_url=None))
    assert card.detail is not None
    assert "- Stop smoking: 14.0 %" in card.detail


def test_no_card_below_threshold_or_when_not_computable_and_no_link_without_app() -> None:
    quiet = FakeScore(assessment(alert=False))
    missing = FakeScore(CannotCompute("fake-risk", "v1", ("no HDL cholesterol in the last 5 years",)))
    assert patient_view_cards(facts(), [(quiet, quiet.result), (missing, missing.result)], app_url=None) == []
    loud = FakeScore(assessment(alert=True))
    (card,) = valid(patient_view_cards(facts(), [(loud, loud.result)], app_url=None))
    assert card.links is None


def test_card_uuids_are_distinct() -> None:
    score = FakeScore(assessment(alert=True))
    cards = patient_view_cards(facts(), [(score, score.result)] * 2, app_url=None)
    assert len({c["uuid"] for c in cards}) == 2


def test_a_long_summary_is_clipped_to_the_spec() -> None:
    score = FakeScore(assessment(alert=True))
    score.title = "A very long title " * 12
    (card,) = valid(patient_view_cards(facts(), [(score, score.result)], app_url=None))
    assert len(card.summary) == 140


# --- order-select / order-sign ---


def test_allergy_card_is_critical_with_a_recommended_delete() -> None:
    allergic = facts(allergies=(Finding(Code(SNOMED, "91936005"), "AllergyIntolerance/a1"),))
    (card,) = valid(order_cards(allergic, [draft("308191")]))
    assert card.indicator == "critical"
    assert "AAAAI" in card.source.label
    assert card.selectionBehavior == "at-most-one"
    (suggestion,) = card.suggestions or []
    assert suggestion.isRecommended is True
    (action,) = suggestion.actions or []
    assert (action.type, action.resourceId) == ("delete", "MedicationRequest/d1")
    assert {r.code for r in card.overrideReasons or []} >= {"tolerated-before"}


def test_renal_card_offers_the_reduced_dose_as_an_update() -> None:
    order = draft("861007", dosageInstruction=[{"route": {"text": "oral"}, "text": "1000 mg twice a day"}])
    (card,) = valid(order_cards(facts(measurements=egfr(40)), [order]))
    assert card.indicator == "warning"
    assert "KDIGO" in card.source.label
    update, delete = card.suggestions or []
    assert update.isRecommended is True
    assert delete.isRecommended is False
    (action,) = update.actions or []
    assert action.type == "update"
    assert action.resource is not None
    (dosage,) = action.resource["dosageInstruction"]
    assert dosage["doseAndRate"][0]["doseQuantity"]["value"] == 500
    assert dosage["timing"]["repeat"]["frequency"] == 2
    assert dosage["route"] == {"text": "oral"}
    assert action.resource["id"] == "d1"
    assert order["dosageInstruction"][0]["text"] == "1000 mg twice a day"  # the draft itself is untouched


def test_no_egfr_card_is_info_and_proposes_a_creatinine() -> None:
    (card,) = valid(order_cards(facts(), [draft("861007")]))
    assert card.indicator == "info"
    assert card.overrideReasons is None
    (suggestion,) = card.suggestions or []
    (action,) = suggestion.actions or []
    assert action.type == "create"
    assert action.resource is not None
    assert action.resource["resourceType"] == "ServiceRequest"
    assert action.resource["subject"] == {"reference": "Patient/p1"}


def test_duplicate_card_and_a_draft_without_id_has_no_actions() -> None:
    statin = Finding(Code(RXNORM, "83367"), "MedicationRequest/m1")
    (card,) = valid(order_cards(facts(medications=(statin,)), [draft("301542", rid=None)]))
    assert card.indicator == "warning"
    assert card.suggestions is None
    assert card.selectionBehavior is None


def test_ordering_a_drug_already_taken_says_so_not_a_duplicate_of_itself() -> None:
    def duplicates(facts: Facts, orders: list[dict[str, Any]]) -> list[str]:
        cards = valid(order_cards(facts, orders))
        return [c.summary for c in cards if c.source.topic is not None and c.source.topic.code == "order-duplicate"]

    on_apixaban = Finding(Code(RXNORM, "1364430"), "MedicationStatement/s1")
    taken = duplicates(facts(medications=(on_apixaban,), measurements=egfr(80)), [draft("1364445")])
    assert taken == ["apixaban is already active (MedicationStatement/s1)"]
    both = duplicates(facts(), [draft("1114195", rid="d1"), draft("1364445", rid="d2")])
    assert both == ["Duplicate therapy: apixaban and rivaroxaban"]  # another drug of its class: both named
    twice = duplicates(facts(), [draft("1364445", rid="d1"), draft("1364445", rid="d2")])
    assert twice == ["apixaban is already ordered (MedicationRequest/d1)"]


def test_fifty_identical_drafts_are_one_duplicate_card_cancelling_all_but_the_first() -> None:
    """Not a card per pair (1225 for 50): one, whose one suggestion deletes the 49 redundant drafts together."""
    cards = valid(order_cards(facts(measurements=egfr(80)), [draft("861007", rid=f"m{i}") for i in range(50)]))
    (card,) = cards
    assert card.source.topic is not None
    assert card.source.topic.code == "order-duplicate"
    (suggestion,) = card.suggestions or []
    assert (suggestion.label, suggestion.isRecommended) == ("Cancel the 49 redundant orders", False)
    actions = suggestion.actions or []
    assert [(a.type, a.resourceId) for a in actions] == [("delete", f"MedicationRequest/m{i}") for i in range(1, 50)]


@pytest.mark.parametrize("rxcui", ["999999999", "83367"])
def test_orders_without_findings_give_no_cards(rxcui: str) -> None:
    assert order_cards(facts(measurements=egfr(80)), [draft(rxcui)]) == []


def test_the_model_rejects_what_the_spec_forbids() -> None:
    with pytest.raises(ValueError, match="indicator"):
        Card.model_validate({"summary": "x", "indicator": "severe", "source": {"label": "s"}})
    with pytest.raises(ValueError, match="selectionBehavior"):
        Card.model_validate(
            {"summary": "x", "indicator": "info", "source": {"label": "s"}, "suggestions": [{"label": "y"}]}
        )
