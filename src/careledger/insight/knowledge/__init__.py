"""Drug knowledge the order checks need and a node must have without a terminology server: which ingredients and
WHO ATC classes a coded medication has, what a recorded allergy reaches, and the renal dosing rules of the
ingredients that have them."""

from careledger.insight.knowledge._allergens import (
    CLASSES,
    CROSS_REACTIVE,
    DRUG_ALLERGY_SOURCE,
    Allergen,
    allergen,
    classes_of,
)
from careledger.insight.knowledge._drugs import ATC, INGREDIENTS, Ingredient, atc_classes, ingredient_name, ingredients
from careledger.insight.knowledge._renal import EGFR, Dose, RenalRule, Severity, renal_rules, rules_at

__all__ = [
    "ATC",
    "CLASSES",
    "CROSS_REACTIVE",
    "DRUG_ALLERGY_SOURCE",
    "EGFR",
    "INGREDIENTS",
    "Allergen",
    "Dose",
    "Ingredient",
    "RenalRule",
    "Severity",
    "allergen",
    "atc_classes",
    "classes_of",
    "ingredient_name",
    "ingredients",
    "renal_rules",
    "rules_at",
]
