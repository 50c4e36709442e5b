"""How `careledger drug ...` shows what the supply chain services answer, for people (JSON is theirs as given)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.table import Table

from careledger.cli._output import console
from careledger.supplychain import bare

if TYPE_CHECKING:
    from careledger.supplychain import Trace, TraceStep

NOT_ANCHORED = "not anchored yet"


def event_line(event: dict[str, Any]) -> str:
    """One EPCIS event in a line: its id, business step and how many items it names."""
    named = len(event.get("epcList", ())) + len(event.get("childEPCs", ()))
    step = bare(str(event["bizStep"])) if event.get("bizStep") else str(event.get("type", "event"))
    return f"{event.get('eventID', '?')}  {step}  {named} item{'' if named == 1 else 's'}"


def print_verdict(verdict: dict[str, Any]) -> None:
    """A verdict as a pharmacist reads it: ok or the refusal's code, the reason, the pack and its custody."""
    pack, status = verdict["pack"], verdict["status"]
    head = "ok: dispensable" if verdict["dispensable"] else f"NOT dispensable ({verdict['code']})"
    console.print(head, markup=False, style="bold green" if verdict["dispensable"] else "bold red")
    console.print(f"  {verdict['reason']}", markup=False)
    console.print(f"  pack {pack['elementString']}", markup=False)
    holder = status.get("holder") or "nobody"
    console.print(f"  on chain: {status.get('state')}, held by {holder}", markup=False)


def print_trace(trace: Trace) -> None:
    """The custody chain: what the chain says now, then each step with its evidence."""
    status = trace.status
    console.print(f"{trace.identifier}  (key {trace.key})", markup=False)
    console.print(
        f"now: {status.get('state')}, held by {status.get('holder') or 'nobody'}"
        + (", lot RECALLED" if status.get("recalled") else ""),
        markup=False,
    )
    if not trace.steps:
        console.print("no custody steps: the chain and this node know nothing of it", markup=False)
    for number, step in enumerate(trace.steps, 1):
        _print_step(number, step, trace)


def _print_step(number: int, step: TraceStep, trace: Trace) -> None:
    at = step.at.strftime("%Y-%m-%d %H:%M:%S UTC") if step.at else "time unknown"
    to = f" → {step.counterparty}" if step.counterparty else ""
    console.print(f"{number}. {step.kind} by {step.actor or 'unknown'}{to}  {at}", markup=False, style="bold")
    item = "this one" if step.item == trace.key else step.item  # else the case or pallet it travelled in, by key
    console.print(f"   item  {item}", markup=False)
    if step.tx:
        console.print(f"   tx    {step.tx} (block {step.block})", markup=False)
    if step.event_id:
        mark = "✓" if step.signature_ok else "✗"
        console.print(f"   event {step.event_id}", markup=False)
        console.print(f"   signed by {step.signer}  signature {mark}", markup=False)
        console.print(f"   anchor {_anchor(step)}", markup=False)
    if step.note:
        console.print(f"   ({step.note})", markup=False)


def _anchor(step: TraceStep) -> str:
    proof = step.anchor
    if proof is None:
        return NOT_ANCHORED
    mark = "✓" if proof.verified else "✗"
    return f"root {proof.root} in block {proof.block}, Merkle proof {mark}"


def print_stock(items: list[dict[str, Any]], flagged_only: bool) -> None:
    """The packs held here, a row each, flags last."""
    if not items:
        console.print("no flagged packs held here" if flagged_only else "no packs held here", markup=False)
        return
    lots = any(item["pack"]["lot"] for item in items)  # a pack known by its EPC alone has none to show
    table = Table("GTIN", "serial", *(["lot"] if lots else []), "expiry", "flags")
    for item in items:
        pack = item["pack"]
        flags = "; ".join(f"{kind}: {why}" for kind, why in item["flags"].items())
        lot = [pack["lot"] or ""] if lots else []
        table.add_row(pack["gtin"], pack["serial"], *lot, item["expiry"] or "", flags)
    console.print(table)
    console.print(f"{len(items)} pack{'' if len(items) == 1 else 's'}", markup=False)


def print_events(events: list[dict[str, Any]]) -> None:
    """Events as a table: when, which, what step, what they name."""
    if not events:
        console.print("no events", markup=False)
        return
    table = Table("time", "step", "disposition", "event", "items")
    for event in events:
        named = event.get("epcList", []) + event.get("childEPCs", [])
        parent = [event["parentID"]] if "parentID" in event else []
        items = ", ".join(parent + named[:2]) + (f" (+{len(named) - 2})" if len(named) > 2 else "")
        table.add_row(
            str(event.get("eventTime", "")),
            bare(str(event.get("bizStep", ""))),
            bare(str(event.get("disposition", ""))),
            str(event.get("eventID", "")),
            items,
        )
    console.print(table)
