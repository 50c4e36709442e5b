"""FHIR Bulk Data Access 2.0: `$export` at system and `Patient` level, as asynchronous jobs.

A kick-off answers 202 with `Content-Location`, the job's status URL; polling it answers
202 with `X-Progress` and `Retry-After` while the job runs, then 200 with the manifest of
NDJSON files, one or more per type; DELETE cancels a job and removes its files. Each type
is one search through the guarded repository, audited as an `export`, so a file holds
only what the caller may see, and no type its token's scopes do not allow. Jobs and files
belong to the caller that started them, with a token for the same compartment: a delegate's
token for one patient reaches neither her own token's jobs nor another patient's.

```
kick-off at worker A ─► job state in the database ─► A's thread: per type, search ─► sealed NDJSON in the database
                                                     └ saves the state after each type, and every few seconds
poll / fetch / DELETE at any worker ─► the state and the files from the database (`shared.ExportStore`)
```

The job runs in the worker that took the kick-off; the others read what it saved. A job whose worker
stopped (its state not saved for `STALE_SECONDS`) is told as failed, not as running for ever. Jobs and
files are removed when the job is deleted or an hour after it was last saved.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from careledger.access import Accessor, RecordAccess
from careledger.api._auth import Caller
from careledger.errors import AccessDenied, CareLedgerError, NotFound, ValidationError
from careledger.fhir import fhir_instant, in_patient_compartment, resource_types
from careledger.records import DateCondition, SearchQuery
from careledger.shared import ExportStore

NDJSON = "application/fhir+ndjson"
OUTPUT_FORMATS = frozenset({NDJSON, "application/ndjson", "ndjson"})
KEEP_SECONDS = 3600
LINES_PER_FILE = 10_000
RETRY_SECONDS = 2
# A running job's state is saved at least this often, and one not saved for `STALE_SECONDS` has lost its worker.
HEARTBEAT_SECONDS = 5.0
STALE_SECONDS = 30.0


@dataclass
class ExportJob:
    """One export: who asked, what, how far it got, and its files (as kept in the database, JSON)."""

    job_id: str
    owner: list[str]
    request: str
    types: list[str]
    since: str | None
    started: str
    done_types: int = 0
    outputs: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    finished_at: float | None = None
    saved_at: float = 0.0

    def stopped(self, now: float) -> bool:
        """Whether the job's worker stopped before it finished (its state not saved for a while)."""
        return self.finished_at is None and now - self.saved_at > STALE_SECONDS


