"""Decoding the bytes a revert returns."""

from __future__ import annotations

from eth_abi import encode

from careledger.chain import decode_revert
from careledger.chain._revert import reason_from_message


def test_error_string() -> None:
    data = bytes.fromhex("08c379a0") + encode(["string"], ["anchor: empty root"])
    assert decode_revert(data) == "anchor: empty root"
    assert decode_revert("0x" + data.hex()) == "anchor: empty root"


def test_panic_codes() -> None:
    data = bytes.fromhex("4e487b71") + encode(["uint256"], [0x11])
    assert decode_revert(data) == "panic: arithmetic overflow or underflow"
    assert decode_revert(bytes.fromhex("4e487b71") + encode(["uint256"], [0x99])) == "panic: code 0x99"


def test_empty_custom_and_garbled() -> None:
    assert decode_revert(b"") == "reverted without a reason"
    assert decode_revert(None) == "reverted without a reason"
    assert decode_revert(bytes.fromhex("deadbeef01")) == "reverted with custom error data 0xdeadbeef01"
    assert decode_revert(bytes.fromhex("08c379a0") + b"\x01").startswith("reverted with custom error data")


def test_node_message_prefix_is_stripped() -> None:
    assert reason_from_message("execution reverted: consent: grant expired") == "consent: grant expired"
    assert reason_from_message("execution reverted") == "reverted without a reason"
    assert reason_from_message("out of gas") == "out of gas"
