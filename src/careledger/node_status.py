"""What `careledger chain status` reports of a node: its chain, block, database and contracts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from careledger.node import Node


@dataclass(frozen=True, slots=True)
class ContractStatus:
    name: str
    address: str
    block: int


@dataclass(frozen=True, slots=True)
class NodeStatus:
    """What `chain status` reports."""

    home: str
    node_address: str
    node_balance_wei: int
    """The node wallet's ether, which pays for anchoring and what the node submits: an operator watches it."""
    backend: str
    url: str | None
    chain_id: int
    block: int
    database: str
    contracts: tuple[ContractStatus, ...]

    @classmethod
    def of(cls, node: Node) -> NodeStatus:
        """The status of `node` now (asks the chain for its block, the node wallet's balance, the deployments)."""
        return cls(
            home=str(node.home.path),
            node_address=node.address,
            node_balance_wei=node.chain.balance(node.address),
            backend=node.chain.kind,
            url=node.chain.url,
            chain_id=node.chain.chain_id,
            block=node.chain.block_number(),
            database=node.db.url.render_as_string(hide_password=True),
            contracts=tuple(ContractStatus(d.name, d.address, d.block) for d in node.deployer.deployments()),
        )
