"""Payments in CareToken (or a plan's own ERC-20): balances, transfers, minting.

Amounts cross this boundary in the token's smallest units; `Money` says how to write them
(decimals and symbol), so a face converts whole tokens with the token's own decimals.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from careledger.chain import CareToken
from careledger.claims._amounts import amount_text
from careledger.claims._fhir import Money
from careledger.crypto import sign_typed_data
from careledger.errors import Conflict

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount


class Payments:
    """Token balances and transfers, signing as one of the node's wallets by name."""

    def __init__(self, token: Callable[..., CareToken]) -> None:
        """`token(as_wallet=None, address=None)`: CareToken, or the ERC-20 at `address`."""
        self._token = token

    def currency(self, address: str | None = None) -> Money:
        """How amounts of CareToken (or the ERC-20 at `address`) are written."""
        token = self._token(address=address)
        return Money(decimals=token.decimals(), token=token.address, symbol=token.symbol())

    def balance(self, account: str, token: str | None = None) -> int:
        """`account`'s balance, in smallest units."""
        return self._token(address=token).balance_of(account)

    def transfer(self, as_wallet: str, to: str, units: int) -> None:
        """Send `units` of CareToken from one of the node's wallets."""
        self._token(as_wallet=as_wallet).transfer(to, units)

    def mint(self, as_wallet: str, to: str, units: int) -> None:
        """Mint `units` of CareToken; the wallet needs the minter role (the deploying node has it)."""
        self._token(as_wallet=as_wallet).mint(to, units)

    def require_funds(self, as_wallet: str, token: str, units: int) -> None:
        """`Conflict` unless the wallet holds at least `units` of `token`: checked before a step that must not
        be left half done for want of them."""
        facade = self._token(as_wallet=as_wallet, address=token)
        owner = facade.signer.address if facade.signer is not None else ""
        held = facade.balance_of(owner)
        if held < units:
            money = self.currency(token)
            raise Conflict(
                f"{as_wallet} holds {amount_text(held, money.decimals)} {money.symbol}, "
                f"less than the {amount_text(units, money.decimals)} asked for: nothing was done; send it more first"
            )

    def approve_for(self, as_wallet: str, token: str, spender: str, units: int) -> None:
        """Let `spender` (a contract) take `units` of `token` from the wallet, unless it may already."""
        facade = self._token(as_wallet=as_wallet, address=token)
        owner = facade.signer.address if facade.signer is not None else ""
        if facade.allowance(owner, spender) < units:
            facade.approve(spender, units)

    def permit(self, owner: LocalAccount, token: str, spender: str, units: int, deadline: int) -> bytes:
        """`owner`'s EIP-2612 permit letting `spender` take `units` of `token` until `deadline`: she signs, anyone
        submits, she pays no gas."""
        typed = self._token(address=token).permit_typed_data(
            owner=owner.address, spender=spender, value=units, deadline=deadline
        )
        return sign_typed_data(owner, typed)
