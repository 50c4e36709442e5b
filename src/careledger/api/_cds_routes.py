"""CDS Hooks 2.0 routes: discovery, the hooks, and feedback, for EHRs (CDS clients) registered with the node.

```
GET  /cds-services               ─► the services and their prefetch templates (open, rate-limited)
POST /cds-services/{id}          ─► client JWT (401) ─► JSON (415) ─► body parsed (400) ─► fhirServer is this node (400)
                                    ─► fhirAuthorization: a token this node issued ─► its caller's door
                                    ─► node.cds.invoke ─► {"cards": [...], "systemActions": []}
POST /cds-services/{id}/feedback ─► client JWT (401) ─► JSON (415) ─► body parsed (400) ─► cards it was given (404)
                                    ─► kept
```

The client is authenticated before its body is looked at, whatever its media type (the outer layers leave these
paths' media type to the route), so a stranger learns nothing of what a body should be; the JWT's `aud` is the URL
the request was sent to, as this node sees it (its base URL, or a believed proxy's), or a list holding it.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints
from pydantic import ValidationError as ParseError

from careledger.access import Repository
from careledger.api._deps import Deps, body_of, call
from careledger.api._limits import JSON_TYPES
from careledger.errors import Unauthenticated, UnsupportedMediaType, ValidationError
from careledger.insight.cds import GATHERED, Feedback, HookCall, Verified

FhirId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9\-.]{1,64}$")]
Short = Annotated[str, StringConstraints(min_length=1, max_length=255)]
_M = TypeVar("_M", bound=BaseModel)
Authorization = Annotated[str | None, Header(description="Bearer <JWT signed by a registered CDS client>")]


class _Open(BaseModel):
    """A CDS Hooks object: members the spec may add later are allowed (and ignored)."""

    model_config = ConfigDict(extra="allow")


class _FhirAuthorization(_Open):
    access_token: Annotated[str, StringConstraints(min_length=1, max_length=8192)]
    token_type: Literal["Bearer"]
    expires_in: int
    scope: Annotated[str, StringConstraints(max_length=4096)]
    subject: Short


class _Context(_Open):
    patientId: FhirId  # noqa: N815 - the spec's name
    userId: Short | None = None  # noqa: N815
    encounterId: FhirId | None = None  # noqa: N815
    selections: list[Short] | None = Field(None, max_length=500)
    draftOrders: dict[str, Any] | None = None  # noqa: N815


class _HookRequest(_Open):
    hook: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    hookInstance: Short  # noqa: N815
    fhirServer: Annotated[str, StringConstraints(max_length=2048)] | None = None  # noqa: N815
    fhirAuthorization: _FhirAuthorization | None = None  # noqa: N815
    context: _Context
    prefetch: dict[str, Any] | None = None


class _Coding(_Open):
    system: Annotated[str, StringConstraints(max_length=255)] | None = None
    code: Short
    display: Annotated[str, StringConstraints(max_length=255)] | None = None


class _OverrideReason(_Open):
    reason: _Coding | None = None
    userComment: Annotated[str, StringConstraints(max_length=2000)] | None = None  # noqa: N815 - never kept


class _FeedbackEntry(_Open):
    card: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    outcome: Literal["accepted", "overridden"]
    outcomeTimestamp: AwareDatetime  # noqa: N815
    overrideReason: _OverrideReason | None = None  # noqa: N815


class _FeedbackRequest(_Open):
    feedback: list[_FeedbackEntry] = Field(min_length=1, max_length=100)


def cds_router(deps: Deps) -> APIRouter:
    """The CDS Hooks routes of `deps.node` (`node.cds`)."""
    router = APIRouter(tags=["cds-hooks"])
    node = deps.node

    @router.get("/cds-services")
    async def discovery() -> JSONResponse:
        """The CDS services this node offers, with their prefetch templates (CDS Hooks discovery)."""
        return JSONResponse(node.cds.discovery())

    @router.post("/cds-services/{service_id}")
    async def invoke(request: Request, service_id: str, authorization: Authorization = None) -> JSONResponse:
        """Call a CDS service: a JWT-signed CDS Hooks request in, cards out."""
        node.cds.service(service_id)  # an unknown service is 404 whoever asks
        base = _base(request)
        client = await call(node.cds.clients.verify, authorization, f"{base}/cds-services/{service_id}")
        hook = _parsed(_HookRequest, await _json_body(request))
        context = hook.context
        checked = HookCall(
            hook=hook.hook,
            hook_instance=hook.hookInstance,
            patient_id=context.patientId,
            prefetch=hook.prefetch or {},
            draft_orders=context.draftOrders,
            selections=tuple(context.selections or ()),
        )
        answer = await call(
            node.cds.invoke, service_id, checked, client, door=lambda: _door(deps, hook, base), base=base
        )
        return JSONResponse(answer)

    @router.post("/cds-services/{service_id}/feedback")
    async def feedback(request: Request, service_id: str, authorization: Authorization = None) -> JSONResponse:
        """What became of cards the service gave: accepted or overridden, and why (CDS Hooks feedback)."""
        node.cds.service(service_id)
        url = f"{_base(request)}/cds-services/{service_id}/feedback"
        client: Verified = await call(node.cds.clients.verify, authorization, url)
        body = _parsed(_FeedbackRequest, await _json_body(request))
        entries = [_feedback_of(entry) for entry in body.feedback]
        await call(node.cds.feedback, service_id, client, entries)
        return JSONResponse({})

    return router


def _base(request: Request) -> str:
    """This node's base URL as the request reached it (scheme and host as sent, or as a believed proxy forwarded)."""
    return str(request.base_url).rstrip("/")


