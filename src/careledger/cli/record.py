"""`careledger record ...`: add, read, list, version, verify and anchor encrypted FHIR records."""

from __future__ import annotations

import sys
from json import dumps, loads
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from careledger.access import Accessor
from careledger.cli._context import acts_as, address_of, as_node, local_record_id, open_node, remote_node, state
from careledger.cli._options import JsonFlag, LimitOption, OffsetOption, QuietFlag
from careledger.cli._output import console, paged, print_id, print_json, progress
from careledger.cli._record_erase import erase, erasures, hold_app
from careledger.consent import Purpose
from careledger.errors import IntegrityError, ValidationError
from careledger.files import write_atomically
from careledger.records import Resource, StoredRecord
from careledger.services import Operations

app = typer.Typer(help="Encrypted FHIR records: add, read, list, verify, anchor.", no_args_is_help=True)

PatientOption = Annotated[str | None, typer.Option("--patient", help="The patient's wallet name or address.")]
AsOption = Annotated[
    str | None,
    typer.Option("--as", help="Act as this wallet (or, locally, address); consent applies [default: the node]."),
]


def stored_json(stored: StoredRecord) -> dict[str, Any]:
    """A stored version's metadata as JSON (no plaintext)."""
    return {
        "id": stored.record_id,
        "version": stored.version,
        "resourceType": stored.resource_type,
        "patient": stored.patient_address,
        "category": stored.category.value,
        "lastUpdated": stored.last_updated.isoformat(),
        "deleted": stored.deleted,
        "cid": stored.cid,
        "anchored": stored.anchored_batch is not None,
    }


def _patient_address_of(node: Operations, patient: str | None) -> str | None:
    return None if patient is None else address_of(node, patient)


def _anchored_if_due(node: Operations, stored: StoredRecord) -> StoredRecord:
    """Anchor records and audit heads if due (size or age), then the version as it now stands."""
    node.anchorer.maybe_anchor()
    node.audit_anchorer.maybe_anchor()
    return node.access.for_caller(as_node(node)).stored(stored.record_id, stored.version)


def _json_object(body: bytes) -> Resource:
    try:
        resource = loads(body)
    except ValueError as exc:
        raise ValidationError(f"not JSON: {exc}") from None
    if not isinstance(resource, dict) or "resourceType" not in resource:
        raise ValidationError("a FHIR resource is a JSON object with a resourceType")
    return resource


def _print_remote(resource: Resource, json: bool, quiet: bool = False) -> None:
    if quiet:
        print_id(f"{resource['resourceType']}/{resource['id']}")
    elif json:
        print_json(resource)
    else:
        console.print(f"{resource['resourceType']}/{resource['id']} version {resource['meta']['versionId']}")


def _read_input(source: str) -> bytes:
    if source == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(source).read_bytes()
    except OSError as exc:
        raise ValidationError(f"cannot read {source}: {exc.strerror}") from None


@app.command()
def add(
    ctx: typer.Context,
    file: Annotated[str, typer.Argument(help="A FHIR resource as JSON, or - for standard input.")],
    patient: PatientOption = None,
    as_who: AsOption = None,
    json: JsonFlag = False,
    quiet: QuietFlag = False,
) -> None:
    """Validate, encrypt and store one resource (a new version if its id exists); prints its Type/id."""
    if state(ctx).node_url and patient is not None:  # the API files a Patient by her identifier, not a wallet here
        raise ValidationError(
            "--patient is not taken with --node: a node's API files a Patient under the did:pkh identifier it holds "
            '({"system": "urn:ietf:rfc:3986", "value": "did:pkh:eip155:<chain id>:<her address>"}; docs/api.md), '
            "and a record of hers by its subject"
        )
    body = _read_input(file)
    if state(ctx).node_url:
        resource = _json_object(body)
        with remote_node(ctx, as_who) as client:
            stored_remotely = client.update(resource) if "id" in resource else client.create(resource)
        _print_remote(stored_remotely, json, quiet)
        return
    with open_node(ctx) as node:
        written = node.access.for_caller(as_node(node)).write(body, patient_address=_patient_address_of(node, patient))
        stored = _anchored_if_due(node, written)
    if quiet:
        print_id(f"{stored.resource_type}/{stored.record_id}")
    elif json:
        print_json(stored_json(stored))
    else:
        console.print(f"{stored.resource_type}/{stored.record_id} version {stored.version} ({stored.category.value})")


