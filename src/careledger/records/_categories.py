"""Which consent category a resource falls in (DESIGN.md section 4).

The resource type and its own category codes give the base category; `meta.security`
sensitivity labels (HL7 v3 ActCode) override it, so a depression diagnosis labelled PSY
is `mental-health`, never `general`. Sensitive categories are only ever shared by a
consent that names them.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

Resource = dict[str, Any]


class Category(StrEnum):
    """A consent category. The order is ConsentRegistry's bit layout: never reorder, only append."""

    GENERAL = "general"
    MEDICATIONS = "medications"
    LABS = "labs"
    VITALS = "vitals"
    IMAGING = "imaging"
    MENTAL_HEALTH = "mental-health"
    SEXUAL_HEALTH = "sexual-health"
    SUBSTANCE_USE = "substance-use"
    GENOMICS = "genomics"
    BILLING = "billing"

    @property
    def sensitive(self) -> bool:
        """Whether the category needs a consent that names it (mental health, sexual health, …)."""
        return self in SENSITIVE

    @property
    def bit(self) -> int:
        """This category's bit in a consent's categories mask."""
        return 1 << list(Category).index(self)

    @classmethod
    def from_mask(cls, mask: int) -> list[Category]:
        """The categories a bitmask holds."""
        return [category for category in cls if mask & category.bit]


SENSITIVE = frozenset({Category.MENTAL_HEALTH, Category.SEXUAL_HEALTH, Category.SUBSTANCE_USE, Category.GENOMICS})

_BY_TYPE = {
    **dict.fromkeys(
        ("MedicationRequest", "MedicationStatement", "MedicationAdministration", "MedicationDispense", "Medication"),
        Category.MEDICATIONS,
    ),
    **dict.fromkeys(("ImagingStudy", "Media"), Category.IMAGING),
    **dict.fromkeys(("MolecularSequence",), Category.GENOMICS),
    **dict.fromkeys(
        ("Claim", "ClaimResponse", "ExplanationOfBenefit", "Coverage", "CoverageEligibilityRequest", "Invoice"),
        Category.BILLING,
    ),
    "Account": Category.BILLING,
}

# observation-category and v2-0074 (diagnostic service section) codes.
_BY_CATEGORY_CODE = {
    "laboratory": Category.LABS,
    "LAB": Category.LABS,
    "vital-signs": Category.VITALS,
    "imaging": Category.IMAGING,
    "RAD": Category.IMAGING,
    "GE": Category.GENOMICS,
}

# v3 ActCode sensitivity labels, by the category they protect.
_BY_SECURITY_LABEL = {
    **dict.fromkeys(("PSY", "PSYTHPN", "MH"), Category.MENTAL_HEALTH),
    **dict.fromkeys(("ETH", "SUD", "OPIOIDUD"), Category.SUBSTANCE_USE),
    **dict.fromkeys(("HIV", "STD", "SEX", "SDV"), Category.SEXUAL_HEALTH),
    **dict.fromkeys(("GDIS", "GENETIC"), Category.GENOMICS),
}


def categorise(resource: Resource) -> Category:
    """The category of `resource`: a sensitivity label first, then its own codes, then its type."""
    for label in resource.get("meta", {}).get("security", []):
        category = _BY_SECURITY_LABEL.get(label.get("code", ""))
        if category is not None:
            return category
    for concept in resource.get("category", []):
        for coding in concept.get("coding", []) if isinstance(concept, dict) else []:
            category = _BY_CATEGORY_CODE.get(coding.get("code", ""))
            if category is not None:
                return category
    resource_type = resource["resourceType"]
    if resource_type == "DiagnosticReport":
        return Category.LABS
    return _BY_TYPE.get(resource_type, Category.GENERAL)
