"""`careledger identity ...`: register wallets on chain, look actors up, attest credentials, claim identities."""

from __future__ import annotations

import time
from functools import partial
from typing import Annotated

import typer
from eth_utils import is_address, to_checksum_address

from careledger.access import CLAIM_CODE_DAYS, CodeState
from careledger.cli._context import address_of, open_node, wallet_name
from careledger.cli._identity_view import actor_view, credential_json, render_view
from careledger.cli._options import JsonFlag, QuietFlag
from careledger.cli._output import console, print_id, print_json, progress
from careledger.errors import NotFound
from careledger.services import Operations

app = typer.Typer(
    help="On-chain identities: register, show, attest credentials; claim, rotate and recover custodial ones.",
    no_args_is_help=True,
)


@app.command()
def register(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The wallet to register (it signs its own registration).")],
    endpoint: Annotated[str, typer.Option("--endpoint", help="The actor's node URL (organisations).")] = "",
    json: JsonFlag = False,
) -> None:
    """Register a wallet in the IdentityRegistry with its role and encryption key."""
    with open_node(ctx) as node, progress.status("registering…"):
        view = actor_view(node.identity.register(name, endpoint), partial(wallet_name, node))
    if json:
        print_json(view)
    else:
        console.print(f"registered {name} ({view['address']}) as {view['role']}")


@app.command()
def show(
    ctx: typer.Context,
    who: Annotated[str, typer.Argument(help="A wallet name or an address.")],
    json: JsonFlag = False,
) -> None:
    """An actor's registration and credentials."""
    with open_node(ctx) as node:
        address = address_of(node, who)
        profile = node.identity.profile(address)
        if profile is None:
            raise NotFound(f"{who} ({address}) is not registered; register it with `careledger identity register`")
        view = actor_view(profile, partial(wallet_name, node))
    if json:
        print_json(view)
    else:
        render_view(view)


@app.command()
def attest(
    ctx: typer.Context,
    issuer: Annotated[str, typer.Argument(help="The issuing wallet (holds ISSUER_ROLE).")],
    subject: Annotated[str, typer.Argument(help="A wallet name or an address.")],
    credential_type: Annotated[str, typer.Option("--type", help="Credential type, e.g. medical-licence.")],
    days: Annotated[int, typer.Option("--days", help="Days until it expires.", min=1)],
    irrevocable: Annotated[bool, typer.Option("--irrevocable", help="The issuer cannot revoke it.")] = False,
    json: JsonFlag = False,
) -> None:
    """Attest a credential (e.g. a licensing board attesting a practitioner)."""
    with open_node(ctx) as node:
        address = address_of(node, subject)
        with progress.status("attesting…"):
            credential, now = node.identity.attest(
                issuer, address, credential_type, days=days, revocable=not irrevocable
            )
        view = {"subject": address, **credential_json(credential, now, partial(wallet_name, node))}
    if json:
        print_json(view)
    else:
        expires = time.strftime("%Y-%m-%d", time.gmtime(credential.expires_at))
        console.print(f"credential {credential.credential_id}: {credential_type} for {subject}, valid until {expires}")


PatientArgument = Annotated[
    str, typer.Argument(help="The patient: her Patient record (Patient/<id> or the id) or her identity's address.")
]


def _identity(node: Operations, patient: str) -> str:
    if is_address(patient):
        return str(to_checksum_address(patient))
    return node.claiming.patient_of(patient)


@app.command("claim-code")
def claim_code(
    ctx: typer.Context,
    patient: PatientArgument,
    days: Annotated[float, typer.Option("--days", help="How long the code stays valid.", min=0.01)] = CLAIM_CODE_DAYS,
    json: JsonFlag = False,
    quiet: QuietFlag = False,
) -> None:
    """Print a one-time code with which a patient without a wallet claims her identity (front desk)."""
    with open_node(ctx) as node:
        issued = node.claiming.issue(_identity(node, patient), days=days)
    expires = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(issued.expires_at))
    if quiet:
        print_id(issued.code)
    elif json:
        print_json({"patient": issued.patient, "code": issued.code, "expires_at": int(issued.expires_at)})
    else:
        console.print(f"claim code for {issued.patient}: {issued.code} (valid until {expires}; one use)")