@app.command("list")
def list_records(
    ctx: typer.Context,
    patient: PatientOption = None,
    resource_type: Annotated[str | None, typer.Option("--type", help="Only this resourceType.")] = None,
    as_who: AsOption = None,
    limit: LimitOption = 100,
    offset: OffsetOption = 0,
    json: JsonFlag = False,
    quiet: QuietFlag = False,
) -> None:
    """Current records, oldest first (no decryption needed); with --node, a search there (--type needed).

    --quiet prints each record's Type/id on a line of its own.
    """
    if state(ctx).node_url:
        if resource_type is None:
            raise ValidationError("with --node, say which --type to search")
        with remote_node(ctx, as_who) as client:
            found_remotely = client.search(resource_type, **({"patient": patient} if patient else {}))
        if json and not quiet:
            print_json(found_remotely)
        else:
            for resource in found_remotely:
                _print_remote(resource, json=False, quiet=quiet)
        return
    with open_node(ctx) as node:
        owner = _patient_address_of(node, patient)
        found = paged(
            lambda size, skip: node.access.for_caller(as_node(node)).listing(
                patient_address=owner, resource_type=resource_type, limit=size, offset=skip
            ),
            limit,
            offset,
        )
    if quiet:
        for stored in found:
            print_id(f"{stored.resource_type}/{stored.record_id}")
        return
    if json:
        print_json([stored_json(s) for s in found])
        return
    table = Table("id", "type", "version", "category", "updated", "anchored")
    for stored in found:
        table.add_row(
            stored.record_id,
            stored.resource_type,
            str(stored.version),
            stored.category.value,
            stored.last_updated.strftime("%Y-%m-%d %H:%M:%S"),
            "yes" if stored.anchored_batch is not None else "pending",
        )
    console.print(table)


@app.command()
def get(
    ctx: typer.Context,
    record_id: Annotated[str, typer.Argument(metavar="ID")],
    version: Annotated[int | None, typer.Option("--version", help="A past version.", min=1)] = None,
    as_who: AsOption = None,
    purpose: Annotated[str, typer.Option("--purpose", help="Purpose of use (HL7): TREAT, ETREAT, …")] = "TREAT",
    reason: Annotated[str | None, typer.Option("--reason", help="With --purpose ETREAT: break-glass.")] = None,
) -> None:
    """The decrypted resource, as FHIR JSON; every read is audited. With --node, ID is Type/id."""
    if state(ctx).node_url:
        resource_type, _, remote_id = record_id.partition("/")
        if not remote_id:
            raise ValidationError("with --node, name the record as Type/id (e.g. Observation/obs-1)")
        with remote_node(ctx, as_who) as client:
            print_json(client.read(resource_type, remote_id, version=version, purpose=purpose))
        return
    with open_node(ctx) as node:
        if as_who is None:
            accessor = as_node(node)
        else:
            node.consent.sync()
            accessor = Accessor(acts_as(node, as_who), Purpose.parse(purpose), reason)
        print_json(node.access.for_caller(accessor).read(local_record_id(node, record_id), version))


@app.command()
def history(
    ctx: typer.Context, record_id: Annotated[str, typer.Argument(metavar="ID")], json: JsonFlag = False
) -> None:
    """Every version of a record, newest first."""
    with open_node(ctx) as node:
        versions = [v for v, _ in node.access.for_caller(as_node(node)).history(local_record_id(node, record_id))]
    if json:
        print_json([stored_json(s) for s in versions])
        return
    for stored in versions:
        state = "deleted" if stored.deleted else stored.cid
        console.print(f"version {stored.version}  {stored.last_updated:%Y-%m-%d %H:%M:%S}  {state}")


@app.command()
def delete(ctx: typer.Context, record_id: Annotated[str, typer.Argument(metavar="ID")], json: JsonFlag = False) -> None:
    """Delete (a tombstone version; earlier versions stay readable)."""
    with open_node(ctx) as node:
        stored = _anchored_if_due(node, node.access.for_caller(as_node(node)).delete(local_record_id(node, record_id)))
    if json:
        print_json(stored_json(stored))
    else:
        console.print(f"{stored.resource_type}/{stored.record_id} deleted (version {stored.version})")


