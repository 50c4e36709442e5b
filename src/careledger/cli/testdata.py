"""`careledger testdata ...`: synthetic patients as files, to try the node with (no real people)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress

from careledger.cli._options import JsonFlag
from careledger.cli._output import console, print_json, progress

app = typer.Typer(help="Synthetic, deterministic FHIR data to try a node with.", no_args_is_help=True)


@app.command()
def patients(
    count: Annotated[int, typer.Argument(help="How many patients.", min=1, max=100_000)],
    out: Annotated[Path, typer.Option("--out", help="The directory to write into (made if missing).")],
    seed: Annotated[int, typer.Option("--seed", help="The same seed gives the same patients.")] = 0,
    json: JsonFlag = False,
) -> None:
    """Write COUNT patients with their records: a Bundle, NDJSON per type, and examples to `record add`.

    OUT/bundle.json is one collection Bundle; OUT/ndjson/<Type>.ndjson is the Bulk Data
    layout (`careledger record import OUT/ndjson`); OUT/examples/ holds the first patient,
    her latest Encounter and a lab Observation.
    """
    from careledger.testdata import synthetic_patients, write_dataset

    with Progress(console=progress, transient=True) as bar:
        task = bar.add_task("generating patients", total=count)
        generated = synthetic_patients(count, seed=seed)
        bar.update(task, description="writing files", completed=0)
        written = write_dataset(generated, out, lambda done: bar.update(task, completed=done))
    if json:
        print_json(
            {
                "patients": count,
                "resources": written.resources,
                "bundle": str(written.bundle),
                "ndjson": {name: str(path) for name, path in written.ndjson.items()},
                "examples": {name: str(path) for name, path in written.examples.items()},
            }
        )
        return
    console.print(f"wrote {count} patients, {written.resources} resources, to {out}", markup=False)
    console.print(f"  {written.bundle}  (one collection Bundle)", markup=False)
    console.print(f"  {out / 'ndjson'}/  ({len(written.ndjson)} NDJSON files: `record import` takes the directory)")
    for path in written.examples.values():
        console.print(f"  {path}", markup=False)
