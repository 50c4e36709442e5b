"""`careledger drug ...`: the node's part in the drug supply chain (issue 41), as its operator runs it.

A manufacturer commissions serialised packs, a holder packs them into cases (SSCCs), ships and receives them, a
pharmacy verifies a pack at dispense and dispenses it to a patient; a regulator admits manufacturers, and the lot's
manufacturer or a regulator recalls a lot. Every command acts as this node (its wallet is the party on chain and in
the EPCIS events) through `node.supply` and `node.dispensary`; a scan is parsed before the node is opened, so a
malformed one costs nothing and exits 2 naming its field.

A SCAN is whatever a scanner sends: a GS1 element string (in a shell, `$'01006141411234521731013110L1\\x1d21S1'`), its
human-readable form `(01)…(21)…`, a GS1 Digital Link URI or an EPC URN. See docs/cli.md, "Drug supply chain".
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Annotated, Any

import typer

from careledger.cli._context import address_of, as_node, local_record_id, open_node
from careledger.cli._drug_input import (
    container_scanned,
    identifier,
    identifiers,
    pack_scanned,
    read_json,
    serials_given,
    write_new,
)
from careledger.cli._drug_regulator import app as regulator_app
from careledger.cli._drug_view import event_line, print_events, print_stock, print_trace, print_verdict
from careledger.cli._options import JsonFlag
from careledger.cli._output import console, print_json, progress, progress_bar
from careledger.errors import Conflict, ValidationError
from careledger.services import Operations
from careledger.supplychain import OPERATOR, EventQuery, Pack, gtin_of

app = typer.Typer(
    help="The drug supply chain: commission, pack, ship, receive, verify, dispense, recall, trace.",
    no_args_is_help=True,
)
app.add_typer(regulator_app, name="regulator")

ScanArgument = Annotated[
    str, typer.Argument(metavar="SCAN", help="What the scanner sent: element string, (01)… HRI, Digital Link or URN.")
]
ScansArgument = Annotated[
    list[str] | None, typer.Argument(metavar="[SCAN]...", help="Packs or SSCCs, as the scanner sent them.")
]
SsccArgument = Annotated[str, typer.Argument(metavar="SSCC", help="The case or pallet: its SSCC, as scanned.")]
FromFileOption = Annotated[
    Path | None, typer.Option("--from-file", help="Scans one a line (a file, or - for stdin), besides SCANs.")
]
NoticeOption = Annotated[
    Path | None,
    typer.Option("--notice", help="The sender's shipping notice (EPCISDocument), as `drug ship --notice` wrote it."),
]
# Events a page of `drug events` asks for (EPCIS's perPage bound).
MAX_PER_PAGE = 1000


@app.command()
def admit(
    ctx: typer.Context,
    manufacturer: Annotated[str, typer.Argument(help="The manufacturer node's address (or a wallet name here).")],
    prefix: Annotated[str, typer.Option("--prefix", help="Its GS1 company prefix, e.g. 0614141.")],
    licence: Annotated[str, typer.Option("--licence", help="Its manufacturing licence (only its hash goes on chain).")],
    until: Annotated[datetime, typer.Option("--until", formats=["%Y-%m-%d"], help="Admitted until (YYYY-MM-DD).")],
    json: JsonFlag = False,
) -> None:
    """Admit a manufacturer, this node as regulator: it may then commission GTINs inside its company prefix."""
    if not prefix.isdigit() or not 4 <= len(prefix) <= 12:
        raise ValidationError(f"prefix: a GS1 company prefix is 4 to 12 digits, not {prefix[:20]!r}")
    if not licence.strip():
        raise ValidationError("licence: the manufacturing licence, not blank")
    last_day = until.date()
    expires_at = int(datetime.combine(last_day, time.max, UTC).timestamp())
    with open_node(ctx) as node:
        who = address_of(node, manufacturer)
        receipt = node.supply.admit(who, prefix, licence.strip(), expires_at, by=OPERATOR)
    tx = receipt.tx_hash.to_0x_hex()
    if json:
        print_json({"manufacturer": who, "prefix": prefix, "until": last_day.isoformat(), "tx": tx})
    else:
        console.print(f"admitted {who}: prefix {prefix}, until {last_day}  tx {tx}", markup=False)


@app.command()
def commission(
    ctx: typer.Context,
    gtin: Annotated[str, typer.Option("--gtin", help="The GTIN (8 to 14 digits, check digit verified).")],
    lot: Annotated[str, typer.Option("--lot", help="The lot (batch) number.")],
    expiry: Annotated[datetime, typer.Option("--expiry", formats=["%Y-%m-%d"], help="The lot's expiry date.")],
    serial: Annotated[list[str] | None, typer.Option("--serial", help="A serial (repeat it).")] = None,
    count: Annotated[int | None, typer.Option("--count", help="Commission N serials, numbered.", min=1)] = None,
    first_serial: Annotated[int, typer.Option("--first-serial", help="The first of --count's numbers.", min=0)] = 1,
    serials_file: Annotated[Path | None, typer.Option("--serials-file", help="Serials one a line.")] = None,
    json: JsonFlag = False,
) -> None:
    """Commission serialised packs of a GTIN, lot and expiry, this node as their (admitted) manufacturer: one
    EPCIS commissioning event, signed, and the serials registered on chain in chunks."""
    serials, product = serials_given(serial, count, first_serial, serials_file), gtin_of(gtin)
    packs = [Pack(gtin=product, serial=s, lot=lot, expiry=expiry.date()) for s in serials]
    quiet = json or not progress.is_terminal
    with open_node(ctx) as node:
        node.unlock()  # its passphrase asked before the bar is drawn, not under it
        with progress_bar("commissioning", quiet=quiet, counting="items") as show:
            events = node.supply.commission(packs, by=OPERATOR, progress=lambda done, total: show(done, total, ""))
        txs = _transactions(node, events)
    first = packs[0]
    if json:
        summary = {"count": len(packs), "gtin": first.gtin, "lot": lot, "expiry": first.expiry}
        print_json({**summary, "transactions": txs, "events": events})
        return
    console.print(f"commissioned {len(packs)} packs of {first.gtin}, lot {lot}, expiry {first.expiry}", markup=False)
    _print_done(events, txs)


@app.command("pack")
def pack_(
    ctx: typer.Context,
    sscc: SsccArgument,
    scans: ScansArgument = None,
    from_file: FromFileOption = None,
    json: JsonFlag = False,
) -> None:
    """Pack items this node holds (packs, or cases into a pallet) into a case or pallet: an aggregation event, and
    on chain their custody follows the container's from then on."""
    _aggregate(ctx, "packed {count} into {sscc}", sscc, scans, from_file, json, lambda node: node.supply.pack)


