"""The FHIR RESTful interactions: read, vread, create, update, delete, history, search, and their conditional forms.

Every handler turns its request into an accessor (`_deps`) and asks the guarded
repository `node.access`, which decides and audits; nothing here reads a record any other
way, and the criteria of a conditional interaction are a search through that same door.
`FAST_PATHS` lists the two handlers the hot-path middleware calls directly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from fastapi import APIRouter, Header, Path, Request
from fastapi.responses import JSONResponse, Response

from careledger.access import Accessor
from careledger.api._auth import Caller
from careledger.api._conditional import not_modified, the_match
from careledger.api._deps import Authorization, Deps, PurposeOfUse, body_of, call, draft, own_only
from careledger.api._fast_paths import FastRoute
from careledger.api._responses import (
    fhir_response,
    history_bundle,
    int_param,
    not_modified_response,
    resource_response,
    typed,
    written,
)
from careledger.api._search_results import DEFAULT_COUNT, MAX_COUNT, search_bundle
from careledger.errors import (
    CareLedgerError,
    Conflict,
    MethodNotAllowed,
    NotFound,
    PreconditionFailed,
    UnknownRecord,
    ValidationError,
)
from careledger.fhir import READ_ONLY_TYPES, is_resource_type
from careledger.records import Resource, StoredRecord, parse_resource

IfNoneMatch = Annotated[str | None, Header(alias="If-None-Match")]
IfModifiedSince = Annotated[str | None, Header(alias="If-Modified-Since")]
Prefer = Annotated[str | None, Header(alias="Prefer", description="return=minimal|representation|OperationOutcome")]


def served(resource_type: str, *, writing: bool = False) -> None:
    """Refuse a type this node does not serve (404), or does not let be written when `writing` (405)."""
    if not is_resource_type(resource_type):
        named = resource_type[:64]
        what = f"operation {named}" if named.startswith("$") else f"resource type {named!r}"
        raise NotFound(f"this server has no {what} (see /metadata)")
    if writing and resource_type in READ_ONLY_TYPES:
        raise MethodNotAllowed(f"{resource_type} cannot be written here: {', '.join(READ_ONLY_TYPES[resource_type])}")


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
        router.add_api_route("/{resource_type}", self.conditional_update, methods=["PUT"])
        router.add_api_route("/{resource_type}", self.conditional_delete, methods=["DELETE"], status_code=204)
        return router

    @staticmethod
    def serves(path_params: Mapping[str, str], method: str) -> bool:
        """Whether a route whose path matched with `path_params` serves `method` there (for `Allow`): the generic
        routes serve only the types this node has (`served`), and writes only of those it lets be written."""
        resource_type = path_params.get("resource_type")
        if resource_type is None:
            return True
        try:
            served(resource_type, writing=method not in ("GET", "HEAD"))
        except CareLedgerError:
            return False
        return True

    def fast_paths(self) -> list[FastRoute]:
        """The reads by id and the creates the middleware sends straight here."""
        return [FastRoute("GET", self.read, self._read_fast), FastRoute("POST", self.create, self._create_fast)]

    async def read(
        self,
        resource_type: str,
        record_id: str,
        authorization: Authorization = None,
        purpose: PurposeOfUse = None,
        if_none_match: IfNoneMatch = None,
        if_modified_since: IfModifiedSince = None,
    ) -> Response:
        """The current version of a record the caller may see (404 if it may not know it exists);
        304 when `If-None-Match` names it or `If-Modified-Since` is no older."""
        resource = await self._read_one(resource_type, record_id, None, authorization, purpose)
        if not_modified(resource, if_none_match, if_modified_since):
            return not_modified_response(resource)
        return resource_response(resource)

    async def vread(
        self,
        resource_type: str,
        record_id: str,
        version: Annotated[int, Path(ge=1, le=2**31 - 1)],
        authorization: Authorization = None,
        purpose: PurposeOfUse = None,
    ) -> JSONResponse:
        """One version of a record, each judged on its own category."""
        resource = await self._read_one(resource_type, record_id, version, authorization, purpose)
        return resource_response(resource)

    async def create(
        self,
        resource_type: str,
        request: Request,
        authorization: Authorization = None,
        purpose: PurposeOfUse = None,
        if_none_exist: Annotated[str | None, Header(alias="If-None-Exist")] = None,
        prefer: Prefer = None,
    ) -> Response:
        """A new record (the server assigns its id): 201 with `Location` and `ETag`.

        With `If-None-Exist: <search>`: 200 and the one record it matches instead, if one does; 412 if several do.
        Criteria in the query string (`POST /Patient?identifier=…`, as fhirpy's `get_or_create` sends them) count
        the same.
        """
        caller = self._caller(authorization, resource_type, "write")
        data = typed(parse_resource(await body_of(request)), resource_type)
        data.pop("id", None)
        accessor = self._deps.accessor(caller, purpose)
        conditions = if_none_exist if if_none_exist is not None else request.url.query or None
        if conditions is not None:
            existing = await self._match(caller, accessor, resource_type, conditions)
            if existing is not None:
                return resource_response(existing)
        stored = await self._write(accessor, caller, data)
        return written(request, stored, data, prefer)

    async def update(
        self,
        resource_type: str,
        record_id: str,
        request: Request,
        authorization: Authorization = None,
        purpose: PurposeOfUse = None,
        if_match: Annotated[str | None, Header(alias="If-Match")] = None,
        prefer: Prefer = None,
    ) -> Response:
        """A new version (or the first, under the client's id); 412 if `If-Match` names another version."""
        caller = self._caller(authorization, resource_type, "write")
        data = typed(parse_resource(await body_of(request)), resource_type)
        if data.get("id") != record_id:
            raise ValidationError(f"the body's id {data.get('id')!r} is not the URL's {record_id!r}")
        accessor = self._deps.accessor(caller, purpose)
        current = await call(self._access.for_caller(accessor).current_version, record_id, "update")
        if if_match is not None and if_match.strip() not in (f'W/"{current}"', f'"{current}"'):
            if current == 0:  # a version of a record there is none of: told as a record withheld is
                raise UnknownRecord(record_id)
            raise PreconditionFailed(f"{resource_type}/{record_id} is at version {current}, not {if_match}")
        stored = await self._write(accessor, caller, data)
        return written(request, stored, data, prefer)

    async def conditional_update(
        self,
        resource_type: str,
        request: Request,
        authorization: Authorization = None,
        purpose: PurposeOfUse = None,
        prefer: Prefer = None,
    ) -> Response:
        """`PUT /Type?criteria`: update the one record they match, or create one if none does; 412 if several do."""
        caller = self._caller(authorization, resource_type, "write")
        data = typed(parse_resource(await body_of(request)), resource_type)
        accessor = self._deps.accessor(caller, purpose)
        existing = await self._match(caller, accessor, resource_type, request.url.query)
        if existing is not None:
            if data.get("id", existing["id"]) != existing["id"]:
                raise ValidationError(f"the body's id {data['id']!r} is not the matched {existing['id']!r}")
            data["id"] = existing["id"]
        elif "id" in data and await call(self._access.for_caller(accessor).current_version, data["id"], "update") > 0:
            raise Conflict(f"{resource_type}/{data['id']} exists but does not match {request.url.query!r}")
        stored = await self._write(accessor, caller, data)
        return written(request, stored, data, prefer)

    async def delete(
        self, resource_type: str, record_id: str, authorization: Authorization = None, purpose: PurposeOfUse = None
    ) -> Response:
        """A deletion, kept as a version of its own: 204."""
        accessor = self._deps.accessor(self._caller(authorization, resource_type, "write"), purpose)
        await self._delete(accessor, record_id, resource_type)
        return Response(status_code=204)

    async def conditional_delete(
        self, resource_type: str, request: Request, authorization: Authorization = None, purpose: PurposeOfUse = None
    ) -> Response:
        """`DELETE /Type?criteria`: delete the one record they match (204); 404 if none does, 412 if several do."""
        caller = self._caller(authorization, resource_type, "write")
        accessor = self._deps.accessor(caller, purpose)
        existing = await self._match(caller, accessor, resource_type, request.url.query)
        if existing is None:
            raise NotFound(f"no {resource_type} this caller may see matches {request.url.query!r}")
        await self._delete(accessor, existing["id"], resource_type)
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
        accessor = self._deps.accessor(self._caller(authorization, resource_type, "read"), purpose)
        versions = await call(self._access.for_caller(accessor).history, record_id, resource_type)
        return fhir_response(history_bundle(request, versions))

    async def type_history(
        self,
        resource_type: str,
        request: Request,
        authorization: Authorization = None,
        purpose: PurposeOfUse = None,
    ) -> JSONResponse:
        """The newest versions of a type the caller may see (`_count` of them)."""
        caller = self._caller(authorization, resource_type, "read")
        count = int_param(request.query_params, "_count", DEFAULT_COUNT, 1, MAX_COUNT)
        versions = await call(
            self._access.for_caller(self._deps.accessor(caller, purpose)).type_history,
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
        prefer: Prefer = None,
    ) -> JSONResponse:
        """The records of a type that match and that the caller may see, a page at a time (`_count`, `_offset`),
        shaped by `_summary`, `_elements` and `_total`."""
        caller = self._caller(authorization, resource_type, "read")
        bundle = await search_bundle(
            request, resource_type, self._access, self._deps.accessor(caller, purpose), caller, prefer
        )
        return fhir_response(bundle)

    async def _read_one(
        self, resource_type: str, record_id: str, version: int | None, authorization: str | None, purpose: str | None
    ) -> dict[str, object]:
        accessor = self._deps.accessor(self._caller(authorization, resource_type, "read"), purpose)
        resource = await self._access.for_caller(accessor).read_async(record_id, version)
        return typed(resource, resource_type, found=True)

    async def _read_fast(
        self, path: tuple[str, ...], request: Request, authorization: str | None, purpose: str | None
    ) -> Response:
        resource_type, record_id = path
        headers = request.headers
        return await self.read(
            resource_type,
            record_id,
            authorization,
            purpose,
            headers.get("if-none-match"),
            headers.get("if-modified-since"),
        )

    async def _create_fast(
        self, path: tuple[str, ...], request: Request, authorization: str | None, purpose: str | None
    ) -> Response:
        (resource_type,) = path
        headers = request.headers
        return await self.create(
            resource_type, request, authorization, purpose, headers.get("if-none-exist"), headers.get("prefer")
        )

    async def _write(self, accessor: Accessor, caller: Caller, data: Resource) -> StoredRecord:
        """Store `data` as `accessor`: an Appointment through the visits, which hold or free the Slots it names by
        its status (a `cancelled` one frees them; 409 if one is another booking's; 400 for one with a fee she would
        pay: `$prepare-book` books those); any other record straight through the door."""
        repo = self._access.for_caller(accessor)
        if data["resourceType"] == "Appointment":
            return await call(self._deps.node.visits.written, repo, data)
        return await repo.write_async(draft(caller, data))

    async def _delete(self, accessor: Accessor, record_id: str, resource_type: str) -> None:
        """Delete a record as `accessor`; an Appointment is cancelled first as `$cancel` cancels it (`Visits.cancel`),
        so its Slots are free again and a fee held for it refunded."""
        repo = self._access.for_caller(accessor)
        if resource_type == "Appointment":
            await call(self._deps.node.visits.cancel, repo, record_id)
        await call(repo.delete, record_id, resource_type)

    def _caller(self, authorization: str | None, resource_type: str, access: str) -> Caller:
        """The caller, once the type is one this node serves for `access` (404 whoever asks: nothing to hide)
        and the token's scopes allow it."""
        served(resource_type, writing=access == "write")
        caller = self._deps.caller(authorization)
        caller.require(resource_type, access)
        return caller

    async def _match(self, caller: Caller, accessor: Accessor, resource_type: str, conditions: str) -> Resource | None:
        """The one record a conditional interaction's criteria match, as `accessor` may see it (412 if several)."""
        owner = own_only(caller, resource_type)
        return await call(the_match, self._access, accessor, resource_type, conditions, patient_address=owner)
