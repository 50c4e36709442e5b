"""`careledger schedule ...`: publish a practitioner's Schedule, open its Slots, find, book, move and cancel visits.

Each command acts as the node itself (its front desk), or as the wallet `--as` names, through that caller's
guarded repository: the access policy decides what each may do, as it does for the API.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import typer

from careledger.access import Accessor, Repository
from careledger.claims import ServiceClass
from careledger.cli._context import acts_as, as_node, local_record_id, open_node
from careledger.cli._options import JsonFlag
from careledger.cli._output import console, print_json
from careledger.records import Resource
from careledger.services import Operations
from careledger.telehealth import MAX_FIND_DAYS, Offer, VisitMode, parse_instant

app = typer.Typer(help="Schedules and visits: publish, open slots, find, book, move, cancel.", no_args_is_help=True)

AsOption = Annotated[
    str | None, typer.Option("--as", help="Act as this wallet (name or address); default: the node, its front desk.")
]
ReasonOption = Annotated[str | None, typer.Option("--reason", help="Why, in a few words (kept on the Appointment).")]


def _door(node: Operations, as_who: str | None) -> Repository:
    """The guarded repository the command acts through: the node's own, or `--as`'s."""
    return node.access.for_caller(as_node(node) if as_who is None else Accessor(acts_as(node, as_who)))


@app.command()
def publish(
    ctx: typer.Context,
    practitioner: Annotated[str, typer.Argument(help="The Practitioner: Practitioner/<id>, or its id.")],
    service: Annotated[str, typer.Option("--service", help="The service class (office-visit, mental-health, …).")],
    mode: Annotated[str, typer.Option("--mode", help="virtual or in-person.")] = "virtual",
    fee: Annotated[int | None, typer.Option("--fee", help="The fee per visit, in CARE units.", min=0)] = None,
    comment: Annotated[str | None, typer.Option("--comment", help="What patients should know.")] = None,
    as_who: AsOption = None,
    json: JsonFlag = False,
) -> None:
    """Publish a practitioner's Schedule: what she offers, in which mode, for what fee."""
    with open_node(ctx) as node:
        offer = Offer(
            local_record_id(node, practitioner), ServiceClass.parse(service), VisitMode.parse(mode), fee, comment
        )
        schedule = node.scheduling.publish(_door(node, as_who), offer)
    if json:
        print_json(schedule)
    else:
        console.print(f"Schedule/{schedule['id']}  {service} {mode}  fee {fee or 0} CARE", markup=False)


@app.command()
def slots(
    ctx: typer.Context,
    schedule: Annotated[str, typer.Argument(help="The Schedule: Schedule/<id>, or its id.")],
    start: Annotated[str, typer.Option("--start", help="The first slot's start (2027-01-04T09:00:00+01:00).")],
    end: Annotated[str, typer.Option("--end", help="When the last slot ends at the latest.")],
    minutes: Annotated[int, typer.Option("--minutes", help="Each slot's length.")] = 30,
    as_who: AsOption = None,
    json: JsonFlag = False,
) -> None:
    """Open free Slots on a Schedule, back to back from --start until --end."""
    begin, until = parse_instant(start, "--start"), parse_instant(end, "--end")
    with open_node(ctx) as node:
        opened = node.scheduling.open_slots(_door(node, as_who), local_record_id(node, schedule), begin, until, minutes)
    if json:
        print_json(opened)
    else:
        console.print(f"opened {len(opened)} slots on Schedule/{schedule}", markup=False)


