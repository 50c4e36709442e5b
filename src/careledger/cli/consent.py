"""`careledger consent ...`: grant, sign, submit, revoke, list, check and delegate consents."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from careledger.cli._context import acts_as, address_of, open_node, signer_for, wallet_name, wallet_of
from careledger.cli._options import JsonFlag, LimitOption, OffsetOption, QuietFlag
from careledger.cli._output import console, paged, print_id, print_json
from careledger.consent import (
    ConsentTerms,
    Grant,
    Purpose,
    parse_categories,
    parse_purposes,
    read_signed_consent,
    signature_file,
    write_consent,
)
from careledger.errors import AccessDenied, ValidationError
from careledger.records import Category
from careledger.services import Operations

app = typer.Typer(help="Patients' consents on chain: grant, sign, submit, revoke, list, check.", no_args_is_help=True)

PatientOption = Annotated[str, typer.Option("--patient", help="The patient's wallet name or address.")]
ToOption = Annotated[str, typer.Option("--to", help="Who is granted: a wallet name or an address.")]
CategoriesOption = Annotated[
    str, typer.Option("--categories", help="Comma-separated: labs,vitals,… or all (every non-sensitive one).")
]
PurposeOption = Annotated[
    str,
    typer.Option(
        "--purpose", help="HL7 PurposeOfUse, comma-separated: TREAT, ETREAT, HPAYMT, HOPERAT, HRESCH, PATRQT."
    ),
]
DaysOption = Annotated[float, typer.Option("--days", help="How long the consent lasts.", min=0.0001)]
AsOption = Annotated[str | None, typer.Option("--as", help="The wallet that signs [default: the patient's].")]


def grant_json(grant: Grant) -> dict[str, Any]:
    """A consent grant as JSON."""
    return {
        "id": grant.hex_id,
        "patient": grant.patient,
        "grantee": grant.grantee,
        "categories": [c.value for c in grant.categories],
        "purposes": [p.value for p in grant.purposes],
        "not_before": _time(grant.not_before),
        "expiry": _time(grant.expiry),
        "granted_by": grant.granted_by,
        "revoked": grant.revoked,
    }


def _time(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")


def _print_grant(grant: Grant, verb: str) -> None:
    console.print(
        f"{verb} {grant.hex_id}: {grant.grantee} may see {', '.join(c.value for c in grant.categories)} "
        f"for {', '.join(p.value for p in grant.purposes)} until {_time(grant.expiry)}",
        markup=False,
    )


@app.command()
def grant(
    ctx: typer.Context,
    patient: PatientOption,
    to: ToOption,
    categories: CategoriesOption,
    purpose: PurposeOption = "TREAT",
    days: DaysOption = 30,
    as_wallet: AsOption = None,
    json: JsonFlag = False,
    quiet: QuietFlag = False,
) -> None:
    """Grant on chain, signed by the patient's wallet (or a delegate's, with --as); prints the consent's id."""
    with open_node(ctx) as node:
        signer = signer_for(node, patient, as_wallet)
        terms = _terms(node, patient, to, categories, purpose, days)
        granted = node.consent.grant(signer.name, terms)
    if quiet:
        print_id(granted.hex_id)
    elif json:
        print_json(grant_json(granted))
    else:
        _print_grant(granted, "granted")


