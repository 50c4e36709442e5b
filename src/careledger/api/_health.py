"""`/healthz` and `/readyz`: whether a worker is alive, and whether it can serve (for a load balancer, systemd,
Kubernetes). Neither asks for a sign-in, and neither says anything a stranger could use: `/readyz` names the
parts that are not ready and why in a few words (`health.CheckResult`), never a URL, host or error text.
"""

from __future__ import annotations

from typing import Protocol

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from careledger.health import NotReady, Probe, settle
from careledger.services import Services

_NO_STORE = {"Cache-Control": "no-store"}


class Leader(Protocol):
    """Whether this worker leads the node's background work, and whether any does (`store.Leadership`)."""

    @property
    def leading(self) -> bool: ...
    def held_anywhere(self) -> bool: ...


def health_router(node: Services, leader: Leader) -> APIRouter:
    """The two probes of this worker; `leader` is its leadership of the node's background work."""
    router = APIRouter(include_in_schema=False)
    health = node.health

    def elected() -> None:
        """`NotReady` unless some worker of this node leads its background work."""
        if not leader.held_anywhere():
            raise NotReady("no worker leads the background work (anchoring, consent follow-up)")

    probes: dict[str, Probe[object]] = {**health.probes, "leader": Probe("leader", elected)}

    @router.get("/healthz")
    async def alive() -> JSONResponse:
        """200 while this worker answers at all: asks nothing of the database or the chain."""
        return JSONResponse({"status": "alive"}, headers=_NO_STORE)

    @router.get("/readyz")
    async def ready() -> JSONResponse:
        """200 with each part's state when the database, chain, blob store and a background leader answer
        within `ready_timeout`; 503 naming those that did not."""
        results = await settle(probes, health.timeout)
        failed = [result.name for result in results if not result.ok]
        body: dict[str, object] = {
            "status": "not ready" if failed else "ready",
            "checks": {result.name: {"ok": result.ok, "detail": result.detail} for result in results},
        }
        if failed:
            body["failed"] = failed
        return JSONResponse(body, status_code=503 if failed else 200, headers=_NO_STORE)

    return router
