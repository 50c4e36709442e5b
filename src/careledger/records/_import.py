"""Bulk import of FHIR data: Bundles (transaction, batch or collection) and NDJSON files.

Patients are imported before the records that refer to them (within a file, and by
importing `Patient*` files of a directory first). Every bad resource is reported and the
rest go on. Resources are stored a chunk per transaction (one group of blob fsyncs, one
commit), which is what makes bulk import fast. An import is resumable: a checkpoint per
source file (keyed by its path, size and modification time) counts how many of its
resources are stored and moves in the same transaction as they do, so a rerun after a
killed import stores no resource twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

from sqlalchemy.orm import Session

from careledger.errors import AccessDenied, CareLedgerError, Conflict, ValidationError
from careledger.fhir import loads
from careledger.records._fhir import Resource
from careledger.records._service import RecordService
from careledger.records._stored import Also, Draft, Guard, StoredRecord
from careledger.store import ImportCheckpoint

# Told after each chunk: what is being done, how many resources are done, of how many (None: not known yet).
Progress = Callable[[str, int, int | None], None]


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


def _ndjson_lines(source: Path) -> int:
    """How many resources an NDJSON file holds: its non-blank lines (not parsed for it)."""
    with source.open("rb") as lines:
        return sum(1 for line in lines if line.strip())


def _ndjson_entries(source: Path) -> Iterator[tuple[int, Resource | CareLedgerError]]:
    """An NDJSON file's resources in import order, each with its line number; unreadable ones as errors.

    Streamed in two passes (its Patients, then the rest), so a file of any size costs a line
    of memory at a time.
    """
    for patients in (True, False):
        with source.open(encoding="utf-8", errors="replace") as lines:
            for number, line in enumerate(lines, 1):
                if line.strip():
                    entry = _json_object(line, f"line {number}")
                    if _is_patient(entry) is patients:
                        yield number, entry


def _bundle_order(entries: list[Resource | CareLedgerError]) -> Iterator[tuple[int, Resource | CareLedgerError]]:
    """A Bundle's resources in import order (Patients first), each with its entry number."""
    yield from sorted(enumerate(entries, 1), key=lambda numbered: not _is_patient(numbered[1]))


def _bundle_entries(source: Path) -> list[Resource | CareLedgerError]:
    document = _json_object(source.read_text(encoding="utf-8", errors="replace"), "file")
    if isinstance(document, CareLedgerError) or document.get("resourceType") != "Bundle":
        return [document]
    return [
        resource if isinstance(resource, dict) else ValidationError("Bundle entry has no resource")
        for entry in document.get("entry", [])
        for resource in [entry.get("resource") if isinstance(entry, dict) else None]
    ]


def _is_patient(entry: Resource | CareLedgerError) -> bool:
    return isinstance(entry, dict) and entry.get("resourceType") == "Patient"


def _json_object(text: str, where: str) -> Resource | CareLedgerError:
    try:
        value = loads(text)
    except ValidationError as exc:
        return ValidationError(f"{where}: {exc}")
    return value if isinstance(value, dict) else ValidationError(f"{where} is not a JSON object")


class Importer:
    """Imports files into a record service, resumably, a chunk of resources per transaction."""

    def __init__(
        self,
        records: RecordService,
        *,
        patient_wallet: Callable[[Resource], str | None],
        chunk_size: int = 256,
        check: Guard | None = None,
        also: Also | None = None,
    ) -> None:
        """`check` and `also` are the writer's, as `RecordService.store` takes them (the access policy, the audit)."""
        self.records = records
        self.chunk_size = chunk_size
        self._patient_wallet = patient_wallet
        self._check = check
        self._also = also

    def run(self, path: Path, on_progress: Progress | None = None) -> ImportReport:
        """Import every resource under `path`, streaming NDJSON; `on_progress(phase, done, total)` after each
        chunk, `phase` naming the file being imported."""
        report = ImportReport()
        sources = import_sources(path)
        if on_progress is not None:
            on_progress("counting resources", 0, None)
        # A Bundle is one JSON document: parsed once, here, and kept until it is imported. NDJSON is
        # counted by its lines and streamed when its turn comes.
        bundles = {source: _bundle_entries(source) for source in sources if source.suffix != ".ndjson"}
        total = sum(len(bundles[source]) if source in bundles else _ndjson_lines(source) for source in sources)
        done = 0
        for index, source in enumerate(sources, 1):
            phase = f"importing {source.name} ({index}/{len(sources)})"
            key = _source_key(source)
            start = self._done(key)
            entries = _bundle_order(bundles.pop(source)) if source in bundles else _ndjson_entries(source)
            skipped = sum(1 for _ in islice(entries, start))
            report.skipped += skipped
            done += skipped
            position = start
            while chunk := list(islice(entries, self.chunk_size)):
                report.refused.extend(self._import_chunk(source.name, key, position, chunk, report))
                position += len(chunk)
                done += len(chunk)
                if on_progress is not None:
                    on_progress(phase, done, total)
        return report

    def _import_chunk(
        self,
        name: str,
        key: str,
        first: int,
        chunk: list[tuple[int, Resource | CareLedgerError]],
        report: ImportReport,
    ) -> list[Refusal]:
        """Store a chunk (entries `first`.. in import order) and move its checkpoint in one transaction; the
        chunk's refusals, each named by its line or entry number in the file."""
        refused: list[Refusal] = []
        drafts: list[tuple[int, int, Draft]] = []
        for position, (number, entry) in enumerate(chunk, first):
            try:
                if isinstance(entry, CareLedgerError):
                    raise entry
                patient = self._patient_wallet(entry) if entry.get("resourceType") == "Patient" else None
                drafts.append((position, number, self.records.prepare(entry, patient_address=patient)))
            except CareLedgerError as exc:
                refused.append(Refusal(name, number, str(exc)))
        end = first + len(chunk)
        stored: list[StoredRecord] = []
        try:
            stored = self.records.store(
                [draft for _, _, draft in drafts], check=self._check, also=self._and_checkpoint(key, end)
            )
        except (ValidationError, Conflict, AccessDenied):
            # A resource the batch cannot take (its Patient is not here, say): one by one, to name it.
            for position, number, draft in drafts:
                try:
                    stored.extend(
                        self.records.store([draft], check=self._check, also=self._and_checkpoint(key, position + 1))
                    )
                except (ValidationError, Conflict, AccessDenied) as exc:
                    refused.append(Refusal(name, number, str(exc)))
            with self.records.db.session() as session:
                _checkpoint(key, end)(session, [])
        report.imported += len(stored)
        return sorted(refused, key=lambda refusal: refusal.position)

    def _and_checkpoint(self, key: str, done: int) -> Also:
        """The writer's `also` and the checkpoint's move, in the transaction that stores the chunk."""
        checkpoint = _checkpoint(key, done)

        def both(session: Session, stored: list[StoredRecord]) -> None:
            checkpoint(session, stored)
            if self._also is not None:
                self._also(session, stored)

        return both

    def _done(self, key: str) -> int:
        with self.records.db.session() as session:
            checkpoint = session.get(ImportCheckpoint, key)
            return checkpoint.done if checkpoint else 0


def _source_key(source: Path) -> str:
    """A source file as it is now: another file, or this one changed, starts from the beginning."""
    stat = source.stat()
    key = f"{source.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    return hashlib.sha256(key.encode()).hexdigest()


def _checkpoint(key: str, done: int) -> Also:
    def move(session: Session, _stored: list[StoredRecord]) -> None:
        session.merge(ImportCheckpoint(source=key, done=done))

    return move
