"""`careledger study ...`: register, top up, approve, join, leave, release, query, mine and show research studies."""

from __future__ import annotations

from datetime import UTC, date, datetime
from json import dumps
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from careledger.cli._context import acts_as, open_node, signer_for, wallet_of
from careledger.cli._options import JsonFlag, QuietFlag
from careledger.cli._output import console, print_id, print_json
from careledger.consent import parse_categories
from careledger.errors import ValidationError
from careledger.files import write_atomically
from careledger.research import (
    KINDS,
    AggregateQuery,
    StudyState,
    care,
    care_units,
    enrolment_view,
    protocol_hash,
    study_view,
)
from careledger.research import NodeRelease as Delivered

app = typer.Typer(help="Research studies: register, top up, approve, join, leave, release, query, mine, show.")

StudyArgument = Annotated[int, typer.Argument(help="The study's id.", min=1)]
SponsorOption = Annotated[str, typer.Option("--as", help="The sponsor's wallet (a researcher) kept here.")]
PatientOption = Annotated[str, typer.Option("--patient", help="The patient's wallet name or address.")]
SignerOption = Annotated[
    str | None, typer.Option("--as", help="The wallet that signs [default: the patient's, or her custodian's].")
]


@app.command()
def create(
    ctx: typer.Context,
    sponsor: SponsorOption,
    protocol: Annotated[Path, typer.Option("--protocol", help="The protocol document: its hash goes on chain.")],
    categories: Annotated[str, typer.Option("--categories", help="Comma-separated: labs,vitals,…")],
    data_from: Annotated[str, typer.Option("--data-from", help="First day of the data asked for (YYYY-MM-DD).")],
    data_to: Annotated[str, typer.Option("--data-to", help="Last day of the data asked for (YYYY-MM-DD).")],
    reward: Annotated[str, typer.Option("--reward", help="CARE paid to each participant, once.")],
    budget: Annotated[str, typer.Option("--budget", help="CARE escrowed for the rewards.")],
    days: Annotated[float, typer.Option("--days", help="How long enrolment and releases run.", min=0.01)] = 180,
    epsilon: Annotated[
        float, typer.Option("--epsilon", help="Each node's privacy budget for aggregates.", min=0.001)
    ] = 1.0,
    json: JsonFlag = False,
    quiet: QuietFlag = False,
) -> None:
    """Register a study and escrow its budget from the sponsor's CARE; prints its id."""
    try:
        document = protocol.read_bytes()
    except OSError as exc:
        raise ValidationError(f"cannot read the protocol {protocol}: {exc.strerror}") from None
    with open_node(ctx) as node:
        terms = node.studies.terms(
            protocol_hash(document),
            categories=parse_categories(categories),
            data_from=_timestamp(data_from),
            data_to=_timestamp(data_to) + 86_399,
            days=days,
            epsilon=epsilon,
            reward=care_units(reward),
            budget=care_units(budget),
        )
        study = node.studies.create(wallet_of(node, sponsor).name, terms)
    _show(study, json, quiet, "registered")


@app.command("top-up")
def top_up(
    ctx: typer.Context,
    study_id: StudyArgument,
    funder: Annotated[str, typer.Option("--as", help="The wallet kept here that pays (the sponsor, or anyone).")],
    amount: Annotated[str, typer.Option("--amount", help="CARE to add to the study's escrow.")],
    json: JsonFlag = False,
    quiet: QuietFlag = False,
) -> None:
    """Add CARE to a running study's escrow, so that it pays more participants; prints the study after it."""
    units = care_units(amount)
    with open_node(ctx) as node:
        study = node.studies.top_up(wallet_of(node, funder).name, study_id, units)
    _show(study, json, quiet, "topped up")


@app.command()
def approve(
    ctx: typer.Context,
    study_id: StudyArgument,
    board: Annotated[str, typer.Option("--as", help="The ethics board's wallet kept here.")],
    json: JsonFlag = False,
) -> None:
    """Approve a study as an ethics board (an actor with a research-ethics-approval credential)."""
    with open_node(ctx) as node:
        study = node.studies.approve(wallet_of(node, board).name, study_id)
    _show(study, json, False, "approved")


@app.command()
def join(
    ctx: typer.Context,
    study_id: StudyArgument,
    patient: PatientOption,
    as_wallet: SignerOption = None,
    json: JsonFlag = False,
) -> None:
    """Join a study for a patient: her research consent (HRESCH) to the sponsor, then her opt-in, both signed."""
    with open_node(ctx) as node:
        signer = signer_for(node, patient, as_wallet)
        study, grant = node.studies.join(signer.name, study_id, acts_as(node, patient))
    if json:
        print_json({"study": study_view(study), "consent": grant.hex_id})
    else:
        console.print(f"joined study {study_id}; research consent {grant.hex_id} to {study.sponsor}", markup=False)


@app.command()
def leave(
    ctx: typer.Context,
    study_id: StudyArgument,
    patient: PatientOption,
    as_wallet: SignerOption = None,
    json: JsonFlag = False,
) -> None:
    """Leave a study: nothing more of hers is released to it (what was released stays released)."""
    with open_node(ctx) as node:
        signer = signer_for(node, patient, as_wallet)
        study = node.studies.leave(signer.name, study_id, acts_as(node, patient))
    _show(study, json, False, "left")


