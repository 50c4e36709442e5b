"""FHIR Bulk Data Access 2.0: `$export` at system and `Patient` level, as asynchronous jobs.

A kick-off answers 202 with `Content-Location`, the job's status URL; polling it answers
202 with `X-Progress` and `Retry-After` while the job runs, then 200 with the manifest of
NDJSON files, one or more per type; DELETE cancels a job and removes its files. Each type
is one search through the guarded repository, audited as an `export`, so a file holds
only what the caller may see, and no type its token's scopes do not allow. Jobs and files
belong to the caller that started them, with a token for the same compartment: a delegate's
token for one patient reaches neither her own token's jobs nor another patient's. Files are
written to the node's home (mode 0600) and removed when the job is deleted or an hour after
it finished; a restarted server has forgotten its jobs, and a client starts again.
"""

from __future__ import annotations

import json
import secrets
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from careledger.access import Accessor, RecordAccess
from careledger.api._auth import Caller
from careledger.errors import AccessDenied, NotFound, ValidationError
from careledger.fhir import fhir_instant, in_patient_compartment, resource_types
from careledger.records import DateCondition, SearchQuery

NDJSON = "application/fhir+ndjson"
OUTPUT_FORMATS = frozenset({NDJSON, "application/ndjson", "ndjson"})
KEEP_SECONDS = 3600
LINES_PER_FILE = 10_000
RETRY_SECONDS = 2


@dataclass
class ExportJob:
    """One export: who asked, what, how far it got, and its files."""

    job_id: str
    owner: tuple[str, str]
    request: str
    types: list[str]
    since: str | None
    started: datetime
    done_types: int = 0
    outputs: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    finished_at: float | None = None
    cancelled: bool = False


class BulkExports:
    """The node's running and finished exports, and the thread that runs each."""

    def __init__(self, access: RecordAccess, directory: Path, *, clock: Callable[[], float] = time.time) -> None:
        self._access = access
        self._directory = directory
        self._clock = clock
        self._jobs: dict[str, ExportJob] = {}
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
        job = ExportJob(secrets.token_urlsafe(12), _owner(caller), request_url, wanted, since, datetime.now(UTC))
        self._forget_old()
        with self._lock:
            self._jobs[job.job_id] = job
        worker = threading.Thread(target=self._run, args=(job, accessor), name=f"export-{job.job_id}", daemon=True)
        worker.start()
        return job

    def job(self, job_id: str, caller: Caller) -> ExportJob:
        """A job the caller started with a token for the same compartment; `NotFound` for any other (another's
        jobs are not told apart from none)."""
        with self._lock:
            found = self._jobs.get(job_id)
        if found is None or found.owner != _owner(caller) or found.cancelled:
            raise NotFound(f"no export {job_id[:40]}")
        return found

    def cancel(self, job_id: str, caller: Caller) -> None:
        """Stop a job and delete its files."""
        job = self.job(job_id, caller)
        job.cancelled = True
        with self._lock:
            self._jobs.pop(job_id, None)
        shutil.rmtree(self._directory / job_id, ignore_errors=True)

    def file(self, job_id: str, name: str, caller: Caller) -> Path:
        """One output file of a finished job of the caller's."""
        job = self.job(job_id, caller)
        if job.finished_at is None or name not in {Path(o["url"]).name for o in job.outputs}:
            raise NotFound(f"no file {name[:60]} in export {job_id[:40]}")
        return self._directory / job_id / name

    def _run(self, job: ExportJob, accessor: Accessor) -> None:
        """Export each type in turn; a type that fails is reported in the manifest, and the job always ends."""
        folder = self._directory / job.job_id
        try:
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            for resource_type in job.types:
                if job.cancelled:
                    return
                try:
                    job.outputs.extend(_write(folder, resource_type, self._export_type(job, accessor, resource_type)))
                except Exception as exc:  # one type failing does not lose the others
                    job.errors.append(f"{resource_type}: {exc}")
                job.done_types += 1
        except OSError as exc:
            job.errors.append(f"the export's folder: {exc}")
        finally:
            job.finished_at = self._clock()

    def _export_type(self, job: ExportJob, accessor: Accessor, resource_type: str) -> list[dict[str, Any]]:
        dates = (DateCondition("_lastUpdated", "ge", job.since),) if job.since else ()
        return self._access.for_caller(accessor).search(
            SearchQuery(resource_type=resource_type, dates=dates), interaction="export"
        )

    def _forget_old(self) -> None:
        now = self._clock()
        with self._lock:
            old = [j for j in self._jobs.values() if j.finished_at is not None and now - j.finished_at > KEEP_SECONDS]
            for job in old:
                self._jobs.pop(job.job_id, None)
        for job in old:
            shutil.rmtree(self._directory / job.job_id, ignore_errors=True)


def _owner(caller: Caller) -> tuple[str, str]:
    """Whose a job is: the user who asked, and the compartment her token reached (a proxy's: the patient's)."""
    return caller.address, caller.compartment


def _write(folder: Path, resource_type: str, found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`found` as NDJSON files of at most `LINES_PER_FILE` lines, readable by the node alone; their outputs."""
    outputs = []
    for start in range(0, len(found), LINES_PER_FILE):
        chunk = found[start : start + LINES_PER_FILE]
        name = f"{resource_type}-{start // LINES_PER_FILE + 1}.ndjson"
        path = folder / name
        path.touch(mode=0o600)
        path.write_text("".join(json.dumps(r, separators=(",", ":")) + "\n" for r in chunk))
        outputs.append({"type": resource_type, "url": name, "count": len(chunk)})
    return outputs


def manifest(job: ExportJob, base_url: str) -> dict[str, Any]:
    """The completion manifest of a finished job, with absolute file URLs."""
    return {
        "transactionTime": fhir_instant(job.started),
        "request": job.request,
        "requiresAccessToken": True,
        "output": [{**o, "url": f"{base_url}bulk/{job.job_id}/{o['url']}"} for o in job.outputs],
        "error": [],
        "extension": {"errors": job.errors} if job.errors else {},
    }


def progress(job: ExportJob) -> str:
    """`X-Progress` of a running job: how many of its types are done."""
    return f"{job.done_types} of {len(job.types)} types exported"