@app.command()
def sign(
    ctx: typer.Context,
    patient: PatientOption,
    to: ToOption,
    categories: CategoriesOption,
    out: Annotated[Path, typer.Option("--out", help="Where to write the consent's EIP-712 typed data (JSON).")],
    purpose: PurposeOption = "TREAT",
    days: DaysOption = 30,
    valid_days: Annotated[float, typer.Option("--valid-days", help="Submit within this many days.", min=0.0001)] = 7,
    unsigned: Annotated[
        bool, typer.Option("--unsigned", help="Only write the typed data, for a wallet elsewhere to sign.")
    ] = False,
    as_wallet: AsOption = None,
    json: JsonFlag = False,
) -> None:
    """Write a consent as standard EIP-712 typed data, signed (OUT.sig) by the patient's wallet kept here.

    With --unsigned, any wallet can sign OUT instead: MetaMask's eth_signTypedData_v4,
    `cast wallet sign --data --from-file OUT`, viem's signTypedData. Anyone may then submit
    it, paying the gas: `careledger consent submit OUT [--signature 0x…]`.
    """
    with open_node(ctx) as node:
        terms = _terms(node, patient, to, categories, purpose, days)
        if unsigned:
            typed, signature = node.consent.prepare(terms, valid_for_days=valid_days), None
        else:
            signer = signer_for(node, patient, as_wallet)
            signed = node.consent.sign(node.unlock(signer.name).account, terms, valid_for_days=valid_days)
            typed, signature = signed.typed_data(), signed.signature
    write_consent(out, typed, signature)
    if json:
        print_json(
            {"file": str(out), "signature": None if signature is None else "0x" + signature.hex(), "typedData": typed}
        )
    elif signature is None:
        console.print(
            f"consent typed data written to {out}: sign it with the patient's wallet (eth_signTypedData_v4), "
            f"then `careledger consent submit {out} --signature 0x…`",
            markup=False,
        )
    else:
        console.print(
            f"signed consent written to {out} (signature in {signature_file(out)}); "
            f"submit it with `careledger consent submit {out}`",
            markup=False,
        )


@app.command()
def submit(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="A consent's EIP-712 typed data (from `consent sign`).")],
    signature: Annotated[
        str | None,
        typer.Option("--signature", help="The 65-byte signature over FILE, as hex [default: read from FILE.sig]."),
    ] = None,
    as_wallet: Annotated[str | None, typer.Option("--as", help="The wallet that pays [default: the node's].")] = None,
    json: JsonFlag = False,
) -> None:
    """Submit a consent the patient signed (with any wallet) to the chain."""
    signed = read_signed_consent(file, signature)
    with open_node(ctx) as node:
        granted = node.consent.submit(as_wallet or "node", signed)
    if json:
        print_json(grant_json(granted))
    else:
        _print_grant(granted, "submitted")


@app.command()
def revoke(
    ctx: typer.Context,
    grant_id: Annotated[str, typer.Argument(metavar="ID", help="The consent id (0x…).")],
    as_wallet: AsOption = None,
    json: JsonFlag = False,
) -> None:
    """Revoke a consent: refused from the next block on (what was disclosed stays disclosed)."""
    with open_node(ctx) as node:
        node.consent.sync()
        existing = node.consent.get(_grant_id(grant_id))
        signer = signer_for(node, existing.patient, as_wallet)
        revoked = node.consent.revoke(signer.name, existing.grant_id)
    if json:
        print_json(grant_json(revoked))
    else:
        console.print(f"revoked {revoked.hex_id}", markup=False)


@app.command("list")
def list_grants(
    ctx: typer.Context,
    patient: Annotated[str | None, typer.Option("--patient", help="One patient's consents.")] = None,
    grantee: Annotated[str | None, typer.Option("--grantee", help="Consents given to one grantee.")] = None,
    limit: LimitOption = 100,
    offset: OffsetOption = 0,
    json: JsonFlag = False,
) -> None:
    """Consents on chain, oldest first; patients and grantees named where this node holds their wallets."""
    with open_node(ctx) as node:
        node.consent.sync()
        every = node.consent.grants(
            patient=address_of(node, patient) if patient else None,
            grantee=address_of(node, grantee) if grantee else None,
        )
        grants = paged(lambda size, skip: list(every[skip : None if size is None else skip + size]), limit, offset)
        names = {a: wallet_name(node, a) or a for g in grants for a in (g.patient, g.grantee)}
    if json:
        print_json([grant_json(g) for g in grants])
        return
    table = Table("id", "patient", "grantee", "categories", "purposes", "until", "state")
    now = datetime.now(UTC).timestamp()
    for g in grants:
        state = "revoked" if g.revoked else ("live" if g.live_at(now) else "expired" if g.expiry <= now else "not yet")
        table.add_row(
            g.hex_id[:10] + "…" + g.hex_id[-4:],
            names[g.patient],
            names[g.grantee],
            ",".join(c.value for c in g.categories),
            ",".join(p.value for p in g.purposes),
            _time(g.expiry),
            state,
        )
    console.print(table)


