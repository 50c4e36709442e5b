"""`careledger access break-glass ...`: a patient's switch for break-glass, and the staff's review of each use."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from careledger.access import BreakGlassReview, BreakGlassUse, parse_verdict
from careledger.cli._context import acts_as, open_node, signer_for, wallet_name, wallet_of
from careledger.cli._options import JsonFlag
from careledger.cli._output import console, print_json
from careledger.config import NODE_WALLET
from careledger.errors import ValidationError
from careledger.services import Operations

app = typer.Typer(
    help="A patient's switch for break-glass on her records; the staff's review of each break-glass use.",
    no_args_is_help=True,
)

PatientOption = Annotated[
    str | None, typer.Option("--patient", help="The patient's wallet name or address [default: the --as wallet].")
]
SignerOption = Annotated[
    str | None,
    typer.Option(
        "--as",
        help="The wallet that signs: the patient's, or her delegate's for every category "
        "[default: hers; the node's for a custodial patient it keeps].",
    ),
]
_EVER = datetime(1970, 1, 1, tzinfo=UTC)


@app.command()
def off(
    ctx: typer.Context, patient: PatientOption = None, as_wallet: SignerOption = None, json: JsonFlag = False
) -> None:
    """Turn break-glass off: no one can open her records in an emergency without her consent."""
    _turn(ctx, patient, as_wallet, allowed=False, json=json)


@app.command()
def on(
    ctx: typer.Context, patient: PatientOption = None, as_wallet: SignerOption = None, json: JsonFlag = False
) -> None:
    """Turn break-glass back on: a licensed practitioner may open her records in an emergency, with a reason
    the audit keeps and she sees."""
    _turn(ctx, patient, as_wallet, allowed=True, json=json)


@app.command()
def status(
    ctx: typer.Context, patient: PatientOption = None, as_wallet: SignerOption = None, json: JsonFlag = False
) -> None:
    """Whether break-glass is on for the patient (on, unless she turned it off), as the chain says."""
    with open_node(ctx) as node:
        address = acts_as(node, _patient(patient, as_wallet))
        allowed = node.break_glass_switch.allowed(address)
    _print_switch(address, allowed, json=json)


@app.command("reviews")
def list_reviews(
    ctx: typer.Context,
    pending: Annotated[bool, typer.Option("--pending", help="The uses not reviewed yet, with their reasons.")] = False,
    since: Annotated[
        datetime | None, typer.Option("--from", help="Reviews of uses opened from this day or time (UTC).")
    ] = None,
    until: Annotated[
        datetime | None, typer.Option("--to", help="…until (not including) this day or time (UTC) [default: now].")
    ] = None,
    json: JsonFlag = False,
) -> None:
    """The break-glass uses here and their reviews: those still pending (--pending), or the verdicts recorded."""
    with open_node(ctx) as node:
        if pending:
            uses = node.break_glass_reviews.pending()
            rows = [_use_json(node, use) for use in uses]
        else:
            start = _utc(since) if since else _EVER
            end = _utc(until) if until else datetime.now(UTC) + timedelta(seconds=1)
            rows = [_review_json(node, review) for review in node.break_glass_reviews.reviews(start, end)]
    if json:
        print_json(rows)
    elif pending:
        _print_table(rows, ("entry", "opened_at", "practitioner", "patient", "reason"), "No break-glass use awaits.")
    else:
        columns = ("entry", "opened_at", "practitioner", "patient", "verdict", "reviewer", "note")
        _print_table(rows, columns, "No break-glass use was reviewed in that time.")


@app.command()
def review(
    ctx: typer.Context,
    entry: Annotated[str, typer.Argument(help="The use's audit entry number (`reviews --pending` lists them).")],
    verdict: Annotated[str, typer.Option("--verdict", help="justified or unjustified.")],
    note: Annotated[str, typer.Option("--note", help="Why: kept with the verdict and audited.")],
    as_wallet: Annotated[
        str | None,
        typer.Option("--as", help="The reviewer: a privacy officer's wallet kept here [default: the node]."),
    ] = None,
    json: JsonFlag = False,
) -> None:
    """Record a verdict on one break-glass use, once: by this node or its privacy officer, never on their own use."""
    checked = parse_verdict(verdict)  # a wrong word is refused before any passphrase is asked
    with open_node(ctx) as node:
        reviewer = wallet_of(node, as_wallet or NODE_WALLET)
        node.unlock(reviewer.name)  # the reviewer proves she is at the keyboard
        recorded = node.break_glass_reviews.review(entry, reviewer.address, checked, note)
        row = _review_json(node, recorded)
    if json:
        print_json(row)
    else:
        console.print(
            f"break-glass use {row['entry']} ({row['practitioner_name'] or row['practitioner']} on "
            f"{row['patient_name'] or row['patient']}) reviewed: {row['verdict']}",
            markup=False,
        )


def _turn(ctx: typer.Context, patient: str | None, as_wallet: str | None, *, allowed: bool, json: bool) -> None:
    """Flip the switch on chain, signed by `signer_for` the patient."""
    who = _patient(patient, as_wallet)
    with open_node(ctx) as node:
        address = acts_as(node, who)
        signer = signer_for(node, who, as_wallet)
        node.break_glass_switch.turn(signer.address, address, allowed)
    _print_switch(address, allowed, json=json)


def _patient(patient: str | None, as_wallet: str | None) -> str:
    if patient is None and as_wallet is None:
        raise ValidationError("name the patient: --patient NAME, or --as NAME for her own wallet")
    return patient or str(as_wallet)


def _print_switch(patient: str, allowed: bool, *, json: bool) -> None:
    if json:
        print_json({"patient": patient, "break_glass": "on" if allowed else "off"})
    elif allowed:
        console.print(f"break-glass is on for {patient}: a licensed practitioner may open her records in an emergency")
    else:
        console.print(f"break-glass is off for {patient}: no one can open her records in an emergency without consent")


def _use_json(node: Operations, use: BreakGlassUse) -> dict[str, Any]:
    return {
        "entry": use.entry,
        "practitioner": use.practitioner,
        "practitioner_name": wallet_name(node, use.practitioner),
        "patient": use.patient,
        "patient_name": wallet_name(node, use.patient),
        "opened_at": use.opened_at.isoformat(timespec="seconds"),
        "expires_at": use.expires_at.isoformat(timespec="seconds"),
        "reason": use.reason,
        "block": use.block,
    }


def _review_json(node: Operations, review: BreakGlassReview) -> dict[str, Any]:
    return {
        "entry": review.entry,
        "practitioner": review.practitioner,
        "practitioner_name": wallet_name(node, review.practitioner),
        "patient": review.patient,
        "patient_name": wallet_name(node, review.patient),
        "opened_at": review.opened_at.isoformat(timespec="seconds"),
        "reviewer": review.reviewer,
        "reviewer_name": wallet_name(node, review.reviewer),
        "verdict": review.verdict.value,
        "note": review.note,
        "reviewed_at": review.reviewed_at.isoformat(timespec="seconds"),
    }


def _print_table(rows: list[dict[str, Any]], columns: tuple[str, ...], empty: str) -> None:
    if not rows:
        console.print(empty)
        return
    table = Table(*(c.replace("_", " ") for c in columns))
    named = {"practitioner", "patient", "reviewer"}
    for row in rows:
        table.add_row(*(Text(str(row.get(f"{c}_name") or row[c]) if c in named else str(row[c])) for c in columns))
    console.print(table)


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=moment.tzinfo or UTC)
