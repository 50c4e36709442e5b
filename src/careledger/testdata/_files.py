"""Synthetic patients written as files a newcomer can feed to the CLI, a FHIR client or a bulk import."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from careledger.files import write_atomically
from careledger.testdata._generator import Resource, SyntheticPatient, collection_bundle


@dataclass(frozen=True, slots=True)
class DatasetFiles:
    """What `write_dataset` wrote: the Bundle, one NDJSON file per type, and single-resource examples."""

    bundle: Path
    ndjson: dict[str, Path]
    examples: dict[str, Path]
    resources: int


def write_dataset(
    patients: list[SyntheticPatient], out: Path, progress: Callable[[int], None] = lambda _done: None
) -> DatasetFiles:
    """Write `patients` under `out`.

    - `bundle.json`: every resource as one `collection` Bundle (`record import`, a FHIR server);
    - `ndjson/<Type>.ndjson`: one resource per line and file per type, the Bulk Data layout
      (`record import out/ndjson` streams it, Patients first);
    - `examples/{patient,encounter,earlier-encounter,observation}.json`: the first patient,
      her latest and earliest encounters and a lab result of hers, for `record add`.

    `progress(n)` is told of each patient written.
    """
    by_type: dict[str, list[bytes]] = {}
    for done, patient in enumerate(patients, 1):
        for resource in patient.resources:
            by_type.setdefault(str(resource["resourceType"]), []).append(_line(resource))
        progress(done)
    ndjson = {}
    for resource_type, lines in sorted(by_type.items()):
        path = out / "ndjson" / f"{resource_type}.ndjson"
        write_atomically(path, b"".join(lines))
        ndjson[resource_type] = path
    bundle = out / "bundle.json"
    write_atomically(bundle, json.dumps(collection_bundle(patients), indent=1).encode())
    examples = {name: out / "examples" / f"{name}.json" for name in _EXAMPLES}
    if patients:
        for name, resource in _examples(patients[0]).items():
            write_atomically(examples[name], json.dumps(resource, indent=2).encode() + b"\n")
    return DatasetFiles(bundle, ndjson, examples, sum(len(p.resources) for p in patients))


_EXAMPLES = ("patient", "encounter", "earlier-encounter", "observation")


def _examples(patient: SyntheticPatient) -> dict[str, Resource]:
    encounters = sorted(
        (r for r in patient.records if r["resourceType"] == "Encounter"), key=lambda r: str(r["period"]["start"])
    )
    labs = [r for r in patient.records if r["resourceType"] == "Observation" and _is_lab(r)]
    return {
        "patient": patient.patient,
        "encounter": encounters[-1],
        "earlier-encounter": encounters[0],
        "observation": labs[0],
    }


def _is_lab(observation: Resource) -> bool:
    return any(c.get("code") == "laboratory" for cat in observation.get("category", []) for c in cat.get("coding", []))


def _line(resource: Resource) -> bytes:
    return json.dumps(resource, separators=(",", ":")).encode() + b"\n"
