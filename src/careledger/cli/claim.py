"""`careledger claim ...`: plans, enrolment, prior authorization, claims, review, payment."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

import typer
from eth_utils import keccak
from rich.table import Table

from careledger.chain import SERVICE_CLASSES, CareToken, Claims, Plan, PlanTerms, PreauthStatus
from careledger.claims import (
    CDT,
    CPT,
    RXNORM,
    ClaimLine,
    ClaimOutcome,
    ServiceClass,
    from_units,
    plan_of,
    reason_text,
    to_units,
)
from careledger.cli._context import address_of, open_node, wallet_of
from careledger.cli._options import JsonFlag
from careledger.cli._output import console, print_json, progress
from careledger.config import NODE_WALLET
from careledger.errors import ValidationError
from careledger.node import Node

app = typer.Typer(
    help="Insurance claims on chain: plans, enrolment, prior authorization, claims.", no_args_is_help=True
)
plan_app = typer.Typer(help="An insurer's plans: create, fund, network, show.", no_args_is_help=True)
preauth_app = typer.Typer(help="Prior authorization: a provider requests, the insurer decides.", no_args_is_help=True)
app.add_typer(plan_app, name="plan")
app.add_typer(preauth_app, name="preauth")

_DAY = 86_400
_SYSTEMS = {"cpt": CPT, "cdt": CDT, "rxnorm": RXNORM}

InsurerOption = Annotated[str, typer.Option("--as", help="The insurer's wallet.")]
ProviderOption = Annotated[str, typer.Option("--as", help="The provider's wallet [default: the node's].")]
PlanArgument = Annotated[int, typer.Argument(metavar="PLAN", help="The plan id.", min=1)]
ClaimArgument = Annotated[
    str, typer.Argument(metavar="CLAIM", help="The claim's on-chain id (0x…) or its Claim record id here.")
]


def _timestamp(value: str) -> int:
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise ValidationError(f"not a date (YYYY-MM-DD): {value!r}") from None
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


def _day(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).date().isoformat()


def _amount(token: CareToken, units: int) -> str:
    return f"{from_units(units, token.decimals()):,} {token.symbol()}"


def _plan_token(node: Node, plan_id: int) -> CareToken:
    return node.token(address=node.claims_contract().plan_parties(plan_id)[1])


def _allowed(entries: list[str], decimals: int) -> tuple[int, ...]:
    allowed = [0] * SERVICE_CLASSES
    for entry in entries:
        name, _, amount = entry.partition("=")
        if not amount:
            raise ValidationError(f"--allowed takes CLASS=AMOUNT, e.g. office-visit=150, not {entry!r}")
        allowed[ServiceClass.parse(name)] = to_units(amount, decimals)
    return tuple(allowed)


def _classes(names: str) -> list[ServiceClass]:
    return [ServiceClass.parse(name) for name in names.split(",") if name.strip()]


def plan_json(plan: Plan, token: CareToken) -> dict[str, Any]:
    decimals = token.decimals()
    terms = plan.terms
    return {
        "plan": plan.plan_id,
        "insurer": plan.insurer,
        "token": terms.token,
        "symbol": token.symbol(),
        "allowed": {
            ServiceClass(index).label: str(from_units(amount, decimals))
            for index, amount in enumerate(terms.allowed)
            if amount
        },
        "deductible": str(from_units(terms.deductible, decimals)),
        "coinsurance_percent": terms.coinsurance_bps / 100,
        "oop_max": str(from_units(terms.oop_max, decimals)),
        "coverage": [_day(terms.coverage_start), _day(terms.coverage_end)],
        "preauth_classes": [c.label for c in ServiceClass.from_mask(terms.preauth_classes)],
        "review_over": str(from_units(terms.review_threshold, decimals)) if terms.review_threshold else None,
        "escrow": str(from_units(plan.escrow, decimals)),
        "open_claims": plan.open_claims,
    }


@plan_app.command("create")
def plan_create(
    ctx: typer.Context,
    as_wallet: InsurerOption,
    allowed: Annotated[
        list[str], typer.Option("--allowed", help="CLASS=AMOUNT, once per covered service class (the fee schedule).")
    ],
    deductible: Annotated[str, typer.Option("--deductible", help="Per member per period.")] = "0",
    coinsurance: Annotated[float, typer.Option("--coinsurance", help="The member's percent after the deductible.")] = 0,
    oop_max: Annotated[str, typer.Option("--oop-max", help="The member's out-of-pocket maximum.")] = "0",
    start: Annotated[str | None, typer.Option("--start", help="Coverage start (YYYY-MM-DD) [default: today].")] = None,
    days: Annotated[int, typer.Option("--days", help="Coverage length in days.", min=1)] = 365,
    preauth: Annotated[
        str, typer.Option("--preauth", help="Classes that need prior authorization, comma-separated.")
    ] = "",
    review_over: Annotated[str, typer.Option("--review-over", help="Pend claims allowed above this (0: none).")] = "0",
    token_address: Annotated[
        str | None, typer.Option("--token", help="The ERC-20 the plan pays in [default: CareToken].")
    ] = None,
    fund: Annotated[str, typer.Option("--fund", help="Put this much into the escrow at once.")] = "0",
    json: JsonFlag = False,
) -> None:
    """Register a plan as an insurer (and fund its escrow with --fund)."""
    if not 0 <= coinsurance <= 100:
        raise ValidationError("--coinsurance is a percent, 0 to 100")
    with open_node(ctx) as node:
        wallet_of(node, as_wallet)
        token = node.token(as_wallet=as_wallet, address=token_address)
        decimals = token.decimals()
        coverage_start = _timestamp(start) if start else int(datetime.now(UTC).timestamp())
        terms = PlanTerms(
            token=token.address,
            allowed=_allowed(allowed, decimals),
            deductible=to_units(deductible, decimals),
            coinsurance_bps=round(coinsurance * 100),
            oop_max=to_units(oop_max, decimals),
            coverage_start=coverage_start,
            coverage_end=coverage_start + days * _DAY,
            preauth_classes=ServiceClass.mask(_classes(preauth)),
            review_threshold=to_units(review_over, decimals),
        )
        claims = node.claims_contract(as_wallet=as_wallet)
        with progress.status("creating the plan…"):
            plan_id = claims.create_plan(terms)
            escrow = to_units(fund, decimals)
            if escrow:
                _fund(token, claims, plan_id, escrow)
        view = plan_json(claims.plan(plan_id), token)
    if json:
        print_json(view)
    else:
        console.print(f"plan {plan_id} created; escrow {view['escrow']} {view['symbol']}", markup=False)


def _fund(token: CareToken, claims: Claims, plan_id: int, amount: int) -> int:
    """Approve the claims contract for `amount` if need be, then fund; the escrow after."""
    if token.signer is None or token.allowance(token.signer.address, claims.address) < amount:
        token.approve(claims.address, amount)
    return claims.fund(plan_id, amount)


@plan_app.command("fund")
def plan_fund(
    ctx: typer.Context,
    plan_id: PlanArgument,
    amount: Annotated[str, typer.Argument(help="How much, in whole tokens.")],
    as_wallet: Annotated[str, typer.Option("--as", help="The wallet that pays in.")] = NODE_WALLET,
    json: JsonFlag = False,
) -> None:
    """Add to a plan's escrow (anyone may: the insurer, an employer, a sponsor)."""
    with open_node(ctx) as node:
        token = node.token(as_wallet=as_wallet, address=node.claims_contract().plan_parties(plan_id)[1])
        escrow = _fund(token, node.claims_contract(as_wallet=as_wallet), plan_id, to_units(amount, token.decimals()))
        shown = _amount(token, escrow)
    if json:
        print_json({"plan": plan_id, "escrow": str(from_units(escrow, token.decimals()))})
    else:
        console.print(f"plan {plan_id} escrow: {shown}", markup=False)