class BulkExports:
    """The node's exports: kicked off here, run by a thread of this worker, kept where every worker reads them."""

    def __init__(
        self,
        access: RecordAccess,
        store: ExportStore,
        *,
        clock: Callable[[], float] = time.time,
        heartbeat: float = HEARTBEAT_SECONDS,
    ) -> None:
        self._access = access
        self._store = store
        self._clock = clock
        self._heartbeat = heartbeat
        self._lock = threading.Lock()

    def start(
        self,
        caller: Caller,
        accessor: Accessor,
        request_url: str,
        *,
        level: str,
        types: list[str] | None,
        since: str | None,
    ) -> ExportJob:
        """Check a kick-off and start its job; `ValidationError` for a type or `_since` it cannot honour."""
        if since is not None:
            try:
                datetime.fromisoformat(since.replace("Z", "+00:00"))
            except ValueError:
                raise ValidationError(f"_since must be a FHIR instant, not {since[:40]!r}") from None
        wanted = types or [t for t in resource_types() if caller.may(t, "read")]
        for resource_type in wanted:
            if resource_type not in resource_types():
                raise ValidationError(f"_type names {resource_type[:64]!r}, which is not a resource type")
            if not caller.may(resource_type, "read"):
                raise AccessDenied(f"the token's scopes do not allow reading {resource_type}")
        if level != "system":
            wanted = [t for t in wanted if in_patient_compartment(t)]
        started = fhir_instant(datetime.now(UTC))
        job = ExportJob(secrets.token_urlsafe(12), _owner(caller), request_url, wanted, since, started)
        job.saved_at = self._clock()
        self._store.create(job.job_id, asdict(job), KEEP_SECONDS)
        worker = threading.Thread(target=self._run, args=(job, accessor), name=f"export-{job.job_id}", daemon=True)
        worker.start()
        return job

    def job(self, job_id: str, caller: Caller) -> ExportJob:
        """A job the caller started with a token for the same compartment; `NotFound` for any other (another's
        jobs are not told apart from none)."""
        state = self._store.state(job_id)
        found = ExportJob(**state) if state is not None else None
        if found is None or found.owner != _owner(caller):
            raise NotFound(f"no export {job_id[:40]}")
        return found

    def status(self, job_id: str, caller: Caller) -> ExportJob:
        """`job`, refused as failed (500, an OperationOutcome, as the Bulk Data spec asks) if its worker stopped."""
        job = self.job(job_id, caller)
        if job.stopped(self._clock()):
            raise CareLedgerError("the export failed: the worker running it stopped before it finished; start it again")
        return job

    def cancel(self, job_id: str, caller: Caller) -> None:
        """Stop a job and delete its files (its thread, at whichever worker, stops at its next save)."""
        job = self.job(job_id, caller)
        self._store.remove(job_id, [o["url"] for o in job.outputs])

    def file(self, job_id: str, name: str, caller: Caller) -> bytes:
        """One output file of a finished job of the caller's."""
        job = self.job(job_id, caller)
        found = self._store.file(job_id, name) if name in {o["url"] for o in job.outputs} else None
        if job.finished_at is None or found is None:
            raise NotFound(f"no file {name[:60]} in export {job_id[:40]}")
        return found

    def _run(self, job: ExportJob, accessor: Accessor) -> None:
        """Export each type in turn; a type that fails is reported in the manifest, and the job always ends. A job
        deleted meanwhile (at any worker) stops at its next save, and the files it wrote since are removed."""
        beating = threading.Event()
        threading.Thread(target=self._beat, args=(job, beating), name=f"export-beat-{job.job_id}", daemon=True).start()
        try:
            for resource_type in job.types:
                try:
                    found = self._export_type(job, accessor, resource_type)
                    outputs = [self._put(job, resource_type, start, found) for start in _starts(found)]
                except Exception as exc:  # one type failing does not lose the others
                    outputs = []
                    told = exc.public if isinstance(exc, CareLedgerError) else type(exc).__name__  # not a driver's text
                    job.errors.append(f"{resource_type}: {told}")
                with self._lock:
                    job.outputs.extend(outputs)
                    job.done_types += 1
                if not self._save(job):
                    return
            job.finished_at = self._clock()
            self._save(job)
        finally:
            beating.set()

    def _beat(self, job: ExportJob, done: threading.Event) -> None:
        """Save the running job's state every `heartbeat` seconds, so the other workers see it is alive."""
        while not done.wait(self._heartbeat):
            if not self._save(job):
                return

    def _save(self, job: ExportJob) -> bool:
        """Save the job's state; False (its files removed) if it was deleted meanwhile."""
        with self._lock:
            job.saved_at = self._clock()
            state = asdict(job)
        if self._store.save(job.job_id, state, KEEP_SECONDS):
            return True
        self._store.remove(job.job_id, [o["url"] for o in state["outputs"]])
        return False

    def _put(self, job: ExportJob, resource_type: str, start: int, found: list[dict[str, Any]]) -> dict[str, Any]:
        """The resources from `start` (at most `LINES_PER_FILE`) as one NDJSON file kept with the job; its output."""
        chunk = found[start : start + LINES_PER_FILE]
        name = f"{resource_type}-{start // LINES_PER_FILE + 1}.ndjson"
        data = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in chunk).encode()
        self._store.put_file(job.job_id, name, data, KEEP_SECONDS)
        return {"type": resource_type, "url": name, "count": len(chunk)}

    def _export_type(self, job: ExportJob, accessor: Accessor, resource_type: str) -> list[dict[str, Any]]:
        dates = (DateCondition("_lastUpdated", "ge", job.since),) if job.since else ()
        return self._access.for_caller(accessor).search(
            SearchQuery(resource_type=resource_type, dates=dates), interaction="export"
        )


def _owner(caller: Caller) -> list[str]:
    """Whose a job is: the user who asked, and the compartment her token reached (a proxy's: the patient's)."""
    return [caller.address, caller.compartment]


def _starts(found: list[dict[str, Any]]) -> range:
    """Where each file of `found` begins."""
    return range(0, len(found), LINES_PER_FILE)


def manifest(job: ExportJob, base_url: str) -> dict[str, Any]:
    """The completion manifest of a finished job, with absolute file URLs."""
    return {
        "transactionTime": job.started,
        "request": job.request,
        "requiresAccessToken": True,
        "output": [{**o, "url": f"{base_url}bulk/{job.job_id}/{o['url']}"} for o in job.outputs],
        "error": [],
        "extension": {"errors": job.errors} if job.errors else {},
    }


def progress(job: ExportJob) -> str:
    """`X-Progress` of a running job: how many of its types are done."""
    return f"{job.done_types} of {len(job.types)} types exported"
