"""`careledger governance ...`: the council of member organisations that runs the network, k of n behind a
timelock: its members, proposals, votes, execution, and the bootstrap that hands it the deployer's powers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from careledger.cli._context import address_of, open_node
from careledger.cli._options import JsonFlag
from careledger.cli._output import console, print_json
from careledger.errors import ValidationError

if TYPE_CHECKING:
    from careledger.governance import Action, CouncilView, ProposalView
    from careledger.services import Operations

app = typer.Typer(
    help="The council of member organisations: members, proposals, votes, execution, bootstrap.",
    no_args_is_help=True,
)
propose_app = typer.Typer(
    help="Propose a decision to the council (this node must be a member); members then vote on it.",
    no_args_is_help=True,
)
app.add_typer(propose_app, name="propose")

ReasonOption = Annotated[
    str, typer.Option("--reason", help="Why, in words: public on chain, so never a patient's name.")
]
NodeArgument = Annotated[str, typer.Argument(metavar="NODE", help="The node's address (or a wallet name here).")]
AddressArgument = Annotated[str, typer.Argument(metavar="ADDRESS", help="An address (or a wallet name here).")]
ProposalArgument = Annotated[int, typer.Argument(metavar="ID", help="The proposal's number.", min=1)]


@app.command()
def members(ctx: typer.Context, json: JsonFlag = False) -> None:
    """The council: its members, how many votes a proposal needs, the timelock's delay."""
    with open_node(ctx) as node:
        council = node.governance.council()
        me = node.address
    if json:
        print_json({**council.to_json(), "this_node": me, "member": me in council.members})
        return
    _print_council(council, me)


@app.command()
def proposals(
    ctx: typer.Context,
    every: Annotated[bool, typer.Option("--all", help="Executed, cancelled and expired ones too.")] = False,
    json: JsonFlag = False,
) -> None:
    """Proposals that may still take effect (open, queued, ready), newest first; `--all` for every one."""
    with open_node(ctx) as node:
        found = node.governance.proposals(pending_only=not every)
    if json:
        print_json([p.to_json() for p in found])
        return
    if not found:
        console.print("no proposals" if every else "no pending proposals (`--all` lists every one)")
        return
    table = Table("id", "state", "votes", "when", "what", "reason")
    for p in found:
        what = "; ".join(call.words for call in p.calls)
        table.add_row(str(p.proposal_id), p.state.label, f"{p.votes}/{p.needed}", _timing(p), what, p.reason)
    console.print(table)


@app.command()
def show(ctx: typer.Context, proposal_id: ProposalArgument, json: JsonFlag = False) -> None:
    """One proposal: its state, votes and voters, when it may be executed, and each call in words."""
    with open_node(ctx) as node:
        proposal = node.governance.show(proposal_id)
    _print_proposal(proposal, json)


@app.command()
def vote(ctx: typer.Context, proposal_id: ProposalArgument, json: JsonFlag = False) -> None:
    """This node's vote for an open proposal; the vote that reaches the threshold queues it."""
    with open_node(ctx) as node:
        proposal = node.governance.vote(proposal_id)
    _print_proposal(proposal, json)


@app.command()
def execute(ctx: typer.Context, proposal_id: ProposalArgument, json: JsonFlag = False) -> None:
    """Make a ready proposal's calls, once its delay has passed (any node may)."""
    with open_node(ctx) as node:
        proposal = node.governance.execute(proposal_id)
    _print_proposal(proposal, json)


@app.command()
def cancel(ctx: typer.Context, proposal_id: ProposalArgument, json: JsonFlag = False) -> None:
    """Withdraw a proposal this node made, until it is executed."""
    with open_node(ctx) as node:
        proposal = node.governance.cancel(proposal_id)
    _print_proposal(proposal, json)


