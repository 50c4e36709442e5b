"""What a recorded allergy is an allergy to: ingredients, and the drug classes whose members share the allergen.

An AllergyIntolerance is coded by RxNorm (an ingredient or a drug) or by SNOMED CT (a substance such as
764146007 |Penicillin (substance)| or a disorder such as 91936005 |Allergy to penicillin|). The order check needs,
for each, the ingredients and the ATC classes it reaches; SNOMED concepts come from the small map below, RxNorm and
ATC codes from the drug table. Classes are WHO ATC prefixes: a penicillin allergy reaches every J01C ingredient.

Cross-reactivity between penicillins and cephalosporins is low (about 1-2 %, mostly through shared side chains)
but not nil, so it is stated as a warning, not a refusal (AAAAI/ACAAI drug allergy practice parameter, 2022).
"""

from __future__ import annotations

from dataclasses import dataclass

from careledger.insight._model import RXNORM, SNOMED, Code
from careledger.insight.knowledge._drugs import atc_classes, ingredients

# ATC classes an allergy spreads over, and what a clinician calls them.
CLASSES: dict[str, str] = {
    "J01C": "penicillins",
    "J01D": "cephalosporins",
    "J01EC": "sulfonamide antibiotics",
}
# Classes that cross-react partially: an allergy to the first makes an order in the second a warning.
CROSS_REACTIVE: frozenset[tuple[str, str]] = frozenset({("J01C", "J01D"), ("J01D", "J01C")})

DRUG_ALLERGY_SOURCE = (
    "AAAAI/ACAAI Drug allergy: a 2022 practice parameter update (J Allergy Clin Immunol 2022;150:1333-1393)",
    "https://doi.org/10.1016/j.jaci.2022.08.028",
)


@dataclass(frozen=True, slots=True)
class Allergen:
    """What an allergy code reaches: RxNorm ingredient codes and ATC class prefixes (keys of `CLASSES`)."""

    ingredients: frozenset[Code] = frozenset()
    classes: frozenset[str] = frozenset()


# SNOMED CT substances and allergy disorders (International Edition; US Core and IPS examples use them): those that
# name a class, and those that name one ingredient (which reaches its class as a drug code does).
SNOMED_CLASSES: dict[str, str] = {
    "764146007": "J01C",  # Penicillin (substance)
    "373270004": "J01C",  # Substance with penicillin structure and antibacterial mechanism of action (substance)
    "91936005": "J01C",  # Allergy to penicillin (disorder)
    "764147003": "J01D",  # Cephalosporin (substance)
    "387406002": "J01EC",  # Sulfonamide (substance)
}
SNOMED_INGREDIENTS: dict[str, str] = {
    "372687004": "723",  # Amoxicillin (substance)
    "294505008": "723",  # Allergy to amoxicillin (disorder)
    "387207008": "5640",  # Ibuprofen (substance)
    "387458008": "1191",  # Aspirin (substance)
    "372756006": "11289",  # Warfarin (substance)
}


def classes_of(code: Code) -> frozenset[str]:
    """The allergy classes (keys of `CLASSES`) a medication code belongs to, by its ATC codes."""
    return frozenset(c for c in CLASSES for atc in atc_classes(code) if atc.startswith(c))


def allergen(code: Code) -> Allergen:
    """What an allergy coded `code` reaches: a SNOMED concept through the map, a drug through its ingredients and
    their classes (an amoxicillin allergy is a penicillin allergy); an unknown code reaches nothing."""
    if code.system == SNOMED:
        concept = code.code.strip()
        if concept in SNOMED_CLASSES:
            return Allergen(classes=frozenset({SNOMED_CLASSES[concept]}))
        if concept not in SNOMED_INGREDIENTS:
            return Allergen()
        code = Code(RXNORM, SNOMED_INGREDIENTS[concept])
    return Allergen(ingredients(code), classes_of(code))
