"""EIP-712 structs declared once: what a stranger sends is parsed into checked values or refused with a
`ValidationError`, and a struct travels as JSON and as typed data unchanged."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar

import pytest
from eth_account import Account
from eth_utils import to_checksum_address
from hypothesis import given
from hypothesis import strategies as st

from careledger.crypto import (
    Address,
    HashedJson,
    JsonKey,
    Nonce,
    Signed,
    Struct,
    Uint8,
    Uint64,
    Uint256,
    canonical_json,
    keccak,
    sign_typed_data,
)
from careledger.errors import InvalidSignature, ValidationError
from tests.exchange.hostile import PROPERTY

CHAIN_ID = 31337
CONTRACT = "0x" + "22" * 20
WHO = to_checksum_address("0x" + "ab" * 20)  # 0xAbaB…: mixed case, so a letter's case changed spoils its checksum


@dataclass(frozen=True, slots=True)
class Sample(Struct):
    PRIMARY_TYPE: ClassVar[str] = "Sample"
    DOMAIN: ClassVar[tuple[str, str]] = ("CareLedger Test", "1")
    NOUN: ClassVar[str] = "a sample"

    who: Address
    small: Uint8
    count_of_things: Uint64
    big: Uint256
    nonce: Nonce
    note: str = "its own"


@dataclass(frozen=True, slots=True)
class SignedSample(Signed[Sample]):
    REQUEST: ClassVar[type[Struct]] = Sample


@dataclass(frozen=True, slots=True)
class Document(Struct):
    PRIMARY_TYPE: ClassVar[str] = "Document"
    DOMAIN: ClassVar[tuple[str, str]] = ("CareLedger Test", "1")
    NOUN: ClassVar[str] = "a document"

    number: Annotated[Uint256, JsonKey("no")]
    body: HashedJson


GOOD = Sample(WHO, 7, 2**40, 2**200, 2**255)
GOOD_JSON = GOOD.to_json()
GOOD_MESSAGE = GOOD.message()


def test_the_type_list_message_and_json_follow_from_the_fields() -> None:
    assert Sample.eip712_type() == [
        {"name": "who", "type": "address"},
        {"name": "small", "type": "uint8"},
        {"name": "countOfThings", "type": "uint64"},
        {"name": "big", "type": "uint256"},
        {"name": "nonce", "type": "uint256"},
    ]
    assert GOOD_MESSAGE == {"who": WHO, "small": 7, "countOfThings": 2**40, "big": 2**200, "nonce": 2**255}
    assert GOOD.to_json() == {**GOOD_MESSAGE, "nonce": f"{2**255:#066x}"}  # a random nonce is no JSON number
    typed = GOOD.typed_data(CHAIN_ID, CONTRACT)
    assert (typed["primaryType"], typed["types"]["Sample"], typed["message"]) == (
        "Sample",
        Sample.eip712_type(),
        GOOD_MESSAGE,
    )
    assert typed["domain"] == {
        "name": "CareLedger Test",
        "version": "1",
        "chainId": CHAIN_ID,
        "verifyingContract": to_checksum_address(CONTRACT),
    }


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("small", -1),
        ("small", 256),
        ("countOfThings", 2**64),
        ("big", 2**256),
        ("small", True),
        ("small", 1.0),
        ("small", float("inf")),
        ("small", "7"),
        ("small", None),
        ("nonce", 5),
        ("nonce", "0x" + "f" * 65),
        ("nonce", "0x"),
        ("nonce", "zz"),
        ("nonce", "-0x5"),
        ("who", "0x1234"),
        ("who", "ab" * 20),
        ("who", WHO[:2] + WHO[2].swapcase() + WHO[3:]),  # one letter's case changed: the checksum is wrong
        ("who", 0xAB),
    ],
)
def test_a_malformed_field_in_json_is_refused_by_name(field: str, value: Any) -> None:
    with pytest.raises(ValidationError, match=f"a sample is an object of .*: {field} is"):
        Sample.from_json({**GOOD_JSON, field: value})


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("small", "-1"),
        ("small", "256"),
        ("small", " 7"),
        ("small", "7.0"),
        ("small", "0x7"),
        ("small", "1_0"),
        ("small", "\uff17"),  # a fullwidth 7: Python's int() reads it, a wallet does not
        ("small", 7.0),
        ("small", False),
        ("big", str(2**256)),
        ("nonce", "1" * 5000),
    ],
)
def test_a_malformed_number_in_typed_data_is_refused_by_name(field: str, value: Any) -> None:
    with pytest.raises(ValidationError, match=f"a sample is an object of .*: {field} is"):
        Sample.from_message({**GOOD_MESSAGE, field: value})


def test_typed_data_takes_integers_as_a_wallet_returns_them_through_a_page() -> None:
    as_strings = {key: str(value) if isinstance(value, int) else value for key, value in GOOD_MESSAGE.items()}
    assert Sample.from_message(as_strings) == GOOD


def test_an_address_in_one_case_is_taken_and_held_checksummed() -> None:
    assert Sample.from_json({**GOOD_JSON, "who": WHO.lower()}).who == WHO
    assert Sample.from_json({**GOOD_JSON, "who": "0x" + WHO[2:].upper()}).who == WHO


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({k: v for k, v in GOOD_JSON.items() if k != "big"}, "big is missing"),
        ({**GOOD_JSON, "extra": 1}, "'extra' is none of them"),
        ({**GOOD_JSON, "note": "mine"}, "'note' is none of them"),  # its own field is not in its JSON
        ({**GOOD_JSON, "count_of_things": 1}, "'count_of_things' is none of them"),
        ([GOOD_JSON], r"a sample is an object of who, small, countOfThings, big, nonce, not \["),
        (None, "not None"),
    ],
)
def test_a_missing_or_unknown_key_is_refused(data: Any, problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        Sample.from_json(data)


def test_a_struct_made_in_code_is_checked_too() -> None:
    with pytest.raises(ValidationError, match="a sample's small is a uint8"):
        Sample(WHO, 256, 0, 0, 0)
    with pytest.raises(ValidationError, match="a sample's who is an address"):
        Sample("nobody", 1, 0, 0, 0)
    assert Sample(WHO.lower(), 1, 0, 0, 0).who == WHO


addresses = st.binary(min_size=20, max_size=20).map(lambda raw: "0x" + raw.hex())
samples = st.builds(
    Sample,
    who=addresses,
    small=st.integers(0, 2**8 - 1),
    count_of_things=st.integers(0, 2**64 - 1),
    big=st.integers(0, 2**256 - 1),
    nonce=st.integers(0, 2**256 - 1),
)


@PROPERTY
@given(sample=samples)
def test_a_struct_travels_as_json_and_as_typed_data(sample: Sample) -> None:
    assert Sample.from_json(json.loads(json.dumps(sample.to_json()))) == sample
    typed = json.loads(json.dumps(sample.typed_data(CHAIN_ID, CONTRACT)))
    assert Sample.from_typed_data(typed) == sample
    assert Sample.domain_of(typed) == (CHAIN_ID, to_checksum_address(CONTRACT))


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"primaryType": "Other"}, "not a sample: EIP-712 typed data"),
        ({"primaryType": {}}, "not a sample"),
        ({"types": {"Sample": Sample.eip712_type()[::-1]}}, "the Sample type is not CareLedger Test's"),
        ({"types": 255}, "the Sample type"),
        ({"message": []}, "a sample is an object of"),
    ],
)
def test_typed_data_of_another_struct_is_refused(change: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        Sample.from_typed_data({**GOOD.typed_data(CHAIN_ID, CONTRACT), **change})


@pytest.mark.parametrize(
    ("domain", "problem"),
    [
        ({"name": "Another"}, "not a sample for CareLedger Test version 1"),
        ({"version": "2"}, "not a sample for CareLedger Test version 1"),
        ({"chainId": -1}, "chainId or verifyingContract"),
        ({"chainId": 1.5}, "chainId or verifyingContract"),
        ({"verifyingContract": "0x12"}, "chainId or verifyingContract"),
    ],
)
def test_typed_data_for_another_domain_is_refused(domain: dict[str, Any], problem: str) -> None:
    typed = GOOD.typed_data(CHAIN_ID, CONTRACT)
    with pytest.raises(ValidationError, match=problem):
        Sample.domain_of({**typed, "domain": {**typed["domain"], **domain}})


def test_a_json_object_is_signed_by_its_hash_and_not_read_back_from_typed_data() -> None:
    document = Document(3, {"kind": "count", "epsilon": 0.1})
    assert Document.eip712_type() == [{"name": "number", "type": "uint256"}, {"name": "body", "type": "bytes32"}]
    hashed = document.message()["body"]
    assert hashed == "0x" + keccak(canonical_json({"kind": "count", "epsilon": 0.1})).hex()
    assert document.to_json() == {"no": 3, "body": {"kind": "count", "epsilon": 0.1}}
    assert Document.from_json(document.to_json()) == document
    with pytest.raises(ValidationError, match="body is a JSON object"):
        Document.from_json({"no": 3, "body": [1]})
    with pytest.raises(ValidationError, match="'number' is none of them"):
        Document.from_json({"number": 3, "body": {}})
    with pytest.raises(ValidationError, match="body is signed by its hash"):
        Document.from_message(document.message())


def test_a_signed_struct_travels_and_recovers_its_signer() -> None:
    wallet = Account.create()
    signed = SignedSample(GOOD, sign_typed_data(wallet, GOOD.typed_data(CHAIN_ID, CONTRACT)))
    back = SignedSample.from_json(json.loads(json.dumps(signed.to_json())))
    assert back == signed
    assert back.signer(CHAIN_ID, CONTRACT) == wallet.address
    assert back.signer(CHAIN_ID + 1, CONTRACT) != wallet.address
    with pytest.raises(ValidationError, match=r"a signed request is an object of request \(a sample\) and signature"):
        SignedSample.from_json({**signed.to_json(), "extra": 1})
    with pytest.raises(ValidationError, match="nonce is missing"):
        SignedSample.from_json({**signed.to_json(), "request": {k: v for k, v in GOOD_JSON.items() if k != "nonce"}})
    with pytest.raises(InvalidSignature):
        SignedSample.from_json({**signed.to_json(), "signature": "0x1234"})
