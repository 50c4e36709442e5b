"""The FHIR R4 REST API of a node (FastAPI): CRUD, history, search, consents, under SIWE auth.

Every request is authenticated (except `/metadata`, `/auth/*` and the OpenAPI docs), every
read goes through `RecordAccess` (consent for the purpose in `X-Purpose-Of-Use`, audited),
and every failure is an OperationOutcome with the status `careledger.api._errors` gives it.
The record services are synchronous and most calls run in the server's thread pool; reads by
id, creates and updates, the requests an EHR makes most, use the services' async paths
instead, which hand only the durable commits to a committer thread (see `_group_commit`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar
from urllib.parse import urlencode

from fastapi import FastAPI, Header, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from web3 import Web3

from careledger.access import Accessor, encryption_key_from_hex
from careledger.api._auth import Caller, SiweAuth
from careledger.api._bundles import EntryRunner, run_batch, transaction_drafts, transaction_response
from careledger.api._capability import capability_statement
from careledger.api._errors import operation_outcome
from careledger.api._fast_paths import FastPaths
from careledger.api._limits import BoundedRequests, RateLimiter
from careledger.consent import Purpose, consent_resource
from careledger.errors import (
    AccessDenied,
    CareLedgerError,
    NotFound,
    PreconditionFailed,
    TooMany,
    Unauthenticated,
    ValidationError,
    http_status,
)
from careledger.exchange import SignedFetch
from careledger.fhir import in_patient_compartment, loads_object
from careledger.node import Node
from careledger.records import (
    MAX_RESOURCE_BYTES,
    Draft,
    Resource,
    SearchQuery,
    StoredRecord,
    parse_resource,
    search_query,
)

_T = TypeVar("_T")

FHIR_JSON = "application/fhir+json"
_DEFAULT_COUNT = 50
_MAX_COUNT = 500


class LoginRequest(BaseModel):
    message: str
    signature: str


class Token(BaseModel):
    access_token: str
    token_type: str = "Bearer"  # noqa: S105 - the OAuth token type, not a secret
    expires_in: int
    scope: str
    address: str


Authorization = Annotated[str | None, Header(description="Bearer <JWT from /auth/login>")]
PurposeOfUse = Annotated[str | None, Header(alias="X-Purpose-Of-Use", description="HL7 PurposeOfUse")]


def fhir_response(body: dict[str, Any], status: int = 200, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status, media_type=FHIR_JSON, headers=headers)


def error_response(error: CareLedgerError) -> JSONResponse:
    """The OperationOutcome of `error`, with its HTTP status (and the headers that status calls for)."""
    status, code = http_status(error)
    headers = {}
    if isinstance(error, Unauthenticated):
        headers["WWW-Authenticate"] = 'Bearer realm="careledger"'
    elif isinstance(error, TooMany):
        headers["Retry-After"] = str(max(1, math.ceil(error.retry_after)))
    return fhir_response(operation_outcome(code, str(error)), status, headers)


def create_app(
    node: Node,
    auth: SiweAuth,
    *,
    max_body: int = MAX_RESOURCE_BYTES,
) -> FastAPI:
    """The API of `node`; `auth` decides who is signed in."""
    app = FastAPI(
        title="CareLedger FHIR API",
        description="FHIR R4 over encrypted records, consent on chain, Sign-In with Ethereum.",
        version="1",
    )

    @app.exception_handler(CareLedgerError)
    async def careledger_error(_request: Request, exc: CareLedgerError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def bad_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        return fhir_response(operation_outcome("invalid", problems), 400)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = "not-found" if exc.status_code == 404 else "not-supported" if exc.status_code == 405 else "exception"
        return fhir_response(operation_outcome(code, str(exc.detail)), exc.status_code, exc.headers)

    async def call(function: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
        return await run_in_threadpool(function, *args, **kwargs)

    async def caller_of(authorization: str | None) -> Caller:
        return auth.caller(authorization)

    def accessor(caller: Caller, purpose: str | None) -> Accessor:
        return Accessor(caller.address, Purpose.parse(purpose) if purpose else Purpose.TREAT)

    async def read_one(
        resource_type: str, record_id: str, version: int | None, authorization: str | None, purpose: str | None
    ) -> JSONResponse:
        caller = await caller_of(authorization)
        caller.require(resource_type, "read")
        resource = await node.access.read_async(accessor(caller, purpose), record_id, version)
        return _resource_response(_typed(resource, resource_type, found=True))

    async def body_of(request: Request) -> bytes:
        """The body, which `BoundedRequests` has already read within its limits."""
        return await request.body()

    @app.get("/metadata", tags=["fhir"])
    async def metadata(request: Request) -> JSONResponse:
        return fhir_response(capability_statement(str(request.base_url), datetime.now(UTC).date().isoformat()))

    @app.get("/auth/nonce", tags=["auth"])
    async def nonce() -> dict[str, str]:
        return {"nonce": auth.nonce(), "domain": auth.domain, "chain_id": str(auth.chain_id)}

    @app.post("/auth/login", tags=["auth"], openapi_extra=_json_body(LoginRequest))
    async def login(request: Request) -> Token:
        try:
            body = LoginRequest.model_validate(loads_object(await body_of(request)))
        except PydanticValidationError as exc:
            raise ValidationError(f"a login is {{message, signature}}: {exc.errors()[0]['msg']}") from None
        token, caller = await call(auth.login, body.message, body.signature)
        return Token(access_token=token, expires_in=900, scope=" ".join(sorted(caller.scopes)), address=caller.address)

    @app.post("/Patient/{record_id}/$claim", tags=["fhir"])
    async def claim(record_id: str, request: Request) -> JSONResponse:
        """A patient claims the custodial identity of `Patient/{record_id}` with the front desk's code and a
        SIWE signature of her own wallet (a `Parameters` body: code, message, signature, and encryptionKey
        if her wallet is not registered); no sign-in. Her wallet signs in as that patient afterwards."""
        given = _parameters(loads_object(await body_of(request)), required=("code", "message", "signature"))
        wallet = await call(auth.verify, given["message"], given["signature"])
        key = encryption_key_from_hex(given["encryptionKey"]) if "encryptionKey" in given else None
        patient = await call(node.claiming.patient_of, record_id)
        claimed = await call(node.claiming.claim, patient, given["code"], wallet, key)
        return fhir_response(
            {
                "resourceType": "Parameters",
                "parameter": [
                    {"name": "patient", "valueString": claimed.patient},
                    {"name": "wallet", "valueString": claimed.wallet},
                    {"name": "resealed", "valueInteger": claimed.resealed},
                ],
            }
        )

    @app.post("/exchange/fetch", tags=["exchange"])
    async def exchange_fetch(request: Request) -> JSONResponse:
        """Another node asks for a patient's records with a signed request (docs/exchange.md); no sign-in."""
        signed = SignedFetch.from_json(loads_object(await body_of(request)))
        response = await call(node.custodian.answer, signed)
        return JSONResponse(response.to_json())

    @app.post("/", tags=["fhir"])
    async def bundle(
        request: Request, authorization: Authorization = None, purpose: PurposeOfUse = None
    ) -> JSONResponse:
        """A `transaction` (all or nothing) or `batch` Bundle."""
        caller = await caller_of(authorization)
        body = await body_of(request)
        data = loads_object(body)
        if data.get("resourceType") != "Bundle" or data.get("type") not in ("transaction", "batch"):
            raise ValidationError("POST / takes a Bundle of type transaction or batch")
        who = accessor(caller, purpose)
        if data["type"] == "batch":  # each entry is validated, and fails, on its own
            return fhir_response(await call(run_batch, data, _batch_runner(node, caller, who)))
        entries = transaction_drafts(parse_resource(body))  # all or nothing: the whole Bundle validates first
        for _, resource in entries:
            caller.require(resource["resourceType"], "write")
        return fhir_response(await call(_transaction, node, caller, who, entries))

    @app.get("/Consent/{grant_id}", tags=["consent"])
    async def read_consent(grant_id: str, authorization: Authorization = None) -> JSONResponse:
        caller = await caller_of(authorization)
        caller.require("Consent", "read")
        await call(node.consent.sync)
        grant = await call(node.consent.get, _hex(grant_id))
        if caller.address not in (grant.patient, grant.grantee, grant.granted_by) and caller.patient_context:
            raise AccessDenied("a patient reads only their own consents")
        return fhir_response(consent_resource(grant, chain_id=node.chain_id, now=datetime.now(UTC).timestamp()))

    @app.get("/Consent", tags=["consent"])
    async def search_consents(
        request: Request, patient: str | None = None, authorization: Authorization = None
    ) -> JSONResponse:
        caller = await caller_of(authorization)
        caller.require("Consent", "read")
        await call(node.consent.sync)
        wanted = _address_param(patient) if patient else None
        if caller.patient_context:
            wanted = caller.address
        grants = await call(node.consent.grants, patient=wanted)
        now = datetime.now(UTC).timestamp()
        resources = [consent_resource(g, chain_id=node.chain_id, now=now) for g in grants]
        return fhir_response(_bundle("searchset", resources, str(request.url)))

    @app.post("/{resource_type}", tags=["fhir"], status_code=201)
    async def create(
        resource_type: str, request: Request, authorization: Authorization = None, purpose: PurposeOfUse = None
    ) -> JSONResponse:
        caller = await caller_of(authorization)
        caller.require(resource_type, "write")
        data = _typed(parse_resource(await body_of(request)), resource_type)
        data.pop("id", None)  # the server assigns ids on create
        stored = await node.access.write_async(accessor(caller, purpose), _draft(caller, data))
        return _written(request, stored, data)

    @app.get("/{resource_type}/{record_id}/_history/{version}", tags=["fhir"])
    async def vread(
        resource_type: str,
        record_id: str,
        version: Annotated[int, Path(ge=1, le=2**31 - 1)],
        authorization: Authorization = None,
        purpose: PurposeOfUse = None,
    ) -> JSONResponse:
        return await read_one(resource_type, record_id, version, authorization, purpose)

    @app.get("/{resource_type}/{record_id}/_history", tags=["fhir"])
    async def history(
        resource_type: str,
        record_id: str,
        request: Request,
        authorization: Authorization = None,
        purpose: PurposeOfUse = None,
    ) -> JSONResponse:
        caller = await caller_of(authorization)
        caller.require(resource_type, "read")
        versions = await call(node.access.history, accessor(caller, purpose), record_id, resource_type)
        return fhir_response(_history_bundle(request, versions))

    @app.get("/{resource_type}/_history", tags=["fhir"])
    async def type_history(
        resource_type: str,
        request: Request,
        authorization: Authorization = None,
        purpose: PurposeOfUse = None,
    ) -> JSONResponse:
        caller = await caller_of(authorization)
        caller.require(resource_type, "read")
        count = _int_param(dict(request.query_params), "_count", _DEFAULT_COUNT, 1, _MAX_COUNT)
        owner = _own_only(caller, resource_type)
        versions = await call(
            node.access.type_history, accessor(caller, purpose), resource_type, patient_address=owner, limit=count
        )
        return fhir_response(_history_bundle(request, versions))

    @app.get("/Patient/{record_id}/$everything", tags=["fhir"])
    async def everything(
        record_id: str, request: Request, authorization: Authorization = None, purpose: PurposeOfUse = None
    ) -> JSONResponse:
        caller = await caller_of(authorization)
        caller.require("*", "read")
        # A Patient's patient_id is its own id: one search finds it and everything about it.
        found = await call(node.access.search, accessor(caller, purpose), SearchQuery(patient_id=record_id))
        if not found:
            raise NotFound(f"no Patient/{record_id} this caller may see")
        return fhir_response(_bundle("searchset", found, str(request.url)))

    def read_current(
        resource_type: str, record_id: str, authorization: str | None, purpose: str | None
    ) -> Awaitable[JSONResponse]:
        return read_one(resource_type, record_id, None, authorization, purpose)

    @app.get("/{resource_type}/{record_id}", tags=["fhir"])
    async def read(
        resource_type: str, record_id: str, authorization: Authorization = None, purpose: PurposeOfUse = None
    ) -> JSONResponse:
        return await read_current(resource_type, record_id, authorization, purpose)

    # Reads by id and creates also come straight to their handlers, past the routing (see _fast_paths).
    app.add_middleware(FastPaths, read=read_current, create=create, error=error_response)
    # Outermost: nothing else runs for a body of the wrong type, size or pace, or a flood.
    app.add_middleware(
        BoundedRequests,
        max_body=max_body,
        open_limiter=RateLimiter(node.settings.open_requests_per_minute),
        error=error_response,
    )

    @app.put("/{resource_type}/{record_id}", tags=["fhir"])
    async def update(
        resource_type: str,
        record_id: str,
        request: Request,
        authorization: Authorization = None,
        purpose: PurposeOfUse = None,
        if_match: Annotated[str | None, Header(alias="If-Match")] = None,
    ) -> JSONResponse:
        caller = await caller_of(authorization)
        caller.require(resource_type, "write")
        data = _typed(parse_resource(await body_of(request)), resource_type)
        if data.get("id") != record_id:
            raise ValidationError(f"the body's id {data.get('id')!r} is not the URL's {record_id!r}")
        if if_match is not None:
            current = await call(_current_version, node, record_id)
            if if_match.strip() not in (f'W/"{current}"', f'"{current}"'):
                raise PreconditionFailed(f"{resource_type}/{record_id} is at version {current}, not {if_match}")
        stored = await node.access.write_async(accessor(caller, purpose), _draft(caller, data))
        return _written(request, stored, data)

    @app.delete("/{resource_type}/{record_id}", tags=["fhir"], status_code=204)
    async def delete(
        resource_type: str, record_id: str, authorization: Authorization = None, purpose: PurposeOfUse = None
    ) -> Response:
        caller = await caller_of(authorization)
        caller.require(resource_type, "write")
        await call(node.access.delete, accessor(caller, purpose), record_id, resource_type)
        return Response(status_code=204)

    @app.get("/{resource_type}", tags=["fhir"])
    async def search(
        resource_type: str,
        request: Request,
        authorization: Authorization = None,
        purpose: PurposeOfUse = None,
        prefer: Annotated[str | None, Header(alias="Prefer")] = None,
    ) -> JSONResponse:
        caller = await caller_of(authorization)
        caller.require(resource_type, "read")
        params = dict(request.query_params)
        query, unknown = search_query(
            resource_type,
            request.query_params.multi_items(),
            patient_address=_own_only(caller, resource_type),
        )
        if unknown and prefer is not None and "handling=strict" in prefer.replace(" ", ""):
            raise ValidationError(f"unknown search parameters: {', '.join(unknown)}")
        count = _int_param(params, "_count", _DEFAULT_COUNT, 0, _MAX_COUNT)
        offset = _int_param(params, "_offset", 0, 0, 10**9)
        found = await call(node.access.search, accessor(caller, purpose), query)
        page = found[offset : offset + count]
        bundle = _bundle("searchset", page, str(request.url), total=len(found))
        if offset + count < len(found):
            kept = [(k, v) for k, v in request.query_params.multi_items() if k not in ("_offset", "_count")]
            following = urlencode([*kept, ("_count", str(count)), ("_offset", str(offset + count))])
            bundle["link"].append({"relation": "next", "url": f"{request.base_url}{resource_type}?{following}"})
        return fhir_response(bundle)

    return app