@app.command()
def unpack(
    ctx: typer.Context,
    sscc: SsccArgument,
    scans: ScansArgument = None,
    from_file: FromFileOption = None,
    json: JsonFlag = False,
) -> None:
    """Take items out of a case or pallet this node holds: each is then held on its own again."""
    _aggregate(ctx, "unpacked {count} from {sscc}", sscc, scans, from_file, json, lambda node: node.supply.unpack)


@app.command()
def ship(
    ctx: typer.Context,
    to: Annotated[str, typer.Option("--to", help="The receiving node's address (or a wallet name here).")],
    scans: ScansArgument = None,
    from_file: FromFileOption = None,
    notice: Annotated[
        Path | None, typer.Option("--notice", help="Also write the signed shipping notice here, for the receiver.")
    ] = None,
    json: JsonFlag = False,
) -> None:
    """Ship packs or cases this node holds to another party: prints the shipment's id, which the receiver
    receives it by. Its signed notice (what it ships, and the packs inside each case) goes to the receiver's node at
    its endpoint on chain; if that node does not take it now, this node sends it again until it does ("notice
    waiting for 0x…"). `--notice` also writes it to a file, to hand over."""
    items = identifiers(scans, from_file)
    if notice is not None and notice.exists():
        raise ValidationError(f"notice: {notice} exists; name a new file (nothing was shipped)")
    with open_node(ctx) as node:
        receiver = address_of(node, to)
        shipment = node.supply.ship(items, receiver, by=OPERATOR)
        waiting = node.supply.notices.waiting(shipment)
        if notice is not None:
            write_new(notice, node.supply.notice(shipment, by=OPERATOR))
    if json:
        summary = {"shipment": shipment, "to": receiver, "items": [item.epc for item in items]}
        print_json({**summary, "notice": {"delivered": waiting is None, "waiting": waiting}})
        return
    console.print(f"shipped {len(items)} item{'' if len(items) == 1 else 's'} to {receiver}", markup=False)
    console.print(f"shipment {shipment}", markup=False)
    if waiting is None:
        console.print("its notice was delivered to the receiver's node", markup=False)
    else:
        progress.print(f"{waiting} (this node sends it again)", markup=False)
    if notice is not None:
        console.print(f"its notice: {notice}", markup=False)


