"""CHA₂DS₂-VASc against Lip 2010 (Table 2: the points of each item) and the ESC 2020 bands: each item alone, the
maximum of 9, the sex category, the alert only with atrial fibrillation, and the gaps."""

from __future__ import annotations

import pytest

from careledger.insight import ICD10, RXNORM, SNOMED, Assessment, CannotCompute, Code, Finding
from careledger.insight.scores._cha2ds2vasc import CHA2DS2_VASC
from tests.insight.scores.cv_facts import facts

AF = Finding(Code(SNOMED, "49436004"), "Condition/af")
HEART_FAILURE = Finding(Code(ICD10, "I50.9"), "Condition/hf")
HYPERTENSION = Finding(Code(SNOMED, "59621000"), "Condition/htn")
DIABETES = Finding(Code(ICD10, "E11.9"), "Condition/dm")
STROKE = Finding(Code(SNOMED, "422504002"), "Condition/stroke")
TIA = Finding(Code(ICD10, "G45.9"), "Condition/tia")
EMBOLISM = Finding(Code(ICD10, "I74.3"), "Condition/embolism")
MI = Finding(Code(ICD10, "I25.2"), "Condition/old-mi")
PAD = Finding(Code(SNOMED, "840580004"), "Condition/pad")
AORTIC_PLAQUE = Finding(Code(SNOMED, "81817003"), "Condition/aorta")


def score(age: int = 50, sex: str = "male", *conditions: Finding) -> Assessment:
    result = CHA2DS2_VASC.assess(facts(age=age, sex=sex, conditions=(AF, *conditions)))  # type: ignore[arg-type]
    assert isinstance(result, Assessment), result
    return result


@pytest.mark.parametrize(
    ("condition", "points"),
    [
        (HEART_FAILURE, 1),
        (HYPERTENSION, 1),
        (DIABETES, 1),
        (STROKE, 2),
        (TIA, 2),
        (EMBOLISM, 2),
        (MI, 1),
        (PAD, 1),
        (AORTIC_PLAQUE, 1),
    ],
)
def test_each_condition_scores_its_points(condition: Finding, points: int) -> None:
    result = score(50, "male", condition)
    assert result.value == points
    shown = next(i for i in result.inputs if i.source == condition.source)
    assert shown.value.startswith("yes")


@pytest.mark.parametrize(("age", "points"), [(64, 0), (65, 1), (74, 1), (75, 2), (90, 2)])
def test_age_scores_one_from_65_and_two_from_75(age: int, points: int) -> None:
    assert score(age).value == points


def test_female_sex_scores_one_but_alone_is_low_risk() -> None:
    result = score(50, "female")
    assert (result.value, result.band, result.alert) == (1, "low", False)


def test_the_maximum_is_nine() -> None:
    result = score(80, "female", HEART_FAILURE, HYPERTENSION, DIABETES, STROKE, MI)
    assert result.value == 9
    assert result.display == "CHA₂DS₂-VASc 9 of 9 (high stroke risk)"


def test_stroke_tia_and_embolism_together_count_once() -> None:
    assert score(50, "male", STROKE, TIA, EMBOLISM).value == 2


@pytest.mark.parametrize(
    ("sex", "conditions", "band", "alert"),
    [
        ("male", (), "low", False),
        ("male", (HYPERTENSION,), "moderate", False),
        ("male", (HYPERTENSION, DIABETES), "high", True),
        ("female", (HYPERTENSION,), "moderate", False),
        ("female", (HYPERTENSION, DIABETES), "high", True),
    ],
)
def test_esc_bands_leave_out_the_sex_category(
    sex: str, conditions: tuple[Finding, ...], band: str, alert: bool
) -> None:
    result = score(50, sex, *conditions)
    assert (result.band, result.alert) == (band, alert)
    if alert:
        assert "anticoagulation is recommended" in result.why


def test_without_atrial_fibrillation_it_is_computed_but_never_alerts() -> None:
    result = CHA2DS2_VASC.assess(facts(age=80, sex="male", conditions=(HYPERTENSION, STROKE)))
    assert isinstance(result, Assessment)
    assert (result.value, result.band, result.alert) == (5, "high", False)
    assert "no atrial fibrillation on the problem list" in result.display
    assert ("Atrial fibrillation", "no", None) in [(i.label, i.value, i.source) for i in result.inputs]