@plan_app.command("network")
def plan_network(
    ctx: typer.Context,
    plan_id: PlanArgument,
    provider: Annotated[str, typer.Argument(help="The provider's wallet name or address.")],
    as_wallet: InsurerOption,
    remove: Annotated[bool, typer.Option("--remove", help="Take the provider out of the network.")] = False,
) -> None:
    """Admit a registered provider to a plan's network (or remove it)."""
    with open_node(ctx) as node:
        address = address_of(node, provider)
        node.claims_contract(as_wallet=as_wallet).set_network(plan_id, address, not remove)
    console.print(f"{address} {'left' if remove else 'joined'} plan {plan_id}'s network", markup=False)


@plan_app.command("show")
def plan_show(ctx: typer.Context, plan_id: PlanArgument, json: JsonFlag = False) -> None:
    """A plan's terms, escrow and open claims."""
    with open_node(ctx) as node:
        view = plan_json(node.claims_contract().plan(plan_id), _plan_token(node, plan_id))
    if json:
        print_json(view)
        return
    table = Table("term", "value", title=f"plan {plan_id}")
    for key, value in view.items():
        table.add_row(key, str(value))
    console.print(table)


@app.command()
def enroll(
    ctx: typer.Context,
    member: Annotated[str, typer.Argument(help="The patient's wallet name or address.")],
    plan_id: Annotated[int, typer.Option("--plan", help="The plan id.", min=1)],
    as_wallet: InsurerOption,
    start: Annotated[str | None, typer.Option("--start", help="YYYY-MM-DD [default: the plan's start].")] = None,
    end: Annotated[str | None, typer.Option("--end", help="YYYY-MM-DD [default: the plan's end].")] = None,
) -> None:
    """Enrol a registered patient in a plan for a period (the insurer)."""
    with open_node(ctx) as node:
        address = address_of(node, member)
        claims = node.claims_contract(as_wallet=as_wallet)
        terms = claims.plan(plan_id).terms
        first = _timestamp(start) if start else terms.coverage_start
        last = _timestamp(end) if end else terms.coverage_end
        claims.enroll(address, plan_id, first, last)
    console.print(f"{address} enrolled in plan {plan_id} from {_day(first)} to {_day(last)}", markup=False)


