"""Real code systems and codes the synthetic records use (LOINC, SNOMED CT, RxNorm, CVX).

Codes, displays and units are the published ones, so the records look like what an EHR
sends; values are drawn from plausible ranges.
"""

from __future__ import annotations

from dataclasses import dataclass

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
CVX = "http://hl7.org/fhir/sid/cvx"
UCUM = "http://unitsofmeasure.org"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
DIAGNOSTIC_SERVICE = "http://terminology.hl7.org/CodeSystem/v2-0074"
MRN_SYSTEM = "urn:oid:2.16.840.1.113883.19.5"  # HL7's example OID: clearly not a real registry


@dataclass(frozen=True, slots=True)
class Measure:
    """An observation code with its unit and a plausible range."""

    code: str
    display: str
    unit: str
    low: float
    high: float
    decimals: int = 0


VITALS = (
    Measure("8867-4", "Heart rate", "/min", 55, 105),
    Measure("9279-1", "Respiratory rate", "/min", 12, 20),
    Measure("8310-5", "Body temperature", "Cel", 36.1, 37.8, 1),
    Measure("29463-7", "Body weight", "kg", 48, 120, 1),
    Measure("8302-2", "Body height", "cm", 150, 195),
    Measure("59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry", "%", 93, 100),
)

BLOOD_PRESSURE = ("85354-9", "Blood pressure panel with all children optional")
SYSTOLIC = Measure("8480-6", "Systolic blood pressure", "mm[Hg]", 105, 165)
DIASTOLIC = Measure("8462-4", "Diastolic blood pressure", "mm[Hg]", 62, 98)

# Laboratory results, grouped into the panel (DiagnosticReport) that reports them.
LAB_PANELS = {
    ("51990-0", "Basic metabolic panel - Blood"): (
        Measure("2339-0", "Glucose [Mass/volume] in Blood", "mg/dL", 70, 180),
        Measure("2160-0", "Creatinine [Mass/volume] in Serum or Plasma", "mg/dL", 0.6, 1.4, 2),
        Measure("2951-2", "Sodium [Moles/volume] in Serum or Plasma", "mmol/L", 134, 146),
        Measure("2823-3", "Potassium [Moles/volume] in Serum or Plasma", "mmol/L", 3.4, 5.2, 1),
    ),
    ("57698-3", "Lipid panel with direct LDL - Serum or Plasma"): (
        Measure("2093-3", "Cholesterol [Mass/volume] in Serum or Plasma", "mg/dL", 140, 260),
        Measure("2085-9", "Cholesterol in HDL [Mass/volume] in Serum or Plasma", "mg/dL", 35, 80),
        Measure("18262-6", "Cholesterol in LDL [Mass/volume] in Serum or Plasma by Direct assay", "mg/dL", 60, 180),
        Measure("2571-8", "Triglyceride [Mass/volume] in Serum or Plasma", "mg/dL", 60, 250),
    ),
    ("58410-2", "CBC panel - Blood by Automated count"): (
        Measure("718-7", "Hemoglobin [Mass/volume] in Blood", "g/dL", 11.5, 17.0, 1),
        Measure("6690-2", "Leukocytes [#/volume] in Blood by Automated count", "10*3/uL", 4.0, 11.0, 1),
        Measure("777-3", "Platelets [#/volume] in Blood by Automated count", "10*3/uL", 150, 400),
    ),
}

HBA1C = Measure("4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood", "%", 5.0, 9.5, 1)


@dataclass(frozen=True, slots=True)
class Problem:
    """A condition with the medication that treats it, if any, and a sensitivity label."""

    snomed: str
    display: str
    rxnorm: str | None = None
    drug: str | None = None
    sensitivity: str | None = None  # v3 ActCode, e.g. PSY for mental health


PROBLEMS = (
    Problem("38341003", "Hypertensive disorder, systemic arterial", "314076", "lisinopril 10 MG Oral Tablet"),
    Problem(
        "44054006",
        "Diabetes mellitus type 2",
        "860975",
        "24 HR metformin hydrochloride 500 MG Extended Release Oral Tablet",
    ),
    Problem("55822004", "Hyperlipidemia", "617312", "atorvastatin 20 MG Oral Tablet"),
    Problem("195967001", "Asthma", "745679", "200 ACTUAT albuterol 0.09 MG/ACTUAT Metered Dose Inhaler"),
    Problem("35489007", "Depressive disorder", "312940", "sertraline 50 MG Oral Tablet", sensitivity="PSY"),
    Problem("7200002", "Alcoholism", None, None, sensitivity="ETH"),
    Problem("40055000", "Chronic sinusitis"),
    Problem("239873007", "Osteoarthritis of knee", "198440", "acetaminophen 500 MG Oral Tablet"),
)

VACCINES = (
    ("140", "Influenza, seasonal, injectable, preservative free"),
    ("208", "SARS-COV-2 (COVID-19) vaccine, mRNA, spike protein, LNP, preservative free, 30 mcg/0.3mL dose"),
    ("115", "Tdap"),
    ("133", "Pneumococcal conjugate PCV 13"),
)

ALLERGENS = (
    ("91936005", "Allergy to penicillin", "medication"),
    ("91935009", "Allergy to peanuts", "food"),
    ("300916003", "Latex allergy", "environment"),
    ("294505008", "Allergy to sulfonamides", "medication"),
)

ENCOUNTER_TYPES = (
    ("AMB", "ambulatory", "185349003", "Encounter for check up"),
    ("AMB", "ambulatory", "390906007", "Follow-up encounter"),
    ("EMER", "emergency", "50849002", "Emergency room admission"),
    ("IMP", "inpatient encounter", "32485007", "Hospital admission"),
)

GIVEN_NAMES = {
    "female": ("Amara", "Beatriz", "Chen", "Dana", "Elif", "Fatima", "Grace", "Hana", "Ines", "Julia", "Keiko", "Lena"),
    "male": ("Aarav", "Bruno", "Carlos", "Dmitri", "Emeka", "Felix", "Goran", "Hugo", "Ivan", "Jonas", "Kenji", "Luis"),
}
FAMILY_NAMES = (
    "Abara", "Berg", "Castillo", "Dubois", "Eriksen", "Fischer", "Gupta", "Haddad", "Ito", "Jansen",
    "Kowalski", "Lindqvist", "Moreau", "Nakamura", "Okafor", "Petrov", "Quinn", "Rossi", "Silva", "Tanaka",
)  # fmt: skip
CITIES = (("Lyon", "FR"), ("Porto", "PT"), ("Leipzig", "DE"), ("Utrecht", "NL"), ("Turku", "FI"), ("Boston", "US"))
