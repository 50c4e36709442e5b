"""The wire format: what a device signs is what a node decodes, and any change to it is caught."""

from __future__ import annotations

import os
import struct

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct

from careledger.crypto import recover_message_signers, sign_message
from careledger.errors import ValidationError
from careledger.iot import MAX_READINGS, Reading, decode_payload, encode_frame, sign_frame

NODE = "0x" + "11" * 20
PATIENT = "0x" + "22" * 20
DEVICE = Account.create()
READINGS = [
    Reading(1, 1_764_000_000_000, "8867-4", ((72.5, "/min"),)),
    Reading(2, 1_764_000_001_000, "85354-9", ((121.0, "mm[Hg]"), (79.0, "mm[Hg]"))),
]


def test_a_signed_frame_decodes_to_what_was_signed() -> None:
    (frame,) = decode_payload(sign_frame(DEVICE, NODE, PATIENT, READINGS))
    assert frame.readings == tuple(READINGS)
    assert (frame.node.lower(), frame.device, frame.patient.lower()) == (NODE, DEVICE.address, PATIENT)
    assert not frame.forged


def test_frames_back_to_back_are_one_payload() -> None:
    payload = sign_frame(DEVICE, NODE, PATIENT, READINGS[:1]) + sign_frame(DEVICE, NODE, PATIENT, READINGS[1:])
    assert [frame.readings for frame in decode_payload(payload)] == [(READINGS[0],), (READINGS[1],)]


def test_an_outside_wallet_signs_frames_with_plain_personal_sign() -> None:
    """A frame is an EIP-191 message: any wallet's personal_sign makes one the node accepts."""
    body = encode_frame(NODE, DEVICE.address, PATIENT, READINGS)
    signature = Account.sign_message(encode_defunct(primitive=body), DEVICE.key).signature
    (frame,) = decode_payload(body + bytes(signature))
    assert frame.signer == DEVICE.address


def test_fast_recovery_agrees_with_eth_account() -> None:
    messages = [os.urandom(size) for size in (0, 1, 65, 200, 1000)]
    pairs = [(message, sign_message(DEVICE, message)) for message in messages]
    assert recover_message_signers(pairs) == [DEVICE.address] * len(messages)
    broken = [(b"x", b"\x00" * 65), (b"x", b"\x01" * 64), (b"x", bytes(64) + b"\x1b")]
    assert recover_message_signers(broken) == [None, None, None]


@pytest.mark.parametrize("offset", [1, 25, 45, 62, 70, 90])
def test_any_changed_byte_makes_the_frame_forged_or_malformed(offset: int) -> None:
    payload = bytearray(sign_frame(DEVICE, NODE, PATIENT, READINGS))
    payload[offset] ^= 0x01
    try:
        frames = decode_payload(bytes(payload))
    except ValidationError:
        return
    assert all(frame.forged for frame in frames)


def test_a_frame_signed_by_another_key_is_forged() -> None:
    body = encode_frame(NODE, DEVICE.address, PATIENT, READINGS)
    (frame,) = decode_payload(body + sign_message(Account.create(), body))
    assert frame.forged


MALFORMED = {
    "empty": b"",
    "one byte": b"\x01",
    "a signature byte short": sign_frame(DEVICE, NODE, PATIENT, READINGS)[:-1],
    "cut inside a reading": sign_frame(DEVICE, NODE, PATIENT, READINGS)[:70],
    "another version": b"\x02" + sign_frame(DEVICE, NODE, PATIENT, READINGS)[1:],
    "no readings": struct.pack(">B20s20s20sH", 1, bytes(20), bytes(20), bytes(20), 0) + bytes(65),
    "too many claimed": struct.pack(">B20s20s20sH", 1, bytes(20), bytes(20), bytes(20), 65535) + bytes(65),
    "noise": os.urandom(4096),
}


@pytest.mark.parametrize("payload", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_payloads_are_refused_whole(payload: bytes) -> None:
    with pytest.raises(ValidationError):
        decode_payload(payload)


def test_a_value_that_is_not_a_finite_number_is_refused() -> None:
    payload = sign_frame(DEVICE, NODE, PATIENT, [Reading(1, 1, "8867-4", ((float("nan"), "/min"),))])
    with pytest.raises(ValidationError, match="finite"):
        decode_payload(payload)


def test_a_frame_holds_a_bounded_number_of_readings() -> None:
    with pytest.raises(ValidationError, match="1 to"):
        encode_frame(NODE, DEVICE.address, PATIENT, [READINGS[0]] * (MAX_READINGS + 1))
    with pytest.raises(ValidationError):
        encode_frame(NODE, DEVICE.address, PATIENT, [])


def test_a_large_batch_is_recovered_in_parallel_and_in_order() -> None:
    others = [Account.create() for _ in range(3)]
    pairs = []
    for index in range(150):
        message = index.to_bytes(4, "big")
        signer = others[index % 3]
        pairs.append((message, sign_message(signer, message) if index % 7 else b"\x00" * 65))
    expected = [others[index % 3].address if index % 7 else None for index in range(150)]
    assert recover_message_signers(pairs) == expected