@app.command()
def receive(
    ctx: typer.Context,
    shipment: Annotated[str, typer.Argument(metavar="SHIPMENT", help="The shipment's id, as `drug ship` printed.")],
    scans: ScansArgument = None,
    from_file: FromFileOption = None,
    notice: NoticeOption = None,
    json: JsonFlag = False,
) -> None:
    """Receive a shipment sent to this node: the items the sender shipped, named by the sender's notice (which its
    node delivers here, or `--notice` hands over, checked as a delivered one) or by their scans on arrival, now
    held here; the packs inside received cases are known here by their serials from the notice."""
    items = identifiers(scans, from_file) if scans or from_file else None
    sent = read_json(notice) if notice is not None else None
    with open_node(ctx) as node:
        if sent is not None:
            node.supply.accept_notice(sent)  # taken once: a notice delivered before names the items all the same
        received = node.supply.receive(shipment, by=OPERATOR, items=items)
    if json:
        print_json({"shipment": shipment, "items": received})
        return
    console.print(f"received {len(received)} item{'' if len(received) == 1 else 's'} of {shipment}", markup=False)
    for item in received:
        console.print(f"  {item['epc']}", markup=False)


@app.command()
def verify(ctx: typer.Context, scan: ScanArgument, json: JsonFlag = False) -> None:
    """May this pack be dispensed here? The verdict in one call (audited): exit 0 if so, else exit 6 with the
    refusal's code (unknown-serial, diverted, in-transit, expired, recalled, already-dispensed, …) and reason."""
    pack = pack_scanned(scan)
    with open_node(ctx) as node:
        verdict = node.dispensary.verify(pack, by=node.address).to_json()
    if json:
        print_json(verdict)
    else:
        print_verdict(verdict)
    if not verdict["dispensable"]:
        raise Conflict(f"{verdict['code']}: {verdict['reason']}")


@app.command()
def dispense(
    ctx: typer.Context,
    scan: ScanArgument,
    patient: Annotated[str, typer.Option("--patient", help="The Patient: Patient/<id>, or its id.")],
    json: JsonFlag = False,
) -> None:
    """Dispense a verified pack to a patient: her MedicationDispense written through this node's door, and the
    serial decommissioned on chain (which names the pack and this pharmacy, never her). Refused (exit 6, with
    the verdict's reason) unless `drug verify` says ok."""
    pack = pack_scanned(scan)
    with open_node(ctx) as node:
        done = node.dispensary.dispense(pack, local_record_id(node, patient), as_node(node), by=node.address)
    summary = {**done.to_json(), "pack": pack.epc}
    if json:
        print_json(summary)
    else:
        console.print(f"dispensed {pack.epc}", markup=False)
        console.print(f"  {summary['record']}  event {summary['event']}", markup=False)
        if summary.get("tx"):
            console.print(f"  decommissioned on chain: tx {summary['tx']}", markup=False)
    if done.pending:
        progress.print(f"warning: {done.pending}", markup=False)


