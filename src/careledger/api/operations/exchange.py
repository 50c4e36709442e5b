"""`POST /exchange/fetch`: another node asks for a patient's records with a signed request; `POST
/exchange/accounting`: a node gathers a patient's accounting with her signed request; `POST /exchange/study`: a
study's sponsor asks for its de-identified release or one private aggregate; `POST /exchange/messages`: another
node delivers a message for a patient or practitioner of this one. No sign-in.

The custodian answers under the patient's consent to the requesting node, or to her own
signature (docs/exchange.md).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from careledger.api._deps import Deps, body_of, call
from careledger.exchange import SignedAccounting, SignedDelivery, SignedFetch
from careledger.fhir import loads_object
from careledger.research import StudyRequest


def exchange_router(deps: Deps) -> APIRouter:
    """The node-to-node fetch, and the accounting gathered across nodes."""
    router = APIRouter(tags=["exchange"])

    @router.post("/exchange/fetch")
    async def exchange_fetch(request: Request) -> JSONResponse:
        """Records sealed to the requesting node, with their proofs (docs/exchange.md); 401 for a bad signature."""
        signed = SignedFetch.from_json(loads_object(await body_of(request)))
        response = await call(deps.node.custodian.answer, signed)
        return JSONResponse(response.to_json())

    @router.post("/exchange/accounting")
    async def exchange_accounting(request: Request) -> JSONResponse:
        """The patient's accounting of disclosures on this node, sealed to the node she named to gather it;
        401 unless she signed the request, fresh and unused."""
        signed = SignedAccounting.from_json(loads_object(await body_of(request)))
        return JSONResponse(await call(deps.node.accounting_desk.answer, signed))

    @router.post("/exchange/study")
    async def exchange_study(request: Request) -> JSONResponse:
        """A study's de-identified dataset of this node's participants, sealed to its sponsor, this node's
        noised part of one aggregate (docs/research.md), or its reply to one message of a federated training run
        (docs/insight.md); 401 unless the sponsor signed it, fresh and unused."""
        signed = StudyRequest.from_json(loads_object(await body_of(request)))
        desk = deps.node.study_desk
        answers = {"release": desk.release, "federated": deps.node.federated_desk.answer}
        return JSONResponse(await call(answers.get(str(signed.ask.get("kind")), desk.query), signed))

    @router.post("/exchange/messages")
    async def exchange_messages(request: Request) -> JSONResponse:
        """A message another node delivers, sealed to this one, kept as the patient's record (docs/exchange.md);
        401 unless the sending node signed it, fresh and unused; 403 (audited) if it may not send it here."""
        signed = SignedDelivery.from_json(loads_object(await body_of(request)))
        return JSONResponse((await call(deps.node.postbox.receive, signed)).to_json())

    return router