@app.command("claim-status")
def claim_status(
    ctx: typer.Context,
    patient: PatientArgument,
    json: JsonFlag = False,
) -> None:
    """Where a patient's claim code stands (front desk): live, used, expired, or burnt by wrong tries."""
    with open_node(ctx) as node:
        status = node.claiming.status(_identity(node, patient))
    view = {
        "patient": status.patient,
        "state": status.state.value,
        "failures": status.failures,
        "expires_at": None if status.expires_at is None else int(status.expires_at),
        "claimed_by": status.claimed_by,
    }
    if json:
        print_json(view)
        return
    expires = "" if status.expires_at is None else time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(status.expires_at))
    console.print(
        {
            CodeState.NONE: f"{status.patient}: no claim code issued; issue one with `careledger identity claim-code`",
            CodeState.LIVE: f"{status.patient}: code live until {expires}, {status.failures} wrong tries so far",
            CodeState.USED: f"{status.patient}: claimed by {status.claimed_by}",
            CodeState.EXPIRED: f"{status.patient}: code expired at {expires}; issue a new one with "
            "`careledger identity claim-code`",
            CodeState.BURNT: f"{status.patient}: code burnt by {status.failures} wrong tries; issue a new one with "
            "`careledger identity claim-code`",
        }[status.state]
    )


@app.command()
def claim(
    ctx: typer.Context,
    patient: PatientArgument,
    code: Annotated[str, typer.Option("--code", help="The code from the front desk.")],
    wallet: Annotated[str, typer.Option("--wallet", help="Her own wallet (its passphrase is her signature).")],
    json: JsonFlag = False,
) -> None:
    """Claim a custodial identity with her own wallet: the node re-seals her records to it and forgets her key."""
    with open_node(ctx) as node:
        held = node.unlock(wallet)  # the passphrase proves the wallet is hers
        with progress.status("claiming…"):
            claimed = node.claiming.claim(
                _identity(node, patient), code, held.wallet.address, held.wallet.encryption_key
            )
    if json:
        print_json({"patient": claimed.patient, "wallet": claimed.wallet, "resealed": claimed.resealed})
    else:
        console.print(
            f"{wallet} ({claimed.wallet}) now holds {claimed.patient}; {claimed.resealed} record versions re-sealed"
        )


@app.command()
def guardians(
    ctx: typer.Context,
    patient: PatientArgument,
    wallet: Annotated[str, typer.Option("--wallet", help="The wallet that holds the identity.")],
    guardian: Annotated[list[str], typer.Option("--guardian", help="A guardian (wallet name or address); repeat.")],
    threshold: Annotated[int, typer.Option("--threshold", help="How many guardians must agree.", min=1)],
    json: JsonFlag = False,
) -> None:
    """Name the guardians who may together hand a claimed identity to a new wallet if hers is lost."""
    with open_node(ctx) as node:
        identity = _identity(node, patient)
        addresses = [address_of(node, g) for g in guardian]
        node.identity.set_guardians(wallet, identity, addresses, threshold)
    if json:
        print_json({"patient": identity, "guardians": addresses, "threshold": threshold})
    else:
        console.print(f"{identity}: {threshold} of {len(addresses)} guardians may recover it")


@app.command("approve-recovery")
def approve_recovery(
    ctx: typer.Context,
    patient: PatientArgument,
    guardian: Annotated[str, typer.Option("--guardian", help="The guardian's wallet (it signs).")],
    new_wallet: Annotated[str, typer.Option("--new-wallet", help="The patient's new wallet (name or address).")],
    json: JsonFlag = False,
) -> None:
    """One guardian's approval to hand a claimed identity to the patient's new wallet."""
    with open_node(ctx) as node:
        identity = _identity(node, patient)
        approvals, needed = node.identity.approve_recovery(guardian, identity, address_of(node, new_wallet))
    if json:
        print_json({"patient": identity, "approvals": approvals, "threshold": needed})
    elif approvals >= needed:
        console.print(f"{identity} now belongs to {new_wallet}; it sets its key with `careledger identity rotate`")
    else:
        console.print(f"{approvals} of {needed} guardians approve")


@app.command()
def rotate(
    ctx: typer.Context,
    patient: PatientArgument,
    wallet: Annotated[str, typer.Option("--wallet", help="The new wallet: its encryption key becomes hers.")],
    old: Annotated[
        str | None, typer.Option("--from", help="The wallet that holds the identity now (none after a recovery).")
    ] = None,
    json: JsonFlag = False,
) -> None:
    """Move a claimed identity to a new wallet (signed by the old one, or recovered), re-sealing her records."""
    with open_node(ctx) as node:
        identity = _identity(node, patient)
        new = node.unlock(wallet)
        if old is not None:
            node.identity.hand_over(old, identity, new.wallet.address)
        with progress.status("re-sealing…"):
            resealed = node.claiming.take_over(wallet, identity, new.wallet.encryption_key)
    if json:
        print_json({"patient": identity, "wallet": new.wallet.address, "resealed": resealed})
    else:
        console.print(f"{wallet} ({new.wallet.address}) holds {identity}; {resealed} record versions re-sealed")