@app.command()
def recall(
    ctx: typer.Context,
    gtin: Annotated[str, typer.Option("--gtin", help="The recalled product's GTIN.")],
    lot: Annotated[str, typer.Option("--lot", help="The recalled lot.")],
    yes: Annotated[bool, typer.Option("--yes", help="Recall without asking.")] = False,
    json: JsonFlag = False,
) -> None:
    """Recall a lot, as its manufacturer or a regulator: on chain, for good; every node holding its packs flags
    them, and each patient who was dispensed one is told by the pharmacy that dispensed it. Asks first."""
    product = gtin_of(gtin)
    if not lot.strip():
        raise ValidationError("lot: the lot to recall, not blank")
    progress.print(
        f"This recalls lot {lot} of GTIN {product} on chain, for good: every node holding packs of it flags them "
        "(no longer dispensable), and each patient who was dispensed one is told by her pharmacy.",
        markup=False,
    )
    if not yes:
        if not sys.stdin.isatty():
            raise ValidationError("nothing recalled: confirm in a terminal, or pass --yes")
        typer.confirm(f"Recall lot {lot} of {product}?", abort=True, err=True)
    with open_node(ctx) as node:
        receipt = node.dispensary.recall(product, lot, by=node.address)
    tx = receipt.tx_hash.to_0x_hex()
    if json:
        print_json({"gtin": product, "lot": lot, "tx": tx, "block": receipt.block})
    else:
        console.print(f"recalled lot {lot} of {product}  tx {tx} (block {receipt.block})", markup=False)


@app.command()
def trace(ctx: typer.Context, scan: ScanArgument, json: JsonFlag = False) -> None:
    """The custody chain of a pack or case: each step with its actor, time and transaction, and for the events this
    node holds their id, signer, whether the signature verifies (✓/✗) and the anchored proof."""
    scanned = identifier(scan)
    with open_node(ctx) as node:
        found = node.supply.trace(scanned, by=OPERATOR)
    if json:
        print_json(found.as_json())
    else:
        print_trace(found)


@app.command()
def anchor(ctx: typer.Context, json: JsonFlag = False) -> None:
    """Anchor the digests of this node's EPCIS events that wait now (the node does it when due while it serves)."""
    with open_node(ctx) as node, progress.status("anchoring…"):
        batches = node.supply_anchorer.anchor_pending()
    anchored = [{"root": "0x" + b.root.hex(), "events": b.leaf_count} for b in batches]
    if json:
        print_json(anchored)
        return
    if not anchored:
        console.print("nothing to anchor")
    for batch in anchored:
        console.print(f"anchored {batch['events']} events under root {batch['root']}", markup=False)


@app.command()
def quarantine(
    ctx: typer.Context,
    scan: ScanArgument,
    reason: Annotated[str, typer.Option("--reason", help="Why it is suspect (kept on this node only).")],
    json: JsonFlag = False,
) -> None:
    """Set a suspect pack aside on this node: `drug verify` refuses it (quarantined) until it is released."""
    pack = pack_scanned(scan)
    with open_node(ctx) as node:
        changed = node.dispensary.quarantine(pack, reason, by=node.address)
    _flagged(pack, json, quarantined=True, changed=changed, reason=reason)


@app.command()
def release(ctx: typer.Context, scan: ScanArgument, json: JsonFlag = False) -> None:
    """Lift a pack's quarantine: `drug verify` judges it as before."""
    pack = pack_scanned(scan)
    with open_node(ctx) as node:
        changed = node.dispensary.release(pack, by=node.address)
    _flagged(pack, json, quarantined=False, changed=changed)


@app.command()
def ask(ctx: typer.Context, scan: ScanArgument, json: JsonFlag = False) -> None:
    """Ask the pack's manufacturer to verify it (DSCSA's verification request): its node answers, signed, whether
    it commissioned this serial with this lot and expiry; the answer is believed only if the lot's manufacturer on
    chain signed it."""
    pack = pack_scanned(scan)
    with open_node(ctx) as node:
        answer = node.dispensary.ask_manufacturer(pack, by=node.address).to_json()
    if json:
        print_json(answer)
        return
    said = "verified" if answer["verified"] else "NOT verified"
    console.print(f"{said} by its manufacturer: {answer['reason']}", markup=False)
    console.print(f"  pack {pack.epc}", markup=False)


@app.command()
def stock(
    ctx: typer.Context,
    flagged: Annotated[bool, typer.Option("--flagged", help="Only recalled or quarantined packs.")] = False,
    json: JsonFlag = False,
) -> None:
    """The packs this node holds now, each with its lot, expiry and flags (recalled, quarantined)."""
    with open_node(ctx) as node:
        items = [item.to_json() for item in node.dispensary.stock(by=node.address, flagged_only=flagged)]
    if json:
        print_json(items)
    else:
        print_stock(items, flagged)


