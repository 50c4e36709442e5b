"""Facade of CareToken.vy, and of any ERC-20 a plan pays in (the calls are the same).

Amounts are integers in the token's smallest unit; the CLI converts from decimal
strings with the token's `decimals`, so no float ever touches money.
"""

from __future__ import annotations

from typing import Any

from eth_utils import to_checksum_address

from careledger.chain._facades import ContractFacade
from careledger.chain._signer import TxRequest
from careledger.crypto import typed_data

# CareToken's EIP-712 domain (`erc20.__init__` in CareToken.vy).
DOMAIN_NAME = "CareLedger Health Token"
DOMAIN_VERSION = "1"

_PERMIT_TYPE = [
    {"name": "owner", "type": "address"},
    {"name": "spender", "type": "address"},
    {"name": "value", "type": "uint256"},
    {"name": "nonce", "type": "uint256"},
    {"name": "deadline", "type": "uint256"},
]


def permit_typed_data(
    *, owner: str, spender: str, value: int, nonce: int, deadline: int, chain_id: int, token: str
) -> dict[str, Any]:
    """What a CareToken holder signs (EIP-2612) to let `spender` move `value` of theirs."""
    return typed_data(
        domain=(DOMAIN_NAME, DOMAIN_VERSION),
        chain_id=chain_id,
        contract=token,
        primary_type="Permit",
        fields=_PERMIT_TYPE,
        message={
            "owner": to_checksum_address(owner),
            "spender": to_checksum_address(spender),
            "value": value,
            "nonce": nonce,
            "deadline": deadline,
        },
    )


class CareToken(ContractFacade):
    """Balances, transfers, approvals, minting and permits."""

    contract_name = "CareToken"

    def balance_of(self, account: str) -> int:
        """`account`'s balance, in the token's smallest units."""
        return int(self._call("balanceOf", to_checksum_address(account)))

    def allowance(self, owner: str, spender: str) -> int:
        """How much `spender` may still take from `owner`."""
        return int(self._call("allowance", to_checksum_address(owner), to_checksum_address(spender)))

    def total_supply(self) -> int:
        """Every token in existence."""
        return int(self._call("totalSupply"))

    def decimals(self) -> int:
        """How many decimals a whole token has."""
        return int(self._call("decimals"))

    def symbol(self) -> str:
        """The token's symbol (CARE)."""
        return str(self._call("symbol"))

    def is_minter(self, account: str) -> bool:
        """Whether `account` may still mint something."""
        return bool(self._call("is_minter", to_checksum_address(account)))

    def mint_allowance(self, account: str) -> int:
        """How much more `account` may mint (its cap, less what it has minted since the cap was set)."""
        return int(self._call("mint_allowance", to_checksum_address(account)))

    def owner(self) -> str:
        """Who sets the minters' caps: the deployer, then the council."""
        return str(self._call("owner"))

    def nonce(self, owner: str) -> int:
        """The nonce `owner`'s next EIP-2612 permit must carry."""
        return int(self._call("nonces", to_checksum_address(owner)))

    def transfer(self, to: str, amount: int) -> None:
        """Send `amount` from the signer to `to`."""
        self._transact(self._request("transfer", to_checksum_address(to), amount))

    def approve(self, spender: str, amount: int) -> None:
        """Let `spender` take up to `amount` from the signer."""
        self._transact(self.approve_request(spender, amount))

    def approve_request(self, spender: str, amount: int) -> TxRequest:
        """The transaction of `approve`, for a wallet elsewhere to send."""
        return self._request("approve", to_checksum_address(spender), amount)

    def mint(self, to: str, amount: int) -> None:
        """Mint to `to`; the signer must be a minter, within its cap."""
        self._transact(self._request("mint", to_checksum_address(to), amount))

    def set_minter_request(self, account: str, allowance: int) -> TxRequest:
        """The call that lets `account` mint `allowance` more (zero revokes it); the token's owner only."""
        return self._request("set_minter", to_checksum_address(account), allowance)

    def transfer_ownership_request(self, new_owner: str) -> TxRequest:
        """The call that hands the token's ownership (setting minters) to `new_owner`, ending the owner's minting."""
        return self._request("transfer_ownership", to_checksum_address(new_owner))

    def permit_typed_data(self, *, owner: str, spender: str, value: int, deadline: int) -> dict[str, Any]:
        """What `owner` signs to let `spender` move `value`, with the owner's current nonce."""
        return permit_typed_data(
            owner=owner,
            spender=spender,
            value=value,
            nonce=self.nonce(owner),
            deadline=deadline,
            chain_id=self.chain.chain_id,
            token=self.address,
        )
