"""CareLedger benchmarks: `make bench` (or `python -m benchmarks`) prints a table.

Each `bench_*.py` module defines `BENCHMARKS`, a list of functions returning `Result`s.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from careledger.chain import Role
    from careledger.identity import Wallet
    from careledger.node import Node


@dataclass(frozen=True, slots=True)
class Result:
    name: str
    unit: str
    value: float
    conditions: str


def registered_wallet(node: Node, name: str, role: Role) -> Wallet:
    """A new wallet of the node's home (passphrase `pw`), registered on chain by the node."""
    from careledger.config import NODE_WALLET

    wallet = node.wallets.create(name, role, "pw")
    registry = node.contracts.identity_registry(as_wallet=NODE_WALLET)
    registry.register_actor(wallet.address, wallet.role, wallet.encryption_key)
    return wallet
