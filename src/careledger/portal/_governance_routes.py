"""The staff's page of the network's council: its members, threshold and timelock, the proposals that may still
take effect (each call in words, the votes so far and whose, the eta once queued), and this node's vote.

The council's member is this node (its wallet signs the vote and the execution, `node.governance`), so only
staff who act for the node press those buttons: the governance service decides who does (`Governance.may_act`:
a care team member holding the node's `governance-officer` credential); the rest of the care team reads the page.
Before bootstrap the page says so, and how the deploying node bootstraps the council.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool as call

from careledger.errors import ValidationError
from careledger.governance import format_duration
from careledger.portal._names import name_of
from careledger.portal._pages import Pages
from careledger.portal._staff_routes import staff_member
from careledger.services import Services

BOOTSTRAP = "careledger governance bootstrap"
_MAX_PROPOSAL_DIGITS = 20


def governance_routes(router: APIRouter, node: Services, pages: Pages) -> None:
    """The council's page and this node's vote and execution buttons on `router`."""
    sessions = pages.sessions
    names = partial(name_of, node)

    def standing(show_all: bool) -> dict[str, Any]:
        """The council and its proposals (pending only, or all), or that the network has none yet."""
        governance = node.governance
        if not governance.bootstrapped():
            return {"council": None}
        return {"council": governance.council(), "proposals": governance.proposals(pending_only=not show_all)}

    @router.get("/portal/governance")
    async def council(request: Request, show_all: Annotated[int, Query(alias="all")] = 0) -> Response:
        """The council and its pending proposals (`?all=1`: every proposal), with vote and execute buttons for
        those who act for the node."""
        visit = await sessions.visit(request)
        caller = await staff_member(node, visit)
        found = await call(standing, bool(show_all))
        return pages.render(
            request,
            visit,
            "governance.html",
            **found,
            show_all=bool(show_all),
            may_act=await call(node.governance.may_act, caller.address),
            node_address=node.address,
            name=names,
            at=lambda seconds: datetime.fromtimestamp(seconds, UTC),
            duration=format_duration,
            bootstrap=BOOTSTRAP,
        )

    @router.post("/portal/governance/{proposal}/vote")
    async def vote(request: Request, proposal: str) -> Response:
        """This node's vote for an open proposal (the vote that reaches the threshold queues it)."""
        visit = await sessions.visit(request)
        caller = await staff_member(node, visit)
        await pages.form(request, visit)
        await call(node.governance.vote, _proposal_id(proposal), by=caller.address)
        return pages.redirect(request, visit, "/portal/governance")

    @router.post("/portal/governance/{proposal}/execute")
    async def execute(request: Request, proposal: str) -> Response:
        """Carry out a proposal whose timelock has passed; refused, saying until when, before."""
        visit = await sessions.visit(request)
        caller = await staff_member(node, visit)
        await pages.form(request, visit)
        await call(node.governance.execute, _proposal_id(proposal), by=caller.address)
        return pages.redirect(request, visit, "/portal/governance")


def _proposal_id(text: str) -> int:
    if not text.isdigit() or len(text) > _MAX_PROPOSAL_DIGITS:
        raise ValidationError(f"a proposal is named by its number, not {text[:40]!r}")
    return int(text)
