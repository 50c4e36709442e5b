"""Where another party of a trial is reached: the node a sponsor or an ethics board reads at, and a node's endpoint,
as the IdentityRegistry tells them. Only a node the party chose: its own registered endpoint (it is a node), else
the node that registered it on chain (its registrar: a wallet held on a node is registered by that node). Never the
node that attested it an affiliation: any issuer may attest anyone, without her say, and would then receive her
safety reports."""

from __future__ import annotations

from collections.abc import Callable

from careledger.chain import IdentityRegistry
from careledger.errors import NotFound


class Nodes:
    """The nodes of a trial's parties, looked up on chain each time (an endpoint may move)."""

    def __init__(self, identity: Callable[[], IdentityRegistry]) -> None:
        """`identity()`: the IdentityRegistry, read only."""
        self._identity = identity

    def node(self, actor: str) -> str:
        """The node `actor` is reached at: itself if it is registered with an endpoint (a node), else the node that
        registered it; `NotFound` if neither."""
        registry = self._identity()
        registered = registry.actor(actor)
        if registered is not None and registered.active and registered.endpoint:
            return registered.address
        registrar = registry.registrar_of(actor) if registered is not None else None
        if registrar is None:
            raise NotFound(f"{actor} is reached at no node it chose (no endpoint of its own, no registrar node)")
        return registrar

    def endpoint(self, node: str) -> str:
        """Where `node` listens; `NotFound` if it is not registered and active with an endpoint."""
        registered = self._identity().actor(node)
        if registered is None or not registered.active or not registered.endpoint:
            raise NotFound(f"{node} has no node endpoint on chain")
        return registered.endpoint
