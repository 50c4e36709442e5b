"""Checks of draft medication orders against the patient's record: allergy, duplicate therapy, renal dosing.

    draft MedicationRequest ─► its code ─► ingredients, ATC classes ─┬─► AllergyIntolerance codes   (allergy)
                                                                     ├─► active medications, other drafts (duplicate)
                                                                     └─► latest eGFR ─► renal rules  (renal)

Each alert names the order, what it found, and the source of the rule it applied, so a card can cite it. A drug
the knowledge tables do not know yields no alert: the check says only what it can stand behind, and never fails
on an order it cannot read (the CDS service has already refused what is not a MedicationRequest of the patient).

The work is linear in the orders and the record: duplicate therapy is one alert per ingredient or ATC level-4
group that holds a draft and something else (listing all it holds), never one per pair, since N identical drafts
would otherwise make N² alerts; renal rules are looked up once per medication code.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from careledger.insight._gather import finite_number
from careledger.insight._model import Code, Facts, Finding
from careledger.insight.knowledge import (
    CLASSES,
    CROSS_REACTIVE,
    DRUG_ALLERGY_SOURCE,
    Dose,
    RenalRule,
    Severity,
    allergen,
    atc_classes,
    classes_of,
    ingredient_name,
    ingredients,
    renal_rules,
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
    cancel: tuple[str, ...] = ()


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
    def classes(self) -> frozenset[str]:
        """The drug classes it is in: ATC level-4 subgroups and wider therapeutic classes (`drug_classes`)."""
        return drug_classes(self.atc)


# Classes wider than one ATC level-4 subgroup whose members are one therapy: a vitamin K antagonist and a DOAC
# (or two DOACs of different subgroups) together are a duplicate anticoagulation, ISMP's high-alert example.
THERAPEUTIC_CLASSES: dict[str, tuple[str, ...]] = {
    "oral anticoagulants (ATC B01AA, B01AE, B01AF)": ("B01AA", "B01AE", "B01AF"),
}


def drug_classes(atc: Iterable[str]) -> frozenset[str]:
    """The classes ATC codes put a medication in, as duplicate therapy groups it: each level-4 subgroup
    ("ATC B01AF") and each of `THERAPEUTIC_CLASSES` one of its codes falls in."""
    codes = [a for a in atc if len(a) >= 5]
    found = {f"ATC {a[:5]}" for a in codes}
    found.update(name for name, prefixes in THERAPEUTIC_CLASSES.items() if any(a.startswith(prefixes) for a in codes))
    return frozenset(found)


def check_orders(facts: Facts, orders: Sequence[Mapping[str, Any]]) -> list[OrderAlert]:
    """The alerts of draft MedicationRequests `orders` for the patient of `facts`: allergy, duplicate therapy (on
    the last draft of each group) and renal dosing (by the eGFR every check reads, `kidney_function`), in order of
    the orders."""
    read = [_read(i, order) for i, order in enumerate(orders)]
    egfr = kidney_function(facts)
    reached = _reached(facts.allergies)
    duplicates: dict[int, list[OrderAlert]] = {}
    for alert in _duplicates(facts.medications, read):
        duplicates.setdefault(alert.index, []).append(alert)
    known: dict[Code, tuple[RenalRule, ...]] = {}
    alerts: list[OrderAlert] = []
    for order in read:
        alerts += _allergies(reached, facts.intolerances, order)
        alerts += duplicates.get(order.index, [])
        alerts += _renal(egfr, order, known)
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


def _reached(allergies: Sequence[Finding]) -> dict[str, tuple[frozenset[Code], frozenset[str]]]:
    """What each recorded allergy (all its codings together, by source) reaches: ingredients and classes."""
    reached: dict[str, tuple[frozenset[Code], frozenset[str]]] = {}
    for allergy in allergies:
        found = allergen(allergy.code)
        ings, classes = reached.get(allergy.source, (frozenset(), frozenset()))
        reached[allergy.source] = (ings | found.ingredients, classes | found.classes)
    return reached


def _allergies(
    reached: Mapping[str, tuple[frozenset[Code], frozenset[str]]], intolerances: frozenset[str], order: _Order
) -> list[OrderAlert]:
    """For each recorded allergy (`_reached`), the worst match: the same ingredient or class (critical; a warning
    when it was recorded as an intolerance or of low criticality, which alarms would only teach clinicians to
    dismiss), or a class that cross-reacts (warning)."""
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


@dataclass(frozen=True, slots=True, eq=False)
class _Member:
    """A medication in a duplicate group: an active one of the record, or a draft (`order`); compared by identity,
    as two drafts may carry the same id."""

    label: str
    name: str
    order: _Order | None = None


def _class_words(classes: frozenset[str]) -> str:
    return ", ".join(CLASSES[c] for c in sorted(classes))


def _duplicates(medications: Sequence[Finding], orders: Sequence[_Order]) -> list[OrderAlert]:
    """One alert per group of medications sharing an ingredient or an ATC level-4 class that holds a draft and
    something else (an active medication or another draft). A group within another (the same members or fewer) is
    told by the larger only, an ingredient before its class, so a pair is never told twice."""
    drafts = {o.reference for o in orders if o.reference is not None}
    by_source: dict[str, list[Code]] = {}
    for med in medications:
        if med.source not in drafts:  # a draft listed as active is the draft itself
            by_source.setdefault(med.source, []).append(med.code)
    groups: dict[Code | str, list[_Member]] = {}  # an ingredient or an ATC level-4 class → its members, in order
    for source, codes in by_source.items():
        ings = frozenset(i for c in codes for i in ingredients(c))
        classes = drug_classes(a for c in codes for a in atc_classes(c))
        names = sorted({n for i in ings if (n := ingredient_name(i)) is not None})
        active = _Member(source, " / ".join(names) or "a medication")
        keys: tuple[Code | str, ...] = (*ings, *classes)
        for key in keys:
            groups.setdefault(key, []).append(active)
    for order in orders:
        drafted = _Member(order.reference or f"draft order {order.index + 1}", order.name, order)
        keys = (*order.ingredients, *order.classes)
        for key in keys:
            groups.setdefault(key, []).append(drafted)
    alerting = [(k, m) for k, m in groups.items() if len(m) > 1 and any(x.order is not None for x in m)]
    told: dict[_Member, list[frozenset[_Member]]] = {}  # a member → the groups told that hold it
    alerts = []
    # the larger first, an ingredient before a class, then by key: the same answer whatever the sets' hash order
    for key, members in sorted(alerting, key=lambda g: (-len(g[1]), not isinstance(g[0], Code), str(g[0]))):
        held = frozenset(members)
        if any(held <= other for other in told.get(members[0], ())):
            continue
        for member in members:
            told.setdefault(member, []).append(held)
        alerts.append(_duplicate(key, members))
    return alerts


def _duplicate(key: Code | str, members: Sequence[_Member]) -> OrderAlert:
    """The alert of one group, on its last draft: what it shares, every member, and which drafts are redundant
    (all of them when the medication is already active, else all but the first)."""
    drafts = [m for m in members if m.order is not None]
    active = [m for m in members if m.order is None]
    last = [m.order for m in drafts if m.order is not None][-1]
    redundant = drafts if active else drafts[1:]
    shared = f"ingredient ({ingredient_name(key) or key.code})" if isinstance(key, Code) else f"class ({key})"
    listed = "; ".join(f"{m.name} ({m.label}, {'active' if m.order is None else 'ordered'})" for m in members)
    return OrderAlert(
        "duplicate",
        last.reference,
        last.index,
        "warning",
        _duplicate_summary(last.name, members, active, drafts)[:140],
        f"These share the same {shared}: {listed}. Stop all but one, or keep them together only if that is "
        "intended (for example dual antiplatelet therapy after a stent).",
        DUPLICATE_SOURCE[0],
        DUPLICATE_SOURCE[1],
        evidence=(active or drafts)[0].label,
        cancel=tuple(m.order.reference for m in redundant if m.order is not None and m.order.reference is not None),
    )


def _duplicate_summary(ordered: str, members: Sequence[_Member], active: list[_Member], drafts: list[_Member]) -> str:
    """ "Duplicate therapy: A and B", or, when all are the very drug (the same name), that it is already active or
    ordered, and where: "Duplicate therapy: apixaban and apixaban" says nothing."""
    names = list(dict.fromkeys([ordered, *(m.name for m in members)]))
    if len(names) > 1:
        return f"Duplicate therapy: {', '.join(names[:-1])} and {names[-1]}"
    if active:
        again = f", and ordered {len(drafts)} times" if len(drafts) > 1 else ""
        return f"{ordered} is already active ({active[0].label}){again}"
    if len(drafts) == 2:
        return f"{ordered} is already ordered ({drafts[0].label})"
    return f"{ordered} is ordered {len(drafts)} times ({drafts[0].label} first)"


def _renal(egfr: KidneyFunction | str, order: _Order, known: dict[Code, tuple[RenalRule, ...]]) -> list[OrderAlert]:
    """The renal alerts of `order`; `known` keeps each code's rules, so many orders of one drug look them up once."""
    for code in order.codes:
        if code not in known:
            known[code] = renal_rules(code)
    rules = tuple(r for c in order.codes for r in known[c])
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
    for rule in {r for r in rules if r.covers(egfr.value)}:
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
