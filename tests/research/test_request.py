"""A study request as it arrives from anyone: signed, and refused whole when malformed."""

from __future__ import annotations

import json
from typing import Any

import pytest
from eth_account import Account
from eth_utils import to_checksum_address
from hypothesis import given
from hypothesis import strategies as st

from careledger.errors import InvalidSignature, ValidationError
from careledger.research import RELEASE, StudyRequest
from tests.exchange.hostile import PROPERTY, from_outside, refused_or_parsed

NODE = "0x" + "11" * 20
REGISTRY = "0x" + "22" * 20
# What a sponsor can sign: JSON that has a canonical form (RFC 8785: finite numbers, integers JavaScript holds).
canonical_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53) + 1, 2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
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


@PROPERTY
@given(body=from_outside(GOOD))
def test_any_study_request_body_parses_to_a_checkable_request_or_is_refused(body: Any) -> None:
    request = refused_or_parsed(lambda: StudyRequest.from_json(body))
    if request is not None:
        refused_or_parsed(lambda: request.signer(31337, REGISTRY))


@PROPERTY
@given(
    study_id=st.integers(0, 2**256 - 1),
    custodian=st.binary(min_size=20, max_size=20).map(to_checksum_address),
    ask=st.dictionaries(st.text(max_size=10), canonical_values, max_size=4),
    nonce=st.integers(0, 2**256 - 1),
    expiry=st.integers(0, 2**64 - 1),
)
def test_a_signed_study_request_travels_as_json_and_recovers_its_sponsor(
    study_id: int, custodian: str, ask: dict[str, Any], nonce: int, expiry: int
) -> None:
    sponsor = Account.create()
    signed = StudyRequest(study_id, custodian, ask, nonce, expiry).signed(sponsor, 31337, REGISTRY)
    back = StudyRequest.from_json(json.loads(json.dumps(signed.to_json())))
    assert back == signed
    assert back.signer(31337, REGISTRY) == sponsor.address
