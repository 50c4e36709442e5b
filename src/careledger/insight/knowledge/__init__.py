"""Drug knowledge the order checks need and a node must have without a terminology server: which ingredients and
WHO ATC classes a coded medication has, and the renal dosing rules of the ingredients that have them."""

from careledger.insight.knowledge._drugs import ATC, atc_classes, ingredient_name, ingredients
from careledger.insight.knowledge._renal import EGFR, Dose, RenalRule, Severity, renal_rules, rules_at

__all__ = [
    "ATC",
    "EGFR",
    "Dose",
    "RenalRule",
    "Severity",
    "atc_classes",
    "ingredient_name",
    "ingredients",
    "renal_rules",
    "rules_at",
]