def _own_only(caller: Caller, resource_type: str) -> str | None:
    """Whose records a listing of `resource_type` is narrowed to: a patient's own, inside the compartment."""
    return caller.address if caller.patient_context and in_patient_compartment(resource_type) else None


def _draft(caller: Caller, data: Resource) -> Draft:
    """`data` (validated already) to store for `caller`; the guarded repository decides whether it may."""
    return Draft.of(data, _owner_for(caller, data))


def _owner_for(caller: Caller, data: Resource) -> str | None:
    """A Patient written by a patient is hers; others the records service places (did:pkh, or custodial)."""
    if data["resourceType"] == "Patient" and caller.patient_context:
        return caller.address
    return None


def _transaction(node: Node, caller: Caller, who: Accessor, entries: list[tuple[str, Resource]]) -> Resource:
    """Store a transaction's resources all or none; the transaction-response Bundle."""
    stored = node.access.store(who, [_draft(caller, resource) for _, resource in entries])
    results = []
    for (_, resource), version in zip(entries, stored, strict=True):
        results.append((_status(version), _stored_body(resource, version), _location(version)))
    return transaction_response(results)


def _batch_runner(node: Node, caller: Caller, who: Accessor) -> EntryRunner:
    """How a batch runs one entry: the same rules as the single requests."""

    def run(method: str, url: str, resource: Resource | None) -> tuple[int, Resource | None, str | None]:
        parts = url.split("/")
        if method == "GET" and len(parts) == 2:
            caller.require(parts[0], "read")
            return 200, _typed(node.access.read(who, parts[1]), parts[0], found=True), None
        if method == "DELETE" and len(parts) == 2:
            caller.require(parts[0], "write")
            node.access.delete(who, parts[1], parts[0])
            return 204, None, None
        if method in ("POST", "PUT") and resource is not None:
            data = _typed(parse_resource(resource), parts[0])
            caller.require(parts[0], "write")
            if method == "POST":
                data.pop("id", None)
            elif len(parts) != 2 or data.get("id") != parts[1]:
                raise ValidationError(f"PUT {url} does not name the resource it carries")
            stored = node.access.write(who, _draft(caller, data))
            return _status(stored), _stored_body(data, stored), _location(stored)
        raise ValidationError(f"cannot run {method} {url} in a batch")

    return run


