"""Bulk import of FHIR data: Bundles (transaction, batch or collection) and NDJSON files.

Patients are imported before the records that refer to them (within a file, and by
importing `Patient*` files of a directory first). Every bad resource is reported and the
rest go on. An import is resumable: a checkpoint per source file (keyed by its path,
size and modification time) records how many of its resources are done, after each one,
so a rerun after a killed import writes no resource twice.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from careledger._fs import write_atomically
from careledger.errors import CareLedgerError, ValidationError
from careledger.records._fhir import Resource
from careledger.records._service import RecordService


@dataclass(frozen=True, slots=True)
class Refusal:
    source: str
    position: int
    reason: str


@dataclass(slots=True)
class ImportReport:
    imported: int = 0
    skipped: int = 0
    refused: list[Refusal] = field(default_factory=list)


def import_sources(path: Path) -> list[Path]:
    """The files an import of `path` reads, Patient files first."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise ValidationError(f"{path} is neither a file nor a directory")
    files = sorted(p for p in path.iterdir() if p.suffix in (".json", ".ndjson") and p.is_file())
    return sorted(files, key=lambda p: not p.name.startswith("Patient"))


def read_entries(source: Path) -> list[Resource | CareLedgerError]:
    """The resources of one file in import order (Patients first); unreadable ones as errors."""
    text = source.read_text(encoding="utf-8", errors="replace")
    entries: list[Resource | CareLedgerError] = []
    if source.suffix == ".ndjson":
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip():
                entries.append(_json_object(line, f"line {number}"))
    else:
        document = _json_object(text, "file")
        if isinstance(document, CareLedgerError) or document.get("resourceType") != "Bundle":
            entries.append(document)
        else:
            for entry in document.get("entry", []):
                resource = entry.get("resource") if isinstance(entry, dict) else None
                entries.append(
                    resource if isinstance(resource, dict) else ValidationError("Bundle entry has no resource")
                )
    return sorted(entries, key=lambda e: not (isinstance(e, dict) and e.get("resourceType") == "Patient"))


def _json_object(text: str, where: str) -> Resource | CareLedgerError:
    try:
        value = json.loads(text)
    except ValueError as exc:
        return ValidationError(f"{where} is not JSON: {exc}")
    return value if isinstance(value, dict) else ValidationError(f"{where} is not a JSON object")


class Importer:
    """Imports files into a record service, resumably."""

    def __init__(
        self,
        records: RecordService,
        checkpoints: Path,
        *,
        patient_wallet: Callable[[Resource], str | None],
    ) -> None:
        self.records = records
        self.checkpoints = checkpoints
        self._patient_wallet = patient_wallet

    def run(self, path: Path, on_progress: Callable[[int, int], None] | None = None) -> ImportReport:
        """Import every resource under `path`; `on_progress(done, total)` after each."""
        report = ImportReport()
        sources = [(source, read_entries(source)) for source in import_sources(path)]
        total = sum(len(entries) for _, entries in sources)
        done = 0
        for source, entries in sources:
            checkpoint = self._checkpoint_file(source)
            start = _read_checkpoint(checkpoint)
            for position, entry in enumerate(entries):
                done += 1
                if position < start:
                    report.skipped += 1
                else:
                    self._import_one(source, position, entry, report)
                    _write_checkpoint(checkpoint, position + 1)
                if on_progress is not None:
                    on_progress(done, total)
        return report

    def _import_one(self, source: Path, position: int, entry: Resource | CareLedgerError, report: ImportReport) -> None:
        try:
            if isinstance(entry, CareLedgerError):
                raise entry
            patient = self._patient_wallet(entry) if entry.get("resourceType") == "Patient" else None
            self.records.write(entry, patient_address=patient)
            report.imported += 1
        except CareLedgerError as exc:
            report.refused.append(Refusal(source.name, position + 1, str(exc)))

    def _checkpoint_file(self, source: Path) -> Path:
        stat = source.stat()
        key = f"{source.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
        return self.checkpoints / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.json"


def _read_checkpoint(path: Path) -> int:
    try:
        return int(json.loads(path.read_text())["done"])
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return 0


def _write_checkpoint(path: Path, done: int) -> None:
    write_atomically(path, json.dumps({"done": done}).encode(), durable=False)
