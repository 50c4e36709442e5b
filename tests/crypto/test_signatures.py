"""EIP-191 and EIP-712 signatures: who signed, and refusals."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from hypothesis import given
from hypothesis import strategies as st

from careledger.crypto import (
    check_signer,
    parse_signature,
    recover_message_signer,
    recover_typed_data_signer,
    sign_message,
    sign_typed_data,
)
from careledger.errors import IntegrityError, InvalidSignature, Unauthenticated


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


def test_malformed_signatures_and_typed_data_are_integrity_errors(account: LocalAccount) -> None:
    with pytest.raises(IntegrityError, match="65 bytes"):
        recover_message_signer(b"m", b"\x00" * 10)
    with pytest.raises(IntegrityError, match="malformed"):
        recover_typed_data_signer({"not": "typed data"}, sign_typed_data(account, _typed(1)))


_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def test_a_wallets_signature_parses_and_v_0_or_1_reads_as_27_or_28(account: LocalAccount) -> None:
    signature = sign_typed_data(account, _typed(1))
    assert parse_signature("0x" + signature.hex()) == signature
    assert parse_signature(signature.hex()) == signature
    low_v = signature[:64] + bytes([signature[64] - 27])
    assert parse_signature("0x" + low_v.hex()) == signature
    assert recover_typed_data_signer(_typed(1), low_v) == account.address


@pytest.mark.parametrize(
    "text",
    [
        "",
        "0x",
        "0x" + "00" * 65,
        "0x" + "00" * 64 + "1b",
        "0x" + "ff" * 65,
        "0x" + "11" * 64,
        "0x" + "11" * 66,
        "0x" + f"{1:064x}{_N:064x}1b",
        "0x" + f"{_N:064x}{1:064x}1b",
        "0x" + f"{1:064x}{1:064x}1d",
        "0x" + "zz" * 65,
        " 0x" + "11" * 65,
    ],
)
def test_a_malformed_signature_is_refused_before_any_curve_arithmetic(text: str) -> None:
    with pytest.raises(InvalidSignature):
        parse_signature(text)


@pytest.mark.parametrize("value", [None, 7, ["0x"], {"r": 1}, b"\x11" * 65])
def test_a_signature_that_is_not_a_string_is_refused(value: object) -> None:
    with pytest.raises(InvalidSignature):
        parse_signature(value)


@given(raw=st.binary(min_size=0, max_size=70))
def test_any_bytes_either_parse_and_recover_or_are_an_invalid_signature(raw: bytes) -> None:
    """Whatever a stranger sends, the answer is a signer or `InvalidSignature`, never another exception."""
    for recover in (lambda s: recover_typed_data_signer(_typed(1), s), lambda s: recover_message_signer(b"m", s)):
        with contextlib.suppress(InvalidSignature):
            assert recover(parse_signature("0x" + raw.hex())).startswith("0x")
        with contextlib.suppress(InvalidSignature):
            assert recover(raw).startswith("0x")


def test_an_invalid_signature_is_both_a_failed_sign_in_and_a_broken_integrity() -> None:
    with pytest.raises(Unauthenticated):
        recover_message_signer(b"m", b"")
    with pytest.raises(IntegrityError):
        recover_message_signer(b"m", b"\xff" * 65)