def _current_version(node: Node, record_id: str) -> int:
    try:
        return node.records.get(record_id).version
    except NotFound:
        return 0


def _typed(data: Resource, resource_type: str, *, found: bool = False) -> Resource:
    if data.get("resourceType") != resource_type:
        if found:
            raise NotFound(f"no {resource_type} with this id (it is a {data.get('resourceType')})")
        raise ValidationError(f"the body is a {data.get('resourceType')}, not a {resource_type} as the URL says")
    return data


def _history_bundle(request: Request, versions: list[tuple[StoredRecord, Resource | None]]) -> dict[str, Any]:
    """A `history` Bundle, newest first; a deletion is an entry with a DELETE request and no resource."""
    entries = []
    for stored, resource in versions:
        url = f"{stored.resource_type}/{stored.record_id}"
        method = "DELETE" if stored.deleted else ("POST" if stored.version == 1 else "PUT")
        entries.append(
            {
                "fullUrl": f"{request.base_url}{url}",
                **({"resource": resource} if resource is not None else {}),
                "request": {"method": method, "url": url},
                "response": {"status": "200", "etag": f'W/"{stored.version}"'},
            }
        )
    return {"resourceType": "Bundle", "type": "history", "total": len(entries), "entry": entries}


def _resource_response(resource: Resource) -> JSONResponse:
    meta = resource.get("meta", {})
    headers = {"ETag": f'W/"{meta.get("versionId", "1")}"'}
    if "lastUpdated" in meta:
        headers["Last-Modified"] = _http_date(meta["lastUpdated"])
    return fhir_response(resource, headers=headers)


