"""EIP-712 structs declared once: what a stranger sends is parsed into checked values or refused with a
`ValidationError`, a struct travels as JSON and as typed data unchanged, and each signed request of ours still
has the EIP-712 type it had when it wrote its own (the wire format did not change)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import to_checksum_address
from hypothesis import given
from hypothesis import strategies as st

from careledger.chain import ConsentTerms, action_from_typed_data, action_typed_data, consent_typed_data
from careledger.crypto import (
    Address,
    Bytes32,
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
from careledger.exchange import AccountingRequest, FetchRequest, SignedAccounting, SignedFetch
from careledger.research import RELEASE, StudyRequest
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


# The EIP-712 types each request wrote by hand before it was declared as a struct: the same lists, field for field,
# so the same typed data is signed and every signature made before still verifies.
OLD_TYPES = {
    "Fetch": [
        {"name": "requester", "type": "address"},
        {"name": "custodian", "type": "address"},
        {"name": "patient", "type": "address"},
        {"name": "categories", "type": "uint16"},
        {"name": "purpose", "type": "uint8"},
        {"name": "nonce", "type": "uint256"},
        {"name": "expiry", "type": "uint64"},
    ],
    "Accounting": [
        {"name": "patient", "type": "address"},
        {"name": "requester", "type": "address"},
        {"name": "nonce", "type": "uint256"},
        {"name": "expiry", "type": "uint64"},
    ],
    "StudyRequest": [
        {"name": "studyId", "type": "uint256"},
        {"name": "custodian", "type": "address"},
        {"name": "ask", "type": "bytes32"},
        {"name": "nonce", "type": "uint256"},
        {"name": "expiry", "type": "uint64"},
    ],
    "Consent": [
        {"name": "patient", "type": "address"},
        {"name": "grantee", "type": "address"},
        {"name": "categories", "type": "uint16"},
        {"name": "purposes", "type": "uint8"},
        {"name": "notBefore", "type": "uint64"},
        {"name": "expiry", "type": "uint64"},
        {"name": "nonce", "type": "uint256"},
        {"name": "deadline", "type": "uint256"},
    ],
    "Revocation": [
        {"name": "patient", "type": "address"},
        {"name": "grantee", "type": "address"},
        {"name": "grantId", "type": "uint256"},
        {"name": "nonce", "type": "uint256"},
        {"name": "deadline", "type": "uint256"},
    ],
    "CareTeamRestriction": [
        {"name": "patient", "type": "address"},
        {"name": "custodian", "type": "address"},
        {"name": "categories", "type": "uint16"},
        {"name": "nonce", "type": "uint256"},
        {"name": "deadline", "type": "uint256"},
    ],
}
_EXCHANGE_DOMAIN = {"name": "CareLedger Exchange", "version": "1", "chainId": CHAIN_ID}
_CONSENT_DOMAIN = {**_EXCHANGE_DOMAIN, "name": "CareLedger ConsentRegistry"}
_A, _B, _C = (to_checksum_address("0x" + byte * 20) for byte in ("11", "33", "44"))


def _typed_data(domain: dict[str, Any], primary_type: str, message: dict[str, Any]) -> dict[str, Any]:
    return {
        "domain": {**domain, "verifyingContract": to_checksum_address(CONTRACT)},
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            primary_type: OLD_TYPES[primary_type],
        },
        "primaryType": primary_type,
        "message": message,
    }


def _now() -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(typed data made now, the same as each request wrote it by hand) for one example of each."""
    terms = ConsentTerms(_A, _B, 3, 1, 10, 20)
    revocation = {"grantee": _B, "grantId": 2**70}
    restriction = {"custodian": _C, "categories": 5}
    ask = keccak(canonical_json(RELEASE))
    return [
        (
            FetchRequest(_A, _B, _C, 3, 1, 2**250, 99).typed_data(CHAIN_ID, CONTRACT),
            _typed_data(
                _EXCHANGE_DOMAIN,
                "Fetch",
                {
                    "requester": _A,
                    "custodian": _B,
                    "patient": _C,
                    "categories": 3,
                    "purpose": 1,
                    "nonce": 2**250,
                    "expiry": 99,
                },
            ),
        ),
        (
            AccountingRequest(_A, _B, 2**250, 99).typed_data(CHAIN_ID, CONTRACT),
            _typed_data(
                _EXCHANGE_DOMAIN, "Accounting", {"patient": _A, "requester": _B, "nonce": 2**250, "expiry": 99}
            ),
        ),
        (
            StudyRequest(4, _B, RELEASE, 2**250, 99).typed_data(CHAIN_ID, CONTRACT),
            _typed_data(
                _EXCHANGE_DOMAIN,
                "StudyRequest",
                {"studyId": 4, "custodian": _B, "ask": ask, "nonce": 2**250, "expiry": 99},
            ),
        ),
        (
            consent_typed_data(terms, nonce=7, deadline=2**40, chain_id=CHAIN_ID, contract=CONTRACT),
            _typed_data(
                _CONSENT_DOMAIN,
                "Consent",
                {
                    "patient": _A,
                    "grantee": _B,
                    "categories": 3,
                    "purposes": 1,
                    "notBefore": 10,
                    "expiry": 20,
                    "nonce": 7,
                    "deadline": 2**40,
                },
            ),
        ),
        (
            action_typed_data(
                "Revocation", _A, revocation, nonce=7, deadline=2**40, chain_id=CHAIN_ID, contract=CONTRACT
            ),
            _typed_data(_CONSENT_DOMAIN, "Revocation", {"patient": _A, **revocation, "nonce": 7, "deadline": 2**40}),
        ),
        (
            action_typed_data(
                "CareTeamRestriction", _A, restriction, nonce=7, deadline=2**40, chain_id=CHAIN_ID, contract=CONTRACT
            ),
            _typed_data(
                _CONSENT_DOMAIN, "CareTeamRestriction", {"patient": _A, **restriction, "nonce": 7, "deadline": 2**40}
            ),
        ),
    ]


