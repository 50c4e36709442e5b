"""CHA₂DS₂-VASc: the stroke risk of a patient with atrial fibrillation, in points from the problem list, age and sex,
which decides whether she is offered anticoagulation.

Source: Lip GYH, Nieuwlaat R, Pisters R, Lane DA, Crijns HJGM. Refining clinical risk stratification for predicting
stroke and thromboembolism in atrial fibrillation using a novel risk factor-based approach: the Euro Heart Survey
on Atrial Fibrillation. Chest 2010;137:263-72 (Table 2). Bands: Hindricks G, et al. 2020 ESC Guidelines for the
diagnosis and management of atrial fibrillation. Eur Heart J 2021;42:373-498 (OAC recommended at >= 2 points in
men and >= 3 in women, considered at 1 and 2, not indicated at 0 and 1).

Conditions are read from the problem list by the shared value sets (`_codes`, exact codes); a condition that is
not on it counts as absent, as the score's "history of" means. Hypertension is as ESC 2020 defines the item (its
Table 6: hypertension, or current antihypertensive treatment): the diagnosis, or else an active antihypertensive
(ATC C02, C03, C07, C08, C09), which is how treated hypertension is often recorded, and what the Pooled Cohort
Equations here count as treated too.

The score is only meaningful in atrial fibrillation. It is computed for anyone (a clinician may be weighing a new
diagnosis), the absence of atrial fibrillation on the problem list is shown as an input, and the alert (that
anticoagulation is recommended) is raised only when atrial fibrillation is on it and she takes no oral
anticoagulant yet (an active vitamin K antagonist or direct oral anticoagulant): recommending what she already
takes would teach clinicians to dismiss the card. The score is still computed, and says she is anticoagulated.
"""

from __future__ import annotations

from collections.abc import Callable

from careledger.insight._model import Assessment, Code, Facts, Result
from careledger.insight.scores import _codes as codes
from careledger.insight.scores._points import award
from careledger.insight.scores._reading import Bounds, Reading

VERSION = "CHA2DS2-VASc (Lip 2010; H as ESC 2020)"

# Lip 2010, Table 2.
CONGESTIVE_HEART_FAILURE = 1  # C: congestive heart failure / left ventricular dysfunction
HYPERTENSION = 1  # H
AGE_75_OR_OVER = 2  # A2
DIABETES = 1  # D
STROKE_TIA_THROMBOEMBOLISM = 2  # S2
VASCULAR_DISEASE = 1  # V: prior myocardial infarction, peripheral artery disease, aortic plaque
AGE_65_TO_74 = 1  # A
FEMALE = 1  # Sc: sex category

ADULT = Bounds(18, 130, "years")
# ESC 2020, by the points other than the sex category: 0 low, 1 moderate (consider OAC), 2 or more high.
HIGH_FROM = 2
# WHO ATC: vitamin K antagonists, direct thrombin inhibitors (dabigatran), direct factor Xa inhibitors.
ORAL_ANTICOAGULANTS = (*codes.VITAMIN_K_ANTAGONISTS, "B01AE", "B01AF")

# Each item: its label, the diagnoses that count, the drug classes (WHO ATC) whose active use counts too, its points.
CRITERIA = (
    ("Congestive heart failure or LV dysfunction", codes.HEART_FAILURE, (), CONGESTIVE_HEART_FAILURE),
    ("Hypertension, or an antihypertensive taken", codes.HYPERTENSION, codes.ANTIHYPERTENSIVES, HYPERTENSION),
    ("Diabetes", codes.DIABETES, (), DIABETES),
    (
        "Stroke, TIA or thromboembolism",
        codes.STROKE | codes.TIA | codes.THROMBOEMBOLISM,
        (),
        STROKE_TIA_THROMBOEMBOLISM,
    ),
    ("Vascular disease (MI, PAD, aortic plaque)", codes.VASCULAR_DISEASE, (), VASCULAR_DISEASE),
)


def _counted(diagnoses: frozenset[Code], treatments: tuple[str, ...]) -> Callable[[Code], bool]:
    """What counts for an item: a diagnosis of `diagnoses`, or a drug of the ATC classes `treatments` (conditions
    come first in what it is asked of, so that a patient with both is shown her diagnosis)."""
    if not treatments:
        return diagnoses.__contains__
    treated = codes.of_class(treatments)
    return lambda code: code in diagnoses or treated(code)


def age_points(age: int) -> int:
    """A: 1 point from 65, A2: 2 points from 75."""
    if age >= 75:
        return AGE_75_OR_OVER
    return AGE_65_TO_74 if age >= 65 else 0


class Cha2ds2Vasc:
    """CHA₂DS₂-VASc as a RiskAssessment: 0-9 points and the ESC band."""

    id = "cha2ds2-vasc"
    title = "CHA₂DS₂-VASc (stroke risk in atrial fibrillation)"
    version = VERSION
    citation = (
        "Lip GYH, Nieuwlaat R, Pisters R, Lane DA, Crijns HJGM. Refining clinical risk stratification for "
        "predicting stroke and thromboembolism in atrial fibrillation using a novel risk factor-based approach: "
        "the Euro Heart Survey on Atrial Fibrillation. Chest 2010;137:263-72."
    )
    url = "https://doi.org/10.1378/chest.09-1584"
    observation = False

    def assess(self, facts: Facts) -> Result:
        """The points and ESC band; a gap for a missing age or sex (every other item is the problem list's)."""
        reading = Reading(facts)
        total = 0
        age = reading.age(ADULT)
        if age is not None:
            total += award(reading, age_points(age))
        sex = reading.sex()
        if sex is not None:
            total += award(reading, FEMALE if sex == "female" else 0)
        for label, diagnoses, treatments, weight in CRITERIA:
            findings = (*facts.conditions, *facts.medications) if treatments else facts.conditions
            found = reading.finding(label, findings, _counted(diagnoses, treatments))
            total += award(reading, weight if found else 0)
        fibrillation = reading.finding("Atrial fibrillation", facts.conditions, codes.ATRIAL_FIBRILLATION.__contains__)
        anticoagulant = codes.on_medication(facts, ORAL_ANTICOAGULANTS)
        source = None if anticoagulant is None else anticoagulant.source
        reading.note("Oral anticoagulant", "no" if source is None else "yes", source)
        refused = reading.refused(self.id, self.version)
        if refused is not None:
            return refused
        beyond_sex = total - (FEMALE if sex == "female" else 0)
        band = "high" if beyond_sex >= HIGH_FROM else "moderate" if beyond_sex else "low"
        indicated = fibrillation is not None and band == "high"
        why = ""
        if indicated:
            why = f"CHA₂DS₂-VASc {total} with atrial fibrillation: " + (
                "oral anticoagulation is recommended (ESC 2020)"
                if anticoagulant is None
                else f"already anticoagulated ({anticoagulant.source}), as ESC 2020 recommends"
            )
        return Assessment(
            score=self.id,
            version=self.version,
            value=float(total),
            display=f"CHA₂DS₂-VASc {total} of 9 ({band} stroke risk"
            + ("" if fibrillation else "; no atrial fibrillation on the problem list")
            + ("; on an oral anticoagulant" if anticoagulant else "")
            + ")",
            band=band,
            inputs=tuple(reading.inputs),
            alert=indicated and anticoagulant is None,
            why=why,
        )


CHA2DS2_VASC = Cha2ds2Vasc()
