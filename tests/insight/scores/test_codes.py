"""The shared value sets: the codes the scores' sources name are in them, the smoking answers are the ones US
Core binds and do not overlap, and matching is by exact code (no subsumption)."""

from __future__ import annotations

from careledger.insight import ICD10, LOINC, RXNORM, SNOMED, Code, Facts, Finding
from careledger.insight.scores import _codes as codes
from tests.insight.scores.cv_facts import facts


def test_smoking_answers_are_us_cores_and_disjoint() -> None:
    assert Code(LOINC, "72166-2") == codes.SMOKING_STATUS
    assert {c.code for c in codes.CURRENT_SMOKER} == {
        "449868002",
        "428041000124106",
        "77176002",
        "428071000124103",
        "428061000124105",
    }
    assert {Code(SNOMED, "8517006")} == codes.FORMER_SMOKER
    assert {Code(SNOMED, "266919005")} == codes.NEVER_SMOKER
    assert not (codes.CURRENT_SMOKER & codes.FORMER_SMOKER)
    assert not (codes.CURRENT_SMOKER & codes.NEVER_SMOKER)


def test_sets_hold_snomed_and_icd10_codes() -> None:
    assert Code(SNOMED, "44054006") in codes.DIABETES
    assert Code(ICD10, "E10.9") in codes.DIABETES
    assert Code(ICD10, "I10") in codes.HYPERTENSION
    assert Code(ICD10, "I48.91") in codes.ATRIAL_FIBRILLATION
    assert Code(ICD10, "I48.92") not in codes.ATRIAL_FIBRILLATION  # flutter
    assert codes.VASCULAR_DISEASE == codes.MYOCARDIAL_INFARCTION | codes.PERIPHERAL_ARTERY_DISEASE | codes.AORTIC_PLAQUE
    assert not codes.DIABETES & codes.HIGH_BLOOD_GLUCOSE  # prediabetes is not diabetes


def test_matching_is_by_exact_code() -> None:
    patient: Facts = facts(
        conditions=(Finding(Code(ICD10, "E11"), "Condition/a"), Finding(Code(ICD10, "E11.3"), "Condition/b"))
    )
    assert patient.has(patient.conditions, codes.DIABETES) == patient.conditions[0]  # E11 listed, E11.3 not
    assert Code(ICD10, "E11.3") not in codes.DIABETES
    assert Code("http://example.org/other", "44054006") not in codes.DIABETES


def test_on_medication_reads_atc_classes() -> None:
    aspirin = Finding(Code(RXNORM, "1191"), "MedicationStatement/aspirin")
    unknown = Finding(Code(RXNORM, "999999999"), "MedicationStatement/unknown")
    patient = facts(medications=(unknown, aspirin))
    assert codes.on_medication(patient, codes.ANTIPLATELETS) == aspirin
    assert codes.on_medication(patient, codes.ANTIHYPERTENSIVES) is None