@app.command()
def bootstrap(
    ctx: typer.Context,
    member: Annotated[
        list[str], typer.Option("--member", help="A founding member node's address (repeat it; this node too).")
    ],
    threshold: Annotated[int, typer.Option("--threshold", help="Votes a proposal needs (k of the n members).")],
    delay: Annotated[str, typer.Option("--delay", help="How long a passed proposal waits: seconds, or 2h, 2d.")],
    voting_period: Annotated[
        str, typer.Option("--voting-period", help="How long a proposal may gather votes: seconds, or 7d.")
    ] = "7d",
    json: JsonFlag = False,
) -> None:
    """Seat the council and hand it every admin role of every contract; run once, by the deploying node."""
    from careledger.governance import parse_duration

    with open_node(ctx) as node:
        seats = [address_of(node, who) for who in member]
        done = node.governance.bootstrap(seats, threshold, parse_duration(delay), parse_duration(voting_period))
        me = node.address
    if json:
        print_json(done.to_json())
        return
    for words, now in done.steps:
        console.print(f"{'done' if now else 'was done'}: {words}", markup=False)
    _print_council(done.council, me)


def _propose(ctx: typer.Context, build: _Builder, reason: str, json: bool) -> None:
    """Propose what `build` makes of the node's view (addresses resolved there) and print the proposal."""
    with open_node(ctx) as node:
        proposal = node.governance.propose(build(node), reason)
    _print_proposal(proposal, json)
    if not json:
        console.print(f"members vote with `careledger governance vote {proposal.proposal_id}`", markup=False)


if TYPE_CHECKING:
    from collections.abc import Callable

    _Builder = Callable[[Operations], Action]


@propose_app.command("admit")
def propose_admit(ctx: typer.Context, node_: NodeArgument, reason: ReasonOption, json: JsonFlag = False) -> None:
    """Admit a node that registered its organisation: it may register its patients and anchor."""
    from careledger.governance import AdmitNode

    _propose(ctx, lambda node: AdmitNode(address_of(node, node_)), reason, json)


@propose_app.command("remove")
def propose_remove(ctx: typer.Context, node_: NodeArgument, reason: ReasonOption, json: JsonFlag = False) -> None:
    """Remove a node: its roles revoked, its organisation deactivated (its requests and credentials stop)."""
    from careledger.governance import RemoveNode

    _propose(ctx, lambda node: RemoveNode(address_of(node, node_)), reason, json)


@propose_app.command("appoint-issuer")
def propose_appoint_issuer(
    ctx: typer.Context, issuer: AddressArgument, reason: ReasonOption, json: JsonFlag = False
) -> None:
    """Let a licensing board, a regulator or another body attest credentials."""
    from careledger.governance import AppointIssuer

    _propose(ctx, lambda node: AppointIssuer(address_of(node, issuer)), reason, json)


@propose_app.command("remove-issuer")
def propose_remove_issuer(
    ctx: typer.Context, issuer: AddressArgument, reason: ReasonOption, json: JsonFlag = False
) -> None:
    """End an issuer's appointment: the credentials it attested stop being valid."""
    from careledger.governance import AppointIssuer

    _propose(ctx, lambda node: AppointIssuer(address_of(node, issuer), appoint=False), reason, json)


@propose_app.command("pause")
def propose_pause(ctx: typer.Context, reason: ReasonOption, json: JsonFlag = False) -> None:
    """Stop every state-changing function of Claims in an emergency."""
    from careledger.governance import Pause

    _propose(ctx, lambda _node: Pause(), reason, json)


@propose_app.command("unpause")
def propose_unpause(ctx: typer.Context, reason: ReasonOption, json: JsonFlag = False) -> None:
    """Resume Claims after a pause."""
    from careledger.governance import Pause

    _propose(ctx, lambda _node: Pause(pause=False), reason, json)


@propose_app.command("grant-minter")
def propose_grant_minter(
    ctx: typer.Context,
    minter: AddressArgument,
    cap: Annotated[str, typer.Option("--cap", help="How much more it may mint, in whole CARE (e.g. 1000).")],
    reason: ReasonOption,
    json: JsonFlag = False,
) -> None:
    """Let an account mint CARE up to a cap (it replaces the account's current cap)."""
    from careledger.claims import to_units
    from careledger.governance import SetMinter

    units = to_units(cap, 18)
    if units == 0:
        raise ValidationError("a cap of 0 mints nothing: `propose revoke-minter` ends an account's minting")
    _propose(ctx, lambda node: SetMinter(address_of(node, minter), units), reason, json)


