"""CDS Hooks 2.0 cards: a score that crossed its threshold (patient-view), and an order check's alert (order-select,
order-sign), each citing its source so the clinician can see which equation or rule spoke.

Card shape (CDS Hooks 2.0, "CDS Service Response"): `uuid`, `summary` (under 140 characters), `detail`
(GitHub-flavoured markdown), `indicator` (info | warning | critical), `source` {label, url, topic}, `suggestions`
[{label, uuid, isRecommended, actions [{type create|update|delete, description, resource | resourceId}]}] with
`selectionBehavior` "at-most-one" whenever there are suggestions, `overrideReasons` (Codings the client may send
back in feedback), and `links` [{label, url, type absolute|smart, appContext}].
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from careledger.fhir.systems import UCUM
from careledger.insight._assessments import as_read
from careledger.insight._model import LOINC, Assessment, Facts, Result, Score
from careledger.insight._orders import OrderAlert, check_orders
from careledger.insight.knowledge import Dose

Card = dict[str, Any]

SUMMARY_MAX = 140
TOPIC_SYSTEM = "https://careledger.org/fhir/CodeSystem/cds-topic"
OVERRIDE_SYSTEM = "https://careledger.org/fhir/CodeSystem/cds-override-reason"
CREATININE = {"system": LOINC, "code": "2160-0", "display": "Creatinine [Mass/volume] in Serum or Plasma"}

# Why a clinician may go on despite a card, by check (what feedback's overrideReason may carry).
_OVERRIDES: dict[str, tuple[tuple[str, str], ...]] = {
    "allergy": (
        ("tolerated-before", "Patient has taken it before without reaction"),
        ("allergy-not-confirmed", "Recorded allergy is doubtful or was de-labelled"),
        ("benefit-outweighs-risk", "Benefit outweighs the risk; monitored"),
    ),
    "duplicate": (
        ("intended-combination", "Combination is intended"),
        ("replacing", "The other medication is being stopped"),
    ),
    "renal": (
        ("dose-already-adjusted", "Dose already adjusted for kidney function"),
        ("egfr-not-current", "eGFR does not reflect current kidney function"),
        ("benefit-outweighs-risk", "Benefit outweighs the risk; monitored"),
    ),
}


def patient_view_cards(facts: Facts, results: Sequence[tuple[Score, Result]], *, app_url: str | None) -> list[Card]:
    """A card for each score whose assessment crossed its source's threshold: what it is, why, the inputs it used
    and what would lower it; its source names the equation and its version; when `app_url` is given (where the
    node's portal shows patients' charts to staff, `…/portal/staff/patients`), a link to her chart there, whose
    alerts show every score with its inputs: an `absolute` link, the portal being no registered SMART app (so no
    launch context), for the clinician the patient-view hook serves. Scores that could not be computed give no card."""
    cards = []
    for score, result in results:
        if not isinstance(result, Assessment) or not result.alert:
            continue
        card: Card = {
            "uuid": str(uuid.uuid4()),
            "summary": _clip(f"{score.title}: {result.display}"),
            "detail": _assessment_detail(score, result),
            "indicator": "warning",
            "source": {
                "label": f"{score.title}, {result.version}",
                "url": score.url,
                "topic": {"system": TOPIC_SYSTEM, "code": score.id, "display": score.title},
            },
        }
        if app_url is not None:
            chart = f"{app_url}/{quote(facts.patient, safe='')}"
            card["links"] = [{"label": "Chart and scores in CareLedger", "url": chart, "type": "absolute"}]
        cards.append(card)
    return cards


def order_cards(
    facts: Facts, orders: Sequence[Mapping[str, Any]], results: Sequence[tuple[Score, Result]] = ()
) -> list[Card]:
    """A card for each alert `check_orders` finds in the draft `orders`, with what the client can apply: cancel the
    order, take the renal dose, or order a creatinine. `results` is no longer read (the checks compute CKD-EPI from
    the facts by the one eGFR rule, `kidney_function`); it stays until its callers stop passing it."""
    del results
    return [_order_card(facts, orders[alert.index], alert) for alert in check_orders(facts, orders)]


def _order_card(facts: Facts, order: Mapping[str, Any], alert: OrderAlert) -> Card:
    card: Card = {
        "uuid": str(uuid.uuid4()),
        "summary": _clip(alert.summary),
        "detail": f"{alert.detail}\n\nSource: {alert.source}",
        "indicator": alert.severity,
        "source": {
            "label": alert.source,
            "url": alert.url,
            "topic": {"system": TOPIC_SYSTEM, "code": f"order-{alert.kind}", "display": f"Order check: {alert.kind}"},
        },
    }
    suggestions = _suggestions(facts, order, alert)
    if suggestions:
        card["suggestions"] = suggestions
        card["selectionBehavior"] = "at-most-one"
    if alert.severity != "info":
        card["overrideReasons"] = [
            {"system": OVERRIDE_SYSTEM, "code": code, "display": display} for code, display in _OVERRIDES[alert.kind]
        ]
    return card


def _suggestions(facts: Facts, order: Mapping[str, Any], alert: OrderAlert) -> list[dict[str, Any]]:
    """What the client may apply: the renal dose (recommended when a rule gives one), or else a creatinine when
    no eGFR is known, and cancelling the order (recommended for a critical alert), or for a duplicate group every
    draft it makes redundant, in one suggestion."""
    found = []
    if alert.dose is not None and alert.order is not None:
        found.append(
            _suggestion(
                f"Change to {alert.dose}",
                True,
                {
                    "type": "update",
                    "description": f"Set the dose to {alert.dose}, as the renal rule gives",
                    "resource": _with_dose(order, alert.dose),
                },
            )
        )
    if alert.no_egfr:
        found.append(
            _suggestion(
                "Order a serum creatinine",
                True,
                {
                    "type": "create",
                    "description": "Propose a serum creatinine, to compute eGFR before dosing",
                    "resource": {
                        "resourceType": "ServiceRequest",
                        "status": "draft",
                        "intent": "proposal",
                        "code": {"coding": [CREATININE]},
                        "subject": {"reference": f"Patient/{facts.patient}"},
                    },
                },
            )
        )
    if alert.order is not None and alert.severity != "info":
        drafts = alert.cancel or (alert.order,)
        found.append(
            _suggestion(
                "Cancel this order" if len(drafts) == 1 else f"Cancel the {len(drafts)} redundant orders",
                alert.severity == "critical" and alert.dose is None,
                *({"type": "delete", "description": f"Remove the draft order {d}", "resourceId": d} for d in drafts),
            )
        )
    return found


def _suggestion(label: str, recommended: bool, *actions: dict[str, Any]) -> dict[str, Any]:
    return {"label": _clip(label), "uuid": str(uuid.uuid4()), "isRecommended": recommended, "actions": list(actions)}


def _with_dose(order: Mapping[str, Any], dose: Dose) -> dict[str, Any]:
    """The whole order (an update replaces the resource) with its first dosage instruction set to `dose`."""
    updated = copy.deepcopy(dict(order))
    instructions = updated.get("dosageInstruction")
    first = (
        dict(instructions[0])
        if isinstance(instructions, list) and instructions and isinstance(instructions[0], dict)
        else {}
    )
    first.update(
        text=str(dose),
        timing={"repeat": {"frequency": dose.per_day, "period": 1, "periodUnit": "d"}},
        doseAndRate=[{"doseQuantity": {"value": dose.amount, "unit": dose.unit, "system": UCUM, "code": dose.unit}}],
    )
    updated["dosageInstruction"] = [first]
    return updated


def _assessment_detail(score: Score, result: Assessment) -> str:
    """The card's markdown: the value and band, why it alerts, the inputs used, what would lower it, the source."""
    lines = [f"**{_cell(result.display)}**, band *{_cell(result.band)}*.", ""]
    if result.why:
        lines += [result.why, ""]
    if result.inputs:
        lines += ["| Input | Value | Source |", "| --- | --- | --- |"]
        lines += [f"| {_cell(i.label)} | {_cell(i.value)} | {_cell(i.source or '-')} |" for i in result.inputs]
        lines.append("")
    if result.lowering:
        lines.append("What would lower it:")
        lines += [f"- {_cell(w.change)}: {as_read(w.value, score)}" for w in result.lowering]
        lines.append("")
    lines.append(f"Source: {score.citation} ({result.version})")
    return "\n".join(lines)


def _cell(text: str) -> str:
    """Text safe inside a markdown table cell or emphasis: pipes escaped, line breaks flattened."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _clip(text: str) -> str:
    """A summary within the spec's 140 characters."""
    return text if len(text) <= SUMMARY_MAX else text[: SUMMARY_MAX - 1] + "…"
