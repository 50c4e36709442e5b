"""`careledger backup DEST` and `careledger restore SRC`: an encrypted snapshot of a serving node's home, and
a new home made from one, verified record by record (docs/operations.md, "Backup and restore")."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from careledger.backup import backup_home, refuse_target, restore_home, verify_restored
from careledger.cli._context import open_node, state
from careledger.cli._options import JsonFlag
from careledger.cli._output import console, print_json, progress_bar
from careledger.errors import AccessDenied, IntegrityError, NotFound

BACKUP_PASSPHRASE_ENV = "CARELEDGER_BACKUP_PASSPHRASE"  # noqa: S105 - the variable's name, not a secret


def _backup_passphrase(*, confirm: bool) -> str:
    """`CARELEDGER_BACKUP_PASSPHRASE`, else a hidden prompt; never a default."""
    given = os.environ.get(BACKUP_PASSPHRASE_ENV)
    if given is not None:
        return given
    if not sys.stdin.isatty():
        raise AccessDenied(f"a backup's passphrase is needed: set {BACKUP_PASSPHRASE_ENV} or run in a terminal")
    entered: str = typer.prompt("Backup passphrase", hide_input=True, confirmation_prompt=confirm)
    return entered


def backup(
    ctx: typer.Context,
    dest: Annotated[Path, typer.Argument(help="The backup file to write (or a directory to name one in).")],
    json: JsonFlag = False,
) -> None:
    """Write an encrypted, consistent snapshot of this home (database, blobs, keys and wallets, deployments,
    config, the managed chain's state), while the node serves. Passphrase: CARELEDGER_BACKUP_PASSPHRASE or a
    prompt."""
    cli = state(ctx)
    cli.home.require()
    passphrase = _backup_passphrase(confirm=True)
    with progress_bar("backing up", quiet=json) as advance:
        manifest, path, size = backup_home(cli.home, cli.settings(), dest, passphrase, advance)
    summary = {
        "path": str(path),
        "bytes": size,
        "created": manifest.created,
        "node": manifest.node,
        "database": {"backend": manifest.backend, "revision": manifest.revision},
        "chain": manifest.chain,
        "chain_state": "chain/anvil-state.json" in manifest.files,
        "files": len(manifest.files),
        "blobs": sum(1 for name in manifest.files if name.startswith("home/blobs/")),
        "plaintext_bytes": manifest.size,
    }
    if json:
        print_json(summary)
        return
    console.print(f"backed up {cli.home.path} to {path} ({size:,} bytes, encrypted)", markup=False)
    console.print(
        f"database {manifest.backend} at {manifest.revision}, {summary['files']} files "
        f"({summary['blobs']} blobs){', the chain state' if summary['chain_state'] else ''}",
        markup=False,
    )


def restore(
    ctx: typer.Context,
    src: Annotated[Path, typer.Argument(help="A backup `careledger backup` wrote.")],
    force: Annotated[
        bool, typer.Option("--force", help="Replace the node this home holds (moved aside to HOME.replaced-…).")
    ] = False,
    anchor: Annotated[
        bool,
        typer.Option(
            "--anchor",
            help="Anchor what the backup held unanchored, with the node's wallet (not for a drill on the live chain).",
        ),
    ] = False,
    json: JsonFlag = False,
) -> None:
    """Restore a backup into this (new) home and its configured database (--db for another one), then verify
    every record and the audit log (exit 7 if any fails); records not anchored yet are reported as pending, and
    anchored now only with --anchor."""
    cli = state(ctx)
    if not src.is_file():
        raise NotFound(f"no backup at {src}")
    refuse_target(cli.home, force=force)  # before the passphrase is asked
    passphrase = _backup_passphrase(confirm=False)
    with progress_bar("restoring", quiet=json) as advance, src.open("rb") as source:
        restored = restore_home(
            source, passphrase, cli.home, db=cli.db, force=force, progress=advance, total=src.stat().st_size
        )
    with open_node(ctx) as node, progress_bar("verifying", quiet=json, counting="items") as advance:
        verified = verify_restored(node, advance, anchor=anchor)
    if json:
        print_json(
            {
                "home": str(restored.home),
                "database": restored.database,
                "revision": restored.manifest.revision,
                "node": restored.manifest.node,
                "replaced": str(restored.replaced) if restored.replaced else None,
                **verified.to_json(),
            }
        )
    else:
        console.print(f"restored {src} (taken {restored.manifest.created}) into {restored.home}", markup=False)
        if restored.replaced:
            console.print(f"the home it replaced is kept at {restored.replaced}", markup=False)
        console.print(
            f"{verified.records} records verified ({verified.anchored_now} anchored now), "
            f"audit log of {verified.audit_entries} entries {'verified' if not verified.audit_problems else 'FAILED'}",
            markup=False,
        )
        if verified.records_pending or verified.audit_pending:
            console.print(
                f"{verified.records_pending} records and {verified.audit_pending} audit entries wait for their "
                "anchor: the restored node anchors them once it serves (or restore with --anchor)",
                markup=False,
            )
    if not verified.ok:
        problems = [*(f"{rid}: {why}" for rid, why in verified.failed.items()), *verified.audit_problems]
        raise IntegrityError(f"the restored node does not verify: {problems[0]} ({len(problems)} problems)")
