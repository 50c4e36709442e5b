"""A small curated drug table: which ingredients a medication code names, and their WHO ATC classes.

Order checks ask two questions of a coded medication: "what is in it" (an allergy to amoxicillin matches an order
for amoxicillin 500 mg capsules) and "what class is it" (two statins are duplicate therapy; a cephalosporin order
for a penicillin-allergic patient is a cross-reactivity warning). A terminology server would answer both; a node
must answer without one, so the 77 ingredients that the checks need are kept here.

Sources: RxNorm ingredient and clinical drug (SCD) RxCUIs as published by the NLM in RxNav
(https://mor.nlm.nih.gov/RxNav/; the clinical drugs as listed in the eCQM value sets of VSAC, e.g. "Antibiotic
Medications for Pharyngitis" 2.16.840.1.113883.3.464.1003.196.12.1001 and "Anticoagulants for All Indications"
2.16.840.1.113762.1.4.1248.22), ATC codes from the WHO Collaborating Centre's ATC/DDD Index 2024
(https://atcddd.fhi.no/atc_ddd_index/). A code the table does not know has no ingredients and no classes:
nothing is guessed, and the checks say nothing about it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from careledger.insight._model import RXNORM, Code

ATC = "http://www.whocc.no/atc"


@dataclass(frozen=True, slots=True)
class Ingredient:
    """One RxNorm ingredient (TTY=IN): its RxCUI, name, WHO ATC codes, and a few clinical drugs (SCD) of it alone."""

    rxcui: str
    name: str
    atc: tuple[str, ...]
    scd: tuple[str, ...] = ()

    @property
    def code(self) -> Code:
        """Its RxNorm coding, as allergies and orders carry it."""
        return Code(RXNORM, self.rxcui)


_I = Ingredient

INGREDIENTS: tuple[Ingredient, ...] = (
    # C02 antihypertensives (centrally acting, alpha blockers, vasodilators)
    _I("2599", "clonidine", ("C02AC01",)),
    _I("5470", "hydralazine", ("C02DB02",)),
    _I("6876", "methyldopa", ("C02AB01",)),
    _I("49276", "doxazosin", ("C02CA04",)),
    # C03 diuretics
    _I("5487", "hydrochlorothiazide", ("C03AA03",), ("310798",)),
    _I("2409", "chlorthalidone", ("C03BA04",)),
    _I("4603", "furosemide", ("C03CA01",), ("310429",)),
    _I("1808", "bumetanide", ("C03CA02",)),
    _I("38413", "torsemide", ("C03CA04",)),
    _I("9997", "spironolactone", ("C03DA01",)),
    # C07 beta blockers
    _I("6918", "metoprolol", ("C07AB02",)),
    _I("1202", "atenolol", ("C07AB03",), ("197381",)),
    _I("19484", "bisoprolol", ("C07AB07",)),
    _I("8787", "propranolol", ("C07AA05",)),
    _I("20352", "carvedilol", ("C07AG02",)),
    # C08 calcium channel blockers
    _I("17767", "amlodipine", ("C08CA01",), ("197361",)),
    _I("7417", "nifedipine", ("C08CA05",)),
    _I("3443", "diltiazem", ("C08DB01",)),
    _I("11170", "verapamil", ("C08DA01",)),
    # C09 ACE inhibitors and angiotensin receptor blockers
    _I("29046", "lisinopril", ("C09AA03",), ("314076", "314077")),
    _I("3827", "enalapril", ("C09AA02",)),
    _I("35296", "ramipril", ("C09AA05",)),
    _I("18867", "benazepril", ("C09AA07",)),
    _I("52175", "losartan", ("C09CA01",)),
    _I("69749", "valsartan", ("C09CA03",)),
    _I("83818", "irbesartan", ("C09CA04",)),
    _I("118463", "olmesartan", ("C09CA08",)),
    # C10AA HMG-CoA reductase inhibitors (statins)
    _I("36567", "simvastatin", ("C10AA01",)),
    _I("6472", "lovastatin", ("C10AA02",)),
    _I("42463", "pravastatin", ("C10AA03",)),
    _I("83367", "atorvastatin", ("C10AA05",)),
    _I("301542", "rosuvastatin", ("C10AA07",)),
    # B01AC platelet aggregation inhibitors
    _I("1191", "aspirin", ("B01AC06", "N02BA01")),
    _I("32968", "clopidogrel", ("B01AC04",), ("309362",)),
    _I("613391", "prasugrel", ("B01AC22",)),
    _I("1116632", "ticagrelor", ("B01AC24",)),
    # B01AA vitamin K antagonists, B01AE/B01AF direct oral anticoagulants
    _I("11289", "warfarin", ("B01AA03",), ("855332", "855296")),
    _I("1546356", "dabigatran", ("B01AE07",), ("1037045", "1037179")),
    _I("1114195", "rivaroxaban", ("B01AF01",), ("1114198", "1232082", "1232086")),
    _I("1364430", "apixaban", ("B01AF02",), ("1364435", "1364445")),
    _I("1599538", "edoxaban", ("B01AF03",), ("1599551", "1599555")),
    # M01A non-steroidal anti-inflammatory drugs
    _I("5640", "ibuprofen", ("M01AE01",)),
    _I("7258", "naproxen", ("M01AE02",)),
    _I("3355", "diclofenac", ("M01AB05",)),
    _I("5781", "indomethacin", ("M01AB01",)),
    _I("35827", "ketorolac", ("M01AB15",)),
    _I("41493", "meloxicam", ("M01AC06",)),
    _I("140587", "celecoxib", ("M01AH01",)),
    # J01C penicillins (J01CR: with a beta-lactamase inhibitor)
    _I("723", "amoxicillin", ("J01CA04",), ("308182", "308191", "308192", "308194")),
    _I("733", "ampicillin", ("J01CA01",), ("308212",)),
    _I("8339", "piperacillin", ("J01CA12",)),
    _I("7980", "penicillin G", ("J01CE01",)),
    _I("7984", "penicillin V", ("J01CE02",), ("834061", "834102")),
    _I("3356", "dicloxacillin", ("J01CF01",), ("197595", "197596")),
    _I("48203", "clavulanate", ("J01CR02",)),
    # J01D cephalosporins
    _I("2231", "cephalexin", ("J01DB01",), ("309112", "309114")),
    _I("2180", "cefazolin", ("J01DB04",)),
    _I("2194", "cefuroxime", ("J01DC02",), ("309097", "309098")),
    _I("2193", "ceftriaxone", ("J01DD04",)),
    _I("25037", "cefdinir", ("J01DD15",), ("200346",)),
    _I("20481", "cefepime", ("J01DE01",)),
    # J01E sulfonamides and trimethoprim
    _I("10180", "sulfamethoxazole", ("J01EC01",)),
    _I("10171", "sulfadiazine", ("J01EC02",)),
    _I("10829", "trimethoprim", ("J01EA01",), ("198332",)),
    # J01XE nitrofuran derivatives
    _I("7454", "nitrofurantoin", ("J01XE01",), ("1648755", "1648759")),
    # A10BA biguanides, A10BK SGLT2 inhibitors
    _I("6809", "metformin", ("A10BA02",), ("861007",)),
    _I("1488564", "dapagliflozin", ("A10BK01",)),
    _I("1373458", "canagliflozin", ("A10BK02",)),
    _I("1545653", "empagliflozin", ("A10BK03",)),
    # N03AX gabapentinoids
    _I("25480", "gabapentin", ("N03AX12",), ("310430", "310431", "310433")),
    _I("187832", "pregabalin", ("N03AX16",)),
    # N02A opioids
    _I("7052", "morphine", ("N02AA01",)),
    _I("3423", "hydromorphone", ("N02AA03",)),
    _I("7804", "oxycodone", ("N02AA05",)),
    _I("4337", "fentanyl", ("N02AB03",)),
    _I("10689", "tramadol", ("N02AX02",)),
    _I("2670", "codeine", ("R05DA04",)),
)

# Clinical drugs of more than one ingredient: SCD RxCUI -> the ingredients' RxCUIs.
COMBINATIONS: dict[str, tuple[str, ...]] = {
    "198334": ("10180", "10829"),  # sulfamethoxazole 400 MG / trimethoprim 80 MG Oral Tablet
    "198335": ("10180", "10829"),  # sulfamethoxazole 800 MG / trimethoprim 160 MG Oral Tablet
    "562508": ("723", "48203"),  # amoxicillin 875 MG / clavulanate 125 MG Oral Tablet
    "617296": ("723", "48203"),  # amoxicillin 500 MG / clavulanate 125 MG Oral Tablet
}

# Combination ATC codes: the ATC code of a fixed combination -> its ingredients' RxCUIs.
ATC_COMBINATIONS: dict[str, tuple[str, ...]] = {
    "J01EE01": ("10180", "10829"),  # sulfamethoxazole and trimethoprim
    "J01CR02": ("723", "48203"),  # amoxicillin and beta-lactamase inhibitor
}

_BY_RXCUI: dict[str, Ingredient] = {i.rxcui: i for i in INGREDIENTS}
_SCD: dict[str, tuple[Ingredient, ...]] = {
    **{scd: (i,) for i in INGREDIENTS for scd in i.scd},
    **{scd: tuple(_BY_RXCUI[c] for c in parts) for scd, parts in COMBINATIONS.items()},
}
_ATC_PATTERN = re.compile(r"[A-Z](?:\d\d(?:[A-Z](?:[A-Z](?:\d\d)?)?)?)?")


def _atc(code: str) -> str | None:
    """An ATC code in its canonical upper-case form, or None when it is not one at any of the five levels."""
    canonical = code.strip().upper()
    return canonical if _ATC_PATTERN.fullmatch(canonical) else None


def _ingredients_of(code: Code) -> tuple[Ingredient, ...]:
    if code.system == RXNORM:
        rxcui = code.code.strip()
        if rxcui in _BY_RXCUI:
            return (_BY_RXCUI[rxcui],)
        return _SCD.get(rxcui, ())
    if code.system == ATC and (atc := _atc(code.code)) is not None:
        if atc in ATC_COMBINATIONS:
            return tuple(_BY_RXCUI[c] for c in ATC_COMBINATIONS[atc])
        return tuple(i for i in INGREDIENTS if atc in i.atc)
    return ()


def ingredients(code: Code) -> frozenset[Code]:
    """The RxNorm ingredient codes of a medication coded by RxNorm (ingredient or clinical drug) or by a full ATC
    code; empty when the table does not know the code (the checks then say nothing rather than guess)."""
    return frozenset(i.code for i in _ingredients_of(code))


@lru_cache(maxsize=4096)
def atc_classes(code: Code) -> frozenset[str]:
    """The WHO ATC codes of a medication coded by RxNorm (the union over its ingredients) or by ATC (the code itself,
    at whatever level it is given); empty when unknown. Classes are compared by prefix: "C10AA" is every statin.
    Remembered per code (bounded): every score asks it of the same few medications."""
    if code.system == ATC:
        atc = _atc(code.code)
        return frozenset() if atc is None else frozenset({atc})
    return frozenset(a for i in _ingredients_of(code) for a in i.atc)


def ingredient_name(code: Code) -> str | None:
    """The name of an RxNorm ingredient code (what an alert says), or None when the table does not know it."""
    found = _BY_RXCUI.get(code.code.strip()) if code.system == RXNORM else None
    return None if found is None else found.name
