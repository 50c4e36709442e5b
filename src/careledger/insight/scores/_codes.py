"""The condition value sets and coded answers the scores share, so that "diabetes" means the same codes to every
score that asks.

Each set is SNOMED CT and ICD-10-CM codes taken from the published value sets: the VSAC (NLM Value Set Authority
Center) eCQM sets of the same name (e.g. "Diabetes" 2.16.840.1.113883.3.464.1003.103.12.1001, "Essential
Hypertension" 2.16.840.1.113883.3.464.1003.104.12.1011, "Heart Failure" 2.16.840.1.113883.3.526.3.376, "Atrial
Fibrillation or Flutter" 2.16.840.1.113883.3.117.1.7.1.202 less flutter) and the criteria the scores' own papers define
(CHA₂DS₂-VASc: Lip et al., Chest 2010; HAS-BLED: Pisters et al., Chest 2010), trimmed to the codes a record
commonly carries.

Drug classes are WHO ATC prefixes, read through `careledger.insight.knowledge.atc_classes` (`on_medication`).

Matching is by exact code (`Facts.has`): a SNOMED CT descendant or an ICD-10-CM subcode not listed here is not
matched. No subsumption is attempted, because that needs the terminology server a pure score does not have; a
record coded more specifically than these lists is "not found", which the scores report as absent, never guessed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from careledger.insight._model import ICD10, LOINC, SNOMED, Code, Facts, Finding
from careledger.insight.knowledge import atc_classes


def _snomed(*codes: str) -> frozenset[Code]:
    return frozenset(Code(SNOMED, code) for code in codes)


def _icd10(*codes: str) -> frozenset[Code]:
    return frozenset(Code(ICD10, code) for code in codes)


def _icd10_family(category: str, *subcodes: str) -> frozenset[Code]:
    """The category itself (some records carry the three-character code) and its listed subcodes."""
    return _icd10(category, *(f"{category}.{sub}" for sub in subcodes))


_DIABETES_SUBCODES = ("9", "65", "8", "10", "11", "21", "22", "29", "319", "40", "42", "51", "649", "69")
# Type 1 (E10) and type 2 (E11); E11 alone has hyperosmolarity (.00, .01). Gestational (O24.4) and
# prediabetes (R73.03) are not diabetes for any score here.
DIABETES = (
    _snomed("73211009", "46635009", "44054006", "313436004", "81531005")
    | _icd10_family("E10", *_DIABETES_SUBCODES)
    | _icd10_family("E11", "00", "01", *_DIABETES_SUBCODES)
)

# Essential and secondary hypertension and hypertensive heart/kidney disease; not pulmonary hypertension.
HYPERTENSION = _snomed("38341003", "59621000", "1201005", "10725009", "78975002", "31992008", "38481006") | _icd10(
    "I10",
    "I11.0",
    "I11.9",
    "I12.0",
    "I12.9",
    "I13.0",
    "I13.10",
    "I13.11",
    "I13.2",
    "I15.0",
    "I15.1",
    "I15.2",
    "I15.8",
    "I15.9",
    "I16.0",
    "I16.1",
    "I16.9",
    "I1A.0",
)

# Heart failure of any type, and left ventricular systolic dysfunction (CHA₂DS₂-VASc's "C" counts both).
HEART_FAILURE = (
    _snomed(
        "84114007",
        "42343007",
        "85232009",
        "417996009",
        "418304008",
        "88805009",
        "56675007",
        "703272007",
        "446221000",
        "134401001",
    )
    | _icd10_family(
        "I50",
        "1",
        "20",
        "21",
        "22",
        "23",
        "30",
        "31",
        "32",
        "33",
        "40",
        "41",
        "42",
        "43",
        "810",
        "811",
        "812",
        "813",
        "814",
        "82",
        "83",
        "84",
        "89",
        "9",
    )
    | _icd10("I11.0", "I13.0", "I13.2")
)

# Ischaemic and haemorrhagic stroke, and its history (Z86.73 also covers a past TIA).
STROKE = (
    _snomed("230690007", "422504002", "432504007", "274100004", "1386000", "230706003")
    | _icd10_family("I63", "00", "10", "20", "30", "40", "50", "81", "89", "9")
    | _icd10_family("I61", "0", "1", "2", "3", "4", "5", "6", "8", "9")
    | _icd10("I62.9", "I69.30", "Z86.73")
)

TIA = _snomed("266257000") | _icd10_family("G45", "0", "1", "8", "9")

# Systemic (arterial) embolism, which CHA₂DS₂-VASc counts with stroke; venous thromboembolism is not in it.
THROMBOEMBOLISM = _snomed("414086009") | _icd10(
    "I74.01", "I74.09", "I74.10", "I74.11", "I74.19", "I74.2", "I74.3", "I74.4", "I74.5", "I74.8", "I74.9"
)

MYOCARDIAL_INFARCTION = _snomed("22298006", "57054005", "1755008", "399211009", "401303003", "401314000") | _icd10(
    "I21.01",
    "I21.02",
    "I21.09",
    "I21.11",
    "I21.19",
    "I21.21",
    "I21.29",
    "I21.3",
    "I21.4",
    "I21.9",
    "I21.A1",
    "I21.A9",
    "I22.0",
    "I22.1",
    "I22.2",
    "I22.8",
    "I22.9",
    "I25.2",
)

# Coronary heart disease short of a coded MI: coronary atherosclerosis, stable and unstable angina, chronic
# ischaemic heart disease, and the status codes of a coronary bypass graft (CABG), a coronary stent or angioplasty
# (PCI). With MYOCARDIAL_INFARCTION, STROKE, TIA and PERIPHERAL_ARTERY_DISEASE it is clinical ASCVD (Goff 2013;
# 2018 ACC/AHA cholesterol guideline), which the risk equations refuse.
CORONARY_HEART_DISEASE = (
    _snomed(
        "53741008",  # coronary arteriosclerosis
        "414545008",  # ischaemic heart disease
        "413838009",  # chronic ischaemic heart disease
        "194828000",  # angina
        "233819005",  # stable angina
        "4557003",  # preinfarction syndrome (unstable angina)
        "394659003",  # acute coronary syndrome
        "232717009",  # coronary artery bypass grafting
        "399261000",  # history of coronary artery bypass grafting
        "415070008",  # percutaneous coronary intervention
        "36969009",  # placement of a stent in a coronary artery
        "11101003",  # percutaneous transluminal coronary angioplasty
    )
    | _icd10_family("I20", "0", "1", "8", "9", "81", "89")
    | _icd10_family("I24", "0", "1", "8", "9")
    | _icd10_family("I25", "10", "110", "111", "118", "119", "5", "6", "9")
    | _icd10("Z95.1", "Z95.5", "Z98.61")
)

PERIPHERAL_ARTERY_DISEASE = _snomed("399957001", "840580004", "400047006") | _icd10(
    "I73.9", "I70.209", "I70.219", "I70.229", "I70.25", "I70.269", "I70.299"
)

# Atherosclerosis of the aorta (complex aortic plaque in CHA₂DS₂-VASc's "V").
AORTIC_PLAQUE = _snomed("81817003") | _icd10("I70.0")

# CHA₂DS₂-VASc's vascular disease: prior MI, peripheral artery disease or aortic plaque.
VASCULAR_DISEASE = MYOCARDIAL_INFARCTION | PERIPHERAL_ARTERY_DISEASE | AORTIC_PLAQUE

# HAS-BLED's abnormal renal function: chronic dialysis, a kidney transplant, end-stage renal disease.
RENAL_DISEASE = _snomed("46177005", "433146000", "105502003", "161665007", "265764009", "70536003") | _icd10(
    "N18.5", "N18.6", "Z99.2", "Z94.0", "Z49.01", "Z49.31"
)

# HAS-BLED's abnormal liver function: chronic hepatic disease such as cirrhosis.
LIVER_DISEASE = _snomed("19943007", "420054005", "328383001") | _icd10(
    "K70.30", "K70.31", "K70.40", "K70.41", "K71.7", "K74.60", "K74.69", "K72.10", "K72.11", "B18.1", "B18.2"
)

# HAS-BLED's "bleeding history or predisposition": major or gastrointestinal bleeding, intracranial haemorrhage,
# and bleeding diatheses (haemophilia, von Willebrand disease).
MAJOR_BLEEDING = _snomed("131148009", "74474003", "1386000", "274100004", "90935002", "128105004") | _icd10(
    "K92.0", "K92.1", "K92.2", "I61.9", "I62.9", "R58", "D66", "D67", "D68.0", "D68.9"
)

# HAS-BLED's alcohol (≥ 8 drinks a week), read as a current alcohol use disorder; remission codes are not listed.
ALCOHOL_USE_DISORDER = _snomed("7200002", "66590003", "15167005") | _icd10(
    "F10.10", "F10.120", "F10.20", "F10.220", "F10.229", "F10.239", "F10.288", "F10.29"
)

# Atrial fibrillation of any pattern; flutter (I48.3, I48.4, I48.92) is not listed.
ATRIAL_FIBRILLATION = _snomed("49436004", "282825002", "440059007", "426749004", "440028005") | _icd10(
    "I48.0", "I48.1", "I48.11", "I48.19", "I48.2", "I48.20", "I48.21", "I48.91"
)

# Tobacco smoking status (LOINC 72166-2) and its SNOMED CT answers, as US Core's smoking status profile binds them.
SMOKING_STATUS = Code(LOINC, "72166-2")
CURRENT_SMOKER = _snomed("449868002", "428041000124106", "77176002", "428071000124103", "428061000124105")
FORMER_SMOKER = _snomed("8517006")
NEVER_SMOKER = _snomed("266919005")

# "FH: Diabetes mellitus": the gatherer puts a FamilyMemberHistory of diabetes into `Facts.answers` under this code.
FAMILY_HISTORY_DIABETES = _snomed("160303001")

# A raised blood glucose short of diabetes (FINDRISC's "ever found to have high blood glucose"): prediabetes,
# impaired glucose tolerance or fasting glucose, hyperglycaemia, gestational diabetes and its history.
HIGH_BLOOD_GLUCOSE = _snomed("714628002", "9414007", "390951007", "11687002") | _icd10(
    "R73.01", "R73.02", "R73.03", "R73.09", "R73.9", "Z86.32"
)

# WHO ATC classes (prefixes) the scores ask about.
ANTIHYPERTENSIVES = ("C02", "C03", "C07", "C08", "C09")
ANTIPLATELETS = ("B01AC",)
NSAIDS = ("M01A",)
VITAMIN_K_ANTAGONISTS = ("B01AA",)


def of_class(prefixes: Iterable[str]) -> Callable[[Code], bool]:
    """A test of a medication code: does any of its ATC classes start with one of `prefixes`? (A drug the knowledge
    table does not know has none, and is not counted.)"""
    wanted = tuple(prefixes)
    return lambda code: any(atc.startswith(wanted) for atc in atc_classes(code))


def on_medication(facts: Facts, classes: tuple[str, ...]) -> Finding | None:
    """The first active medication whose ATC classes fall under any of `classes`."""
    matches = of_class(classes)
    return next((m for m in facts.medications if matches(m.code)), None)