@app.command("import")
def import_(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="A Bundle (.json), NDJSON (.ndjson), or a directory of them.")],
    patient: PatientOption = None,
    json: JsonFlag = False,
) -> None:
    """Import FHIR data, Patients first, streaming NDJSON; bad resources are reported, the rest go on; resumable.

    Each Patient belongs to --patient's wallet if given, else to the wallet its did:pkh
    identifier names, else to a new custodial identity this node holds for her.
    """
    with open_node(ctx) as node:
        owner = _patient_address_of(node, patient)

        def wallet_for(_resource: Resource) -> str | None:
            return owner

        importer = node.access.for_caller(as_node(node)).importer(patient_wallet=wallet_for)
        from rich.progress import MofNCompleteColumn, Progress  # ~40 ms: for the commands that show one

        with Progress(*Progress.get_default_columns(), MofNCompleteColumn(), console=progress) as bar:
            task = bar.add_task("opening", total=None)
            report = importer.run(
                path, lambda phase, done, total: bar.update(task, description=phase, completed=done, total=total)
            )
            bar.update(task, description="anchoring what is due")
            node.anchorer.maybe_anchor()
            node.audit_anchorer.maybe_anchor()
    if json:
        print_json(
            {
                "imported": report.imported,
                "skipped": report.skipped,
                "refused": [{"source": r.source, "position": r.position, "reason": r.reason} for r in report.refused],
            }
        )
    else:
        for refusal in report.refused:
            console.print(f"refused {refusal.source} #{refusal.position}: {refusal.reason}", markup=False)
        console.print(f"imported {report.imported}, already done {report.skipped}, refused {len(report.refused)}")
    if report.refused:
        raise ValidationError(f"{len(report.refused)} resources were refused (listed above); the rest were imported")


@app.command()
def export(
    ctx: typer.Context,
    patient: Annotated[str, typer.Option("--patient", help="The patient's wallet (its key decrypts).")],
    out: Annotated[Path, typer.Option("--out", help="Where to write the FHIR Bundle.")],
    proofs: Annotated[
        bool, typer.Option("--proofs", help="With each record's proof (what waits is anchored first): docs/proofs.md.")
    ] = False,
    json: JsonFlag = False,
) -> None:
    """Write a FHIR Bundle of all the patient's records, decrypted with the patient's own key.

    With --proofs, each entry carries its record's proof, which `careledger verify` checks with no node.
    """
    with open_node(ctx) as node:
        wallet = node.wallets.get(patient)
        key = node.unlock(wallet.name).encryption_key()
        if proofs:
            node.anchorer.anchor_pending()
        accessor = Accessor(wallet.address, Purpose.PATRQT)
        count, resources = node.access.for_caller(accessor).export(key)
        exported: list[Resource] = []
        from rich.progress import Progress

        with Progress(console=progress) as bar:
            task = bar.add_task("decrypting", total=count)
            for resource in resources:
                exported.append(resource)
                bar.advance(task)
        found = node.proofs.of(accessor, exported, key) if proofs else {}
    entries: list[dict[str, Any]] = []
    for resource in exported:
        entries.append({"fullUrl": f"{resource['resourceType']}/{resource['id']}", "resource": resource})
        proof = found.get((resource["id"], int(resource["meta"]["versionId"])))
        if proof is not None:
            entries[-1]["extension"] = [proof.extension()]
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": entries}
    write_atomically(out, dumps(bundle, indent=1).encode(), mode=0o600)
    if json:
        print_json({"out": str(out), "records": len(entries)})
    else:
        console.print(f"wrote {len(entries)} records of {patient} to {out}")


@app.command()
def anchor(ctx: typer.Context, json: JsonFlag = False) -> None:
    """Anchor every pending commitment now (and settle batches a crash left behind)."""
    with open_node(ctx) as node, progress.status("anchoring…"):
        batches = node.anchorer.anchor_pending()
    if json:
        print_json([{"root": "0x" + b.root.hex(), "records": b.leaf_count} for b in batches])
        return
    if not batches:
        console.print("nothing to anchor")
    for batch in batches:
        console.print(f"anchored {batch.leaf_count} records under root 0x{batch.root.hex()}")


@app.command()
def verify(
    ctx: typer.Context,
    record_id: Annotated[str, typer.Argument(metavar="ID")],
    version: Annotated[int | None, typer.Option("--version", help="A past version.", min=1)] = None,
    json: JsonFlag = False,
) -> None:
    """Check content id, decryption, commitment and Merkle proof against the chain."""
    with open_node(ctx) as node:
        checks = node.verify_record(local_record_id(node, record_id), version)
    if json:
        print_json([{"step": c.step, "ok": c.ok, "detail": c.detail} for c in checks])
    else:
        for check in checks:
            mark = "[green]✓[/]" if check.ok else "[red]✗[/]"
            console.print(f"{mark} {check.step}: {check.detail}")
    failed = [c.step for c in checks if not c.ok]
    if failed:
        raise IntegrityError(f"verification of {record_id} failed at: {', '.join(failed)}")


app.command()(erase)
app.command()(erasures)
app.add_typer(hold_app, name="hold")
