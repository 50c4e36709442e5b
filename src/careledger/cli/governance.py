"""`careledger governance ...`: the council of member organisations that runs the network, k of n behind a
timelock: its members, proposals, votes, execution, and the bootstrap that hands it the deployer's powers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from careledger.cli._context import address_of, open_node, wallet_of
from careledger.cli._options import JsonFlag
from careledger.cli._output import console, print_json
from careledger.errors import ValidationError

if TYPE_CHECKING:
    from careledger.governance import Action, CouncilView, ProposalView
    from careledger.services import Operations

    _Builder = Callable[[Any, Operations], Action]  # (careledger.governance, the node) -> the action

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
AddressArgument = Annotated[str, typer.Argument(metavar="ADDRESS", help="An address (or a wallet name here).")]
ProposalArgument = Annotated[int, typer.Argument(metavar="ID", help="The proposal's number.", min=1)]
AsOption = Annotated[
    str | None,
    typer.Option("--as", help="Who acts for this node: a governance officer's wallet kept here [default: the node]."),
]


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
def vote(ctx: typer.Context, proposal_id: ProposalArgument, as_wallet: AsOption = None, json: JsonFlag = False) -> None:
    """This node's vote for an open proposal; the vote that reaches the threshold queues it."""
    with open_node(ctx) as node:
        proposal = node.governance.vote(proposal_id, by=_acting(node, as_wallet))
    _print_proposal(proposal, json)


@app.command()
def execute(
    ctx: typer.Context, proposal_id: ProposalArgument, as_wallet: AsOption = None, json: JsonFlag = False
) -> None:
    """Make a ready proposal's calls, once its delay has passed (any node may)."""
    with open_node(ctx) as node:
        proposal = node.governance.execute(proposal_id, by=_acting(node, as_wallet))
    _print_proposal(proposal, json)


@app.command()
def cancel(
    ctx: typer.Context, proposal_id: ProposalArgument, as_wallet: AsOption = None, json: JsonFlag = False
) -> None:
    """Withdraw a proposal this node made, until it is executed."""
    with open_node(ctx) as node:
        proposal = node.governance.cancel(proposal_id, by=_acting(node, as_wallet))
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
    for words in done.kept:
        console.print(f"kept: {words}", markup=False)
    _print_council(done.council, me)


def _propose(ctx: typer.Context, build: _Builder, reason: str, as_wallet: str | None, json: bool) -> None:
    """Propose what `build` makes of `careledger.governance` and the node (addresses resolved there), for the
    node or its governance officer (`--as`), and print the proposal."""
    import careledger.governance as governance

    with open_node(ctx) as node:
        by = _acting(node, as_wallet)
        proposal = node.governance.propose(build(governance, node), reason, by=by)
    _print_proposal(proposal, json)
    if not json:
        console.print(f"members vote with `careledger governance vote {proposal.proposal_id}`", markup=False)


@dataclass(frozen=True, slots=True)
class _Argument:
    """What a `governance propose` command takes: how it is shown, and what it is made into on the node."""

    metavar: str
    help: str
    parse: Callable[[Any, Operations, str], Any]  # (careledger.governance, the node, the text) -> the value


@dataclass(frozen=True, slots=True)
class _Proposal:
    """One `governance propose` command: its name, its help, its argument (or none), the action it proposes."""

    name: str
    help: str
    action: Callable[[Any, Any], Action]  # (careledger.governance, the parsed argument) -> the action
    argument: _Argument | None = None


def _votes(text: str) -> int:
    if not text.strip().isdigit():
        raise ValidationError(f"a threshold is a number of votes, not {text[:40]!r}")
    return int(text)


_NODE = _Argument("NODE", "The node's address (or a wallet name here).", lambda _g, node, text: address_of(node, text))
_ADDRESS = _Argument("ADDRESS", "An address (or a wallet name here).", lambda _g, node, text: address_of(node, text))
_VOTES = _Argument("K", "Votes a proposal needs: 1 to the members.", lambda _g, _node, text: _votes(text))


def _duration(bounds: str) -> _Argument:
    return _Argument("DURATION", f"Seconds, or {bounds}.", lambda g, _node, text: g.parse_duration(text))


