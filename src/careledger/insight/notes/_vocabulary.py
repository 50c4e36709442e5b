"""What a note's words can be coded as: conditions (SNOMED CT and ICD-10-CM) and medication ingredients (RxNorm),
each with the names, synonyms and abbreviations clinicians write for it, as spaCy EntityRuler patterns.

Conditions are the common problem-list entries a primary-care note names; their SNOMED CT codes are the ones the
scores' value sets (`insight/scores/_codes.py`) hold, so a confirmed suggestion is seen by every score that asks.
ICD-10-CM codes are each condition's unspecified code (CMS ICD-10-CM 2025 tabular list). Medications are the
ingredients of the drug table in `careledger.insight.knowledge` (RxNorm ingredient RxCUIs and names, RxNav), to
which this module adds what a note says besides the ingredient's name (brand names and abbreviations, FDA Orange
Book), and a short list of its own of common ingredients that table does not hold (levothyroxine, omeprazole, …).

Short upper-case abbreviations (MI, AF, HF, DM, OA) match only as written, because their lower-case forms are
words ("mi", "af"); every other term matches in any case. Abbreviations read as something else in notes are left
out: PE (physical examination), RA (room air), MS (morphine sulfate, mitral stenosis).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Literal

from careledger.insight._model import ICD10, RXNORM, SNOMED, Code
from careledger.insight.knowledge import ingredient_name

Kind = Literal["condition", "medication"]
CONDITION: Kind = "condition"
MEDICATION: Kind = "medication"
LABELS: dict[Kind, str] = {CONDITION: "CONDITION", MEDICATION: "MEDICATION"}


@dataclass(frozen=True, slots=True)
class Concept:
    """One thing a note can name: its kind, display, codes (the first is the one a draft leads with) and terms.
    `chronic` is a condition that does not end by being in the past medical history: "history of HTN" says she
    has hypertension, where "history of pneumonia" says she had an episode that is over."""

    kind: Kind
    display: str
    codes: tuple[Code, ...]
    terms: tuple[str, ...]
    chronic: bool = False

    @property
    def id(self) -> str:
        """The entity id the ruler tags a match with: the leading code."""
        return self.codes[0].code


# Chronic conditions (SNOMED CT): lifelong or lasting for years once diagnosed, so a historical mention of one is
# hers now unless the note says it is over ("resolved", "in remission", "as a child"). Episodic or curable ones
# (pneumonia, MI and stroke as events, DVT, cancers, hepatitis C, depression, migraine) are not in it.
_CHRONIC = frozenset({
    "38341003", "44054006", "46635009", "73211009", "84114007", "49436004", "13645005", "195967001", "53741008",
    "709044004", "55822004", "40930008", "396275006", "69896004", "235595009", "84757009", "52448006", "26929004",
    "90560007", "64859006", "78275009", "19943007", "86406008", "399957001", "266569009",
})  # fmt: skip


def _condition(snomed: str, icd10: str, display: str, *terms: str) -> Concept:
    codes = (Code(SNOMED, snomed), Code(ICD10, icd10))
    return Concept(CONDITION, display, codes, (display.lower(), *terms), chronic=snomed in _CHRONIC)


_C = _condition

CONDITIONS: tuple[Concept, ...] = (
    _C("38341003", "I10", "Hypertension", "high blood pressure", "essential hypertension", "HTN", "htn"),
    _C("44054006", "E11.9", "Type 2 diabetes mellitus", "type 2 diabetes", "type ii diabetes", "type 2 dm",
       "type ii dm", "diabetes mellitus type 2", "diabetes type 2", "dm type 2", "t2dm", "dm2", "dm ii", "dmii",
       "niddm", "non-insulin dependent diabetes", "adult onset diabetes"),
    _C("46635009", "E10.9", "Type 1 diabetes mellitus", "type 1 diabetes", "type i diabetes", "type 1 dm",
       "diabetes mellitus type 1", "diabetes type 1", "t1dm", "dm1", "iddm", "insulin dependent diabetes",
       "juvenile diabetes"),
    # Diabetes whose type is not written: ICD-10-CM's default for it is E11 (Official Guidelines I.C.4.a.2).
    _C("73211009", "E11.9", "Diabetes mellitus", "diabetes", "DM"),
    _C("84114007", "I50.9", "Heart failure", "congestive heart failure", "chf", "HF", "hfref", "hfpef",
       "cardiac failure"),
    _C("49436004", "I48.91", "Atrial fibrillation", "afib", "a-fib", "a fib", "AF", "paroxysmal afib"),
    _C("5370000", "I48.92", "Atrial flutter", "aflutter", "a-flutter"),
    _C("13645005", "J44.9", "Chronic obstructive pulmonary disease", "copd", "chronic obstructive lung disease"),
    _C("195967001", "J45.909", "Asthma", "bronchial asthma"),
    _C("22298006", "I21.9", "Myocardial infarction", "heart attack", "MI", "stemi", "nstemi"),
    _C("53741008", "I25.10", "Coronary artery disease", "coronary heart disease", "cad",
       "ischemic heart disease", "ihd"),
    _C("709044004", "N18.9", "Chronic kidney disease", "ckd", "chronic renal insufficiency",
       "chronic renal failure", "chronic renal disease"),
    _C("14669001", "N17.9", "Acute kidney injury", "aki", "acute renal failure"),
    _C("230690007", "I63.9", "Stroke", "cva", "cerebrovascular accident", "cerebral infarction"),
    _C("266257000", "G45.9", "Transient ischemic attack", "tia", "mini-stroke", "mini stroke"),
    _C("55822004", "E78.5", "Hyperlipidemia", "hyperlipidaemia", "dyslipidemia", "dyslipidaemia",
       "high cholesterol", "hypercholesterolemia", "hld"),
    _C("414916001", "E66.9", "Obesity", "morbid obesity"),
    _C("40930008", "E03.9", "Hypothyroidism", "underactive thyroid"),
    _C("34486009", "E05.90", "Hyperthyroidism", "overactive thyroid"),
    _C("35489007", "F32.A", "Depression", "depressive disorder", "major depressive disorder", "mdd"),
    _C("197480006", "F41.9", "Anxiety disorder", "anxiety", "generalized anxiety disorder", "gad"),
    _C("396275006", "M19.90", "Osteoarthritis", "degenerative joint disease", "djd", "OA"),
    _C("69896004", "M06.9", "Rheumatoid arthritis"),
    _C("235595009", "K21.9", "Gastroesophageal reflux disease", "gerd", "gord", "acid reflux",
       "reflux disease"),
    _C("233604007", "J18.9", "Pneumonia", "pna", "community acquired pneumonia"),
    _C("68566005", "N39.0", "Urinary tract infection", "uti"),
    _C("128053003", "I82.409", "Deep vein thrombosis", "deep venous thrombosis", "dvt"),
    _C("59282003", "I26.99", "Pulmonary embolism", "pulmonary embolus"),
    _C("271737000", "D64.9", "Anemia", "anaemia"),
    _C("37796009", "G43.909", "Migraine", "migraines", "migraine headaches"),
    _C("84757009", "G40.909", "Epilepsy", "seizure disorder"),
    _C("52448006", "F03.90", "Dementia"),
    _C("26929004", "G30.9", "Alzheimer's disease", "alzheimer disease", "alzheimers", "alzheimer's"),
    _C("90560007", "M10.9", "Gout"),
    _C("64859006", "M81.0", "Osteoporosis"),
    _C("78275009", "G47.33", "Obstructive sleep apnea", "sleep apnea", "osa", "obstructive sleep apnoea"),
    _C("19943007", "K74.60", "Cirrhosis of liver", "cirrhosis", "liver cirrhosis", "hepatic cirrhosis"),
    _C("86406008", "B20", "HIV infection", "hiv", "human immunodeficiency virus infection"),
    _C("50711007", "B18.2", "Hepatitis C", "hep c", "hcv", "chronic hepatitis c"),
    _C("254837009", "C50.919", "Breast cancer", "carcinoma of breast", "breast carcinoma",
       "malignant neoplasm of breast"),
    _C("363406005", "C18.9", "Colon cancer", "colorectal cancer", "carcinoma of colon", "colon carcinoma"),
    _C("399068003", "C61", "Prostate cancer", "carcinoma of prostate", "prostate carcinoma"),
    _C("93880001", "C34.90", "Lung cancer", "carcinoma of lung", "lung carcinoma"),
    _C("399957001", "I73.9", "Peripheral arterial disease", "peripheral artery disease",
       "peripheral vascular disease", "pad", "pvd"),
    _C("266569009", "N40.0", "Benign prostatic hyperplasia", "bph", "enlarged prostate"),
    _C("91302008", "A41.9", "Sepsis"),
    _C("128045006", "L03.90", "Cellulitis"),
)  # fmt: skip

# The knowledge table's ingredients a note may name, by RxCUI, with their brand names and abbreviations (the
# ingredient's own name, from the table, is a term already). Every RxCUI must be one the table knows.
_KNOWN: dict[str, tuple[str, ...]] = {
    "2599": ("catapres",), "5470": (), "6876": (), "49276": ("cardura",), "5487": ("hctz", "microzide"),
    "2409": (), "4603": ("lasix",), "1808": ("bumex",), "38413": ("demadex",), "9997": ("aldactone",),
    "6918": ("lopressor", "toprol"), "1202": ("tenormin",), "19484": (), "8787": ("inderal",), "20352": ("coreg",),
    "17767": ("norvasc",), "7417": ("procardia",), "3443": ("cardizem",), "11170": (),
    "29046": ("zestril", "prinivil"), "3827": ("vasotec",), "35296": ("altace",), "18867": ("lotensin",),
    "52175": ("cozaar",), "69749": ("diovan",), "83818": ("avapro",), "118463": ("benicar",),
    "36567": ("zocor",), "6472": (), "42463": ("pravachol",), "83367": ("lipitor",), "301542": ("crestor",),
    "1191": ("asa", "acetylsalicylic acid"), "32968": ("plavix",), "613391": ("effient",), "1116632": ("brilinta",),
    "11289": ("coumadin", "jantoven"), "1546356": ("pradaxa",), "1114195": ("xarelto",), "1364430": ("eliquis",),
    "1599538": ("savaysa",), "5640": ("motrin", "advil"), "7258": ("aleve", "naprosyn"), "3355": ("voltaren",),
    "5781": (), "35827": ("toradol",), "41493": ("mobic",), "140587": ("celebrex",), "723": ("amoxil",),
    "733": (), "7980": ("penicillin",), "7984": (), "3356": (), "2231": ("keflex",), "2180": ("ancef",),
    "2194": (), "2193": ("rocephin",), "25037": (), "20481": (), "10180": ("bactrim",), "10829": (),
    "7454": ("macrobid", "macrodantin"), "6809": ("glucophage",), "1488564": ("farxiga",),
    "1373458": ("invokana",), "1545653": ("jardiance",), "25480": ("neurontin",), "187832": ("lyrica",),
    "7052": (), "3423": ("dilaudid",), "7804": ("oxycontin",), "4337": (), "10689": ("ultram",), "2670": (),
}  # fmt: skip

# Common ingredients the knowledge table does not hold (it keeps what the order checks need): RxNorm ingredient
# RxCUIs and names from RxNav, kept here until the table has them.
_OWN: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("10582", "levothyroxine", ("synthroid", "levoxyl")),
    ("7646", "omeprazole", ("prilosec",)),
    ("40790", "pantoprazole", ("protonix",)),
    ("274783", "insulin glargine", ("lantus", "basaglar")),
    ("435", "albuterol", ("ventolin", "proair", "salbutamol")),
    ("41126", "fluticasone", ("flovent", "flonase")),
    ("69120", "tiotropium", ("spiriva",)),
    ("88249", "montelukast", ("singulair",)),
    ("36437", "sertraline", ("zoloft",)),
    ("4493", "fluoxetine", ("prozac",)),
    ("321988", "escitalopram", ("lexapro",)),
    ("8640", "prednisone", ()),
    ("161", "acetaminophen", ("tylenol", "apap", "paracetamol")),
    ("519", "allopurinol", ("zyloprim",)),
    ("77492", "tamsulosin", ("flomax",)),
    ("3407", "digoxin", ("lanoxin",)),
    ("46041", "alendronate", ("fosamax",)),
)


@functools.cache
def medications() -> tuple[Concept, ...]:
    """The ingredients a note can name: the knowledge table's (displayed as it names them), then our own."""
    found = []
    for rxcui, brands in _KNOWN.items():
        name = ingredient_name(Code(RXNORM, rxcui))
        if name is None:
            raise LookupError(f"RxCUI {rxcui} is not in careledger.insight.knowledge's ingredient table")
        found.append(Concept(MEDICATION, name, (Code(RXNORM, rxcui),), (name, *brands)))
    found.extend(Concept(MEDICATION, name, (Code(RXNORM, rxcui),), (name, *brands)) for rxcui, name, brands in _OWN)
    return tuple(found)


def concepts() -> dict[str, Concept]:
    """Every concept by its entity id (conditions' SNOMED CT code, medications' RxCUI: the two never collide)."""
    return {concept.id: concept for concept in (*CONDITIONS, *medications())}


def _exact(term: str) -> bool:
    """Whether `term` is a short upper-case abbreviation, matched only as written."""
    return term.isupper() and len(term) <= 2


def patterns() -> list[dict[str, Any]]:
    """EntityRuler patterns for every term: phrase patterns matched on lower case (the ruler's `phrase_matcher_attr`
    is LOWER), and token patterns matched on the text as written for the short abbreviations."""
    found: list[dict[str, Any]] = []
    for concept in concepts().values():
        for term in dict.fromkeys(concept.terms):
            pattern: str | list[dict[str, str]] = [{"ORTH": term}] if _exact(term) else term.lower()
            found.append({"label": LABELS[concept.kind], "pattern": pattern, "id": concept.id})
    return found