def _written(request: Request, stored: StoredRecord, data: Resource) -> JSONResponse:
    headers = {"Location": f"{request.base_url}{_location(stored)}", "ETag": f'W/"{stored.version}"'}
    return fhir_response(_stored_body(data, stored), _status(stored), headers)


def _stored_body(data: Resource, stored: StoredRecord) -> Resource:
    """A written resource as the server now holds it: its id and meta as stored."""
    meta = {
        **data.get("meta", {}),
        "versionId": str(stored.version),
        "lastUpdated": stored.last_updated.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    }
    return {**data, "id": stored.record_id, "meta": meta}


def _status(stored: StoredRecord) -> int:
    """201 for a record's first version, 200 for a new version of one that existed."""
    return 201 if stored.version == 1 else 200


def _location(stored: StoredRecord) -> str:
    return f"{stored.resource_type}/{stored.record_id}/_history/{stored.version}"


def _bundle(kind: str, resources: list[Resource], self_url: str, *, total: int | None = None) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": kind,
        "total": len(resources) if total is None else total,
        "link": [{"relation": "self", "url": self_url}],
        "entry": [
            {"fullUrl": f"{r['resourceType']}/{r['id']}", "resource": r, "search": {"mode": "match"}} for r in resources
        ],
    }


def _int_param(params: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValidationError(f"{name} must be a whole number, not {raw!r}") from None
    return max(low, min(value, high))


def _parameters(data: dict[str, Any], *, required: tuple[str, ...]) -> dict[str, str]:
    """The string values of a FHIR `Parameters` resource by name; the `required` ones must be there."""
    if data.get("resourceType") != "Parameters" or not isinstance(data.get("parameter"), list):
        raise ValidationError("this operation takes a FHIR Parameters resource")
    values: dict[str, str] = {}
    for parameter in data["parameter"]:
        if isinstance(parameter, dict) and isinstance(parameter.get("name"), str):
            value = parameter.get("valueString")
            if not isinstance(value, str):
                raise ValidationError(f"parameter {parameter['name']!r} needs a valueString")
            values[parameter["name"]] = value
    missing = [name for name in required if name not in values]
    if missing:
        raise ValidationError(f"missing parameter(s): {', '.join(missing)}")
    return values


def _address_param(value: str) -> str:
    if not Web3.is_address(value):
        raise ValidationError(f"not an address: {value!r}")
    return str(Web3.to_checksum_address(value))


def _hex(value: str) -> int:
    try:
        return int(value, 16)
    except ValueError:
        raise NotFound(f"no Consent/{value}") from None


def _json_body(model: type[BaseModel]) -> dict[str, Any]:
    """The OpenAPI request body of a route that reads its JSON body itself (bounded, see `careledger.fhir._json`)."""
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": model.model_json_schema()}}}}


@functools.lru_cache(maxsize=4096)
def _http_date(instant: str) -> str:
    moment = datetime.fromisoformat(instant.replace("Z", "+00:00"))
    return moment.astimezone(UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")
