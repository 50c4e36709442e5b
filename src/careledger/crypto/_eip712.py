"""EIP-712 typed data for the contracts' signed messages (consents, token permits, exchange requests).

Every CareLedger contract that verifies signatures uses snekmate's domain separator: name,
version, chain id and verifying contract, so one builder serves them all.
"""

from __future__ import annotations

from typing import Any

from eth_utils import to_checksum_address

_DOMAIN_TYPE = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]


def typed_data(
    *,
    domain: tuple[str, str],
    chain_id: int,
    contract: str,
    primary_type: str,
    fields: list[dict[str, str]],
    message: dict[str, Any],
) -> dict[str, Any]:
    """The typed data (`domain`, `types`, `primaryType`, `message`) a wallet signs.

    `domain` is the contract's (name, version) as its constructor gave them.
    """
    name, version = domain
    return {
        "domain": {
            "name": name,
            "version": version,
            "chainId": chain_id,
            "verifyingContract": to_checksum_address(contract),
        },
        "types": {"EIP712Domain": _DOMAIN_TYPE, primary_type: fields},
        "primaryType": primary_type,
        "message": message,
    }
