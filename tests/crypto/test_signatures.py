"""EIP-191 and EIP-712 signatures: who signed, and refusals."""

from __future__ import annotations

from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from careledger.crypto import (
    check_signer,
    recover_message_signer,
    recover_typed_data_signer,
    sign_message,
    sign_typed_data,
)
from careledger.errors import IntegrityError


def _typed(nonce: int) -> dict[str, Any]:
    return {
        "domain": {"name": "CareLedger", "version": "1", "chainId": 31337},
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
            ],
            "Consent": [{"name": "grantee", "type": "address"}, {"name": "nonce", "type": "uint256"}],
        },
        "primaryType": "Consent",
        "message": {"grantee": "0x" + "11" * 20, "nonce": nonce},
    }


def test_eip191_round_trip_and_tampering(account: LocalAccount) -> None:
    signature = sign_message(account, b"fetch record obs-1")
    assert recover_message_signer(b"fetch record obs-1", signature) == account.address
    check_signer(account.address, recover_message_signer(b"fetch record obs-1", signature))
    with pytest.raises(IntegrityError, match="not by"):
        check_signer(account.address, recover_message_signer(b"fetch record obs-2", signature))


def test_eip712_round_trip_and_replay_under_other_terms(account: LocalAccount) -> None:
    signature = sign_typed_data(account, _typed(1))
    assert recover_typed_data_signer(_typed(1), signature) == account.address
    assert recover_typed_data_signer(_typed(2), signature) != account.address


def test_another_signer_is_refused(account: LocalAccount) -> None:
    forger = Account.create()
    signature = sign_typed_data(forger, _typed(1))
    with pytest.raises(IntegrityError):
        check_signer(account.address, recover_typed_data_signer(_typed(1), signature))


def test_malformed_signatures_are_integrity_errors() -> None:
    with pytest.raises(IntegrityError, match="malformed"):
        recover_message_signer(b"m", b"\x00" * 10)
    with pytest.raises(IntegrityError, match="malformed"):
        recover_typed_data_signer({"not": "typed data"}, b"\x00" * 65)
