"""EIP-712 `string` and `uint32` fields: a reason or an id signed as written, a date as YYYYMMDD; a stranger's
value of another kind, or too long, is a `ValidationError` naming the field."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import pytest
from eth_account import Account

from careledger.crypto import String, Struct, Uint32, recover_typed_data_signer, sign_typed_data
from careledger.errors import ValidationError

CHAIN_ID = 31337
CONTRACT = "0x" + "22" * 20


@dataclass(frozen=True, slots=True)
class Note(Struct):
    PRIMARY_TYPE: ClassVar[str] = "Note"
    DOMAIN: ClassVar[tuple[str, str]] = ("CareLedger Test", "1")
    NOUN: ClassVar[str] = "a note"

    reason: String
    day: Uint32


def test_a_string_and_a_uint32_are_signed_as_written() -> None:
    note = Note("lot L1 recalled", 20261231)
    assert Note.eip712_type() == [{"name": "reason", "type": "string"}, {"name": "day", "type": "uint32"}]
    assert note.to_json() == {"reason": "lot L1 recalled", "day": 20261231}
    account = Account.create()
    signature = sign_typed_data(account, note.typed_data(CHAIN_ID, CONTRACT))
    assert recover_typed_data_signer(Note.from_json(note.to_json()).typed_data(CHAIN_ID, CONTRACT), signature) == (
        account.address
    )


@pytest.mark.parametrize(
    ("body", "said"),
    [
        ({"reason": 7, "day": 1}, "reason is a string, not 7"),
        ({"reason": "x" * 1025, "day": 1}, "reason is a string of at most 1024 characters"),
        ({"reason": "ok", "day": 2**32}, "day is a uint32"),
        ({"reason": "ok", "day": "20261231"}, "day is a uint32"),
    ],
)
def test_a_malformed_string_or_uint32_is_refused_naming_it(body: dict[str, object], said: str) -> None:
    with pytest.raises(ValidationError, match=said):
        Note.from_json(body)
