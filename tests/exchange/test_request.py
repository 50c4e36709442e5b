"""Signed requests from another node or a patient's wallet: whatever arrives parses or is refused with a 4xx, and a
well-formed one travels as JSON and recovers its signer."""

from __future__ import annotations

import json
import math
from typing import Any

from eth_account import Account
from eth_utils import to_checksum_address
from hypothesis import example, given
from hypothesis import strategies as st

from careledger.crypto import sign_typed_data
from careledger.exchange import AccountingRequest, FetchRequest, SignedAccounting, SignedFetch
from tests.exchange.hostile import PROPERTY, changed, from_outside, refused_or_parsed

CHAIN_ID = 31337
REGISTRY = "0x" + "22" * 20
addresses = st.binary(min_size=20, max_size=20).map(to_checksum_address)


def uints(bits: int) -> st.SearchStrategy[int]:
    return st.integers(0, 2**bits - 1)


_node = Account.create()
GOOD_FETCH = FetchRequest.new(_node.address, REGISTRY, _node.address, 1, 1).sign(_node, CHAIN_ID, REGISTRY).to_json()
_ACCOUNTING = AccountingRequest.new(_node.address, REGISTRY)
GOOD_ACCOUNTING_TYPED = _ACCOUNTING.typed_data(CHAIN_ID, REGISTRY)
GOOD_ACCOUNTING = SignedAccounting(_ACCOUNTING, sign_typed_data(_node, GOOD_ACCOUNTING_TYPED)).to_json()


def _as_a_wallet_returns_it(typed: dict[str, Any], strings: bool) -> dict[str, Any]:
    """Typed data as it comes back from a wallet through a page: JSON, its integers perhaps as decimal strings."""
    if strings:
        typed = {**typed, "message": {k: str(v) if isinstance(v, int) else v for k, v in typed["message"].items()}}
    return json.loads(json.dumps(typed))  # type: ignore[no-any-return]


@PROPERTY
@given(body=from_outside(GOOD_FETCH))
@example(body=changed(GOOD_FETCH, ("request", "categories"), 2**16))  # was a 500: eth_abi ValueOutOfBounds
@example(body=changed(GOOD_FETCH, ("request", "expiry"), math.inf))  # was a 500: OverflowError
def test_any_fetch_body_parses_to_a_checkable_request_or_is_refused(body: Any) -> None:
    signed = refused_or_parsed(lambda: SignedFetch.from_json(body))
    if signed is not None:
        refused_or_parsed(lambda: signed.signer(CHAIN_ID, REGISTRY))


@PROPERTY
@given(
    requester=addresses,
    custodian=addresses,
    patient=addresses,
    categories=uints(16),
    purpose=uints(8),
    nonce=uints(256),
    expiry=uints(64),
)
def test_a_signed_fetch_travels_as_json_and_recovers_its_signer(
    requester: str, custodian: str, patient: str, categories: int, purpose: int, nonce: int, expiry: int
) -> None:
    node = Account.create()
    request = FetchRequest(requester, custodian, patient, categories, purpose, nonce, expiry)
    signed = request.sign(node, CHAIN_ID, REGISTRY)
    back = SignedFetch.from_json(json.loads(json.dumps(signed.to_json())))
    assert back == signed
    assert back.signer(CHAIN_ID, REGISTRY) == node.address


@PROPERTY
@given(body=from_outside(GOOD_ACCOUNTING))
@example(body=changed(GOOD_ACCOUNTING, ("request", "expiry"), 2**64))  # was a 500: eth_abi ValueOutOfBounds
@example(body=changed(GOOD_ACCOUNTING, ("request", "expiry"), -math.inf))  # was a 500: OverflowError
def test_any_accounting_body_parses_to_a_checkable_request_or_is_refused(body: Any) -> None:
    signed = refused_or_parsed(lambda: SignedAccounting.from_json(body))
    if signed is not None:
        refused_or_parsed(lambda: signed.signer(CHAIN_ID, REGISTRY))


@PROPERTY
@given(typed=from_outside(GOOD_ACCOUNTING_TYPED))
@example(typed=changed(GOOD_ACCOUNTING_TYPED, ("types",), 255))  # was a 500: AttributeError
@example(typed=changed(GOOD_ACCOUNTING_TYPED, ("message", "nonce"), 2**256))  # was a 500: eth_abi ValueOutOfBounds
def test_any_accounting_typed_data_parses_to_a_checkable_request_or_is_refused(typed: Any) -> None:
    request = refused_or_parsed(lambda: AccountingRequest.from_typed_data(typed))
    if request is not None:
        signed = SignedAccounting(request, bytes.fromhex(GOOD_ACCOUNTING["signature"][2:]))
        refused_or_parsed(lambda: signed.signer(CHAIN_ID, REGISTRY))


@PROPERTY
@given(patient=addresses, requester=addresses, nonce=uints(256), expiry=uints(64), strings=st.booleans())
def test_a_signed_accounting_request_travels_and_recovers_the_patient(
    patient: str, requester: str, nonce: int, expiry: int, strings: bool
) -> None:
    wallet = Account.create()
    request = AccountingRequest(patient, requester, nonce, expiry)
    typed = request.typed_data(CHAIN_ID, REGISTRY)
    signature = sign_typed_data(wallet, typed)
    parsed = AccountingRequest.from_typed_data(_as_a_wallet_returns_it(typed, strings))
    assert parsed == request
    signed = SignedAccounting(parsed, signature)
    back = SignedAccounting.from_json(json.loads(json.dumps(signed.to_json())))
    assert back == signed
    assert back.signer(CHAIN_ID, REGISTRY) == wallet.address
