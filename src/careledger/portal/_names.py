"""Addresses as the people on a page know them."""

from __future__ import annotations

from careledger.node import Node


class Names:
    """Addresses as people know them: the wallet's name where this node holds it, else the address shortened."""

    def __init__(self, node: Node) -> None:
        self._node = node
        self._known: dict[str, str] = {}

    def of(self, address: str | None) -> str:
        """The name of `address` ('' for none)."""
        if not address:
            return ""
        if address not in self._known:
            wallet = self._node.wallets.find(address)
            mine = wallet is not None and address.lower() == self._node.address.lower()
            label = "this node" if mine else wallet.name if wallet is not None else f"{address[:6]}…{address[-4:]}"
            self._known[address] = label
        return self._known[address]
