"""What the portal shows of decision support: a patient's scores as she reads them, and the CDS cards a staff member
sees on a chart and when checking an order.

    caller's door ──► services.insight.gather ──► Facts ──► Insight.score ──┬─► ScoreView (her scores page)
                                                                           ├─► patient_view_cards (chart: alerts)
                                     a drug from the table ─► draft order ─┴─► order_cards (nothing is written)

Everything is read through the caller's own door, so a score or a card says only what she may see, and a Patient
she may not see is answered as an unknown one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from careledger.access import Repository
from careledger.errors import ValidationError
from careledger.insight import RXNORM, Assessment, Code, Facts, Input, Result, Score, as_read
from careledger.insight.cds import Card, order_cards, patient_view_cards
from careledger.insight.knowledge import INGREDIENTS, ingredient_name
from careledger.services import Services

# What the order form offers: every ingredient of the drug table, by name (RxNorm code, name).
ORDERABLE: tuple[tuple[str, str], ...] = tuple(sorted(((i.rxcui, i.name) for i in INGREDIENTS), key=lambda d: d[1]))


# The inputs a score reads from her Patient resource (her birth date, sex and race), whether or not it cites it.
_FROM_HER_DETAILS = frozenset({"Age", "Sex", "Race (equations used)"})
_ABSENT = re.compile(r"(no|none|not)\b", re.IGNORECASE)  # "no" (no diabetes on file), "none recorded"


@dataclass(frozen=True, slots=True)
class Used:
    """One input of a score as her page shows it: what, the value read, when it was recorded (None for what came
    from demographics or was derived), the id of the record it came from (a link to it), if any, and where an
    undated one came from (`origin`): her details, nothing recorded (a fact absent from her record counts as
    "no"), an undated record, or worked out."""

    label: str
    value: str
    when: date | None
    record: str | None
    origin: str = ""


@dataclass(frozen=True, slots=True)
class ScoreView:
    """One score on her page: the equation (title, version, citation, link), and either its value, band, inputs and
    what would lower it, or what is missing to compute it."""

    id: str
    title: str
    version: str
    citation: str
    url: str
    computed: bool
    display: str = ""
    band: str = ""
    alert: bool = False
    why: str = ""
    inputs: tuple[Used, ...] = ()
    lowering: tuple[tuple[str, str], ...] = ()
    missing: tuple[str, ...] = ()


def scores_of(node: Services, door: Repository, patient_id: str) -> list[ScoreView]:
    """Every score of Patient `patient_id` as the door's caller may compute it from what she may see."""
    facts = node.insight.gather(door, patient_id)
    return [_view(score, result, facts) for score, result in node.insight.score(facts)]


def chart_alerts(node: Services, door: Repository, patient_id: str) -> list[Card]:
    """The patient-view cards of a chart: a card for each score whose source's threshold is crossed."""
    facts = node.insight.gather(door, patient_id)
    return patient_view_cards(facts, node.insight.score(facts), app_url=None)


def drug_of(value: str) -> tuple[str, str] | None:
    """The drug picked on the order form (RxNorm code, name), None when none was; `ValidationError` for a code the
    table does not hold (the form offers only those it does)."""
    code = value.strip()
    if not code:
        return None
    name = ingredient_name(Code(RXNORM, code[:16]))
    if name is None:
        raise ValidationError("pick a medication from the list: that one is not in the drug table")
    return code, name


def order_check(node: Services, door: Repository, patient_id: str, drug: tuple[str, str]) -> list[Card]:
    """The cards a draft order of `drug` for Patient `patient_id` would raise (allergy, duplicate therapy, renal
    dose), checked against what the door's caller may see; the draft is built here and never stored."""
    facts = node.insight.gather(door, patient_id)
    return order_cards(facts, [draft_order(patient_id, drug)], node.insight.score(facts))


def draft_order(patient_id: str, drug: tuple[str, str]) -> dict[str, Any]:
    """A draft MedicationRequest of `drug` (RxNorm code, name) for Patient `patient_id`, as an EHR's order-select
    would send it: no id, nothing stored."""
    code, name = drug
    return {
        "resourceType": "MedicationRequest",
        "status": "draft",
        "intent": "order",
        "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": code, "display": name}], "text": name},
        "subject": {"reference": f"Patient/{patient_id}"},
    }


def _view(score: Score, result: Result, facts: Facts) -> ScoreView:
    cited = ScoreView(score.id, score.title, result.version, score.citation, score.url, computed=False)
    if not isinstance(result, Assessment):
        return replace(cited, missing=result.missing)
    dated = _dates(facts)
    return replace(
        cited,
        computed=True,
        display=result.display,
        band=result.band,
        alert=result.alert,
        why=result.why,
        inputs=tuple(_used(i, dated.get(i.source) if i.source else None) for i in result.inputs),
        lowering=tuple((low.change, as_read(low.value, score)) for low in result.lowering),
    )


def _used(given: Input, when: date | None) -> Used:
    """An input as her page shows it, saying where it came from when it has no date."""
    if when is not None:
        origin = ""
    elif given.label in _FROM_HER_DETAILS or (given.source or "").startswith("Patient/"):
        origin = "from your details"
    elif given.source:
        origin = "on record, undated"
    elif _ABSENT.match(given.value):
        origin = "nothing recorded"
    else:
        origin = "worked out, not recorded"
    return Used(given.label, given.value, when, _record_id(given.source), origin)


def _dates(facts: Facts) -> dict[str, date]:
    """When each record the facts came from was taken or began (the newest, for a panel read more than once)."""
    dated: dict[str, date] = {}
    for measurements in facts.measurements.values():
        for m in measurements:
            dated[m.source] = max(m.when, dated.get(m.source, m.when))
    for finding in (*facts.conditions, *facts.medications, *facts.allergies, *facts.answers):
        if finding.when is not None:
            dated.setdefault(finding.source, finding.when)
    return dated


def _record_id(source: str | None) -> str | None:
    """The record id of a relative reference (`Observation/abc` → `abc`), which her record page opens."""
    if not source or "/" not in source:
        return None
    return source.split("/", 1)[1] or None