# The decisions `governance propose` offers, one command each (`grant-minter`, which takes a cap, is its own).
# `careledger.governance` is imported only when a command runs: it loads web3.
_PROPOSALS = (
    _Proposal(
        "admit",
        "Admit a node that registered its organisation: it may register its patients and anchor.",
        lambda g, node: g.AdmitNode(node),
        _NODE,
    ),
    _Proposal(
        "remove",
        "Remove a node: its roles revoked, its organisation deactivated (its requests and credentials stop).",
        lambda g, node: g.RemoveNode(node),
        _NODE,
    ),
    _Proposal(
        "appoint-issuer",
        "Let a licensing board, a regulator or another body attest credentials.",
        lambda g, issuer: g.AppointIssuer(issuer),
        _ADDRESS,
    ),
    _Proposal(
        "remove-issuer",
        "End an issuer's appointment: the credentials it attested stop being valid.",
        lambda g, issuer: g.AppointIssuer(issuer, appoint=False),
        _ADDRESS,
    ),
    _Proposal(
        "appoint-regulator",
        "Let a medicines regulator admit manufacturers to the supply chain and recall any lot.",
        lambda g, regulator: g.AppointRegulator(regulator),
        _ADDRESS,
    ),
    _Proposal(
        "remove-regulator",
        "End a supply chain regulator's appointment (the manufacturers it admitted stay admitted).",
        lambda g, regulator: g.AppointRegulator(regulator, appoint=False),
        _ADDRESS,
    ),
    _Proposal("pause", "Stop every state-changing function of Claims in an emergency.", lambda g, _: g.Pause()),
    _Proposal("unpause", "Resume Claims after a pause.", lambda g, _: g.Pause(pause=False)),
    _Proposal("revoke-minter", "End an account's minting.", lambda g, minter: g.SetMinter(minter, 0), _ADDRESS),
    _Proposal(
        "add-member",
        "Seat a member on the council (open proposals must then be proposed again).",
        lambda g, member: g.SetMember(member),
        _ADDRESS,
    ),
    _Proposal(
        "remove-member",
        "Unseat a member (at least the threshold must stay seated: lower it first).",
        lambda g, member: g.SetMember(member, add=False),
        _ADDRESS,
    ),
    _Proposal(
        "threshold",
        "Change how many members' votes a proposal needs.",
        lambda g, votes: g.SetThreshold(votes),
        _VOTES,
    ),
    _Proposal(
        "delay",
        "Change how long a passed proposal waits before it may be executed.",
        lambda g, seconds: g.SetDelay(seconds),
        _duration("2h, 2d (at most 30d)"),
    ),
    _Proposal(
        "voting-period",
        "Change how long a proposal may gather votes.",
        lambda g, seconds: g.SetVotingPeriod(seconds),
        _duration("7d (an hour to a year)"),
    ),
)


def _command(kind: _Proposal) -> Callable[..., None]:
    """The `governance propose` command of one row of `_PROPOSALS`."""
    argument = kind.argument
    if argument is None:

        def bare(ctx: typer.Context, reason: ReasonOption, as_wallet: AsOption = None, json: JsonFlag = False) -> None:
            _propose(ctx, lambda g, _node: kind.action(g, None), reason, as_wallet, json)

        return bare
    taken = typer.Argument(metavar=argument.metavar, help=argument.help, show_default=False)

    def with_argument(
        ctx: typer.Context,
        reason: ReasonOption,
        value: str = taken,
        as_wallet: AsOption = None,
        json: JsonFlag = False,
    ) -> None:
        _propose(ctx, lambda g, node: kind.action(g, argument.parse(g, node, value)), reason, as_wallet, json)

    return with_argument


for _kind in _PROPOSALS:
    propose_app.command(_kind.name, help=_kind.help)(_command(_kind))


@propose_app.command("grant-minter")
def propose_grant_minter(
    ctx: typer.Context,
    minter: AddressArgument,
    cap: Annotated[str, typer.Option("--cap", help="How much more it may mint, in whole CARE (e.g. 1000).")],
    reason: ReasonOption,
    as_wallet: AsOption = None,
    json: JsonFlag = False,
) -> None:
    """Let an account mint CARE up to a cap (it replaces the account's current cap)."""
    from careledger.claims import to_units

    units = to_units(cap, 18)
    if units == 0:
        raise ValidationError("a cap of 0 mints nothing: `propose revoke-minter` ends an account's minting")
    _propose(ctx, lambda g, node: g.SetMinter(address_of(node, minter), units), reason, as_wallet, json)


def _acting(node: Operations, as_wallet: str | None) -> str | None:
    """Who acts for the node: `--as` a wallet kept here, unlocked (she proves she is at the keyboard), whom the
    governance service then judges; None for the node itself."""
    if as_wallet is None:
        return None
    wallet = wallet_of(node, as_wallet)
    node.unlock(wallet.name)
    return wallet.address


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