@app.command()
def events(
    ctx: typer.Context,
    biz_step: Annotated[str | None, typer.Option("--biz-step", help="Only this business step (shipping, …).")] = None,
    epc: Annotated[str | None, typer.Option("--epc", help="Only events naming this pack or case (a scan or EPC).")] = (
        None
    ),
    since: Annotated[datetime | None, typer.Option("--since", help="Only events from this date or time (UTC).")] = (
        None
    ),
    limit: Annotated[int, typer.Option("--limit", help="Show at most this many (0: all).", min=0)] = 30,
    json: JsonFlag = False,
) -> None:
    """The EPCIS events this node holds, in the order it recorded them, filtered as EPCIS 2.0's query does."""
    params = {"EQ_bizStep": biz_step, "MATCH_anyEPC": identifier(epc).epc if epc else None}
    if since is not None:
        params["GE_eventTime"] = (since if since.tzinfo else since.replace(tzinfo=UTC)).isoformat()
    found, more = _all_events({k: v for k, v in params.items() if v}, limit, ctx)
    if json:
        print_json(found)
        return
    print_events(found)
    if more:
        progress.print(f"showing the first {limit}; more with --limit 0, or narrow it (--since, --biz-step, --epc)")


def _all_events(params: dict[str, str], limit: int, ctx: typer.Context) -> tuple[list[dict[str, Any]], bool]:
    """Up to `limit` events (0: all) the query finds, page by page; and whether more remain."""
    found: list[dict[str, Any]] = []
    token: str | None = None
    with open_node(ctx) as node:
        while True:
            wanted = MAX_PER_PAGE if not limit else min(MAX_PER_PAGE, limit - len(found))
            page_params = {**params, "perPage": str(wanted)} | ({"nextPageToken": token} if token else {})
            try:
                query = EventQuery.parse(page_params)
            except ValidationError as exc:
                raise ValidationError(_option_named(str(exc))) from None
            page = node.supply.events(query, by=OPERATOR)
            found += page.events
            token = page.next_page_token
            if token is None or (limit and len(found) >= limit):
                return found, token is not None


def _option_named(message: str) -> str:
    """A query's refusal named by the option that gave the parameter."""
    for parameter, option in (("EQ_bizStep", "--biz-step"), ("MATCH_anyEPC", "--epc"), ("GE_eventTime", "--since")):
        if message.startswith(parameter):
            return option + message.removeprefix(parameter)
    return message


def _transactions(node: Operations, events: list[dict[str, Any]]) -> list[str]:
    """The chain transactions that carried these events of this node's, as it recorded them."""
    return [tx for event in events for tx in node.supply.store.event(str(event["eventID"])).txs]


def _aggregate(
    ctx: typer.Context,
    said: str,
    sscc: str,
    scans: list[str] | None,
    from_file: Path | None,
    json: bool,
    step: Callable[[Operations], Callable[..., list[dict[str, Any]]]],
) -> None:
    """A pack or unpack (`step` of the node's supply service): the scans read first, then its event captured as
    the node; what it did in `said`'s words, the event and its transactions."""
    container, children = container_scanned(sscc), identifiers(scans, from_file)
    with open_node(ctx) as node:
        events = step(node)(container, children, by=OPERATOR)
        txs = _transactions(node, events)
    if json:
        print_json({"transactions": txs, "events": events})
        return
    console.print(said.format(count=len(children), sscc=container.sscc), markup=False)
    _print_done(events, txs)


def _print_done(events: list[dict[str, Any]], txs: list[str]) -> None:
    """Each event captured in a line, then each transaction that carried it."""
    for event in events:
        console.print(f"  event {event_line(event)}", markup=False)
    for tx in txs:
        console.print(f"  tx {tx}", markup=False)


def _flagged(pack: Pack, json: bool, *, quarantined: bool, changed: bool, reason: str | None = None) -> None:
    """A quarantine or release: whether the pack is quarantined now, and whether this command changed that."""
    if json:
        print_json({"pack": pack.epc, "quarantined": quarantined, "changed": changed, "reason": reason})
        return
    if quarantined:
        said = f"quarantined: {reason}" if changed else "was quarantined already (its first reason stands)"
    else:
        said = "released" if changed else "was not quarantined"
    console.print(f"{pack.epc} {said}", markup=False)
