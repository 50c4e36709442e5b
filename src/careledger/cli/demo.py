"""`careledger demo`: a fresh node in a temporary home, end to end, in seconds."""

from __future__ import annotations

import secrets
import shutil
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer
from eth_utils import keccak

from careledger.chain import AnchorKind, Role
from careledger.cli._context import state
from careledger.cli._output import console, print_json, progress
from careledger.cli.chain import render_status
from careledger.config import NODE_WALLET, Home, Settings
from careledger.crypto import RecordContext, Suite, canonical_json, content_id, seal, unseal
from careledger.errors import DecryptionError
from careledger.node import Node, init_home


def demo(
    ctx: typer.Context,
    keep: Annotated[bool, typer.Option("--keep", help="Keep the demo home instead of deleting it.")] = False,
    json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """A node in a temporary home: chain, contracts, identities, a sealed record, an anchor."""
    home = Home(Path(tempfile.mkdtemp(prefix="careledger-demo-")))
    settings = Settings(chain=state(ctx).chain or "anvil", light_kdf=True)
    passphrase = secrets.token_urlsafe(16)
    try:
        with progress.status("creating a node home…"):
            node_wallet = init_home(home, settings, passphrase)
        _say(json, f"[bold]1.[/] node home {home.path}, wallet {node_wallet.address}")
        with progress.status(f"starting the {settings.chain} chain…"):
            node = Node(home, settings, lambda _wallet: passphrase)
        with node:
            where = f" at {node.chain.url}" if node.chain.url else ""
            _say(json, f"[bold]2.[/] chain {node.chain.kind} (id {node.chain.chain_id}){where}")
            with progress.status("deploying contracts…"):
                results = node.deploy()
            for result in results:
                _say(json, f"[bold]3.[/] deployed {result.deployment.name} at {result.deployment.address}")
            story = _identities_and_a_sealed_record(node, passphrase, json)
            report = node.status()
        if json:
            print_json({"status": asdict(report), **story})
        else:
            console.print()
            render_status(report)
    finally:
        if keep:
            _say(json, f"kept the demo home: careledger --home {home.path} chain status")
        else:
            shutil.rmtree(home.path, ignore_errors=True)


# A sample record: it is encrypted in the demo and never leaves the node in plaintext.
_OBSERVATION = {
    "resourceType": "Observation",
    "status": "final",
    "code": {"coding": [{"system": "http://loinc.org", "code": "2339-0", "display": "Glucose"}]},
    "valueQuantity": {"value": 95, "unit": "mg/dL"},
}


def _identities_and_a_sealed_record(node: Node, passphrase: str, quiet: bool) -> dict[str, Any]:
    """Wallets, registration, a credential, an envelope only the right keys open, an anchor."""
    with progress.status("creating and registering identities…"):
        alice = node.wallets.create("alice", Role.PATIENT, passphrase)
        drbob = node.wallets.create("drbob", Role.PRACTITIONER, passphrase, Suite.MLKEM768_X25519)
        for wallet in (alice, drbob):
            node.identity_registry(as_wallet=wallet.name).register(wallet.role, wallet.encryption_key)
        registry = node.identity_registry(as_wallet=NODE_WALLET)
        now = int(node.chain.w3.eth.get_block("latest")["timestamp"])
        registry.attest(drbob.address, "medical-licence", now + 365 * 86_400)
        licensed = registry.has_valid_credential(drbob.address, "medical-licence")
    _say(
        quiet,
        f"[bold]4.[/] registered patient alice {alice.address} and practitioner drbob {drbob.address} "
        f"(post-quantum key); drbob's medical licence is valid: {'yes' if licensed else 'NO'}",
    )

    node_wallet = node.wallets.get(NODE_WALLET)
    context = RecordContext("demo-observation", 1, alice.address, "labs")
    envelope = seal(canonical_json(_OBSERVATION), context, [alice.encryption_key, node_wallet.encryption_key])
    cid = content_id(envelope.ciphertext)
    opened = unseal(envelope, context, node.unlock("alice").encryption_key()) == canonical_json(_OBSERVATION)
    try:
        unseal(envelope, context, node.unlock("drbob").encryption_key())
        refused = False
    except DecryptionError:
        refused = True
    _say(
        quiet,
        f"[bold]5.[/] sealed a lab Observation for alice and the node: {cid}; "
        f"alice opens it: {'yes' if opened else 'NO'}; drbob (no key sealed to him) is refused: "
        f"{'yes' if refused else 'NO'}",
    )

    # Only a salted commitment of the ciphertext's id goes on chain: no health data.
    commitment = keccak(secrets.token_bytes(32) + cid.encode())
    anchor = node.record_anchor(write=True)
    anchor.anchor(commitment, 1, AnchorKind.RECORDS)
    verified = anchor.verify(commitment, [], commitment)
    _say(
        quiet,
        f"[bold]6.[/] anchored its commitment 0x{commitment.hex()[:16]}… (a one-leaf batch); "
        f"verified on chain: {'yes' if verified else 'NO'}",
    )
    return {
        "patient": alice.address,
        "practitioner": drbob.address,
        "licensed": licensed,
        "content_id": cid,
        "patient_opens": opened,
        "practitioner_refused": refused,
        "root": "0x" + commitment.hex(),
        "verified": verified,
    }


def _say(quiet: bool, line: str) -> None:
    if not quiet:
        console.print(line)
