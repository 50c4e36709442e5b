"""Where another party of a trial is reached: the node a sponsor or an ethics board reads at, and a node's endpoint,
as the IdentityRegistry tells them (a wallet held on a node is no node of its own: the node that attested it an
affiliation is where it reads)."""

from __future__ import annotations

from collections.abc import Callable

from careledger.chain import IdentityRegistry
from careledger.errors import NotFound


class Nodes:
    """The nodes of a trial's parties, looked up on chain each time (an endpoint may move)."""

    def __init__(self, identity: Callable[[], IdentityRegistry], node_of: Callable[[str], str | None]) -> None:
        """`node_of(actor)`: the node that attested `actor` an affiliation (the door's), None if none did."""
        self._identity = identity
        self._node_of = node_of

    def node(self, actor: str) -> str:
        """The node `actor` is reached at: itself if it is registered with an endpoint (a node), else the node that
        attested it an affiliation; `NotFound` if neither."""
        registered = self._identity().actor(actor)
        if registered is not None and registered.active and registered.endpoint:
            return registered.address
        node = self._node_of(actor)
        if node is None:
            raise NotFound(f"{actor} is reached at no node this one can find (no endpoint, no affiliation)")
        return node

    def endpoint(self, node: str) -> str:
        """Where `node` listens; `NotFound` if it is not registered and active with an endpoint."""
        registered = self._identity().actor(node)
        if registered is None or not registered.active or not registered.endpoint:
            raise NotFound(f"{node} has no node endpoint on chain")
        return registered.endpoint