@preauth_app.command("request")
def preauth_request(
    ctx: typer.Context,
    member: Annotated[str, typer.Option("--member", help="The patient's wallet name or address.")],
    service_class: Annotated[str, typer.Option("--class", help="The service class, e.g. imaging.")],
    as_wallet: ProviderOption = NODE_WALLET,
    json: JsonFlag = False,
) -> None:
    """Ask the member's plan to authorize a service in advance."""
    with open_node(ctx) as node:
        address = address_of(node, member)
        chosen = ServiceClass.parse(service_class)
        request_hash = bytes(32)  # the request itself (a Claim with use=preauthorization) stays off chain
        preauth_id = node.claims_contract(as_wallet=as_wallet).request_preauth(address, chosen, request_hash)
    if json:
        print_json({"preauth": preauth_id})
    else:
        console.print(f"prior authorization {preauth_id} requested for {chosen.label}", markup=False)


@preauth_app.command("decide")
def preauth_decide(
    ctx: typer.Context,
    preauth_id: Annotated[int, typer.Argument(metavar="ID", min=1)],
    as_wallet: InsurerOption,
    approve: Annotated[bool, typer.Option("--approve", help="Approve the request.")] = False,
    deny: Annotated[int, typer.Option("--deny", help="Deny it with this reason code (CARC).", min=0)] = 0,
    days: Annotated[int, typer.Option("--days", help="How long an approval lasts.", min=1)] = 30,
) -> None:
    """Approve or deny a prior-authorization request (the plan's insurer)."""
    if approve == bool(deny):
        raise ValidationError("give exactly one of --approve and --deny CODE")
    with open_node(ctx) as node:
        until = int(datetime.now(UTC).timestamp()) + days * _DAY
        claims = node.claims_contract(as_wallet=as_wallet)
        claims.decide_preauth(preauth_id, approve, deny, until if approve else 0)
        decided = claims.preauth(preauth_id)
    verdict = f"approved until {_day(decided.valid_until)}" if decided.status is PreauthStatus.APPROVED else "denied"
    console.print(f"prior authorization {preauth_id} {verdict}", markup=False)