@pytest.mark.parametrize("index", range(6), ids=list(OLD_TYPES))
def test_each_request_signs_the_typed_data_it_wrote_by_hand(index: int) -> None:
    now, before = _now()[index]
    assert now["types"] == before["types"]
    assert now["domain"] == before["domain"]
    if now["primaryType"] != "StudyRequest":  # whose ask is now its hash in hex (JSON a wallet takes), not bytes
        assert now["message"] == before["message"]
    assert encode_typed_data(full_message=now) == encode_typed_data(full_message=before)
    wallet = Account.create()
    assert (
        Account.recover_message(encode_typed_data(full_message=now), signature=sign_typed_data(wallet, before))
        == wallet.address
    )


@pytest.mark.parametrize(
    "body",
    [
        {"categories": True},
        {"categories": 1.5},
        {"categories": "1"},
        {"purpose": 1.0},
        {"requester": WHO[:2] + WHO[2].swapcase() + WHO[3:]},
        {"extra": "field"},
    ],
)
def test_a_fetch_request_refuses_what_it_once_read_loosely(body: dict[str, Any]) -> None:
    signed = FetchRequest.new(_A, _B, _C, 1, 1).sign(Account.create(), CHAIN_ID, CONTRACT).to_json()
    with pytest.raises(ValidationError, match="a fetch request is an object of"):
        SignedFetch.from_json({**signed, "request": {**signed["request"], **body}})


@pytest.mark.parametrize(
    "change", [{"expiry": 1.5}, {"expiry": True}, {"nonce": " 7"}, {"patient": WHO[:2] + WHO[2].swapcase() + WHO[3:]}]
)
def test_an_accounting_request_refuses_what_it_once_read_loosely(change: dict[str, Any]) -> None:
    typed = AccountingRequest.new(_A, _B).typed_data(CHAIN_ID, CONTRACT)
    with pytest.raises(ValidationError, match="an accounting request is an object of"):
        AccountingRequest.from_typed_data({**typed, "message": {**typed["message"], **change}})
    with pytest.raises(ValidationError, match="a signed request is an object of request"):
        SignedAccounting.from_json({"request": typed["message"], "signature": "0x" + "11" * 65, "more": 1})


@pytest.mark.parametrize("change", [{"study": True}, {"expiry": 9.0}, {"studyId": 4}])
def test_a_study_request_refuses_what_it_once_read_loosely(change: dict[str, Any]) -> None:
    good = StudyRequest.new(4, _B, RELEASE).signed(Account.create(), CHAIN_ID, CONTRACT).to_json()
    with pytest.raises(ValidationError, match="a study request is"):
        StudyRequest.from_json({**good, **change})


@pytest.mark.parametrize(
    "change", [{"grantId": True}, {"grantId": 7.0}, {"grantee": WHO[:2] + WHO[2].swapcase() + WHO[3:]}, {"more": 1}]
)
def test_a_signed_action_refuses_what_it_once_read_loosely(change: dict[str, Any]) -> None:
    typed = action_typed_data(
        "Revocation", _A, {"grantee": _B, "grantId": 7}, nonce=1, deadline=2, chain_id=CHAIN_ID, contract=CONTRACT
    )
    with pytest.raises(ValidationError, match="a revocation is an object of"):
        action_from_typed_data({**typed, "message": {**typed["message"], **change}})


@dataclass(frozen=True, slots=True)
class Tagged(Struct):
    PRIMARY_TYPE: ClassVar[str] = "Tagged"
    DOMAIN: ClassVar[tuple[str, str]] = ("CareLedger Test", "1")
    NOUN: ClassVar[str] = "a tagged thing"

    tag: Bytes32


def test_a_bytes32_travels_as_hex_and_a_wallet_signs_it_as_bytes32() -> None:
    tagged = Tagged(keccak(b"visit"))
    assert Tagged.eip712_type() == [{"name": "tag", "type": "bytes32"}]
    assert tagged.to_json() == {"tag": "0x" + keccak(b"visit").hex()}
    assert Tagged.from_json(json.loads(json.dumps(tagged.to_json()))) == tagged
    typed = tagged.typed_data(CHAIN_ID, CONTRACT)
    assert Tagged.from_typed_data(typed) == tagged
    signer = Account.create()
    signed = signer.sign_message(encode_typed_data(full_message=typed)).signature
    assert sign_typed_data(signer, typed) == bytes(signed)


@pytest.mark.parametrize("value", ["0x12", "ab" * 32, "0x" + "zz" * 32, "0x" + "ab" * 33, 5, None])
def test_a_malformed_bytes32_is_refused_by_name(value: Any) -> None:
    with pytest.raises(ValidationError, match="tag is a bytes32 written as 0x and 64 hex digits"):
        Tagged.from_json({"tag": value})


def test_a_bytes32_made_in_code_is_32_bytes() -> None:
    with pytest.raises(ValidationError, match=r"a tagged thing's tag is a bytes32 \(32 bytes\)"):
        Tagged(b"short")