async def _json_body(request: Request) -> bytes:
    """The body of a signed request; `UnsupportedMediaType` (415) unless it is JSON, all a CDS service reads."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in JSON_TYPES:
        raise UnsupportedMediaType(f"a CDS service reads application/json, not {media_type[:60] or '(none)'}")
    return await body_of(request)


def _parsed(model: type[_M], body: bytes) -> _M:
    """`body` as `model`; `ValidationError` (400) saying what is wrong."""
    try:
        return model.model_validate_json(body)
    except ParseError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5])
        raise ValidationError(f"not a CDS Hooks request: {problems}") from None


def _door(deps: Deps, hook: _HookRequest, base: str) -> Repository | None:
    """The guarded repository of the fhirAuthorization token's caller, if the request carries one: the token must
    be one this node issued, checked as the FHIR API checks it, and may read what the hook reads; the fhirServer
    must be this node, whose FHIR API is never fetched over the network, so no stranger's URL is ever called."""
    if hook.fhirServer is not None and hook.fhirServer.rstrip("/") != base:
        raise ValidationError(f"fhirServer must be this node's FHIR base URL, {base}: no other server is read")
    granted = hook.fhirAuthorization
    if granted is None:
        return None
    if hook.fhirServer is None:
        raise ValidationError("fhirAuthorization comes with the fhirServer it is for")
    try:
        caller = deps.caller(f"Bearer {granted.access_token}")
    except Unauthenticated as exc:
        raise ValidationError(f"fhirAuthorization.access_token is not a live token of this node: {exc}") from None
    for resource_type in GATHERED:
        caller.require(resource_type, "read")
    return deps.node.access.for_caller(deps.accessor(caller, None))


def _feedback_of(entry: _FeedbackEntry) -> Feedback:
    reason = entry.overrideReason.reason if entry.overrideReason is not None else None
    return Feedback(
        card=entry.card,
        outcome=entry.outcome,
        outcome_at=entry.outcomeTimestamp.isoformat(),
        override_reason=None if reason is None else reason.model_dump(include={"system", "code", "display"}),
    )
