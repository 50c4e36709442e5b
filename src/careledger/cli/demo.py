"""`careledger demo`: a fresh node in a temporary home, end to end, in seconds."""

from __future__ import annotations

import secrets
import shutil
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer

from careledger.chain import Role
from careledger.cli._context import state
from careledger.cli._output import console, print_json, progress
from careledger.cli.chain import render_status
from careledger.config import NODE_WALLET, Home, Settings
from careledger.crypto import Suite
from careledger.errors import DecryptionError
from careledger.node import Node, init_home
from careledger.records import verify_record
from careledger.testdata import synthetic_patients


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
            story = _identities_and_records(node, passphrase, json)
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


def _identities_and_records(node: Node, passphrase: str, quiet: bool) -> dict[str, Any]:
    """Wallets, registration, a credential, encrypted records only the right keys open, anchoring."""
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

    # A synthetic patient's chart (no real person), stored as encrypted, versioned records.
    chart = synthetic_patients(1, seed=2026)[0]
    with progress.status("storing encrypted records…"):
        node.records.write(chart.patient, patient_address=alice.address)
        for resource in chart.records:
            node.records.write(resource)
    lab = next(r for r in chart.records if r["resourceType"] == "Observation")
    stored = node.records.get(lab["id"])
    opened = node.records.decrypt(stored, node.unlock("alice").encryption_key())["id"] == lab["id"]
    try:
        node.records.decrypt(stored, node.unlock("drbob").encryption_key())
        refused = False
    except DecryptionError:
        refused = True
    _say(
        quiet,
        f"[bold]5.[/] stored {len(chart.resources)} encrypted records of alice's chart; "
        f"her lab result {stored.cid} opens with her key: {'yes' if opened else 'NO'}; "
        f"drbob (no key sealed to him) is refused: {'yes' if refused else 'NO'}",
    )

    # Only salted commitments go on chain: one Merkle root for the whole chart.
    with progress.status("anchoring…"):
        batches = node.anchorer.anchor_pending()
        checks = verify_record(node.records, node.record_anchor(), node.unlock().encryption_key(), lab["id"])
    verified = all(check.ok for check in checks)
    _say(
        quiet,
        f"[bold]6.[/] anchored {sum(b.leaf_count for b in batches)} commitments under "
        f"{len(batches)} Merkle root(s); `record verify` of the lab result "
        f"({', '.join(c.step for c in checks)}): {'all pass' if verified else 'FAILED'}",
    )
    return {
        "patient": alice.address,
        "practitioner": drbob.address,
        "licensed": licensed,
        "records": len(chart.resources),
        "content_id": stored.cid,
        "patient_opens": opened,
        "practitioner_refused": refused,
        "roots": ["0x" + b.root.hex() for b in batches],
        "verified": verified,
    }


def _say(quiet: bool, line: str) -> None:
    if not quiet:
        console.print(line)
