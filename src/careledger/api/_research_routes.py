"""`/research/…`: studies for a signed-in wallet, whatever it runs on.

The node never holds an outsider's keys, so every step that is hers is signed by her
wallet: a researcher's registration and an ethics board's approval are transactions the
node prepares and her wallet sends; a patient's joining or leaving is EIP-712 typed data
the node prepares, her wallet signs and the node submits (paying the gas). A sponsor
gathers releases and aggregates by signing a `StudyRequest` to each node's
`POST /exchange/study` (docs/research.md).

| route | who | what |
|---|---|---|
| `GET /research/studies[/{id}]` | anyone signed in | the studies on chain |
| `POST /research/studies/transactions` | a researcher | the two transactions that register a study |
| `POST /research/studies/{id}/top-up` | a researcher | the two transactions that add to its escrow |
| `GET /research/studies/{id}/approval` | an ethics board | the transaction that approves it |
| `GET /research/studies/{id}/participation?join=` | a patient | the typed data to sign |
| `POST /research/studies/{id}/participation` | a patient | the signed typed data, submitted |
| `GET /research/mine` | a patient | the studies she joined, releases, rewards |
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from careledger.api._deps import Authorization, Deps, body_of, call
from careledger.consent import parse_categories
from careledger.errors import ValidationError
from careledger.fhir import loads_object
from careledger.identity import parse_signature
from careledger.research import Studies, StudyTerms, enrolment_view, study_view

_STUDY = "ResearchStudy"
_SUBJECT = "ResearchSubject"


def research_router(deps: Deps) -> APIRouter:
    """Studies: read, registered and approved by wallets elsewhere, joined and left with signatures."""
    router = APIRouter(tags=["research"])
    studies = deps.node.studies

    @router.get("/research/studies")
    async def list_studies(authorization: Authorization = None) -> JSONResponse:
        """Every study on chain, the newest first."""
        deps.caller(authorization).require(_STUDY, "read")
        return JSONResponse([study_view(s) for s in await call(studies.all)])

    @router.get("/research/studies/{study_id}")
    async def show_study(study_id: int, authorization: Authorization = None) -> JSONResponse:
        """One study; 404 if there is none."""
        deps.caller(authorization).require(_STUDY, "read")
        return JSONResponse(study_view(await call(studies.show, study_id)))

    @router.post("/research/studies/transactions")
    async def study_transactions(request: Request, authorization: Authorization = None) -> JSONResponse:
        """The transactions the signed-in researcher's wallet sends, in order, to register a study:
        `{protocol_hash, categories, data_from, data_to, days, epsilon, reward, budget}` (amounts and times as
        integers: token base units, Unix seconds)."""
        deps.caller(authorization).require(_STUDY, "write")
        body = loads_object(await body_of(request))
        terms = await call(_terms, studies, body)
        return JSONResponse({"transactions": await call(studies.create_transactions, terms)})

    @router.post("/research/studies/{study_id}/top-up")
    async def top_up_transactions(study_id: int, request: Request, authorization: Authorization = None) -> JSONResponse:
        """The transactions the signed-in wallet sends, in order, to add `{amount}` (an integer of token base
        units) to a running study's escrow, so that it pays more participants: CareToken's `approve`, then
        `top_up`."""
        deps.caller(authorization).require(_STUDY, "write")
        amount = loads_object(await body_of(request)).get("amount")
        if not isinstance(amount, int) or isinstance(amount, bool):
            raise ValidationError("a top-up is {amount}: an integer of token base units")
        return JSONResponse({"transactions": await call(studies.top_up_transactions, study_id, amount)})

    @router.get("/research/studies/{study_id}/approval")
    async def approval_transaction(study_id: int, authorization: Authorization = None) -> JSONResponse:
        """The transaction an ethics board's wallet sends to approve the study."""
        deps.caller(authorization).require(_STUDY, "write")
        return JSONResponse({"transactions": [await call(studies.approve_transaction, study_id)]})

    @router.get("/research/studies/{study_id}/participation")
    async def prepare_participation(
        study_id: int, join: bool = True, authorization: Authorization = None
    ) -> JSONResponse:
        """What the signed-in patient's wallet signs (`eth_signTypedData_v4`) to join (the participation and the
        research consent) or leave (the participation)."""
        caller = deps.caller(authorization)
        caller.require(_SUBJECT, "write")
        return JSONResponse(await call(studies.prepare, study_id, caller.address, join=join))

    @router.post("/research/studies/{study_id}/participation")
    async def submit_participation(
        study_id: int, request: Request, authorization: Authorization = None
    ) -> JSONResponse:
        """Submit `{participation: {typed_data, signature}, consent?: {typed_data, signature}}` signed by the
        signed-in patient's wallet; the study after it."""
        caller = deps.caller(authorization)
        caller.require(_SUBJECT, "write")
        signed, signatures = _signed_parts(loads_object(await body_of(request)))
        study, grant = await call(studies.submit_signed, caller.address, study_id, signed, signatures)
        return JSONResponse({"study": study_view(study), "consent": grant.hex_id if grant else None})

    @router.get("/research/mine")
    async def my_studies(authorization: Authorization = None) -> JSONResponse:
        """The studies the signed-in patient joined: what this node released to each, and what she earned."""
        caller = deps.caller(authorization)
        caller.require(_SUBJECT, "read")
        enrolments = await call(studies.mine, caller.address)
        return JSONResponse({"studies": [enrolment_view(e) for e in enrolments]})

    return router


def _terms(studies: Studies, body: dict[str, Any]) -> StudyTerms:
    try:
        return studies.terms(
            bytes.fromhex(str(body["protocol_hash"]).removeprefix("0x")),
            categories=parse_categories(",".join(body["categories"])),
            data_from=int(body["data_from"]),
            data_to=int(body["data_to"]),
            days=float(body["days"]),
            epsilon=float(body["epsilon"]),
            reward=int(body["reward"]),
            budget=int(body["budget"]),
        )
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        raise ValidationError(f"a study is {{protocol_hash, categories, data_from, data_to, days, …}}: {exc}") from None


def _signed_parts(body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, bytes]]:
    signed, signatures = {}, {}
    for name in ("participation", "consent"):
        part = body.get(name)
        if part is None:
            continue
        try:
            signed[name] = dict(part["typed_data"])
            signature = part["signature"]
        except (KeyError, TypeError, ValueError) as exc:
            raise ValidationError(f"{name} is {{typed_data, signature}}: {exc}") from None
        signatures[name] = parse_signature(signature)
    if "participation" not in signed:
        raise ValidationError("send the participation: {typed_data, signature}")
    return signed, signatures
