"""Sign-In with Ethereum as a wallet outside the project does it: the siwe library's message, eth-account's
signature."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from siwe import SiweMessage


def signed_in_message(url: str, account: LocalAccount) -> tuple[str, str]:
    """A SIWE message for the node at `url` (with a fresh nonce from it) and `account`'s signature of it."""
    found = httpx.get(f"{url}/auth/nonce").json()
    message = SiweMessage(
        domain=found["domain"],
        address=account.address,
        uri=url,
        version="1",
        chain_id=int(found["chain_id"]),
        nonce=found["nonce"],
        issued_at=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
    ).prepare_message()
    return message, "0x" + bytes(account.sign_message(encode_defunct(text=message)).signature).hex()
