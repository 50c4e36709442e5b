"""A labelled set of note sentences, written for these tests: each with the conditions (SNOMED CT) and medications
(RxNorm ingredient) it names, and how it names them.

Written the way clinic notes read (abbreviations, lists, section lines, brand names), in six groups: present,
negated, historical, family history, uncertain, and mixed sentences that hold several at once. Labels follow
ConText's conventions: "history of", "s/p" and "previously" make a mention historical; a relative's disease is
family; a mention that is denied or has been ruled out is negated, whoever it is about; one that is possible,
suspected or still to be ruled out is uncertain; a drug named as an allergen is an allergy.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Conditions (SNOMED CT).
HTN, DM2, DM1, DM = "38341003", "44054006", "46635009", "73211009"
HF, AFIB, COPD, ASTHMA, MI, CAD = "84114007", "49436004", "13645005", "195967001", "22298006", "53741008"
CKD, AKI, STROKE, TIA, HLD, OBESITY = "709044004", "14669001", "230690007", "266257000", "55822004", "414916001"
HYPOTHYROID, DEPRESSION, ANXIETY, OA, GERD = "40930008", "35489007", "197480006", "396275006", "235595009"
PNEUMONIA, UTI, DVT, PE, ANEMIA, MIGRAINE = "233604007", "68566005", "128053003", "59282003", "271737000", "37796009"
DEMENTIA, ALZHEIMER, GOUT, OSA, CIRRHOSIS = "52448006", "26929004", "90560007", "78275009", "19943007"
BREAST_CA, COLON_CA, PROSTATE_CA, LUNG_CA, PAD, BPH = (
    "254837009", "363406005", "399068003", "93880001", "399957001", "266569009",
)  # fmt: skip
EPILEPSY, OSTEOPOROSIS, SEPSIS, CELLULITIS, HEP_C = "84757009", "64859006", "91302008", "128045006", "50711007"

# Medications (RxNorm ingredients).
METFORMIN, LISINOPRIL, ATORVASTATIN, AMLODIPINE, WARFARIN = "6809", "29046", "83367", "17767", "11289"
APIXABAN, ASPIRIN, CLOPIDOGREL, FUROSEMIDE, METOPROLOL = "1364430", "1191", "32968", "4603", "6918"
LEVOTHYROXINE, ALBUTEROL, INSULIN_GLARGINE, SERTRALINE = "10582", "435", "274783", "36437"
AMOXICILLIN, OMEPRAZOLE, GABAPENTIN, HCTZ, EMPAGLIFLOZIN = "723", "7646", "25480", "5487", "1545653"
LOSARTAN, ROSUVASTATIN, PENICILLIN_G, NITROFURANTOIN, ALENDRONATE = "52175", "301542", "7980", "7454", "46041"


@dataclass(frozen=True)
class Labelled:
    """A sentence and what it names: code -> status ("present", "negated", "historical", "family", "allergy")."""

    text: str
    conditions: dict[str, str] = field(default_factory=dict)
    medications: dict[str, str] = field(default_factory=dict)


_L = Labelled
P, N, H, F, A, U = "present", "negated", "historical", "family", "allergy", "uncertain"

PRESENT = (
    _L("62 y/o male with HTN, DM2 and CKD stage 3 here for follow-up.", {HTN: P, DM2: P, CKD: P}),
    _L("Assessment: community acquired pneumonia, started on amoxicillin.", {PNEUMONIA: P}, {AMOXICILLIN: P}),
    _L("She has poorly controlled type 2 diabetes on metformin 1000 mg BID.", {DM2: P}, {METFORMIN: P}),
    _L("Known CHF with reduced ejection fraction, on Lasix 40 mg daily.", {HF: P}, {FUROSEMIDE: P}),
    _L("ECG today shows atrial fibrillation with rapid ventricular response.", {AFIB: P}),
    _L("COPD exacerbation; albuterol nebs every 4 hours.", {COPD: P}, {ALBUTEROL: P}),
    _L("Hypothyroidism, stable on levothyroxine 75 mcg.", {HYPOTHYROID: P}, {LEVOTHYROXINE: P}),
    _L("Patient reports worsening depression and anxiety since her job loss.", {DEPRESSION: P, ANXIETY: P}),
    _L("Right knee osteoarthritis, managed with physical therapy.", {OA: P}),
    _L("GERD symptoms improved on omeprazole.", {GERD: P}, {OMEPRAZOLE: P}),
    _L("Urine culture confirms UTI; nitrofurantoin for five days.", {UTI: P}, {NITROFURANTOIN: P}),
    _L("Left leg DVT seen on duplex ultrasound; starting Eliquis.", {DVT: P}, {APIXABAN: P}),
    _L("Iron deficiency anemia with hemoglobin of 9.1.", {ANEMIA: P}),
    _L("Chronic migraine, uses sumatriptan as needed.", {MIGRAINE: P}),
    _L("Obstructive sleep apnea, uses CPAP nightly.", {OSA: P}),
    _L("Hyperlipidemia on atorvastatin 40 mg.", {HLD: P}, {ATORVASTATIN: P}),
    _L("Morbid obesity with BMI 42.", {OBESITY: P}),
    _L("Coronary artery disease with stable angina, on aspirin and metoprolol.", {CAD: P},
       {ASPIRIN: P, METOPROLOL: P}),
    _L("Acute gout flare of the left first MTP joint.", {GOUT: P}),
    _L("Cellulitis of the right lower leg.", {CELLULITIS: P}),
    _L("Type 1 diabetes on insulin glargine 20 units at night.", {DM1: P}, {INSULIN_GLARGINE: P}),
    _L("Asthma, mild persistent, well controlled.", {ASTHMA: P}),
    _L("Alzheimer's disease with moderate dementia; lives with her daughter who helps with meals.",
       {ALZHEIMER: P, DEMENTIA: P}),
    _L("Diagnosed with sepsis from a urinary source.", {SEPSIS: P}),
    _L("Takes sertraline 50 mg daily for depression.", {DEPRESSION: P}, {SERTRALINE: P}),
)  # fmt: skip

NEGATED = (
    _L("Denies chest pain; no history of MI.", {MI: N}),
    _L("No evidence of pneumonia on chest x-ray.", {PNEUMONIA: N}),
    _L("Negative for DVT on ultrasound.", {DVT: N}),
    _L("Patient denies diabetes or hypertension.", {DM: N, HTN: N}),
    _L("CT angiogram ruled out pulmonary embolism.", {PE: N}),
    _L("No signs of cellulitis around the wound.", {CELLULITIS: N}),
    _L("She is not taking warfarin.", {}, {WARFARIN: N}),
    _L("Without any evidence of heart failure.", {HF: N}),
    _L("No known CAD.", {CAD: N}),
    _L("Urinalysis negative for UTI.", {UTI: N}),
    _L("Never had a stroke or TIA.", {STROKE: N, TIA: N}),
)  # fmt: skip

HISTORICAL = (
    _L("History of MI in 2015 treated with stenting.", {MI: H}),
    _L("s/p CVA in 2019 with residual left-sided weakness.", {STROKE: H}),
    _L("Past history of breast cancer, treated with lumpectomy.", {BREAST_CA: H}),
    _L("Previously treated for hepatitis C, cured.", {HEP_C: H}),
    _L("Had a DVT in 2010 after knee surgery, resolved.", {DVT: H}),
    _L("Prior TIA in 2018.", {TIA: H}),
    _L("Previously on warfarin for a PE years ago.", {}, {WARFARIN: H}),
    _L("Remote history of pneumonia as a child.", {PNEUMONIA: H}),
    _L("Status post MI with two stents.", {MI: H}),
    _L("H/O sepsis after appendectomy.", {SEPSIS: H}),
    _L("Hx of HTN, on lisinopril.", {HTN: H}, {LISINOPRIL: P}),
    _L("Past history of COPD and hypothyroidism.", {COPD: H, HYPOTHYROID: H}),
    _L("Asthma as a child, resolved.", {ASTHMA: H}),
)  # fmt: skip

FAMILY = (
    _L("Family history of colon cancer in her father.", {COLON_CA: F}),
    _L("Mother had breast cancer at age 45.", {BREAST_CA: F}),
    _L("Her brother has type 1 diabetes.", {DM1: F}),
    _L("FHx: father with MI at 52, mother with HTN.", {MI: F, HTN: F}),
    _L("Maternal grandmother had Alzheimer's disease.", {ALZHEIMER: F}),
    _L("Sister was diagnosed with lung cancer last year.", {LUNG_CA: F}),
    _L("Strong family history of CAD.", {CAD: F}),
    _L("Father died of a stroke at 70.", {STROKE: F}),
    _L("Asthma runs in the family.", {ASTHMA: F}),
)  # fmt: skip

UNCERTAIN = (
    _L("Possible pneumonia in the right lower lobe.", {PNEUMONIA: U}),
    _L("Probable UTI; urine culture sent.", {UTI: U}),
    _L("Suspected DVT of the left calf, duplex ordered.", {DVT: U}),
    _L("Evaluate for obstructive sleep apnea.", {OSA: U}),
    _L("CHF versus COPD exacerbation.", {HF: U, COPD: U}),
    _L("Early sepsis cannot be excluded.", {SEPSIS: U}),
    _L("Concern for cellulitis of the right foot.", {CELLULITIS: U}),
    _L("R/O MI: troponins pending.", {MI: U}),
    _L("History of possible TIA in 2020.", {TIA: U}),
)  # fmt: skip

MIXED = (
    _L("History of MI, now presents with new onset atrial fibrillation.", {MI: H, AFIB: P}),
    _L("Mother has type 2 diabetes; patient has hypertension.", {DM2: F, HTN: P}),
    _L("No CHF, but has COPD on albuterol.", {HF: N, COPD: P}, {ALBUTEROL: P}),
    _L("Allergic to penicillin; takes lisinopril and HCTZ for HTN.", {HTN: P},
       {PENICILLIN_G: A, LISINOPRIL: P, HCTZ: P}),
    _L("s/p stroke, on clopidogrel and atorvastatin.", {STROKE: H}, {CLOPIDOGREL: P, ATORVASTATIN: P}),
    _L("Denies asthma; family history of COPD in her father.", {ASTHMA: N, COPD: F}),
    _L("Previously on metformin, switched to Jardiance for DM2 with CKD.", {DM2: P, CKD: P},
       {METFORMIN: H, EMPAGLIFLOZIN: P}),
    _L("PAD with claudication; no evidence of DVT.", {PAD: P, DVT: N}),
    _L("Father had prostate cancer; he himself has BPH.", {PROSTATE_CA: F, BPH: P}),
    _L("Cirrhosis from prior hepatitis C, no encephalopathy.", {CIRRHOSIS: P, HEP_C: H}),
    _L("Epilepsy, seizure free for two years on levetiracetam; osteoporosis on alendronate.",
       {EPILEPSY: P, OSTEOPOROSIS: P}, {ALENDRONATE: P}),
    _L("Recent AKI on CKD stage 4.", {AKI: P, CKD: P}),
    _L("Rule out pneumonia; known GERD and OSA.", {PNEUMONIA: U, GERD: P, OSA: P}),
    _L("Her sister has depression; she herself reports anxiety.", {DEPRESSION: F, ANXIETY: P}),
    _L("Takes losartan and Crestor; gabapentin was stopped last month.", {},
       {LOSARTAN: P, ROSUVASTATIN: P, GABAPENTIN: H}),
)  # fmt: skip

LABELLED: tuple[Labelled, ...] = PRESENT + NEGATED + HISTORICAL + FAMILY + UNCERTAIN + MIXED
