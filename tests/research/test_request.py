"""A study request as it arrives from anyone: signed, and refused whole when malformed."""

from __future__ import annotations

from typing import Any

import pytest
from eth_account import Account

from careledger.errors import InvalidSignature, ValidationError
from careledger.research import RELEASE, StudyRequest

NODE = "0x" + "11" * 20
REGISTRY = "0x" + "22" * 20
GOOD = StudyRequest.new(3, NODE, RELEASE).signed(Account.create(), 31337, REGISTRY).to_json()


def test_a_request_travels_as_json_and_recovers_its_signer() -> None:
    sponsor = Account.create()
    signed = StudyRequest.new(3, NODE, {"kind": "count", "epsilon": 0.1}).signed(sponsor, 31337, REGISTRY)
    back = StudyRequest.from_json(signed.to_json())
    assert back == signed
    assert back.signer(31337, REGISTRY) == sponsor.address
    altered = StudyRequest.from_json({**signed.to_json(), "ask": {"kind": "count", "epsilon": 5}})
    assert altered.signer(31337, REGISTRY) != sponsor.address  # the ask is signed: another ask, another signer


@pytest.mark.parametrize(
    "changes",
    [
        {"study": 1e999},
        {"study": -1},
        {"study": 2**256},
        {"nonce": "0x" + "f" * 65},
        {"nonce": "zz"},
        {"expiry": 2**64},
        {"ask": [1]},
        {"custodian": "0x1234"},
    ],
)
def test_a_malformed_request_is_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match="a study request is"):
        StudyRequest.from_json({**GOOD, **changes})


@pytest.mark.parametrize("signature", ["not hex", "0x", "0x" + "00" * 65, 7])
def test_a_malformed_signature_is_a_failed_sign_in(signature: object) -> None:
    with pytest.raises(InvalidSignature):
        StudyRequest.from_json({**GOOD, "signature": signature})