@propose_app.command("revoke-minter")
def propose_revoke_minter(
    ctx: typer.Context, minter: AddressArgument, reason: ReasonOption, json: JsonFlag = False
) -> None:
    """End an account's minting."""
    from careledger.governance import SetMinter

    _propose(ctx, lambda node: SetMinter(address_of(node, minter), 0), reason, json)


@propose_app.command("add-member")
def propose_add_member(
    ctx: typer.Context, member_: AddressArgument, reason: ReasonOption, json: JsonFlag = False
) -> None:
    """Seat a member on the council (open proposals must then be proposed again)."""
    from careledger.governance import SetMember

    _propose(ctx, lambda node: SetMember(address_of(node, member_)), reason, json)


@propose_app.command("remove-member")
def propose_remove_member(
    ctx: typer.Context, member_: AddressArgument, reason: ReasonOption, json: JsonFlag = False
) -> None:
    """Unseat a member (at least the threshold must stay seated: lower it first)."""
    from careledger.governance import SetMember

    _propose(ctx, lambda node: SetMember(address_of(node, member_), add=False), reason, json)


@propose_app.command("threshold")
def propose_threshold(
    ctx: typer.Context,
    votes: Annotated[int, typer.Argument(metavar="K", help="Votes a proposal needs: 1 to the members.")],
    reason: ReasonOption,
    json: JsonFlag = False,
) -> None:
    """Change how many members' votes a proposal needs."""
    from careledger.governance import SetThreshold

    _propose(ctx, lambda _node: SetThreshold(votes), reason, json)


@propose_app.command("delay")
def propose_delay(
    ctx: typer.Context,
    seconds: Annotated[str, typer.Argument(metavar="DURATION", help="Seconds, or 2h, 2d (at most 30d).")],
    reason: ReasonOption,
    json: JsonFlag = False,
) -> None:
    """Change how long a passed proposal waits before it may be executed."""
    from careledger.governance import SetDelay, parse_duration

    delay = parse_duration(seconds)
    _propose(ctx, lambda _node: SetDelay(delay), reason, json)


@propose_app.command("voting-period")
def propose_voting_period(
    ctx: typer.Context,
    seconds: Annotated[str, typer.Argument(metavar="DURATION", help="Seconds, or 7d (an hour to a year).")],
    reason: ReasonOption,
    json: JsonFlag = False,
) -> None:
    """Change how long a proposal may gather votes."""
    from careledger.governance import SetVotingPeriod, parse_duration

    period = parse_duration(seconds)
    _propose(ctx, lambda _node: SetVotingPeriod(period), reason, json)


def _print_council(council: CouncilView, me: str) -> None:
    from careledger.governance import format_duration

    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("council", council.address)
    for i, seat in enumerate(council.members):
        table.add_row("members" if i == 0 else "", seat + (" (this node)" if seat == me else ""))
    table.add_row("threshold", f"{council.threshold} of {len(council.members)} votes")
    table.add_row("delay", format_duration(council.delay))
    table.add_row("voting period", format_duration(council.voting_period))
    console.print(table)


def _print_proposal(proposal: ProposalView, json: bool) -> None:
    if json:
        print_json(proposal.to_json())
        return
    console.print(f"proposal {proposal.proposal_id}: {proposal.state.label} ({_timing(proposal)})", markup=False)
    console.print(f"  reason: {proposal.reason}", markup=False)
    console.print(f"  proposed by {proposal.proposer}", markup=False)
    voters = ", ".join(proposal.voters) or "none yet"
    console.print(f"  votes: {proposal.votes} of the {proposal.needed} needed ({voters})", markup=False)
    for i, call in enumerate(proposal.calls, 1):
        console.print(f"  {i}. {call.words}", markup=False)


def _timing(proposal: ProposalView) -> str:
    """When it matters for its state: voting until, executable from, or until."""
    label = proposal.state.label
    if label == "active":
        return f"votes until {_when(proposal.voting_ends)}"
    if label == "queued" and proposal.eta:
        return f"executable from {_when(proposal.eta)}"
    if label == "ready" and proposal.executable_until:
        return f"executable until {_when(proposal.executable_until)}"
    return f"proposed {_when(proposal.created_at)}"


def _when(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M UTC")
