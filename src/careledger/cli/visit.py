"""`careledger visit ...`: a telehealth visit from a script: its quote, booking it in one flow, joining, finishing,
cancelling, recording a no-show.

`book` signs for the patient with her wallet kept here (or `--signer`'s): the visit's consent and, when she pays, the
escrow's permit and terms, as her own wallet would over the API (`POST /Appointment/$prepare-book`, then `$book`).
Each command acts through the guarded repository of the node or of `--as`: the access policy decides, as it does for
the API.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from careledger.cli._context import local_record_id, open_node, signer_for
from careledger.cli._options import JsonFlag
from careledger.cli._output import console, print_json
from careledger.cli.schedule import AsOption, ReasonOption, _door
from careledger.consent import parse_categories
from careledger.telehealth import VisitPayment, VisitQuote

app = typer.Typer(help="Telehealth visits: quote, book (consent and fee in one flow), join, finish, cancel, no-show.")

PatientOption = Annotated[str, typer.Option("--patient", help="The Patient: Patient/<id>, or its id.")]
AppointmentArgument = Annotated[str, typer.Argument(help="The Appointment: Appointment/<id>, or its id.")]
SlotArgument = Annotated[str, typer.Argument(help="The Slot: Slot/<id>, or its id.")]


@app.command()
def quote(
    ctx: typer.Context,
    slot: SlotArgument,
    patient: PatientOption,
    as_who: AsOption = None,
    json: JsonFlag = False,
) -> None:
    """What a visit in a slot costs the patient: covered or not, copay, deductible left, what she pays."""
    with open_node(ctx) as node:
        found = node.visits.quote(_door(node, as_who), local_record_id(node, patient), local_record_id(node, slot))
    if json:
        print_json(found.summary())
    else:
        _print_quote(found)


@app.command()
def book(
    ctx: typer.Context,
    slot: SlotArgument,
    patient: PatientOption,
    categories: Annotated[
        str, typer.Option("--categories", help="What the practitioner may read (labs,vitals or all).")
    ],
    grantee: Annotated[str, typer.Option("--grantee", help="Whom the consent names: practitioner or node.")] = (
        "practitioner"
    ),
    signer: Annotated[str | None, typer.Option("--signer", help="The wallet that signs (default: hers).")] = None,
    reason: ReasonOption = None,
    as_who: AsOption = None,
    json: JsonFlag = False,
) -> None:
    """Book a slot in one flow: the quote, her consent for the visit, its fee held in escrow, the slot taken; a
    step that fails undoes the others (exit code 6 if the slot is taken)."""
    if grantee not in ("practitioner", "node"):
        raise typer.BadParameter("practitioner or node", param_hint="--grantee")
    picked = parse_categories(categories)
    with open_node(ctx) as node:
        door, patient = _door(node, as_who), local_record_id(node, patient)
        offer = node.visits.prepare_book(
            door,
            local_record_id(node, slot),
            patient,
            picked,
            grantee="node" if grantee == "node" else "practitioner",
            reason=reason,
        )
        wallet = signer_for(node, door.stored(patient).patient_address, signer)
        booked = node.visits.book(
            door, offer.appointment["id"], node.visits.sign(offer, node.unlock(wallet.name).account)
        )
    summary = {"appointment": booked.appointment, "quote": booked.quote.summary(), "consent": booked.grant.hex_id}
    if json:
        print_json({**summary, "payment": _payment(booked.payment)})
        return
    _print_quote(booked.quote)
    console.print(f"Appointment/{booked.appointment['id']}  booked  consent {booked.grant.hex_id}", markup=False)


@app.command()
def join(ctx: typer.Context, appointment: AppointmentArgument, as_who: AsOption = None, json: JsonFlag = False) -> None:
    """Begin the visit's Encounter (virtual, in progress) as its practitioner (`--as`)."""
    with open_node(ctx) as node:
        encounter = node.visits.join(_door(node, as_who), local_record_id(node, appointment))
    if json:
        print_json(encounter)
    else:
        console.print(f"Encounter/{encounter['id']}  {encounter['status']}", markup=False)


@app.command()
def finish(
    ctx: typer.Context, appointment: AppointmentArgument, as_who: AsOption = None, json: JsonFlag = False
) -> None:
    """Finish the visit's Encounter as its practitioner (`--as`), and release its fee to the provider."""
    with open_node(ctx) as node:
        encounter, payment = node.visits.finish(_door(node, as_who), local_record_id(node, appointment))
    if json:
        print_json({"encounter": encounter, "payment": _payment(payment)})
    else:
        released = f"  fee {payment.state} ({payment.to_payee} base units)" if payment else ""
        console.print(f"Encounter/{encounter['id']}  {encounter['status']}{released}", markup=False)


@app.command()
def cancel(
    ctx: typer.Context,
    appointment: AppointmentArgument,
    reason: ReasonOption = None,
    as_who: AsOption = None,
    json: JsonFlag = False,
) -> None:
    """Cancel a visit: the slot freed, its whole fee refunded to the patient."""
    with open_node(ctx) as node:
        cancelled, payment = node.visits.cancel(_door(node, as_who), local_record_id(node, appointment), reason)
    if json:
        print_json({"appointment": cancelled, "payment": _payment(payment)})
    else:
        refunded = f"  fee {payment.state} ({payment.to_patient} base units)" if payment else ""
        console.print(f"Appointment/{cancelled['id']}  {cancelled['status']}{refunded}", markup=False)


@app.command("no-show")
def no_show(
    ctx: typer.Context, appointment: AppointmentArgument, as_who: AsOption = None, json: JsonFlag = False
) -> None:
    """Record, as the visit's practitioner (`--as`) and after its slot, that the patient did not come: the Appointment
    `noshow`, the published share of the fee to the provider and the rest refunded (exit code 6 before the end)."""
    with open_node(ctx) as node:
        missed, payment = node.visits.no_show(_door(node, as_who), local_record_id(node, appointment))
    if json:
        print_json({"appointment": missed, "payment": _payment(payment)})
    else:
        split = f"  fee {payment.to_payee} to the provider, {payment.to_patient} back (base units)" if payment else ""
        console.print(f"Appointment/{missed['id']}  {missed['status']}{split}", markup=False)


def _print_quote(found: VisitQuote) -> None:
    console.print(f"{'covered' if found.covered else 'not covered'}: {found.why}", markup=False)
    console.print(
        f"fee {found.fee}  copay {found.copay}  deductible left {found.deductible_left}  "
        f"she pays {found.patient_pays} (base units)",
        markup=False,
    )


def _payment(payment: VisitPayment | None) -> dict[str, Any] | None:
    if payment is None:
        return None
    return {
        "state": payment.state,
        "amount": payment.amount,
        "to_payee": payment.to_payee,
        "to_patient": payment.to_patient,
        "visit_id": payment.visit_id,
    }
