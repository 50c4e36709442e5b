"""Order checks: allergy (ingredient, class, cross-reactivity), duplicate therapy, renal dosing by the latest eGFR."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from careledger.insight import (
    LOINC,
    RXNORM,
    SNOMED,
    Code,
    Facts,
    Finding,
    Measurement,
)
from careledger.insight._orders import OrderAlert, check_orders
from careledger.insight.knowledge import ATC, renal_rules

ON = date(2026, 12, 6)
EGFR_2021 = Code(LOINC, "98979-8")
CREATININE = Code(LOINC, "2160-0")


def facts(
    *,
    allergies: tuple[Finding, ...] = (),
    medications: tuple[Finding, ...] = (),
    egfr: float | None = None,
    egfr_age: int = 30,
    creatinine: float | None = None,
    creatinine_age: int = 10,
    intolerances: frozenset[str] = frozenset(),
) -> Facts:
    measured = {}
    if egfr is not None:
        when = ON - timedelta(days=egfr_age)
        measured[EGFR_2021] = (Measurement(EGFR_2021, egfr, "mL/min/{1.73_m2}", when, "Observation/egfr"),)
    if creatinine is not None:
        when = ON - timedelta(days=creatinine_age)
        measured[CREATININE] = (Measurement(CREATININE, creatinine, "mg/dL", when, "Observation/cr"),)
    return Facts(
        "p1",
        ON,
        date(1960, 1, 1),
        "female",
        measured,
        allergies=allergies,
        medications=medications,
        intolerances=intolerances,
    )


def order(rxcui: str, rid: str = "draft1", **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "id": rid,
        "status": "draft",
        "intent": "order",
        "subject": {"reference": "Patient/p1"},
        "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": rxcui}]},
        **extra,
    }


def daily(mg: float, times: int) -> dict[str, Any]:
    return {
        "dosageInstruction": [
            {
                "timing": {"repeat": {"frequency": times, "period": 1, "periodUnit": "d"}},
                "doseAndRate": [{"doseQuantity": {"value": mg, "unit": "mg", "code": "mg"}}],
            }
        ]
    }


def kinds(alerts: list[OrderAlert]) -> list[tuple[str, str]]:
    return [(a.kind, a.severity) for a in alerts]


PENICILLIN_ALLERGY = Finding(Code(SNOMED, "91936005"), "AllergyIntolerance/a1")
AMOXICILLIN_500 = "308191"
CEPHALEXIN_500 = "309114"


def test_penicillin_allergy_against_amoxicillin_is_critical() -> None:
    (alert,) = check_orders(facts(allergies=(PENICILLIN_ALLERGY,)), [order(AMOXICILLIN_500)])
    assert (alert.kind, alert.severity) == ("allergy", "critical")
    assert alert.order == "MedicationRequest/draft1"
    assert alert.evidence == "AllergyIntolerance/a1"
    assert "penicillins" in alert.summary
    assert "amoxicillin" in alert.summary
    assert "AAAAI" in alert.source


@pytest.mark.parametrize(
    "allergy",
    [Code(SNOMED, "764146007"), Code(SNOMED, "372687004"), Code(RXNORM, "723"), Code(RXNORM, "308182")],
)
def test_penicillin_allergy_in_any_coding_reaches_amoxicillin(allergy: Code) -> None:
    found = check_orders(facts(allergies=(Finding(allergy, "AllergyIntolerance/a1"),)), [order(AMOXICILLIN_500)])
    assert kinds(found) == [("allergy", "critical")]


def test_amoxicillin_allergy_reaches_other_penicillins_by_class() -> None:
    amoxicillin = Finding(Code(SNOMED, "294505008"), "AllergyIntolerance/a1")
    assert kinds(check_orders(facts(allergies=(amoxicillin,)), [order("733")])) == [("allergy", "critical")]


def test_penicillin_allergy_against_a_cephalosporin_is_a_warning() -> None:
    (alert,) = check_orders(facts(allergies=(PENICILLIN_ALLERGY,)), [order(CEPHALEXIN_500)])
    assert (alert.kind, alert.severity) == ("allergy", "warning")
    assert "cross-react" in alert.summary


def test_sulfonamide_allergy_against_co_trimoxazole_but_not_furosemide() -> None:
    sulfa = Finding(Code(SNOMED, "387406002"), "AllergyIntolerance/s1")
    assert kinds(check_orders(facts(allergies=(sulfa,)), [order("198335")])) == [("allergy", "critical")]
    assert check_orders(facts(allergies=(sulfa,)), [order("310429")]) == []


def test_one_allergy_with_two_codings_gives_one_alert() -> None:
    both = (PENICILLIN_ALLERGY, Finding(Code(SNOMED, "372687004"), "AllergyIntolerance/a1"))
    assert len(check_orders(facts(allergies=both), [order(AMOXICILLIN_500)])) == 1


def test_duplicate_statins_active_and_drafted() -> None:
    atorvastatin = Finding(Code(RXNORM, "83367"), "MedicationRequest/m1")
    (alert,) = check_orders(facts(medications=(atorvastatin,)), [order("301542")])  # rosuvastatin
    assert (alert.kind, alert.severity) == ("duplicate", "warning")
    assert alert.evidence == "MedicationRequest/m1"
    assert "C10AA" in alert.detail
    two = check_orders(facts(), [order("36567", "d1"), order("83367", "d2")])
    assert [(a.kind, a.order, a.evidence) for a in two] == [
        ("duplicate", "MedicationRequest/d2", "MedicationRequest/d1")
    ]


def test_same_ingredient_twice_is_a_duplicate_and_other_classes_are_not() -> None:
    active = Finding(Code(RXNORM, "308182"), "MedicationStatement/m2")  # amoxicillin 250 mg
    assert kinds(check_orders(facts(medications=(active,)), [order(AMOXICILLIN_500)])) == [("duplicate", "warning")]
    lisinopril = Finding(Code(RXNORM, "29046"), "MedicationRequest/m3")
    assert check_orders(facts(medications=(lisinopril,)), [order("17767")]) == []  # amlodipine: C08CA, not C09AA


def test_the_order_itself_listed_as_active_is_no_duplicate() -> None:
    itself = Finding(Code(RXNORM, "83367"), "MedicationRequest/draft1")
    assert check_orders(facts(medications=(itself,)), [order("83367")]) == []


METFORMIN_500 = "861007"


@pytest.mark.parametrize(("egfr", "expected"), [(25, [("renal", "critical")]), (40, [("renal", "warning")]), (70, [])])
def test_metformin_against_egfr(egfr: float, expected: list[tuple[str, str]]) -> None:
    alerts = check_orders(facts(egfr=egfr), [order(METFORMIN_500)])
    assert kinds(alerts) == expected
    for alert in alerts:
        assert alert.evidence == "Observation/egfr"
        assert f"eGFR {egfr:.0f}" in alert.detail


def test_metformin_at_40_suggests_the_reduced_dose_unless_already_there() -> None:
    (high,) = check_orders(facts(egfr=40), [order(METFORMIN_500, **daily(1000, 2))])
    assert high.severity == "warning"
    assert high.dose is not None
    assert high.dose.daily == 1000
    (within,) = check_orders(facts(egfr=40), [order(METFORMIN_500, **daily(500, 2))])
    assert within.severity == "info"
    assert within.dose is None
    assert "within" in within.detail


def test_no_egfr_for_a_renally_dosed_drug_is_info() -> None:
    (alert,) = check_orders(facts(), [order(METFORMIN_500)])
    assert (alert.kind, alert.severity) == ("renal", "info")
    assert "No eGFR" in alert.summary
    assert alert.no_egfr


def test_an_egfr_older_than_a_year_does_not_count() -> None:
    assert kinds(check_orders(facts(egfr=20, egfr_age=400), [order(METFORMIN_500)])) == [("renal", "info")]


def test_the_look_back_is_the_scores_year() -> None:
    """The same 366 days as PREVENT and CKD-EPI (a leap year's span), not 365."""
    assert kinds(check_orders(facts(egfr=20, egfr_age=366), [order(METFORMIN_500)])) == [("renal", "critical")]
    assert kinds(check_orders(facts(egfr=20, egfr_age=367), [order(METFORMIN_500)])) == [("renal", "info")]


def test_a_computed_egfr_stands_in_when_none_was_measured() -> None:
    (alert,) = check_orders(facts(creatinine=2.4), [order("1648759")])  # nitrofurantoin, eGFR about 21
    assert (alert.kind, alert.severity) == ("renal", "critical")
    assert "CKD-EPI 2021 from creatinine 2.4 mg/dL" in alert.detail
    assert alert.evidence == "Observation/cr"


def test_a_newer_creatinine_wins_over_an_older_egfr_as_in_prevent() -> None:
    (alert,) = check_orders(facts(egfr=80, egfr_age=100, creatinine=2.4), [order("1648759")])
    assert (alert.severity, alert.evidence) == ("critical", "Observation/cr")


@pytest.mark.parametrize("egfr", [0, -5, 250, 1e6])
def test_an_implausible_egfr_is_no_value_and_said(egfr: float) -> None:
    """Before, an eGFR below 0 matched no band and raised no alert at all."""
    (alert,) = check_orders(facts(egfr=egfr), [order(METFORMIN_500)])
    assert (alert.kind, alert.severity, alert.no_egfr) == ("renal", "info", True)
    assert f"eGFR {egfr:g} on" in alert.detail
    assert "not used" in alert.detail


@pytest.mark.parametrize(("rxcui", "dose"), [("1114195", "15 mg once a day"), ("1599538", "30 mg once a day")])
def test_rivaroxaban_and_edoxaban_reduce_at_exactly_50(rxcui: str, dose: str) -> None:
    """The labels' "CrCl 15-50" and "≤ 50" include 50."""
    (alert,) = check_orders(facts(egfr=50), [order(rxcui)])
    assert (alert.severity, str(alert.dose)) == ("warning", dose)
    assert check_orders(facts(egfr=50.01), [order(rxcui)]) == []


@pytest.mark.parametrize(("mg", "times"), [(0, 1), (500, 0)])
def test_a_dose_or_frequency_of_0_never_downgrades_a_renal_alert(mg: float, times: int) -> None:
    (alert,) = check_orders(facts(egfr=40), [order(METFORMIN_500, **daily(mg, times))])
    assert alert.severity == "warning"
    assert alert.dose is not None


def test_an_intolerance_is_a_warning_not_critical() -> None:
    alerts = check_orders(
        facts(allergies=(PENICILLIN_ALLERGY,), intolerances=frozenset({"AllergyIntolerance/a1"})),
        [order(AMOXICILLIN_500)],
    )
    assert kinds(alerts) == [("allergy", "warning")]
    assert "intolerance" in alerts[0].detail


def test_doac_dose_adjustment_by_atc_coded_order() -> None:
    rivaroxaban = {
        "resourceType": "MedicationRequest",
        "id": "r1",
        "medicationCodeableConcept": {"coding": [{"system": ATC, "code": "B01AF01"}]},
    }
    (alert,) = check_orders(facts(egfr=40), [rivaroxaban])
    assert (alert.kind, alert.severity) == ("renal", "warning")
    assert alert.dose is not None
    assert str(alert.dose) == "15 mg once a day"


@pytest.mark.parametrize(
    "draft",
    [
        order("999999999"),
        {"resourceType": "MedicationRequest"},
        {"resourceType": "MedicationRequest", "medicationCodeableConcept": "amoxicillin"},
        {"resourceType": "MedicationRequest", "medicationCodeableConcept": {"coding": [{"code": 5}, "x", None]}},
        {"resourceType": "MedicationRequest", "medicationReference": {"reference": "#nope"}, "contained": "x"},
        order(METFORMIN_500, dosageInstruction=[{"doseAndRate": "x", "timing": {"repeat": {"periodUnit": 3}}}]),
        order(METFORMIN_500, dosageInstruction=[{"doseAndRate": [{"doseQuantity": {"value": True}}]}]),
        order(METFORMIN_500, **daily(10**400, 1)),  # valid JSON, too large for a float
        order(METFORMIN_500, **daily(float("nan"), 1)),
        order(METFORMIN_500, **daily(500, 10**400)),
    ],
)
def test_unknown_or_malformed_orders_never_crash(draft: dict[str, Any]) -> None:
    alerts = check_orders(facts(allergies=(PENICILLIN_ALLERGY,), egfr=70), [draft])
    assert alerts == []


def test_a_contained_medication_is_read() -> None:
    draft = {
        "resourceType": "MedicationRequest",
        "id": "c1",
        "contained": [
            {"resourceType": "Medication", "id": "m", "code": {"coding": [{"system": RXNORM, "code": "723"}]}}
        ],
        "medicationReference": {"reference": "#m"},
    }
    assert kinds(check_orders(facts(allergies=(PENICILLIN_ALLERGY,)), [draft])) == [("allergy", "critical")]


def test_a_draft_without_id_has_no_reference() -> None:
    draft = order(AMOXICILLIN_500)
    del draft["id"]
    (alert,) = check_orders(facts(allergies=(PENICILLIN_ALLERGY,)), [draft])
    assert alert.order is None
    assert alert.index == 0


def test_fifty_identical_drafts_are_one_duplicate_alert_listing_them_all() -> None:
    """One alert per group, not per pair: 50 drafts were 1225 alerts (and N = 1000 exhausted the node's memory)."""
    drafts = [order(METFORMIN_500, f"m{i}") for i in range(50)]
    alerts = check_orders(facts(egfr=25), drafts)
    (duplicate,) = [a for a in alerts if a.kind == "duplicate"]
    assert (duplicate.order, duplicate.index, duplicate.evidence) == (
        "MedicationRequest/m49",
        49,
        "MedicationRequest/m0",
    )
    assert duplicate.summary == "metformin is ordered 50 times (MedicationRequest/m0 first)"
    assert duplicate.cancel == tuple(f"MedicationRequest/m{i}" for i in range(1, 50))  # the first is kept
    assert all(f"(MedicationRequest/m{i}, ordered)" in duplicate.detail for i in range(50))
    assert kinds([a for a in alerts if a.kind == "renal"]) == [("renal", "critical")] * 50


def test_renal_rules_are_looked_up_once_per_medication(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[Code] = []

    def counted(code: Code) -> tuple[Any, ...]:
        asked.append(code)
        return renal_rules(code)

    monkeypatch.setattr("careledger.insight._orders.renal_rules", counted)
    drafts = [order(METFORMIN_500, f"m{i}") for i in range(20)] + [order("1648759", "n1")]
    assert len([a for a in check_orders(facts(egfr=25), drafts) if a.kind == "renal"]) == 21
    assert asked == [Code(RXNORM, METFORMIN_500), Code(RXNORM, "1648759")]


def test_a_group_within_a_larger_one_is_told_once_by_the_larger() -> None:
    """Two apixaban drafts share an ingredient; with an active rivaroxaban, all three share B01AF: one alert, which
    cancels both drafts (the class is already taken)."""
    rivaroxaban = Finding(Code(RXNORM, "1114195"), "MedicationStatement/r1")
    drafts = [order("1364445", "a1"), order("1364445", "a2")]
    (alert,) = check_orders(facts(medications=(rivaroxaban,), egfr=80), drafts)
    assert (alert.kind, alert.order, alert.evidence) == ("duplicate", "MedicationRequest/a2", "MedicationStatement/r1")
    assert alert.summary == "Duplicate therapy: apixaban and rivaroxaban"
    assert "ATC B01AF" in alert.detail
    assert alert.cancel == ("MedicationRequest/a1", "MedicationRequest/a2")


def test_an_active_drug_ordered_again_twice_cancels_both_drafts() -> None:
    atorvastatin = Finding(Code(RXNORM, "83367"), "MedicationStatement/s1")
    (alert,) = check_orders(facts(medications=(atorvastatin,)), [order("83367", "d1"), order("83367", "d2")])
    assert alert.summary == "atorvastatin is already active (MedicationStatement/s1), and ordered 2 times"
    assert "same ingredient (atorvastatin)" in alert.detail
    assert alert.cancel == ("MedicationRequest/d1", "MedicationRequest/d2")


def test_drugs_of_different_groups_are_each_told_once() -> None:
    drafts = [order("1364445", "a1"), order("83367", "s1"), order("1114195", "r1"), order("36567", "s2")]
    alerts = check_orders(facts(egfr=80), drafts)
    assert [(a.summary, a.cancel) for a in alerts] == [
        ("Duplicate therapy: rivaroxaban and apixaban", ("MedicationRequest/r1",)),
        ("Duplicate therapy: simvastatin and atorvastatin", ("MedicationRequest/s2",)),
    ]


@pytest.mark.parametrize("ordered", ["1364445", "1546356"])  # apixaban (B01AF), dabigatran (B01AE)
def test_two_oral_anticoagulants_of_different_subgroups_are_a_duplicate(ordered: str) -> None:
    warfarin = Finding(Code(RXNORM, "11289"), "MedicationStatement/w1")  # B01AA: a vitamin K antagonist
    (alert,) = check_orders(facts(medications=(warfarin,), egfr=80), [order(ordered, "d1")])
    assert (alert.kind, alert.evidence, alert.cancel) == (
        "duplicate",
        "MedicationStatement/w1",
        ("MedicationRequest/d1",),
    )
    assert "oral anticoagulants" in alert.detail


def test_an_anticoagulant_and_an_antiplatelet_are_not_a_duplicate() -> None:
    warfarin = Finding(Code(RXNORM, "11289"), "MedicationStatement/w1")
    assert check_orders(facts(medications=(warfarin,), egfr=80), [order("32968")]) == []  # clopidogrel: B01AC
