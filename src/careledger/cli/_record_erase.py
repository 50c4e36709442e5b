"""`careledger record erase|erasures|hold ...`: erasure by key destruction, its status across nodes, legal holds.

`record erase` shows what would be erased and kept (and why) and erases nothing without `--yes`; with it, the
request is signed by her wallet kept here (`--as` another of hers), or, for a custodial patient of this node, by
the node on her documented instruction (`--instruction REF`).
"""

from __future__ import annotations

from typing import Annotated

import typer

from careledger.cli._context import acts_as, address_of, as_node, local_record_id, open_node, signer_for
from careledger.cli._options import JsonFlag
from careledger.cli._output import console, print_json
from careledger.config import NODE_WALLET
from careledger.erasure import ANSWERED, Erasure, Hold, Plan
from careledger.errors import ValidationError

hold_app = typer.Typer(help="Legal holds: keep a patient's records (or one) from erasure.", no_args_is_help=True)

PatientArg = Annotated[str, typer.Option("--patient", help="The patient's wallet name or address.")]


def erase(
    ctx: typer.Context,
    patient: PatientArg,
    refs: Annotated[list[str] | None, typer.Argument(metavar="[REF]...", help="Records (Type/id or id).")] = None,
    everything: Annotated[bool, typer.Option("--all", help="Every record of hers here.")] = False,
    as_who: Annotated[str | None, typer.Option("--as", help="Sign as this wallet of hers kept here.")] = None,
    instruction: Annotated[
        str | None, typer.Option("--instruction", help="A custodial patient's documented instruction (reference).")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Erase (without it: only say what would be erased).")] = False,
    json: JsonFlag = False,
) -> None:
    """Erase records of a patient for good: their keys, blobs and search tokens; nodes that fetched copies are
    asked to do the same. Without --yes, only shows what would be erased and what is kept (and why)."""
    if everything == bool(refs):
        raise ValidationError("name the records to erase (REF ...), or --all of hers")
    with open_node(ctx) as node:
        owner = acts_as(node, patient)
        records = None if everything else [local_record_id(node, ref) for ref in refs or []]
        if not yes:
            planned = node.erasure.preview(as_node(node), owner, records)
            if json:
                print_json(planned.to_json())
            else:
                _print_plan(planned)
            return
        wallet = signer_for(node, patient, as_who)
        if wallet.name == NODE_WALLET:
            if not instruction:
                raise ValidationError(
                    "this node signs for its custodial patient only on her documented instruction: --instruction REF"
                )
            signed = node.erasure.instructed(owner, records, instruction)
        else:
            signed = node.erasure.sign(node.erasure.request(owner, records), node.unlock(wallet.name).account)
        done = node.erasure.erase(signed)
    if json:
        print_json(done.to_json())
    else:
        _print_done(done)


def erasures(
    ctx: typer.Context,
    patient: Annotated[str | None, typer.Option("--patient", help="Only this patient's.")] = None,
    retry: Annotated[bool, typer.Option("--retry", help="Ask again the nodes that have not answered.")] = False,
    json: JsonFlag = False,
) -> None:
    """Erasures carried out here, newest first, and whether each node asked has answered."""
    with open_node(ctx) as node:
        if retry:
            node.erasure.retry()
        found = node.erasure.status(None if patient is None else acts_as(node, patient))
    if json:
        print_json([done.to_json() for done in found])
        return
    if not found:
        console.print("no erasures here")
    for done in found:
        _print_done(done)


@hold_app.command("place")
def place(
    ctx: typer.Context,
    patient: PatientArg,
    name: Annotated[str, typer.Option("--name", help="The matter it serves, as refusals will name it.")],
    record: Annotated[str | None, typer.Option("--record", help="Only this record (Type/id or id).")] = None,
    as_who: Annotated[str | None, typer.Option("--as", help="Who places it [default: the node].")] = None,
    json: JsonFlag = False,
) -> None:
    """Keep a patient's records (or one) from erasure until the hold is lifted; audited."""
    with open_node(ctx) as node:
        by = node.address if as_who is None else address_of(node, as_who)
        record_id = None if record is None else local_record_id(node, record)
        hold = node.erasure.holds.place(by, acts_as(node, patient), name, record_id)
    _print_holds([hold], json)


@hold_app.command("lift")
def lift(
    ctx: typer.Context,
    hold_id: Annotated[int, typer.Argument(metavar="ID", help="The hold's number (`record hold list`).")],
    as_who: Annotated[str | None, typer.Option("--as", help="Who lifts it [default: the node].")] = None,
    json: JsonFlag = False,
) -> None:
    """End a legal hold; audited."""
    with open_node(ctx) as node:
        by = node.address if as_who is None else address_of(node, as_who)
        hold = node.erasure.holds.lift(by, hold_id)
    _print_holds([hold], json)


@hold_app.command("list")
def list_holds(
    ctx: typer.Context,
    patient: Annotated[str | None, typer.Option("--patient", help="Only this patient's.")] = None,
    lifted: Annotated[bool, typer.Option("--lifted", help="Lifted holds too.")] = False,
    json: JsonFlag = False,
) -> None:
    """The legal holds in force (with --lifted, all of them)."""
    with open_node(ctx) as node:
        holds = node.erasure.holds.listing(None if patient is None else acts_as(node, patient), lifted=lifted)
    _print_holds(holds, json)


def _print_plan(plan: Plan) -> None:
    what = "every record" if plan.everything else f"{len(plan.erasable)} record(s)"
    console.print(f"would erase {what} of {plan.patient} here: {len(plan.erasable)} ({plan.versions} versions)")
    for record in plan.erasable:
        console.print(f"  {record.resource_type}/{record.record_id} ({record.category.value}, {record.versions} v.)")
    for kept in plan.kept:
        console.print(f"kept {kept.resource_type}/{kept.record_id}: {kept.rule}", markup=False)
    for record_id in plan.unknown:
        console.print(f"no record {record_id} of hers here", markup=False)
    for peer in plan.peers:
        console.print(f"asked to erase its copies: node {peer}")
    for note in plan.notes:
        console.print(f"note: {note}", markup=False)
    console.print("nothing was erased: run it again with --yes to erase")


def _print_done(done: Erasure) -> None:
    console.print(
        f"request {done.request_id}: erased {len(done.erased)} record(s) ({done.versions} versions) of {done.patient}"
    )
    for kept in done.kept:
        console.print(f"  kept {kept.resource_type}/{kept.record_id}: {kept.rule}", markup=False)
    for peer in done.peers:
        said = f"erased {len(peer.erased)}, kept {len(peer.kept)}" if peer.status == ANSWERED else peer.problem
        console.print(f"  node {peer.peer}: {peer.status} ({said})", markup=False)


def _print_holds(holds: list[Hold], json: bool) -> None:
    if json:
        print_json(
            [
                {
                    "id": h.hold_id,
                    "patient": h.patient,
                    "record": h.record_id,
                    "name": h.name,
                    "placedBy": h.placed_by,
                    "placed": h.placed_at.isoformat(),
                    "liftedBy": h.lifted_by,
                    "lifted": None if h.lifted_at is None else h.lifted_at.isoformat(),
                }
                for h in holds
            ]
        )
        return
    if not holds:
        console.print("no legal holds")
    for h in holds:
        on = f"record {h.record_id}" if h.record_id else "every record"
        state = f", lifted {h.lifted_at:%Y-%m-%d}" if h.lifted_at else ""
        console.print(
            f"{h.hold_id}: {h.rule} on {on} of {h.patient} (placed {h.placed_at:%Y-%m-%d}{state})", markup=False
        )
