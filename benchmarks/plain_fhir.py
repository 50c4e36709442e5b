"""A plain FHIR server, the baseline `bench_ehr` measures CareLedger against (issue 37).

What a minimal but honest FHIR server does with the EHR journey's requests, and nothing of
what CareLedger adds: each resource is validated with the same FHIR models (fhir.resources, R4B),
given an id and `meta`, and stored unencrypted as JSONB in PostgreSQL — no consent, no audit,
no sealing, no chain. Searches are the journey's (`patient`, `code`, `date`) over columns and
indexes made for them; connections come from a pool; handlers run on the event loop
(psycopg's async driver), one uvicorn worker. Run it as `python -m benchmarks.plain_fhir
DB_URL PORT`; it creates its table in the database it is given.

`python -m benchmarks.plain_fhir bare PORT` serves the bare FastAPI endpoints `bench_api`
compares single reads and creates with: the body parsed and kept in memory, nothing else.
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import psycopg
import uvicorn
from fastapi import FastAPI, Request, Response
from fhir.resources.R4B import get_fhir_model_class
from psycopg.types.json import Jsonb

POOL = 8
_SCHEMA = """
CREATE TABLE IF NOT EXISTS plain_resources (
    type text NOT NULL, id text NOT NULL, patient text, date text, codes text[] NOT NULL,
    body jsonb NOT NULL, PRIMARY KEY (type, id));
CREATE INDEX IF NOT EXISTS plain_by_patient ON plain_resources (type, patient, date);
CREATE INDEX IF NOT EXISTS plain_by_code ON plain_resources USING gin (codes);
"""
_DATES = ("effectiveDateTime", "onsetDateTime", "performedDateTime", "recordedDate", "birthDate")


class Pool:
    """A fixed pool of async PostgreSQL connections (psycopg_pool is not a dependency)."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._idle: asyncio.Queue[psycopg.AsyncConnection[Any]] = asyncio.Queue()

    async def open(self) -> None:
        """Connect `POOL` connections in autocommit (each statement is its own transaction)."""
        for _ in range(POOL):
            self._idle.put_nowait(await psycopg.AsyncConnection.connect(self._url, autocommit=True))

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """Borrow a connection, waiting for one when all are busy."""
        connection = await self._idle.get()
        try:
            yield connection
        finally:
            self._idle.put_nowait(connection)

    async def close(self) -> None:
        """Close every connection."""
        while not self._idle.empty():
            await self._idle.get_nowait().close()


def app(url: str) -> FastAPI:
    """The plain server over the PostgreSQL database at `url`."""
    pool = Pool(url)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await pool.open()
        async with pool.connection() as connection:
            await connection.execute(_SCHEMA)
        yield
        await pool.close()

    server = FastAPI(lifespan=lifespan)

    @server.post("/{kind}")
    async def create(kind: str, request: Request) -> Response:
        """Validate, give an id and `meta`, store; 201 with the stored resource."""
        body = json.loads(await request.body())
        if body.get("resourceType") != kind:
            return _json({"issue": "resourceType does not match the URL"}, 400)
        body["id"] = str(uuid.uuid4())
        body["meta"] = {"versionId": "1", "lastUpdated": datetime.now(UTC).isoformat()}
        try:
            get_fhir_model_class(kind).model_validate(body)
        except ValueError as invalid:  # an unknown type, or an invalid resource (pydantic's error is one)
            return _json({"issue": str(invalid)}, 400)
        row = (kind, body["id"], _patient(body), _date(body), _codes(body), Jsonb(body))
        async with pool.connection() as connection:
            await connection.execute("INSERT INTO plain_resources VALUES (%s, %s, %s, %s, %s, %s)", row)
        return _json(body, 201, location=f"/{kind}/{body['id']}/_history/1")

    @server.get("/{kind}/{resource_id}")
    async def read(kind: str, resource_id: str) -> Response:
        """The stored resource, or 404."""
        async with pool.connection() as connection:
            cursor = await connection.execute(
                "SELECT body FROM plain_resources WHERE type = %s AND id = %s", (kind, resource_id)
            )
            found = await cursor.fetchone()
        return _json(found[0]) if found else _json({"issue": "not found"}, 404)

    @server.get("/{kind}")
    async def search(kind: str, patient: str, code: str | None = None, date: str | None = None) -> Response:
        """A searchset of the patient's resources of `kind`, narrowed by `code` and `date` (a day)."""
        sql = "SELECT body FROM plain_resources WHERE type = %s AND patient = %s"
        params: list[Any] = [kind, f"Patient/{patient}"]
        if code is not None:
            sql += " AND codes @> %s"
            params.append([code])
        if date is not None:
            sql += " AND date >= %s AND date < %s"
            params += [date, date + "\uffff"]
        async with pool.connection() as connection:
            cursor = await connection.execute(sql + " LIMIT 50", params)
            rows = await cursor.fetchall()
        entries = [{"fullUrl": f"{kind}/{row[0]['id']}", "resource": row[0]} for row in rows]
        return _json({"resourceType": "Bundle", "type": "searchset", "total": len(entries), "entry": entries})

    return server


def bare() -> FastAPI:
    """FastAPI and nothing behind it: what a read by id or a create costs in the framework alone."""
    server = FastAPI()
    kept: dict[str, bytes] = {}

    @server.post("/{kind}")
    async def create(kind: str, request: Request) -> Response:
        """Parse, give an id, keep; 201."""
        body = json.loads(await request.body())
        body["id"] = str(uuid.uuid4())
        kept[body["id"]] = json.dumps(body).encode()
        return Response(
            kept[body["id"]], 201, {"Location": f"/{kind}/{body['id']}"}, media_type="application/fhir+json"
        )

    @server.get("/{kind}/{resource_id}")
    async def read(kind: str, resource_id: str) -> Response:  # noqa: ARG001 - the route's, as a FHIR read's
        """What was kept, or 404."""
        found = kept.get(resource_id)
        return Response(found, 200, media_type="application/fhir+json") if found else _json({}, 404)

    return server


def _patient(body: dict[str, Any]) -> str | None:
    if body["resourceType"] == "Patient":
        return f"Patient/{body['id']}"
    return (body.get("subject") or body.get("patient") or {}).get("reference")


def _date(body: dict[str, Any]) -> str | None:
    period = body.get("period") or {}
    return next((body[name] for name in _DATES if name in body), period.get("start"))


def _codes(body: dict[str, Any]) -> list[str]:
    codings = (body.get("code") or {}).get("coding", [])
    return [f"{c.get('system', '')}|{c.get('code', '')}" for c in codings] + [c.get("code", "") for c in codings]


def _json(body: object, status: int = 200, location: str | None = None) -> Response:
    headers = {"Location": location} if location else None
    return Response(json.dumps(body), status, headers, media_type="application/fhir+json")


if __name__ == "__main__":
    uvicorn.run(
        bare() if sys.argv[1] == "bare" else app(sys.argv[1]),
        host="127.0.0.1",
        port=int(sys.argv[2]),
        workers=1,
        log_level="warning",
    )
