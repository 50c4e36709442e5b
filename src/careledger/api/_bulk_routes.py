"""The routes of Bulk Data export: kick-off at system and Patient level, status, files, cancel (see `_bulk`).

Group-level export waits for Groups: a Group names many patients and a record here
belongs to one, so this node cannot store one yet.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from careledger.api._auth import Caller
from careledger.api._bulk import NDJSON, OUTPUT_FORMATS, RETRY_SECONDS, BulkExports, manifest, progress
from careledger.api._deps import Authorization, Deps, PurposeOfUse, call
from careledger.errors import ValidationError
from careledger.shared import ExportStore


def bulk_router(deps: Deps) -> APIRouter:
    """`$export` kick-offs and the job URLs they answer with."""
    router = APIRouter(tags=["bulk"])
    # The files are sealed under a key from the token secret: every worker has it, the database does not.
    exports = BulkExports(deps.node.access, ExportStore(deps.node.shared.tickets, deps.auth.derived_key("exports")))

    async def kick_off(request: Request, caller: Caller, purpose: str | None, level: str) -> Response:
        """Check a kick-off's parameters and start its job: 202 and the status URL."""
        params = request.query_params
        output = params.get("_outputFormat", NDJSON)
        if output not in OUTPUT_FORMATS:
            raise ValidationError(f"_outputFormat {output[:60]!r} is not supported: {NDJSON}")
        if "_typeFilter" in params:
            raise ValidationError("_typeFilter is not supported: export by _type and _since")
        types = [t for value in params.getlist("_type") for t in value.split(",") if t] or None
        job = await call(
            exports.start,
            caller,
            deps.accessor(caller, purpose),
            str(request.url),
            level=level,
            types=types,
            since=params.get("_since"),
        )
        return Response(status_code=202, headers={"Content-Location": f"{request.base_url}bulk/{job.job_id}"})

    @router.get("/$export")
    async def system_export(
        request: Request, authorization: Authorization = None, purpose: PurposeOfUse = None
    ) -> Response:
        """Export every type the token may read (or `_type`), changed since `_since`: 202 and a status URL."""
        return await kick_off(request, deps.caller(authorization), purpose, "system")

    @router.get("/Patient/$export")
    async def patient_export(
        request: Request, authorization: Authorization = None, purpose: PurposeOfUse = None
    ) -> Response:
        """Export the Patient compartments the caller may see."""
        return await kick_off(request, deps.caller(authorization), purpose, "patient")

    @router.get("/bulk/{job_id}")
    async def status(job_id: str, request: Request, authorization: Authorization = None) -> Response:
        """202 with `X-Progress` while the export runs; then 200 and its manifest."""
        job = await call(exports.status, job_id, deps.caller(authorization))
        if job.finished_at is None:
            return Response(status_code=202, headers={"X-Progress": progress(job), "Retry-After": str(RETRY_SECONDS)})
        return JSONResponse(manifest(job, str(request.base_url)), headers={"Expires": "3600"})

    @router.delete("/bulk/{job_id}", status_code=202)
    async def cancel(job_id: str, authorization: Authorization = None) -> Response:
        """Cancel an export, or delete a finished one's files."""
        await call(exports.cancel, job_id, deps.caller(authorization))
        return Response(status_code=202)

    @router.get("/bulk/{job_id}/{name}")
    async def output(job_id: str, name: str, authorization: Authorization = None) -> Response:
        """One NDJSON file of a finished export."""
        return Response(await call(exports.file, job_id, name, deps.caller(authorization)), media_type=NDJSON)

    return router
