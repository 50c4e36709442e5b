"""`careledger claim ...`: plans, enrolment, prior authorization, claims, review, payment."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

import typer
from rich.table import Table

from careledger.access import Accessor
from careledger.claims import (
    CDT,
    CPT,
    RXNORM,
    SERVICE_CLASSES,
    ClaimLine,
    ClaimOutcome,
    ClaimStatus,
    Money,
    PlanTerms,
    PlanView,
    PreauthStatus,
    ServiceClass,
    amount_text,
    from_units,
    reason_text,
    to_units,
)
from careledger.cli._context import address_of, local_record_id, open_node, wallet_of
from careledger.cli._options import JsonFlag, QuietFlag
from careledger.cli._output import console, print_id, print_json, progress
from careledger.config import NODE_WALLET
from careledger.consent import Purpose
from careledger.errors import ClaimDenied, ValidationError
from careledger.services import Operations

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


def _amount(money: Money, units: int) -> str:
    return f"{from_units(units, money.decimals):,f} {money.symbol}"


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


def plan_json(view: PlanView) -> dict[str, Any]:
    """A plan as JSON, amounts in whole tokens."""
    plan, decimals, terms = view.plan, view.money.decimals, view.plan.terms
    return {
        "plan": plan.plan_id,
        "insurer": plan.insurer,
        "token": terms.token,
        "symbol": view.money.symbol,
        "allowed": {
            ServiceClass(index).label: amount_text(amount, decimals)
            for index, amount in enumerate(terms.allowed)
            if amount
        },
        "deductible": amount_text(terms.deductible, decimals),
        "coinsurance_percent": terms.coinsurance_bps / 100,
        "oop_max": amount_text(terms.oop_max, decimals),
        "coverage": [_day(terms.coverage_start), _day(terms.coverage_end)],
        "preauth_classes": [c.label for c in ServiceClass.from_mask(terms.preauth_classes)],
        "review_over": amount_text(terms.review_threshold, decimals) if terms.review_threshold else None,
        "escrow": amount_text(plan.escrow, decimals),
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
    quiet: QuietFlag = False,
) -> None:
    """Register a plan as an insurer (and fund its escrow with --fund); prints the plan's id."""
    if not 0 <= coinsurance <= 100:
        raise ValidationError("--coinsurance is a percent, 0 to 100")
    with open_node(ctx) as node:
        wallet_of(node, as_wallet)
        money = node.payments.currency(token_address)
        decimals = money.decimals
        coverage_start = _timestamp(start) if start else int(datetime.now(UTC).timestamp())
        terms = PlanTerms(
            token=money.token,
            allowed=_allowed(allowed, decimals),
            deductible=to_units(deductible, decimals),
            coinsurance_bps=round(coinsurance * 100),
            oop_max=to_units(oop_max, decimals),
            coverage_start=coverage_start,
            coverage_end=coverage_start + days * _DAY,
            preauth_classes=ServiceClass.mask(_classes(preauth)),
            review_threshold=to_units(review_over, decimals),
        )
        with progress.status("creating the plan…"):
            view = plan_json(node.plans.create(as_wallet, terms, fund=to_units(fund, decimals)))
    if quiet:
        print_id(view["plan"])
    elif json:
        print_json(view)
    else:
        console.print(f"plan {view['plan']} created; escrow {view['escrow']} {view['symbol']}", markup=False)


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
        money = node.plans.money_of(plan_id)
        escrow = node.plans.fund(as_wallet, plan_id, to_units(amount, money.decimals))
        shown = _amount(money, escrow)
    if json:
        print_json({"plan": plan_id, "escrow": amount_text(escrow, money.decimals)})
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
        node.plans.set_network(as_wallet, plan_id, address, not remove)
    console.print(f"{address} {'left' if remove else 'joined'} plan {plan_id}'s network", markup=False)


@plan_app.command("show")
def plan_show(ctx: typer.Context, plan_id: PlanArgument, json: JsonFlag = False) -> None:
    """A plan's terms, escrow and open claims."""
    with open_node(ctx) as node:
        view = plan_json(node.plans.show(plan_id))
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
        first, last = node.plans.enroll(
            as_wallet, address, plan_id, _timestamp(start) if start else None, _timestamp(end) if end else None
        )
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
        preauth_id = node.plans.request_preauth(as_wallet, address, chosen)
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
        decided = node.plans.decide_preauth(as_wallet, preauth_id, approve_days=days if approve else 0, deny=deny)
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


