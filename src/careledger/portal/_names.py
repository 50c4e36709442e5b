"""Addresses as the people on a page know them."""

from __future__ import annotations

from careledger.config import NODE_WALLET
from careledger.services import Services


def name_of(node: Services, address: str | None) -> str:
    """The wallet's name where this node holds it ('this node' for its own), else the address shortened; '' for
    none. The wallet store remembers what it has read, so this costs a lookup, not a directory listing."""
    if not address:
        return ""
    wallet = node.wallets.find(address)
    if wallet is None:
        return f"{address[:6]}…{address[-4:]}"
    return "this node" if wallet.name == NODE_WALLET else wallet.name
