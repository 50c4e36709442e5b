"""Checks of draft medication orders against the patient's record: allergy, duplicate therapy, renal dosing.

    draft MedicationRequest ─► its code ─► ingredients, ATC classes ─┬─► AllergyIntolerance codes   (allergy)
                                                                     ├─► active medications, other drafts (duplicate)
                                                                     └─► latest eGFR ─► renal rules  (renal)

Each alert names the order, what it found, and the source of the rule it applied, so a card can cite it. A drug
the knowledge tables do not know yields no alert: the check says only what it can stand behind, and never fails
on an order it cannot read (the CDS service has already refused what is not a MedicationRequest of the patient).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from careledger.insight._gather import finite_number
from careledger.insight._model import Code, Facts, Finding
from careledger.insight.knowledge import (
    CLASSES,
    CROSS_REACTIVE,
    DRUG_ALLERGY_SOURCE,
    Dose,
    Severity,
    allergen,
    atc_classes,
    classes_of,
    ingredient_name,
    ingredients,
    renal_rules,
    rules_at,
)
from careledger.insight.scores._ckd_epi import KidneyFunction, kidney_function

Kind = Literal["allergy", "duplicate", "renal"]
DUPLICATE_SOURCE = (
    "WHO ATC/DDD Index: same ingredient or same chemical subgroup (ATC level 4)",
    "https://atcddd.fhi.no/atc_ddd_index/",
)
_PER_DAY = {"d": 1.0, "h": 24.0, "wk": 1 / 7}


@dataclass(frozen=True, slots=True)
class OrderAlert:
    """One finding about one draft order.

    `order` is the order's relative reference (None when the draft has no id) and `index` its place among the
    orders checked; `summary` fits a card (≤140 characters) and `detail` says why in markdown; `source` and `url`
    cite the rule; `evidence` is the record entry that triggered it (an AllergyIntolerance, a MedicationRequest, an
    eGFR Observation); `dose` is what a renal rule would reduce the order to; `no_egfr` marks the renal alert
    that kidney function is unknown (a card then proposes a creatinine).
    """

    kind: Kind
    order: str | None
    index: int
    severity: Severity
    summary: str
    detail: str
    source: str
    url: str
    evidence: str | None = None
    dose: Dose | None = None
    no_egfr: bool = False


@dataclass(frozen=True, slots=True)
class _Order:
    """A draft order as the checks read it."""

    index: int
    reference: str | None
    codes: tuple[Code, ...]
    ingredients: frozenset[Code]
    atc: frozenset[str]
    name: str
    daily: tuple[float, str] | None

    @property
    def level4(self) -> frozenset[str]:
        return frozenset(a[:5] for a in self.atc if len(a) >= 5)


def check_orders(facts: Facts, orders: Sequence[Mapping[str, Any]]) -> list[OrderAlert]:
    """The alerts of draft MedicationRequests `orders` for the patient of `facts`: allergy, duplicate therapy and
    renal dosing (by the eGFR every check reads, `kidney_function`), in order of the orders."""
    read = [_read(i, order) for i, order in enumerate(orders)]
    egfr = kidney_function(facts)
    alerts: list[OrderAlert] = []
    for order in read:
        alerts += _allergies(facts.allergies, facts.intolerances, order)
        alerts += _duplicates(facts.medications, read, order)
        alerts += _renal(egfr, order)
    return alerts


def _read(index: int, order: Mapping[str, Any]) -> _Order:
    codes = tuple(_codes(_medication(order)))
    found = frozenset(i for c in codes for i in ingredients(c))
    names = sorted({n for i in found if (n := ingredient_name(i)) is not None})
    text = _concept_text(_medication(order))
    rid = order.get("id")
    return _Order(
        index=index,
        reference=f"MedicationRequest/{rid}" if isinstance(rid, str) and rid else None,
        codes=codes,
        ingredients=found,
        atc=frozenset(a for c in codes for a in atc_classes(c)),
        name=" / ".join(names) or text or "this medication",
        daily=_daily(order),
    )


def _allergies(allergies: Sequence[Finding], intolerances: frozenset[str], order: _Order) -> list[OrderAlert]:
    """For each recorded allergy (all its codings together), the worst match: the same ingredient or class
    (critical; a warning when it was recorded as an intolerance or of low criticality, which alarms would only
    teach clinicians to dismiss), or a class that cross-reacts (warning)."""
    reached: dict[str, tuple[frozenset[Code], frozenset[str]]] = {}
    for allergy in allergies:
        found = allergen(allergy.code)
        ings, classes = reached.get(allergy.source, (frozenset(), frozenset()))
        reached[allergy.source] = (ings | found.ingredients, classes | found.classes)
    order_classes = frozenset(c for code in order.codes for c in classes_of(code))
    alerts = []
    for source, (ings, classes) in reached.items():
        same, shared = order.ingredients & ings, order_classes & classes
        crossed = sorted((a, b) for a in classes for b in order_classes if (a, b) in CROSS_REACTIVE)
        if same or shared:
            what = ", ".join(sorted(ingredient_name(i) or i.code for i in same)) or _class_words(shared)
            summary = f"Allergy to {what}: do not give {order.name}"
            detail = (
                f"The patient has a recorded allergy ({source}) to {what}, and {order.name} contains it or is in "
                "the same class."
            )
            mild = source in intolerances
            if mild:
                summary = f"Intolerance of {what}: {order.name} may not be tolerated"
                detail += " It is recorded as an intolerance or of low criticality, not as a severe allergy."
            alerts.append(_allergy(order, source, "warning" if mild else "critical", summary, detail))
        elif crossed:
            held, ordered = crossed[0]
            summary = f"{CLASSES[held].capitalize()} allergy: {order.name} may cross-react"
            detail = (
                f"The patient has a recorded allergy to {CLASSES[held]} ({source}); {order.name} is one of the "
                f"{CLASSES[ordered]}, which cross-react in about 1-2 % of patients. Give only if the benefit "
                "outweighs that risk, with the first dose observed, or choose another class."
            )
            alerts.append(_allergy(order, source, "warning", summary, detail))
    return alerts


def _allergy(order: _Order, source: str, severity: Severity, summary: str, detail: str) -> OrderAlert:
    return OrderAlert(
        "allergy",
        order.reference,
        order.index,
        severity,
        summary[:140],
        detail,
        DRUG_ALLERGY_SOURCE[0],
        DRUG_ALLERGY_SOURCE[1],
        evidence=source,
    )


def _duplicate_summary(ordered: str, other: str, state: str, source: str) -> str:
    """ "Duplicate therapy: A and B", or, when the order is the very drug (the same name), that it is already
    active or ordered, and where: "Duplicate therapy: apixaban and apixaban" says nothing."""
    if ordered == other:
        return f"{ordered} is already {state} ({source})"[:140]
    return f"Duplicate therapy: {ordered} and {other}"[:140]


def _class_words(classes: frozenset[str]) -> str:
    return ", ".join(CLASSES[c] for c in sorted(classes))


def _duplicates(medications: Sequence[Finding], orders: Sequence[_Order], order: _Order) -> list[OrderAlert]:
    """The active medications and the earlier drafts that share an ingredient or an ATC level-4 class with
    `order` (each other draft pair is told once, on the later order)."""
    others: list[tuple[str, frozenset[Code], frozenset[str], str, str]] = []  # and whether active or ordered
    by_source: dict[str, list[Code]] = {}
    for med in medications:
        if med.source != order.reference:
            by_source.setdefault(med.source, []).append(med.code)
    for source, codes in by_source.items():
        ings = frozenset(i for c in codes for i in ingredients(c))
        level4 = frozenset(a[:5] for c in codes for a in atc_classes(c) if len(a) >= 5)
        names = sorted({n for i in ings if (n := ingredient_name(i)) is not None})
        others.append((source, ings, level4, " / ".join(names) or "a medication", "active"))
    for earlier in orders[: order.index]:
        label = earlier.reference or f"draft order {earlier.index + 1}"
        others.append((label, earlier.ingredients, earlier.level4, earlier.name, "ordered"))
    alerts = []
    for source, ings, level4, name, state in others:
        if order.ingredients & ings:
            why = f"{name} ({source}) has the same ingredient"
        elif order.level4 & level4:
            why = f"{name} ({source}) is in the same class (ATC {', '.join(sorted(order.level4 & level4))})"
        else:
            continue
        alerts.append(
            OrderAlert(
                "duplicate",
                order.reference,
                order.index,
                "warning",
                _duplicate_summary(order.name, name, state, source),
                f"{why} as {order.name}. Stop one, or keep both only if that is intended (for example dual "
                "antiplatelet therapy after a stent).",
                DUPLICATE_SOURCE[0],
                DUPLICATE_SOURCE[1],
                evidence=source,
            )
        )
    return alerts


def _renal(egfr: KidneyFunction | str, order: _Order) -> list[OrderAlert]:
    rules = tuple(r for c in order.codes for r in renal_rules(c))
    if not rules:
        return []
    if isinstance(egfr, str):
        return [
            OrderAlert(
                "renal",
                order.reference,
                order.index,
                "info",
                f"No eGFR in the last year: {order.name} is dosed by kidney function"[:140],
                f"{order.name} has renal dosing rules ({rules[0].source}), and the record has {egfr}. Order a "
                "creatinine before relying on the usual dose.",
                rules[0].source,
                rules[0].url,
                no_egfr=True,
            )
        ]
    alerts = []
    for rule in {r for c in order.codes for r in rules_at(c, egfr.value)}:
        severity, within = rule.severity, _within(order.daily, rule.dose)
        detail = f"eGFR {egfr.value:.0f} mL/min/1.73 m² {egfr.said}, {egfr.source}. {rule.advice}"
        detail += "".join(f" Ignored: {ignored}." for ignored in egfr.ignored)
        if within:
            severity = "info"
            detail += f" The ordered {order.daily[0]:g} {order.daily[1]} a day is within it." if order.daily else ""
        alerts.append(
            OrderAlert(
                "renal",
                order.reference,
                order.index,
                severity,
                rule.summary,
                detail,
                rule.source,
                rule.url,
                evidence=egfr.source,
                dose=None if within else rule.dose,
            )
        )
    return sorted(alerts, key=lambda a: a.summary)


def _within(daily: tuple[float, str] | None, dose: Dose | None) -> bool:
    return daily is not None and dose is not None and daily[1] == dose.unit and daily[0] <= dose.daily


# --- reading an order (outside input: every field is checked before it is used) ---


def _medication(order: Mapping[str, Any]) -> object:
    """The order's medication concept: `medicationCodeableConcept` (R4), `medication.concept` (R5), or the code of
    a contained Medication its `medicationReference` names."""
    concept = order.get("medicationCodeableConcept")
    if isinstance(concept, dict):
        return concept
    medication = order.get("medication")
    if isinstance(medication, dict) and isinstance(medication.get("concept"), dict):
        return medication["concept"]
    reference = order.get("medicationReference")
    target = reference.get("reference") if isinstance(reference, dict) else None
    contained = order.get("contained")
    if isinstance(target, str) and target.startswith("#") and isinstance(contained, list):
        for item in contained:
            if isinstance(item, dict) and item.get("resourceType") == "Medication" and f"#{item.get('id')}" == target:
                return item.get("code")
    return None


def _codes(concept: object) -> list[Code]:
    codings = concept.get("coding") if isinstance(concept, dict) else None
    return [
        Code(c["system"], c["code"])
        for c in (codings if isinstance(codings, list) else [])
        if isinstance(c, dict) and isinstance(c.get("system"), str) and isinstance(c.get("code"), str)
    ]


def _concept_text(concept: object) -> str:
    text = concept.get("text") if isinstance(concept, dict) else None
    return text[:80] if isinstance(text, str) else ""


def _daily(order: Mapping[str, Any]) -> tuple[float, str] | None:
    """The ordered amount a day (first dosage instruction: dose times frequency per period), when all is given."""
    dosage = _first(order.get("dosageInstruction"))
    dose = _first(dosage.get("doseAndRate")).get("doseQuantity")
    timing = dosage.get("timing")
    repeat = timing.get("repeat") if isinstance(timing, dict) else None
    if not isinstance(dose, dict) or not isinstance(repeat, dict):
        return None
    amount, unit = _number(dose.get("value")), dose.get("code", dose.get("unit"))
    frequency, period = _number(repeat.get("frequency", 1)), _number(repeat.get("period", 1))
    unit_of_time = repeat.get("periodUnit")
    per_day = _PER_DAY.get(unit_of_time) if isinstance(unit_of_time, str) else None
    # a dose or frequency of 0 is no order to compare with a rule: never "within" it
    if not amount or not frequency or not period or per_day is None or not isinstance(unit, str):
        return None
    return amount * frequency * per_day / period, unit


def _first(value: object) -> dict[str, Any]:
    return value[0] if isinstance(value, list) and value and isinstance(value[0], dict) else {}


def _number(value: object) -> float | None:
    """A finite, non-negative JSON number as a float, else None (10**400 included: it is no dose)."""
    number = finite_number(value)
    return number if number is not None and number >= 0 else None
