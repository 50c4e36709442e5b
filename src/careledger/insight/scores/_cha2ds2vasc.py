"""CHA₂DS₂-VASc: the stroke risk of a patient with atrial fibrillation, in points from the problem list, age and sex,
which decides whether she is offered anticoagulation.

Source: Lip GYH, Nieuwlaat R, Pisters R, Lane DA, Crijns HJGM. Refining clinical risk stratification for predicting
stroke and thromboembolism in atrial fibrillation using a novel risk factor-based approach: the Euro Heart Survey
on Atrial Fibrillation. Chest 2010;137:263-72 (Table 2). Bands: Hindricks G, et al. 2020 ESC Guidelines for the
diagnosis and management of atrial fibrillation. Eur Heart J 2021;42:373-498 (OAC recommended at >= 2 points in
men and >= 3 in women, considered at 1 and 2, not indicated at 0 and 1).

Conditions are read from the problem list by the shared value sets (`_codes`, exact codes); a condition that is
not on it counts as absent, as the score's "history of" means. Hypertension is the diagnosis, not a drug alone:
ESC 2020 counts antihypertensive treatment, meaning treatment for hypertension, and a record does not say what a
drug is for. In atrial fibrillation most patients take a beta-blocker, diltiazem or verapamil for rate control,
and those with heart failure an ACE inhibitor, diuretic or spironolactone for it (already item C): counted as H,
they would recommend anticoagulation to patients the score does not put there. A drug of an antihypertensive class
(ATC C02, C03, C07, C08, C09) with no diagnosis is shown as an input, not counted, so the clinician records the
diagnosis if that is what it treats.

The score is only meaningful in atrial fibrillation. It is computed for anyone (a clinician may be weighing a new
diagnosis), the absence of atrial fibrillation on the problem list is shown as an input, and the alert (that
anticoagulation is recommended) is raised only when atrial fibrillation is on it and she takes no oral
anticoagulant yet (an active vitamin K antagonist or direct oral anticoagulant): recommending what she already
takes would teach clinicians to dismiss the card. The score is still computed, and says she is anticoagulated.
"""

from __future__ import annotations

from careledger.insight._model import Assessment, Facts, Result
from careledger.insight.scores import _codes as codes
from careledger.insight.scores._points import award
from careledger.insight.scores._reading import Bounds, Reading

VERSION = "CHA2DS2-VASc (Lip 2010)"

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

CRITERIA = (
    ("Congestive heart failure or LV dysfunction", codes.HEART_FAILURE, CONGESTIVE_HEART_FAILURE),
    ("Hypertension", codes.HYPERTENSION, HYPERTENSION),
    ("Diabetes", codes.DIABETES, DIABETES),
    ("Stroke, TIA or thromboembolism", codes.STROKE | codes.TIA | codes.THROMBOEMBOLISM, STROKE_TIA_THROMBOEMBOLISM),
    ("Vascular disease (MI, PAD, aortic plaque)", codes.VASCULAR_DISEASE, VASCULAR_DISEASE),
)


def age_points(age: int) -> int:
    """A: 1 point from 65, A2: 2 points from 75."""
    if age >= 75:
        return AGE_75_OR_OVER
    return AGE_65_TO_74 if age >= 65 else 0


def _uncounted_antihypertensive(reading: Reading, facts: Facts) -> None:
    """With no hypertension diagnosis, an active drug of an antihypertensive class, shown and not counted (the
    module's docstring says why): the clinician who knows it treats hypertension records the diagnosis."""
    drug = codes.on_medication(facts, codes.ANTIHYPERTENSIVES)
    if drug is not None:
        reading.note(
            "Antihypertensive class drug, no hypertension diagnosis",
            "not counted (rate control or heart failure?): if it treats hypertension, record the diagnosis (+1)",
            drug.source,
        )


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
        for label, value_set, weight in CRITERIA:
            found = reading.finding(label, facts.conditions, value_set.__contains__)
            total += award(reading, weight if found else 0)
            if found is None and value_set is codes.HYPERTENSION:
                _uncounted_antihypertensive(reading, facts)
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