@app.command()
def release(
    ctx: typer.Context,
    study_id: StudyArgument,
    sponsor: SponsorOption,
    out: Annotated[Path, typer.Option("--out", help="Directory for each node's NDJSON and release report.")],
    json: JsonFlag = False,
) -> None:
    """Gather the study's de-identified datasets from every node, each checked against its root on chain."""
    with open_node(ctx) as node, console.status("asking every node for its release…"):
        delivered = node.studies.gather_release(wallet_of(node, sponsor).name, study_id)
    for item in delivered:  # the dataset and its release report (what was suppressed), per node
        if item.ndjson:
            write_atomically(out / f"{item.custodian}.ndjson", item.ndjson)
            write_atomically(out / f"{item.custodian}.report.json", dumps(item.report, indent=2).encode())
    if json:
        print_json([_delivered_json(item) for item in delivered])
        return
    table = Table("node", "records", "root", "suppressed", "problem")
    for item in delivered:
        suppressed = item.report.get("patients_suppressed", 0)
        table.add_row(item.custodian, str(item.records), item.root or "-", str(suppressed), item.problem or "")
    console.print(table)


@app.command()
def query(
    ctx: typer.Context,
    study_id: StudyArgument,
    sponsor: SponsorOption,
    kind: Annotated[str, typer.Option("--kind", help=f"One of {', '.join(KINDS)}.")] = "count",
    epsilon: Annotated[float, typer.Option("--epsilon", help="What this query spends of each node's budget.")] = 0.1,
    code: Annotated[str | None, typer.Option("--code", help="An Observation code, system|code.")] = None,
    bounds: Annotated[str | None, typer.Option("--bounds", help="low,high: values are clamped to these.")] = None,
    bins: Annotated[int, typer.Option("--bins", help="Histogram bins.")] = 10,
    json: JsonFlag = False,
) -> None:
    """A differentially private count, mean or histogram over every node's participants."""
    limits = _bounds(bounds)
    aggregate = AggregateQuery(kind, epsilon, code, limits, bins)  # type: ignore[arg-type]
    with open_node(ctx) as node, console.status("asking every node for its noised part…"):
        answer = node.studies.gather_query(wallet_of(node, sponsor).name, study_id, aggregate)
    if json:
        print_json(answer)
        return
    console.print(f"{kind} over study {study_id} (epsilon {epsilon} per node): {answer['result']}", markup=False)
    for part in answer["nodes"]:
        note = part["problem"] or f"epsilon left {part['epsilon_left']}"
        console.print(f"  {part['custodian']}: {note}", markup=False)


@app.command()
def mine(ctx: typer.Context, patient: PatientOption, json: JsonFlag = False) -> None:
    """The studies a patient joined: what this node released to each, when, to whom, and what she earned."""
    with open_node(ctx) as node:
        who = acts_as(node, patient)
        enrolments = node.studies.mine(who)
        held = node.studies.held(who)
    if json:
        print_json({"studies": [enrolment_view(e) for e in enrolments], "held": care(held)})
        return
    if not enrolments:
        console.print("no studies joined")
    for view in map(enrolment_view, enrolments):
        status = f"left {view['left_at']}" if view["left_at"] else "taking part"
        earned = f"earned {view['earned']} CARE" if view["earned"] != "0" else "no reward yet"
        console.print(f"study {view['study']} by {view['sponsor']}: joined {view['joined_at']}, {status}, {earned}")
        for release in view["releases"]:
            console.print(f"  released {release['records']} records on {release['at'][:16]} to {release['to']}")
    if held:
        console.print(f"{care(held)} CARE held for you until you claim your identity")


@app.command()
def show(
    ctx: typer.Context, study_id: Annotated[int | None, typer.Argument(min=1)] = None, json: JsonFlag = False
) -> None:
    """One study, or (with no id) every study."""
    with open_node(ctx) as node:
        studies = [node.studies.show(study_id)] if study_id else node.studies.all()
    if json:
        print_json(study_view(studies[0]) if study_id else [study_view(s) for s in studies])
        return
    for study in studies:
        _show(study, False, False, "study")


def _show(study: StudyState, json: bool, quiet: bool, verb: str) -> None:
    if quiet:
        print_id(study.study_id)
    elif json:
        print_json(study_view(study))
    else:
        data = study_view(study)
        approval = f"approved by {study.approved_by}" if study.approved_by else "awaiting ethics approval"
        console.print(
            f"{verb} {study.study_id}: {', '.join(data['categories'])} from {data['data_from']} to {data['data_to']}, "
            f"{data['reward']} CARE each ({data['escrow']} of {data['budget']} left), "
            f"{study.participants} taking part, room for {study.places} more, {approval}, ends {data['ends']}",
            markup=False,
        )


def _delivered_json(item: Delivered) -> dict[str, Any]:
    return {
        "custodian": item.custodian,
        "records": item.records,
        "root": item.root,
        "report": item.report,
        "problem": item.problem,
    }


def _bounds(text: str | None) -> tuple[float, float] | None:
    if text is None:
        return None
    try:
        low, high = (float(part) for part in text.split(","))
    except ValueError:
        raise ValidationError("--bounds is two numbers: low,high") from None
    return (low, high)


def _timestamp(day: str) -> int:
    try:
        return int(datetime.combine(date.fromisoformat(day), datetime.min.time(), UTC).timestamp())
    except ValueError:
        raise ValidationError(f"not a date (YYYY-MM-DD): {day!r}") from None