def _line(spec: str, decimals: int) -> ClaimLine:
    """`cpt:99213=200` (an alias) or `http://www.ama-assn.org/go/cpt|99213=200` (a system URI)."""
    coded, _, amount = spec.partition("=")
    if "|" in coded:
        system, _, code = coded.partition("|")
    else:
        alias, _, code = coded.partition(":")
        system = _SYSTEMS.get(alias.lower(), "")
    if not system or not code or not amount:
        raise ValidationError(f"--line takes SYSTEM:CODE=AMOUNT (cpt, cdt, rxnorm), e.g. cpt:99213=200, not {spec!r}")
    return ClaimLine(system, code, to_units(amount, decimals))


def outcome_json(outcome: ClaimOutcome, token: CareToken | None) -> dict[str, Any]:
    decimals = token.decimals() if token else 0

    def amount(units: int) -> str:
        return str(from_units(units, decimals))

    state = outcome.state
    return {
        "claim": outcome.hex_id,
        "record": outcome.record_id,
        "status": state.status.label,
        "reason": reason_text(state.reason) if state.reason else None,
        "plan": state.plan_id,
        "provider": state.provider,
        "member": state.member,
        "service_class": ServiceClass(state.service_class).label,
        "service_date": _day(state.service_date),
        "billed": amount(state.billed),
        "payer_share": amount(state.payer_share),
        "patient_share": amount(state.patient_share),
        "appealed": state.appealed,
        "patient_paid": state.patient_paid,
        "decisions": [
            {
                "status": d.status.label,
                "reason": reason_text(d.reason) if d.reason else None,
                "allowed": amount(d.allowed),
                "deductible": amount(d.deductible),
                "coinsurance": amount(d.coinsurance),
                "payer_share": amount(d.payer_share),
                "patient_share": amount(d.patient_share),
                "block": d.block,
            }
            for d in outcome.decisions
        ],
        "claim_response": outcome.response_id,
        "explanation_of_benefit": outcome.eob_id,
    }


def _show(outcome: ClaimOutcome, token: CareToken | None, json: bool) -> None:
    view = outcome_json(outcome, token)
    if json:
        print_json(view)
        return
    symbol = f" {token.symbol()}" if token else ""
    reason = f" ({view['reason']})" if view["reason"] else ""
    console.print(f"claim {view['claim']}: {view['status']}{reason}", markup=False)
    console.print(
        f"  billed {view['billed']}{symbol}; plan pays {view['payer_share']}{symbol}; "
        f"member pays {view['patient_share']}{symbol}",
        markup=False,
    )
    if outcome.eob_id:
        console.print(f"  ExplanationOfBenefit/{outcome.eob_id} written for the patient", markup=False)


def _token_of(node: Node, plan_id: int) -> CareToken | None:
    return _plan_token(node, plan_id) if plan_id else None


