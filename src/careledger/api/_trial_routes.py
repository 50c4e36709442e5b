"""`/trials/…`: what trial nodes send and fetch of each other, with no sign-in.

```
POST /trials/safety-reports                 ─► (open: the site node's signature is the caller; paced per client)
                                               ─► node.trial_registry.accept_safety_report ─► 202 kept (200: held
                                                  already); 400 malformed or addressed elsewhere, 401 forged,
                                                  expired or replayed, 403 not a site of the trial, 404 no such trial
GET  /trials/{id}/definitions/{version}     ─► (open: no PHI; whoever fetches it checks its keccak against the
                                               protocol hash on chain) ─► node.trial_registry.definition (404)
```
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from careledger.api._deps import Deps, body_of, call
from careledger.errors import ValidationError
from careledger.fhir import loads_object

_MAX_TRIAL = 2**63  # trial ids count up from 1; a larger one is no trial (and no integer the database keeps)
_MAX_VERSION = 2**32  # a version is a uint32 on chain


def trial_router(deps: Deps) -> APIRouter:
    """The open trial routes: safety reports from sites, definitions for sites."""
    router = APIRouter(tags=["trials"])

    @router.post("/trials/safety-reports")
    async def safety_report(request: Request) -> JSONResponse:
        """A site node's signed safety report of a serious adverse event, for this node's sponsor or ethics board:
        `{"request": {trial, site, receiver, report, nonce, expiry}, "signature"}` (EIP-712 `TrialSafetyReport`,
        the exchange's domain). Kept sealed once (202; 200 when held already); refused 4xx, audited, nothing
        kept."""
        body = loads_object(await body_of(request), what="a safety report")
        taken = await call(deps.node.trial_registry.accept_safety_report, body)
        return JSONResponse(taken, status_code=202 if taken["stored"] else 200)

    @router.get("/trials/{trial_id}/definitions/{version}")
    async def definition(trial_id: str, version: str) -> JSONResponse:
        """The definition document of a trial's version as this node (its sponsor's) holds it: `{trial, version,
        document}`, the document as registered (its keccak256 is the version's protocol hash); 404 if not held,
        400 (not FastAPI's 422) for a trial id or version that is no positive integer."""
        trial, number = _positive(trial_id, _MAX_TRIAL), _positive(version, _MAX_VERSION)
        document = await call(deps.node.trial_registry.definition, trial, number)
        return JSONResponse({"trial": trial, "version": number, "document": document.decode()})

    return router


def _positive(text: str, below: int) -> int:
    """A path's trial id or version: digits only, 1 to `below` - 1; else `ValidationError` (400)."""
    value = int(text) if text.isascii() and text.isdigit() and len(text) <= 20 else 0
    if not 0 < value < below:
        raise ValidationError("a trial id and a version are positive integers")
    return value