def test_a_code_outside_the_value_sets_is_not_counted() -> None:
    # A SNOMED child of hypertension the shared set does not list: matched by exact code only.
    unlisted = Finding(Code(SNOMED, "123456001"), "Condition/other")
    assert score(50, "male", unlisted).value == 0


def test_missing_age_or_sex_is_named() -> None:
    result = CHA2DS2_VASC.assess(facts(age=None, sex=None, conditions=(AF,)))
    assert isinstance(result, CannotCompute)
    assert str(result) == "cannot compute: no birth date; no sex (female or male) recorded"


@pytest.mark.parametrize(
    "drug",
    [
        Finding(Code(RXNORM, "1364445"), "MedicationStatement/apixaban"),  # B01AF: direct factor Xa inhibitor
        Finding(Code(RXNORM, "11289"), "MedicationRequest/warfarin"),  # B01AA: vitamin K antagonist
        Finding(Code(RXNORM, "1546356"), "MedicationStatement/dabigatran"),  # B01AE: direct thrombin inhibitor
    ],
)
def test_no_alert_when_already_anticoagulated_but_the_score_says_so(drug: Finding) -> None:
    """Recommending anticoagulation to a patient on apixaban was noise: the score stays, the alert goes."""
    result = CHA2DS2_VASC.assess(facts(age=80, sex="female", conditions=(AF, HYPERTENSION), medications=(drug,)))
    assert isinstance(result, Assessment)
    assert (result.value, result.band, result.alert) == (4, "high", False)
    assert result.display == "CHA₂DS₂-VASc 4 of 9 (high stroke risk; on an oral anticoagulant)"
    assert (
        result.why
        == f"CHA₂DS₂-VASc 4 with atrial fibrillation: already anticoagulated ({drug.source}), as ESC 2020 recommends"
    )
    assert ("Oral anticoagulant", "yes", drug.source) in [(i.label, i.value, i.source) for i in result.inputs]


def test_an_antiplatelet_is_no_anticoagulant() -> None:
    aspirin = Finding(Code(RXNORM, "1191"), "MedicationStatement/aspirin")
    result = CHA2DS2_VASC.assess(facts(age=80, sex="female", conditions=(AF, HYPERTENSION), medications=(aspirin,)))
    assert isinstance(result, Assessment)
    assert result.alert
    assert "anticoagulation is recommended" in result.why
    assert ("Oral anticoagulant", "no", None) in [(i.label, i.value, i.source) for i in result.inputs]


@pytest.mark.parametrize(
    "drug",
    [
        Finding(Code(RXNORM, "29046"), "MedicationStatement/lisinopril"),  # C09AA03: hypertension, or heart failure
        Finding(Code(RXNORM, "19484"), "MedicationStatement/bisoprolol"),  # C07AB07: in AF, most often rate control
        Finding(Code(RXNORM, "3443"), "MedicationStatement/diltiazem"),  # C08DB01: rate control
    ],
)
def test_an_antihypertensive_class_drug_alone_is_shown_not_counted(drug: Finding) -> None:
    """A record does not say what a drug treats: counted as H, a rate-control beta-blocker would recommend
    anticoagulation to a woman of 66 whose score is 2. Shown, so that a clinician records the diagnosis."""
    result = CHA2DS2_VASC.assess(facts(age=66, sex="female", conditions=(AF,), medications=(drug,)))
    assert isinstance(result, Assessment)
    assert (result.value, result.band, result.alert) == (2, "moderate", False)
    shown = {i.label: (i.value, i.source) for i in result.inputs}
    assert shown["Hypertension"] == ("no: 0 points", None)
    assert shown["Antihypertensive class drug, no hypertension diagnosis"] == (
        "not counted (rate control or heart failure?): if it treats hypertension, record the diagnosis (+1)",
        drug.source,
    )
    diagnosed = CHA2DS2_VASC.assess(facts(age=66, sex="female", conditions=(AF, HYPERTENSION), medications=(drug,)))
    assert isinstance(diagnosed, Assessment)
    assert (diagnosed.value, diagnosed.alert) == (3, True)  # with the diagnosis: counted once, and no note
    assert "Antihypertensive class drug, no hypertension diagnosis" not in {i.label for i in diagnosed.inputs}
