"""`careledger audit ...`: the accounting of disclosures, and verification of the log."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from careledger.audit import Entry
from careledger.cli._context import address_of, open_node, wallet_name
from careledger.cli._options import JsonFlag, LimitOption, OffsetOption
from careledger.cli._output import console, paged, print_json
from careledger.errors import IntegrityError
from careledger.services import Operations

app = typer.Typer(help="The audit log: who saw what, when, why; and its integrity.", no_args_is_help=True)


def entry_json(entry: Entry, node: Operations) -> dict[str, Any]:
    """An audit entry as JSON, the agent and patient named where this node holds their wallets (else None)."""
    access = entry.access
    return {
        "seq": entry.seq,
        "recorded_at": entry.recorded_at.isoformat(),
        "agent": access.agent,
        "agent_name": wallet_name(node, access.agent),
        "patient": access.patient,
        "patient_name": wallet_name(node, access.patient) if access.patient else None,
        "interaction": access.interaction,
        "purpose": access.purpose,
        "outcome": "allowed" if access.allowed else "denied",
        "break_glass": access.break_glass,
        "entities": list(access.entities),
        "detail": access.detail,
    }


@app.command("list")
def list_entries(
    ctx: typer.Context,
    patient: Annotated[
        str | None, typer.Option("--patient", help="The accounting of disclosures of one patient.")
    ] = None,
    agent: Annotated[str | None, typer.Option("--agent", help="Only what one wallet or address did.")] = None,
    limit: LimitOption = 100,
    offset: OffsetOption = 0,
    json: JsonFlag = False,
) -> None:
    """Every access to records: who (by wallet name where this node holds it), when, what, why, the outcome."""
    with open_node(ctx) as node:
        patient_address = address_of(node, patient) if patient else None
        agent_address = address_of(node, agent) if agent else None
        entries = paged(
            lambda size, skip: node.audit.entries(
                patient=patient_address, agent=agent_address, limit=size, offset=skip
            ),
            limit,
            offset,
        )
        rows = [entry_json(e, node) for e in entries]
    if json:
        print_json(rows)
        return
    table = Table("#", "when (UTC)", "who", "what", "why", "outcome")
    for entry, row in zip(entries, rows, strict=True):
        access = entry.access
        what = f"{access.interaction} " + (", ".join(access.entities) if access.entities else "")
        outcome = ("allowed" if access.allowed else "DENIED") + (" (break-glass)" if access.break_glass else "")
        if access.detail and not access.allowed:
            outcome += f": {access.detail}"
        table.add_row(
            str(entry.seq),
            f"{entry.recorded_at:%Y-%m-%d %H:%M:%S}",
            row["agent_name"] or access.agent,
            what,
            access.purpose or "",
            outcome,
        )
    console.print(table)


@app.command()
def verify(ctx: typer.Context, json: JsonFlag = False) -> None:
    """Recompute the hash chain and check every anchored head against the chain; exit 7 on any problem."""
    with open_node(ctx) as node:
        report = node.verify_audit()
    if json:
        print_json(
            {
                "ok": report.ok,
                "entries": report.entries,
                "anchored_heads": report.anchored_heads,
                "problems": list(report.problems),
            }
        )
    else:
        for problem in report.problems:
            console.print(f"✗ {problem}", markup=False)
        console.print(
            f"{report.entries} entries, {report.anchored_heads} anchored heads: "
            + ("the log is intact" if report.ok else f"{len(report.problems)} problems"),
            markup=False,
        )
    if not report.ok:
        raise IntegrityError(f"the audit log fails verification ({len(report.problems)} problems)")


@app.command()
def anchor(ctx: typer.Context, json: JsonFlag = False) -> None:
    """Anchor the audit log's head on chain now."""
    with open_node(ctx) as node:
        batches = node.audit_anchorer.anchor_pending()
    if json:
        print_json([{"root": "0x" + b.root.hex(), "entries": b.leaf_count} for b in batches])
    else:
        console.print(f"anchored {sum(b.leaf_count for b in batches)} entries in {len(batches)} heads", markup=False)