@app.command()
def submit(
    ctx: typer.Context,
    encounter: Annotated[str, typer.Option("--encounter", help="The Encounter record the claim is for.")],
    lines: Annotated[
        list[str], typer.Option("--line", help="A billed line: SYSTEM:CODE=AMOUNT (cpt, cdt, rxnorm), repeatable.")
    ],
    service_class: Annotated[
        str | None, typer.Option("--class", help="The service class [default: from the codes].")
    ] = None,
    preauth: Annotated[int, typer.Option("--preauth", help="The prior authorization it uses.", min=0)] = 0,
    as_wallet: ProviderOption = NODE_WALLET,
    json: JsonFlag = False,
) -> None:
    """Write the FHIR Claim for an Encounter and submit it: adjudicated and paid at once."""
    with open_node(ctx) as node:
        claims = node.claims_contract(as_wallet=as_wallet)
        member = node.records.get(encounter).patient_address
        plan_id, _insurer = plan_of(claims, member)
        token = _token_of(node, plan_id)
        decimals = token.decimals() if token else 0
        chosen = ServiceClass.parse(service_class) if service_class else None
        with progress.status("submitting the claim…"):
            outcome = node.claims.submit(
                claims, encounter, [_line(spec, decimals) for spec in lines], service_class=chosen, preauth_id=preauth
            )
        _show(outcome, token, json)


@app.command()
def status(ctx: typer.Context, claim: ClaimArgument, json: JsonFlag = False) -> None:
    """Where a claim stands; for a Claim recorded here, the ClaimResponse and EOB are brought up to date."""
    with open_node(ctx) as node:
        outcome = node.claims.resolve(node.claims_contract(), claim)
        _show(outcome, _token_of(node, outcome.state.plan_id), json)


@app.command()
def review(
    ctx: typer.Context,
    claim: ClaimArgument,
    as_wallet: InsurerOption,
    approve: Annotated[bool, typer.Option("--approve", help="Approve: it is paid now if the escrow allows.")] = False,
    deny: Annotated[int, typer.Option("--deny", help="Deny with this reason code (CARC, e.g. 50).", min=0)] = 0,
    json: JsonFlag = False,
) -> None:
    """Decide a pended or appealed claim (the plan's insurer)."""
    if approve == bool(deny):
        raise ValidationError("give exactly one of --approve and --deny CODE")
    with open_node(ctx) as node:
        claims = node.claims_contract(as_wallet=as_wallet)
        claim_id = node.claims.resolve(claims, claim).claim_id
        if approve:
            claims.approve(claim_id)
        else:
            claims.deny(claim_id, deny)
        outcome = node.claims.resolve(claims, claim)
        _show(outcome, _token_of(node, outcome.state.plan_id), json)


@app.command()
def appeal(
    ctx: typer.Context,
    claim: ClaimArgument,
    evidence: Annotated[str, typer.Option("--evidence", help="What the insurer is sent off chain (hashed).")],
    as_wallet: ProviderOption = NODE_WALLET,
    json: JsonFlag = False,
) -> None:
    """Appeal a denial, once (the provider)."""
    with open_node(ctx) as node:
        claims = node.claims_contract(as_wallet=as_wallet)
        claim_id = node.claims.resolve(claims, claim).claim_id
        claims.appeal(claim_id, keccak(text=evidence))
        outcome = node.claims.resolve(claims, claim)
        _show(outcome, _token_of(node, outcome.state.plan_id), json)


@app.command("pay-share")
def pay_share(
    ctx: typer.Context,
    claim: ClaimArgument,
    as_wallet: Annotated[str, typer.Option("--as", help="The member's wallet: it signs a permit, pays no gas.")],
) -> None:
    """Pay the member's share of a paid claim to the provider, with an EIP-2612 permit."""
    with open_node(ctx) as node:
        claims = node.claims_contract(as_wallet=NODE_WALLET)
        outcome = node.claims.resolve(claims, claim)
        token = _plan_token(node, outcome.state.plan_id)
        node.claims.pay_share(claims, token, outcome.claim_id, node.unlock(wallet_of(node, as_wallet).name).account)
        shown = _amount(token, outcome.state.patient_share)
    console.print(f"paid {shown} to {outcome.state.provider} for claim {outcome.hex_id}", markup=False)