@app.command()
def find(
    ctx: typer.Context,
    practitioner: Annotated[
        str | None, typer.Option("--practitioner", help="The Practitioner: Practitioner/<id>, or its id.")
    ] = None,
    service: Annotated[str | None, typer.Option("--service", help="The service class.")] = None,
    mode: Annotated[str | None, typer.Option("--mode", help="virtual or in-person.")] = None,
    start: Annotated[str | None, typer.Option("--start", help="From (default: now).")] = None,
    days: Annotated[int, typer.Option("--days", help="How many days on from --start.", min=1, max=MAX_FIND_DAYS)] = 14,
    limit: Annotated[int, typer.Option("--limit", help="At most this many.", min=1, max=200)] = 20,
    as_who: AsOption = None,
    json: JsonFlag = False,
) -> None:
    """The open slots, soonest first."""
    with open_node(ctx) as node:
        begin = parse_instant(start, "--start") if start else node.scheduling.now()
        found = node.scheduling.find(
            _door(node, as_who),
            begin,
            begin + timedelta(days=days),
            practitioner=local_record_id(node, practitioner) if practitioner else None,
            service_type=service,
            mode=mode,
            limit=limit,
        )
    if json:
        print_json([{"slot": o.slot, "schedule": o.schedule["id"], "fee": o.fee} for o in found])
        return
    for opening in found:
        slot = opening.slot
        console.print(f"Slot/{slot['id']}  {slot['start']} to {slot['end']}  fee {opening.fee or 0} CARE", markup=False)


@app.command()
def book(
    ctx: typer.Context,
    slot: Annotated[str, typer.Argument(help="The Slot: Slot/<id>, or its id.")],
    patient: Annotated[str, typer.Option("--patient", help="The Patient: Patient/<id>, or its id.")],
    reason: ReasonOption = None,
    as_who: AsOption = None,
    json: JsonFlag = False,
) -> None:
    """Book a slot for a patient, with no signatures: only a visit she pays nothing for (`careledger visit book`
    books the others); exit code 6, conflict, if another booking holds it."""
    with open_node(ctx) as node:
        slot_id, patient_id = local_record_id(node, slot), local_record_id(node, patient)
        appointment = node.visits.book_free(_door(node, as_who), slot_id, patient_id, reason=reason)
    _show(appointment, json)


@app.command()
def reschedule(
    ctx: typer.Context,
    appointment: Annotated[str, typer.Argument(help="The Appointment's id.")],
    slot: Annotated[str, typer.Argument(help="The free Slot to move it to.")],
    as_who: AsOption = None,
    json: JsonFlag = False,
) -> None:
    """Move a visit to another slot of the same practitioner and service (nothing moves if that slot is taken; a
    paid visit is cancelled and booked again instead)."""
    with open_node(ctx) as node:
        moved = node.visits.reschedule(_door(node, as_who), appointment, slot.removeprefix("Slot/"))
    _show(moved, json)


@app.command()
def cancel(
    ctx: typer.Context,
    appointment: Annotated[str, typer.Argument(help="The Appointment's id.")],
    reason: ReasonOption = None,
    as_who: AsOption = None,
    json: JsonFlag = False,
) -> None:
    """Cancel a visit: its slot is free again, and its fee, if one is held, refunded."""
    with open_node(ctx) as node:
        cancelled, _refund = node.visits.cancel(_door(node, as_who), appointment, reason)
    _show(cancelled, json)


@app.command()
def upcoming(
    ctx: typer.Context,
    participant: Annotated[str, typer.Argument(help="Patient/<id> or Practitioner/<id>.")],
    hours: Annotated[int, typer.Option("--hours", help="How far ahead.", min=1)] = 48,
    as_who: AsOption = None,
    json: JsonFlag = False,
) -> None:
    """The visits of a patient or practitioner in the next --hours (what a reminder lists)."""
    with open_node(ctx) as node:
        visits = node.scheduling.upcoming(_door(node, as_who), participant, timedelta(hours=hours))
    if json:
        print_json(visits)
        return
    for visit in visits:
        _show(visit, False)


def _show(appointment: Resource, json: bool) -> None:
    if json:
        print_json(appointment)
    else:
        when = f"{appointment.get('start', '?')} to {appointment.get('end', '?')}"
        console.print(f"Appointment/{appointment['id']}  {appointment['status']}  {when}", markup=False)
