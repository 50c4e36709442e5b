"""The FHIR RESTful interactions: read, vread, create, update, delete, history, search.

Every handler turns its request into an accessor (`_deps`) and asks the guarded
repository `node.access`, which decides and audits; nothing here reads a record any other
way. `FAST_PATHS` lists the two handlers the hot-path middleware calls directly.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Header, Path, Request
from fastapi.responses import JSONResponse, Response

from careledger.api._deps import Authorization, Deps, PurposeOfUse, body_of, call, draft, own_only
from careledger.api._fast_paths import CREATE, READ, FastRoute
from careledger.api._responses import (
    fhir_response,
    history_bundle,
    int_param,
    resource_response,
    searchset,
    typed,
    written,
)
from careledger.errors import NotFound, PreconditionFailed, ValidationError
from careledger.records import parse_resource, search_query

_DEFAULT_COUNT = 50
_MAX_COUNT = 500


class FhirRoutes:
    """The RESTful interactions of one node, as route handlers."""

    def __init__(self, deps: Deps) -> None:
        self._deps = deps
        self._access = deps.node.access

    def router(self) -> APIRouter:
        """The routes, in the order FastAPI must try them (`_history` before an id)."""
        router = APIRouter(tags=["fhir"])
        router.add_api_route("/{resource_type}", self.create, methods=["POST"], status_code=201)
        router.add_api_route("/{resource_type}/{record_id}/_history/{version}", self.vread, methods=["GET"])
        router.add_api_route("/{resource_type}/{record_id}/_history", self.history, methods=["GET"])
        router.add_api_route("/{resource_type}/_history", self.type_history, methods=["GET"])
        router.add_api_route("/{resource_type}/{record_id}", self.read, methods=["GET"])
        router.add_api_route("/{resource_type}/{record_id}", self.update, methods=["PUT"])
        router.add_api_route("/{resource_type}/{record_id}", self.delete, methods=["DELETE"], status_code=204)
        router.add_api_route("/{resource_type}", self.search, methods=["GET"])
        return router

    def fast_paths(self) -> list[FastRoute]:
        """The reads by id and the creates the middleware sends straight here."""
        return [FastRoute("GET", READ, self._read_fast), FastRoute("POST", CREATE, self._create_fast)]

    async def read(
        self, resource_type: str, record_id: str, authorization: Authorization = None, purpose: PurposeOfUse = None
    ) -> JSONResponse:
        """The current version of a record the caller may see (404 if it may not know it exists)."""
        return await self._read_one(resource_type, record_id, None, authorization, purpose)

    async def vread(
        self,
        resource_type: str,
        record_id: str,
        version: Annotated[int, Path(ge=1, le=2**31 - 1)],
        authorization: Authorization = None,
        purpose: PurposeOfUse = None,
    ) -> JSONResponse:
        """One version of a record, each judged on its own category."""
        return await self._read_one(resource_type, record_id, version, authorization, purpose)

    async def create(
        self, resource_type: str, request: Request, authorization: Authorization = None, purpose: PurposeOfUse = None
    ) -> JSONResponse:
        """A new record (the server assigns its id): 201 with `Location` and `ETag`."""
        caller = self._deps.caller(authorization)
        caller.require(resource_type, "write")
        data = typed(parse_resource(await body_of(request)), resource_type)
        data.pop("id", None)
        stored = await self._access.write_async(self._deps.accessor(caller, purpose), draft(caller, data))
        return written(request, stored, data)

    async def update(
        self,
        resource_type: str,
        record_id: str,
        request: Request,
        authorization: Authorization = None,
        purpose: PurposeOfUse = None,
        if_match: Annotated[str | None, Header(alias="If-Match")] = None,
    ) -> JSONResponse:
        """A new version (or the first, under the client's id); 412 if `If-Match` names another version."""
        caller = self._deps.caller(authorization)
        caller.require(resource_type, "write")
        data = typed(parse_resource(await body_of(request)), resource_type)
        if data.get("id") != record_id:
            raise ValidationError(f"the body's id {data.get('id')!r} is not the URL's {record_id!r}")
        if if_match is not None:
            current = await call(self._current_version, record_id)
            if if_match.strip() not in (f'W/"{current}"', f'"{current}"'):
                raise PreconditionFailed(f"{resource_type}/{record_id} is at version {current}, not {if_match}")
        stored = await self._access.write_async(self._deps.accessor(caller, purpose), draft(caller, data))
        return written(request, stored, data)

    async def delete(
        self, resource_type: str, record_id: str, authorization: Authorization = None, purpose: PurposeOfUse = None
    ) -> Response:
        """A deletion, kept as a version of its own: 204."""
        accessor = self._deps.signed_in(authorization, purpose, resource_type, "write")
        await call(self._access.delete, accessor, record_id, resource_type)
        return Response(status_code=204)

    async def history(
        self,
        resource_type: str,
        record_id: str,
        request: Request,
        authorization: Authorization = None,
        purpose: PurposeOfUse = None,
    ) -> JSONResponse:
        """Every version of one record the caller may see, newest first."""
        accessor = self._deps.signed_in(authorization, purpose, resource_type, "read")
        versions = await call(self._access.history, accessor, record_id, resource_type)
        return fhir_response(history_bundle(request, versions))

    async def type_history(
        self,
        resource_type: str,
        request: Request,
        authorization: Authorization = None,
        purpose: PurposeOfUse = None,
    ) -> JSONResponse:
        """The newest versions of a type the caller may see (`_count` of them)."""
        caller = self._deps.caller(authorization)
        caller.require(resource_type, "read")
        count = int_param(request.query_params, "_count", _DEFAULT_COUNT, 1, _MAX_COUNT)
        versions = await call(
            self._access.type_history,
            self._deps.accessor(caller, purpose),
            resource_type,
            patient_address=own_only(caller, resource_type),
            limit=count,
        )
        return fhir_response(history_bundle(request, versions))

    async def search(
        self,
        resource_type: str,
        request: Request,
        authorization: Authorization = None,
        purpose: PurposeOfUse = None,
        prefer: Annotated[str | None, Header(alias="Prefer")] = None,
    ) -> JSONResponse:
        """The records of a type that match and that the caller may see, a page at a time (`_count`, `_offset`)."""
        caller = self._deps.caller(authorization)
        caller.require(resource_type, "read")
        params = request.query_params
        query, unknown = search_query(
            resource_type, params.multi_items(), patient_address=own_only(caller, resource_type)
        )
        if unknown and prefer is not None and "handling=strict" in prefer.replace(" ", ""):
            raise ValidationError(f"unknown search parameters: {', '.join(unknown)}")
        count = int_param(params, "_count", _DEFAULT_COUNT, 0, _MAX_COUNT)
        offset = int_param(params, "_offset", 0, 0, 10**9)
        found = await call(self._access.search, self._deps.accessor(caller, purpose), query)
        bundle = searchset(found[offset : offset + count], str(request.url), total=len(found))
        if offset + count < len(found):
            kept = [(k, v) for k, v in params.multi_items() if k not in ("_offset", "_count")]
            following = urlencode([*kept, ("_count", str(count)), ("_offset", str(offset + count))])
            bundle["link"].append({"relation": "next", "url": f"{request.base_url}{resource_type}?{following}"})
        return fhir_response(bundle)

    async def _read_one(
        self, resource_type: str, record_id: str, version: int | None, authorization: str | None, purpose: str | None
    ) -> JSONResponse:
        accessor = self._deps.signed_in(authorization, purpose, resource_type, "read")
        resource = await self._access.read_async(accessor, record_id, version)
        return resource_response(typed(resource, resource_type, found=True))

    async def _read_fast(
        self, path: tuple[str, ...], _request: Request, authorization: str | None, purpose: str | None
    ) -> Response:
        resource_type, record_id = path
        return await self.read(resource_type, record_id, authorization, purpose)

    async def _create_fast(
        self, path: tuple[str, ...], request: Request, authorization: str | None, purpose: str | None
    ) -> Response:
        (resource_type,) = path
        return await self.create(resource_type, request, authorization, purpose)

    def _current_version(self, record_id: str) -> int:
        try:
            return self._deps.node.records.get(record_id).version
        except NotFound:
            return 0
