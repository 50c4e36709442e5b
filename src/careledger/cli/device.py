"""`careledger device ...`: register wearables, bind them to patients, and simulate their readings."""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Annotated

import typer

from careledger.cli._context import acts_as, open_node, passphrase_source, signer_for
from careledger.cli._options import JsonFlag
from careledger.cli._output import console, print_json, progress
from careledger.consent import Purpose
from careledger.errors import CareLedgerError, ValidationError
from careledger.iot import DeviceInfo, Episode, Wearable, frames, publish
from careledger.records import Category

app = typer.Typer(help="Wearables: register, bind to a patient, list, simulate readings.", no_args_is_help=True)

DeviceArgument = Annotated[str, typer.Argument(help="The device's name or address.")]
AsOption = Annotated[str | None, typer.Option("--as", help="The wallet that signs for the patient.")]


@app.command()
def register(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The device's wallet name: lower-case letters, digits, '-', '_'.")],
    kind: Annotated[str, typer.Option("--kind", help="What it is, for its FHIR Device record.")] = "wearable",
    address: Annotated[
        str | None, typer.Option("--address", help="A device that keeps its own key: its address (no wallet here).")
    ] = None,
    json: JsonFlag = False,
) -> None:
    """Make a device identity: its own key (a keystore here, or --address of one it keeps), the DEVICE role on
    chain and a FHIR Device record."""
    passphrase = passphrase_source(confirm=True)(name) if address is None else None
    with open_node(ctx) as node, progress.status("registering the device…"):
        info = node.devices.register(name, passphrase, address=address, kind=kind)
    _show(info, json, "registered")


@app.command()
def bind(
    ctx: typer.Context,
    device: DeviceArgument,
    patient: Annotated[str | None, typer.Option("--patient", help="The patient's wallet name or address.")] = None,
    consent: Annotated[
        str | None, typer.Option("--consent", help="A consent the patient already granted the device (0x… id).")
    ] = None,
    days: Annotated[float, typer.Option("--days", help="How long the binding lasts.", min=0.0001)] = 365,
    as_wallet: AsOption = None,
    json: JsonFlag = False,
) -> None:
    """Bind a device to a patient: her consent to it (vitals, TREAT) on chain, granted now or given by id."""
    if (patient is None) == (consent is None):
        raise ValidationError("give --patient (to grant the binding consent now) or --consent (one she granted)")
    with open_node(ctx) as node, progress.status("binding…"):
        info = node.device_directory.get(device)
        if consent is not None:
            grant = node.consent.get(_consent_id(consent))
        else:
            assert patient is not None
            owner = acts_as(node, patient)
            terms = node.consent.terms(owner, info.address, [Category.VITALS], [Purpose.TREAT], days=days)
            grant = node.consent.grant(signer_for(node, owner, as_wallet).name, terms)
        info = node.devices.bind(device, grant)
    _show(info, json, "bound")


@app.command()
def unbind(ctx: typer.Context, device: DeviceArgument, as_wallet: AsOption = None, json: JsonFlag = False) -> None:
    """Unbind a device: its readings are refused from now on, and the binding consent is revoked on chain."""
    with open_node(ctx) as node:
        before = node.device_directory.get(device)
        info, grant_id = node.devices.unbind(device)
        revoked = None
        if grant_id is not None and before.patient is not None:
            try:
                node.consent.revoke(signer_for(node, before.patient, as_wallet).name, _consent_id(grant_id))
                revoked = grant_id
            except CareLedgerError as exc:  # her wallet is elsewhere: this node refuses already; she revokes there
                console.print(f"not revoked here ({exc}): the patient revokes consent {grant_id} from her wallet")
    if json:
        print_json({**asdict(info), "revoked": revoked})
    else:
        console.print(f"unbound {info.name}" + (f"; consent {revoked} revoked" if revoked else ""), markup=False)


@app.command("list")
def list_devices(ctx: typer.Context, json: JsonFlag = False) -> None:
    """Every device registered here, with its patient and last sequence."""
    with open_node(ctx) as node:
        devices = node.device_directory.all()
    if json:
        print_json([asdict(info) for info in devices])
        return
    for info in devices:
        bound = f"bound to {info.patient}" if info.patient else "unbound"
        console.print(f"{info.name}  {info.address}  {info.kind}  {bound}  seq {info.last_sequence}", markup=False)


@app.command()
def simulate(
    ctx: typer.Context,
    devices: Annotated[int, typer.Option("--devices", help="How many of this home's bound devices.", min=1)] = 1,
    rate: Annotated[float, typer.Option("--rate", help="Heart-rate readings a second per device.", min=1)] = 1,
    duration: Annotated[float, typer.Option("--duration", help="Seconds of readings.", min=1)] = 60,
    broker: Annotated[str, typer.Option("--broker", help="The MQTT broker, host[:port].")] = "127.0.0.1:1883",
    episode_at: Annotated[
        float | None, typer.Option("--episode-at", help="Tachycardia on the first device from this second.")
    ] = None,
    episode_length: Annotated[float, typer.Option("--episode-length", help="Seconds the episode lasts.")] = 180,
    backfill: Annotated[
        bool, typer.Option("--backfill", help="Readings of the last DURATION seconds, sent at once, not in real time.")
    ] = False,
    json: JsonFlag = False,
) -> None:
    """Publish signed readings from bound devices to the broker, as wearables would."""
    with open_node(ctx) as node:
        bound = [info for info in node.device_directory.all() if info.patient is not None][:devices]
        if len(bound) < devices:
            raise ValidationError(
                f"this home has {len(bound)} bound device(s); bind more with `careledger device bind`"
            )
        wearables = [Wearable(node.unlock(info.name).account, str(info.patient)) for info in bound]
        node_address = node.address
    start = time.time() - (duration if backfill else 0)
    episode = None if episode_at is None else Episode(episode_at, episode_length)
    with progress.status("signing readings…"):
        messages = list(frames(wearables, node_address, rate=rate, duration=duration, start=start, episode=episode))
    with progress.status(f"publishing {len(messages)} frames to {broker}…"):
        seconds = publish(messages, broker, per_second=None if backfill else len(wearables))
    readings = sum(count for *_, count in messages)
    if json:
        print_json({"devices": len(wearables), "frames": len(messages), "readings": readings, "seconds": seconds})
    else:
        console.print(f"published {readings} readings in {len(messages)} signed frames in {seconds:.1f} s")


def _consent_id(text: str) -> int:
    try:
        return int(text, 16)
    except ValueError:
        raise ValidationError(f"{text!r} is not a consent id (0x…)") from None


def _show(info: DeviceInfo, json: bool, verb: str) -> None:
    if json:
        print_json(asdict(info))
    else:
        patient = f" to {info.patient} (Patient/{info.patient_record})" if info.patient else ""
        console.print(f"{verb} {info.name} ({info.address}){patient}", markup=False)