@app.command()
def check(
    ctx: typer.Context,
    patient: PatientOption,
    grantee: Annotated[str, typer.Option("--grantee", help="Who would read: a wallet name or an address.")],
    category: Annotated[str, typer.Option("--category", help="One record category.")],
    purpose: Annotated[str, typer.Option("--purpose", help="One purpose of use.")] = "TREAT",
    json: JsonFlag = False,
) -> None:
    """Would `grantee` see the patient's `category` records for `purpose`? Exit 5 if not."""
    wanted_category, wanted_purpose = _one_category(category), Purpose.parse(purpose)
    with open_node(ctx) as node:
        node.consent.sync()
        patient_address, grantee_address = address_of(node, patient), address_of(node, grantee)
        found = node.consent.check(patient_address, grantee_address, wanted_category, wanted_purpose)
    if json:
        print_json({"allowed": found is not None, "consent": found.hex_id if found else None})
    else:
        console.print(f"allowed by {found.hex_id}" if found else "not allowed", markup=False)
    if found is None:
        raise AccessDenied(f"no live consent lets {grantee} see {category} records for {wanted_purpose.value}")


@app.command()
def delegate(
    ctx: typer.Context,
    patient: PatientOption,
    to: ToOption,
    categories: CategoriesOption,
    days: Annotated[float, typer.Option("--days", help="How long; 0 ends the delegation.", min=0)] = 365,
    json: JsonFlag = False,
) -> None:
    """Let a guardian or proxy grant, revoke and read for the patient, in some categories, until an expiry."""
    with open_node(ctx) as node:
        signer = wallet_of(node, patient)
        delegate_address = address_of(node, to)
        scope = parse_categories(categories)
        node.consent.delegate(signer.name, delegate_address, scope, days=days)
    if json:
        print_json({"patient": signer.address, "delegate": delegate_address, "categories": scope, "days": days})
    elif days:
        console.print(f"{delegate_address} may manage {', '.join(scope)} consents for {days:g} days", markup=False)
    else:
        console.print(f"delegation to {delegate_address} ended", markup=False)


def _terms(node: Operations, patient: str, to: str, categories: str, purpose: str, days: float) -> ConsentTerms:
    return node.consent.terms(
        acts_as(node, patient),
        address_of(node, to),
        parse_categories(categories),
        parse_purposes(purpose),
        days=days,
    )


def _grant_id(text: str) -> int:
    try:
        return int(text, 16)
    except ValueError:
        raise ValidationError(f"not a consent id: {text!r} (0x followed by hex digits)") from None


def _one_category(text: str) -> Category:
    categories = parse_categories(text)
    if len(categories) != 1:
        raise ValidationError("name one category")
    return categories[0]


@app.command("restrict-care-team")
def restrict_care_team(
    ctx: typer.Context,
    patient: PatientOption,
    categories: Annotated[
        str,
        typer.Option("--categories", help="Categories to keep from the care team (comma-separated), or none."),
    ],
    custodian: Annotated[
        str | None, typer.Option("--node", help="The custodian node's wallet name or address (default: this node).")
    ] = None,
    as_wallet: AsOption = None,
    json: JsonFlag = False,
) -> None:
    """Keep a node's care team from some of the patient's categories (a consent still counts)."""
    kept = [] if categories.strip().lower() == "none" else parse_categories(categories)
    with open_node(ctx) as node:
        signer = signer_for(node, patient, as_wallet)
        patient_address = acts_as(node, patient)
        custodian_address = address_of(node, custodian) if custodian else node.address
        node.consent.restrict_care_team(signer.name, patient_address, custodian_address, kept)
    names = [category.value for category in kept]
    if json:
        print_json({"patient": patient_address, "custodian": custodian_address, "restricted": names})
    else:
        restricted = ", ".join(names) or "nothing"
        console.print(f"{custodian_address}'s care team is kept from {restricted} of {patient_address}'s records")
