"""Bulk export jobs and their files, in the node's database: started at one worker, polled, fetched and
deleted at any.

```
job state (JSON) ─► ticket "export-job" under the job id   (replaced as the job runs; gone once deleted)
NDJSON file ─AES-256-GCM(key, AAD = job id ‖ name)─► base64 ─► ticket "export-file" under "job id/name"
```

Both expire with the job (an hour after its last save), unless deleted sooner, or forgotten by an
erasure of what they hold. The files hold health data: they are sealed under a key derived from the
node's token secret, which lives in its home, not in the database, so a copy of the database shows
nothing of them.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Collection
from typing import Any

from careledger.crypto import AtRestKey
from careledger.shared._tickets import Tickets

_JOB = "export-job"
_FILE = "export-file"


class ExportStore:
    """Export jobs' state and sealed files, shared by every worker of the node."""

    def __init__(self, tickets: Tickets, key: bytes) -> None:
        """`key` seals the files: any secret the node's workers share and its database does not hold."""
        self._tickets = tickets
        self._key = AtRestKey(hashlib.sha256(b"careledger:export-files|" + key).digest())

    def create(self, job_id: str, state: dict[str, Any], ttl: float) -> None:
        """Keep a new job's state for `ttl` seconds."""
        self._tickets.put(_JOB, job_id, state, ttl)

    def save(self, job_id: str, state: dict[str, Any], ttl: float) -> bool:
        """Replace a job's state, for `ttl` seconds from now; False if the job is gone (deleted at some worker)."""
        return self._tickets.replace(_JOB, job_id, state, ttl)

    def state(self, job_id: str) -> dict[str, Any] | None:
        """A job's state; None if there is no such job (or it expired, or was deleted)."""
        return self._tickets.peek(_JOB, job_id)

    def put_file(self, job_id: str, name: str, data: bytes, ttl: float) -> None:
        """Keep one output file of a job, sealed, for `ttl` seconds."""
        sealed = self._key.seal(data, _aad(job_id, name))
        self._tickets.put(_FILE, f"{job_id}/{name}", {"sealed": base64.b64encode(sealed).decode()}, ttl)

    def file(self, job_id: str, name: str) -> bytes | None:
        """One output file of a job, opened; None if it is not kept."""
        found = self._tickets.peek(_FILE, f"{job_id}/{name}")
        if found is None:
            return None
        return self._key.open(base64.b64decode(found["sealed"]), _aad(job_id, name))

    def remove(self, job_id: str, names: list[str]) -> None:
        """Delete a job and the files named."""
        _remove(self._tickets, job_id, names)


def forget_exports(tickets: Tickets, owners: Collection[str]) -> int:
    """Delete every job any of `owners` started, and its files: an erasure's, since they may hold what it destroys
    (a job still running stops at its next save, and removes what it wrote). How many jobs went."""
    jobs = [job for job in tickets.every(_JOB) if set(job["owner"]) & set(owners)]
    for job in jobs:
        _remove(tickets, job["job_id"], [output["url"] for output in job["outputs"]])
    return len(jobs)


def _remove(tickets: Tickets, job_id: str, names: list[str]) -> None:
    tickets.take(_JOB, job_id)
    for name in names:
        tickets.take(_FILE, f"{job_id}/{name}")


def _aad(job_id: str, name: str) -> bytes:
    return f"careledger/export/{job_id}/{name}".encode()