def outcome_json(outcome: ClaimOutcome, money: Money | None) -> dict[str, Any]:
    """A claim's state and every decision as JSON, amounts in whole tokens."""
    decimals = money.decimals if money else 0

    def amount(units: int) -> str:
        """An amount in whole tokens, as a string."""
        return amount_text(units, decimals)

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


def _show(outcome: ClaimOutcome, money: Money | None, json: bool, quiet: bool = False) -> None:
    view = outcome_json(outcome, money)
    if quiet:
        print_id(view["claim"])
        return
    if json:
        print_json(view)
        return
    symbol = f" {money.symbol}" if money else ""
    reason = f" ({view['reason']})" if view["reason"] else ""
    console.print(f"claim {view['claim']}: {view['status']}{reason}", markup=False)
    console.print(
        f"  billed {view['billed']}{symbol}; plan pays {view['payer_share']}{symbol}; "
        f"member pays {view['patient_share']}{symbol}",
        markup=False,
    )
    if outcome.eob_id:
        console.print(f"  ExplanationOfBenefit/{outcome.eob_id} written for the patient", markup=False)


def _money_of(node: Operations, plan_id: int) -> Money | None:
    return node.plans.money_of(plan_id) if plan_id else None


@app.command()
def submit(
    ctx: typer.Context,
    encounter: Annotated[
        str, typer.Option("--encounter", help="The Encounter the claim is for (Encounter/<id>, or the id).")
    ],
    lines: Annotated[
        list[str], typer.Option("--line", help="A billed line: SYSTEM:CODE=AMOUNT (cpt, cdt, rxnorm), repeatable.")
    ],
    service_class: Annotated[
        str | None, typer.Option("--class", help="The service class [default: from the codes].")
    ] = None,
    preauth: Annotated[int, typer.Option("--preauth", help="The prior authorization it uses.", min=0)] = 0,
    as_wallet: ProviderOption = NODE_WALLET,
    json: JsonFlag = False,
    quiet: QuietFlag = False,
) -> None:
    """Write the FHIR Claim for an Encounter and submit it: adjudicated and paid at once; prints the claim's id.

    A denied claim is printed like any other, then the command exits 11.
    """
    with open_node(ctx) as node:
        encounter = local_record_id(node, encounter)
        billing = node.access.for_caller(Accessor(wallet_of(node, as_wallet).address, Purpose.HOPERAT))
        member = billing.stored(encounter).patient_address
        plan_id, _insurer = node.plans.plan_of(member)
        money = _money_of(node, plan_id)
        decimals = money.decimals if money else 0
        chosen = ServiceClass.parse(service_class) if service_class else None
        with progress.status("submitting the claim…"):
            outcome = node.claims.submit(
                billing,
                encounter,
                [_line(spec, decimals) for spec in lines],
                service_class=chosen,
                preauth_id=preauth,
                as_wallet=as_wallet,
            )
        _show(outcome, money, json, quiet)
    if outcome.state.status is ClaimStatus.DENIED:
        raise ClaimDenied(f"claim {outcome.hex_id} was denied: {reason_text(outcome.state.reason)}")


@app.command()
def status(ctx: typer.Context, claim: ClaimArgument, json: JsonFlag = False) -> None:
    """Where a claim stands; for a Claim recorded here, the ClaimResponse and EOB are brought up to date."""
    with open_node(ctx) as node:
        outcome = node.claims.resolve(claim)
        _show(outcome, _money_of(node, outcome.state.plan_id), json)


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
        outcome = node.claims.review(as_wallet, claim, deny=deny)
        _show(outcome, _money_of(node, outcome.state.plan_id), json)


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
        outcome = node.claims.appeal(as_wallet, claim, evidence)
        _show(outcome, _money_of(node, outcome.state.plan_id), json)


@app.command("pay-share")
def pay_share(
    ctx: typer.Context,
    claim: ClaimArgument,
    as_wallet: Annotated[str, typer.Option("--as", help="The member's wallet: it signs a permit, pays no gas.")],
) -> None:
    """Pay the member's share of a paid claim to the provider, with an EIP-2612 permit."""
    with open_node(ctx) as node:
        outcome = node.claims.resolve(claim)
        node.claims.pay_share(outcome.claim_id, node.unlock(wallet_of(node, as_wallet).name).account)
        shown = _amount(node.plans.money_of(outcome.state.plan_id), outcome.state.patient_share)
    console.print(f"paid {shown} to {outcome.state.provider} for claim {outcome.hex_id}", markup=False)
