"""`careledger trial ...`: clinical trials (issue 42; DESIGN.md section 14) from a script.

The sponsor (a researcher's wallet kept here, `--as`) registers a trial from its definition file, amends it, adds
and removes sites, tops up its escrow, commits the randomisation seed, randomises, unblinds and then takes back what
the escrow holds beyond what is owed; an ethics board (`--as`) approves each version; anyone reads a trial, its
payments and its enrolment forecast. A site's staff enrol, consent, withdraw and see visits, enter and correct CRFs
and report adverse events (`careledger.cli._trial_site`). Every command takes `--json`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from careledger.cli._context import address_of, open_node, wallet_of
from careledger.cli._options import JsonFlag, QuietFlag
from careledger.cli._output import console, print_id, print_json, progress
from careledger.cli._trial_site import TrialArgument
from careledger.cli._trial_site import app as site_app
from careledger.cli._trial_view import (
    day,
    print_forecast,
    print_payments,
    print_reports,
    print_summary,
    print_trial,
    print_trials,
    print_unblinding,
    say,
)
from careledger.errors import ValidationError

if TYPE_CHECKING:
    from careledger.trials import TrialProtocol, TrialSummary

app = typer.Typer(
    help="Clinical trials: register, approve, amend, seed, enrol, randomise, CRFs, payments, escrow, forecast,"
    " unblind.",
    no_args_is_help=True,
)
app.add_typer(site_app)  # the site's commands, beside these

DefinitionArgument = Annotated[
    Path, typer.Argument(metavar="FILE", help="The trial definition (JSON; see docs/trials.md).")
]
SponsorOption = Annotated[str, typer.Option("--as", help="The sponsor's wallet (a researcher) kept here.")]


@app.command()
def register(
    ctx: typer.Context,
    file: DefinitionArgument,
    sponsor: SponsorOption,
    json: JsonFlag = False,
    quiet: QuietFlag = False,
) -> None:
    """Register a trial from its definition file as its sponsor: the protocol's and consent document's hashes on
    chain, the budget escrowed from the sponsor's CARE; version 1 waits for an ethics board's approval."""
    protocol = _definition(file)
    with open_node(ctx) as node:
        trial = node.trial_registry.register(wallet_of(node, sponsor).name, protocol)
    _done(trial, json, quiet, "registered")


@app.command()
def adopt(ctx: typer.Context, trial_id: TrialArgument, file: DefinitionArgument, json: JsonFlag = False) -> None:
    """Keep a trial's definition document brought by hand (the exact bytes registered: its keccak256 must be the
    protocol hash of one of the trial's versions on chain, so nobody need be trusted for it): for a site whose
    sponsor's node cannot be reached, or a sponsor's node that lost it."""
    try:
        document = file.read_bytes()
    except OSError as exc:
        raise ValidationError(f"{file}: cannot be read ({exc.strerror})") from None
    with open_node(ctx) as node:
        version = node.trial_registry.adopt(trial_id, document)
    if json:
        print_json({"trial": trial_id, "version": version})
    else:
        console.print(f"trial {trial_id}: version {version}'s definition kept", markup=False)


@app.command()
def approve(
    ctx: typer.Context,
    trial_id: TrialArgument,
    board: Annotated[str, typer.Option("--as", help="The ethics board's wallet kept here (not the sponsor).")],
    version: Annotated[int | None, typer.Option("--version", help="The version [default: the pending one].", min=1)] = (
        None
    ),
    json: JsonFlag = False,
) -> None:
    """Approve a trial's pending version as an ethics board (an actor with a research-ethics-approval credential):
    it becomes the current version, which participants consent to. The definition is fetched from the sponsor's
    node first when this node holds none; a warning says when it could not be."""
    with open_node(ctx) as node:
        trial = node.trial_registry.approve(wallet_of(node, board).name, trial_id, version)
    _done(trial, json, False, "approved")
    if trial.title is None:  # the sponsor's node could not be reached and nothing was adopted here
        progress.print(
            f"warning: approved without its definition: this node holds none (read it: `trial adopt {trial_id} FILE`)",
            markup=False,
            soft_wrap=True,
        )


@app.command()
def amend(
    ctx: typer.Context,
    trial_id: TrialArgument,
    file: DefinitionArgument,
    sponsor: SponsorOption,
    reconsent: Annotated[
        bool, typer.Option("--reconsent", help="Participants must sign the new consent before their next visit.")
    ] = False,
    json: JsonFlag = False,
) -> None:
    """Amend a trial as its sponsor: the amended definition becomes a new version, pending an ethics board's
    approval (arms, visits, target and fees stay as the chain holds them)."""
    protocol = _definition(file)
    with open_node(ctx) as node:
        trial = node.trial_registry.amend(wallet_of(node, sponsor).name, trial_id, protocol, reconsent=reconsent)
    _done(trial, json, False, "amended")


SiteArgument = Annotated[
    str, typer.Argument(metavar="ADDRESS", help="The site node's address (or a wallet name here).")
]


@app.command("add-site")
def add_site(
    ctx: typer.Context,
    trial_id: TrialArgument,
    site: SiteArgument,
    sponsor: SponsorOption,
    json: JsonFlag = False,
) -> None:
    """Add a site (an organisation's node) to a trial, as its sponsor."""
    with open_node(ctx) as node:
        trial = node.trial_registry.add_site(wallet_of(node, sponsor).name, trial_id, address_of(node, site))
    _done(trial, json, False, "site added to")


@app.command("remove-site")
def remove_site(
    ctx: typer.Context,
    trial_id: TrialArgument,
    site: SiteArgument,
    sponsor: SponsorOption,
    json: JsonFlag = False,
) -> None:
    """Stop a site enrolling, as the trial's sponsor (a site its monitors no longer trust, or one that closed): the
    participants it enrolled stay its own, and their visits are paid as before."""
    with open_node(ctx) as node:
        trial = node.trial_registry.remove_site(wallet_of(node, sponsor).name, trial_id, address_of(node, site))
    _done(trial, json, False, "site removed from")


@app.command("top-up")
def top_up(
    ctx: typer.Context,
    trial_id: TrialArgument,
    amount: Annotated[str, typer.Option("--amount", help='CARE to add to the trial\'s escrow ("12.5").')],
    funder: Annotated[str, typer.Option("--as", help="The wallet kept here that pays (the sponsor, or anyone).")],
    json: JsonFlag = False,
) -> None:
    """Add CARE to a running trial's escrow, so that it holds more participants' visits (an enrolment it cannot
    hold is refused: `trials: escrow short`); prints the trial after it."""
    units = _care(amount, "--amount")
    with open_node(ctx) as node:
        trial = node.trial_registry.top_up(wallet_of(node, funder).name, trial_id, units)
    _done(trial, json, False, "topped up")


@app.command("return-escrow")
def return_escrow(ctx: typer.Context, trial_id: TrialArgument, sponsor: SponsorOption, json: JsonFlag = False) -> None:
    """Take back, as the sponsor after unblinding, what the escrow holds beyond what the visits still ahead may cost
    (those stay covered); prints the amount returned. Before unblinding, or with nothing left to return: exit 6."""
    from careledger.research import care

    with open_node(ctx) as node:
        returned = node.trial_registry.return_escrow(wallet_of(node, sponsor).name, trial_id)
        trial = node.trial_registry.show(trial_id)
    if json:
        print_json({"trial": trial_id, "returned": care(returned), "escrow_left": care(trial.escrow)})
    else:
        kept = f"it keeps {care(trial.escrow)} CARE for the visits ahead"
        say(f"returned {care(returned)} CARE of trial {trial_id}'s escrow to {trial.sponsor}; {kept}")


@app.command("commit-seed")
def commit_seed(ctx: typer.Context, trial_id: TrialArgument, sponsor: SponsorOption, json: JsonFlag = False) -> None:
    """Draw the trial's randomisation seed, keep it sealed on this node and commit its hash on chain, as the sponsor:
    once, before the first enrolment; it is revealed at unblinding so that anyone can check every allocation."""
    with open_node(ctx) as node:
        trial = node.trial_registry.commit_seed(wallet_of(node, sponsor).name, trial_id)
    _done(trial, json, False, "seed committed for")


@app.command("list")
def list_(ctx: typer.Context, json: JsonFlag = False) -> None:
    """Every trial registered on the chain, the newest first: title, sponsor, enrolment, version, escrow, status."""
    with open_node(ctx) as node:
        trials = node.trial_registry.all()
    if json:
        print_json([trial.to_json() for trial in trials])
    else:
        print_trials(trials)


@app.command()
def show(ctx: typer.Context, trial_id: TrialArgument, json: JsonFlag = False) -> None:
    """One trial: its terms, escrow, enrolment, each protocol version (hashes, approval) and its sites."""
    with open_node(ctx) as node:
        trial = node.trial_registry.show(trial_id)
    if json:
        print_json(trial.to_json())
    else:
        print_trial(trial)


@app.command()
def randomise(ctx: typer.Context, trial_id: TrialArgument, sponsor: SponsorOption, json: JsonFlag = False) -> None:
    """Allocate every participant enrolled and not allocated yet, as the sponsor (it holds the seed): each arm goes
    on chain as a commitment, blind until unblinding. Refused before the seed is committed."""
    with open_node(ctx) as node:
        allocated = node.trial_registry.randomise(wallet_of(node, sponsor).name, trial_id)
    if json:
        print_json({"trial": trial_id, "allocated": allocated})
    else:
        say(f"allocated {allocated} participant{'' if allocated == 1 else 's'} of trial {trial_id} (blinded)")


@app.command()
def unblind(ctx: typer.Context, trial_id: TrialArgument, sponsor: SponsorOption, json: JsonFlag = False) -> None:
    """Unblind a trial as its sponsor: the seed revealed on chain (enrolment ends), and every participant's arm,
    each checked against its commitment; anyone can recompute them (scripts/trial_allocations.py)."""
    with open_node(ctx) as node:
        done = node.trial_registry.unblind(wallet_of(node, sponsor).name, trial_id)
    if json:
        print_json(done.to_json())
    else:
        print_unblinding(done)


@app.command()
def payments(ctx: typer.Context, trial_id: TrialArgument, json: JsonFlag = False) -> None:
    """What the trial's escrow paid (site fees per site, stipends per participant id, each visit's payment) and what
    it holds and still owes."""
    with open_node(ctx) as node:
        view = node.trial_registry.payments(trial_id)
    if json:
        print_json(view.to_json())
    else:
        print_payments(view)


@app.command()
def forecast(
    ctx: typer.Context,
    trial_id: TrialArgument,
    deadline: Annotated[
        str | None, typer.Option("--deadline", help="Also say how many sites to add to reach the target by then.")
    ] = None,
    json: JsonFlag = False,
) -> None:
    """When the trial reaches its target: the Poisson-gamma model fitted to each site's enrolment so far, the median
    date and its 90% interval; with --deadline, how many sites to add (opening tomorrow) to reach it by then."""
    by = day(deadline, "--deadline") if deadline is not None else None
    with open_node(ctx) as node:
        view = node.trial_registry.forecast(trial_id, deadline=by)
    if json:
        print_json(view.to_json())
    else:
        print_forecast(view)


@app.command("safety-reports")
def safety_reports(
    ctx: typer.Context,
    trial_id: TrialArgument,
    reader: Annotated[str, typer.Option("--as", help="The sponsor's or an approving ethics board's wallet kept here.")],
    json: JsonFlag = False,
) -> None:
    """The serious adverse events' safety reports this node received for a trial (codes, severity, the participant's
    id on chain, never her name), for its sponsor or an ethics board that approved it."""
    with open_node(ctx) as node:
        reports = node.trial_registry.safety_reports(trial_id, wallet_of(node, reader).address)
    if json:
        print_json(reports)
    else:
        print_reports(reports, trial_id)


def _definition(file: Path) -> TrialProtocol:
    """A trial definition file read and checked before the node is opened; `ValidationError` naming the file and the
    field."""
    from careledger.trials import load_protocol

    try:
        document = file.read_bytes()
    except OSError as exc:
        raise ValidationError(f"{file}: cannot be read ({exc.strerror})") from None
    try:
        return load_protocol(document)
    except ValidationError as exc:
        raise ValidationError(f"{file}: {exc}") from None


def _care(text: str, option: str) -> int:
    """An amount of CARE given as a decimal string ("12.5"), in base units above 0, read before the node is opened;
    `ValidationError` naming the option otherwise."""
    from careledger.research import care_units

    try:
        units = care_units(text)
    except ValidationError as exc:
        raise ValidationError(f"{option}: {exc}") from None
    if units == 0:
        raise ValidationError(f"{option}: more than nothing, not {text!r}")
    return units


def _done(trial: TrialSummary, json: bool, quiet: bool, verb: str) -> None:
    if quiet:
        print_id(trial.trial_id)
    elif json:
        print_json(trial.to_json())
    else:
        print_summary(trial, verb)
