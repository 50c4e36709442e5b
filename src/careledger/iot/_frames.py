"""Signed readings on the wire: the compact frame a device signs and a node checks.

A frame is a device's batch of one or more readings for one patient at one node, signed
once with the device's secp256k1 key as an EIP-191 (`personal_sign`) message, so any
Ethereum signer (a wearable's secure element, a phone wallet, eth-account) can make one
and any library can check it. Binary rather than JSON: a reading is ~40 bytes, and a
node checks thousands a second. Big-endian throughout:

    version      u8      1
    node         20 B    the node the readings are for (no replay to another node)
    device       20 B    the device's address (its signer)
    patient      20 B    the patient the device believes it is bound to
    count        u16     readings that follow, 1..MAX_READINGS
    reading x count:
      sequence   u64     strictly increasing per device
      time       u64     when measured, Unix milliseconds
      code       u8 n, n ASCII bytes   a LOINC code
      values     u8 n, then n x (f64 value, u8 m, m ASCII bytes of a UCUM unit)
    signature    65 B    r ‖ s ‖ v (27/28) over every byte before it

A payload (an MQTT message, an HTTP body) is one or more frames back to back.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from careledger.crypto import checksum_address, recover_message_signers
from careledger.errors import ValidationError

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

VERSION = 1
MAX_READINGS = 4096  # per frame: a day of minute readings, or a minute of 60 Hz samples
SIGNATURE_BYTES = 65
_HEADER = struct.Struct(">B20s20s20sH")
_READING = struct.Struct(">QQ")
_VALUE = struct.Struct(">d")


@dataclass(frozen=True, slots=True)
class Reading:
    """One measurement: a LOINC code and its values (one, or a panel's components in order)."""

    sequence: int
    time_ms: int
    code: str
    values: tuple[tuple[float, str], ...]  # (value, UCUM unit)


@dataclass(frozen=True, slots=True)
class Frame:
    """A decoded frame; `signer` is who signed it (None: the signature recovers no key)."""

    node: str
    device: str
    patient: str
    readings: tuple[Reading, ...]
    signer: str | None

    @property
    def forged(self) -> bool:
        """Whether the frame was not signed by the device it names."""
        return self.signer != self.device


def encode_frame(node: str, device: str, patient: str, readings: Sequence[Reading]) -> bytes:
    """The bytes a device signs: a frame without its signature."""
    if not 1 <= len(readings) <= MAX_READINGS:
        raise ValidationError(f"a frame holds 1 to {MAX_READINGS} readings, not {len(readings)}")
    parts = [_HEADER.pack(VERSION, _address(node), _address(device), _address(patient), len(readings))]
    for reading in readings:
        parts.append(_READING.pack(reading.sequence, reading.time_ms))
        parts.append(_text(reading.code))
        parts.append(bytes([len(reading.values)]))
        for value, unit in reading.values:
            parts.append(_VALUE.pack(value))
            parts.append(_text(unit))
    return b"".join(parts)


def sign_frame(account: LocalAccount, node: str, patient: str, readings: Sequence[Reading]) -> bytes:
    """A signed frame of `readings` by the device whose key is `account` (the device side)."""
    from careledger.crypto import sign_message

    body = encode_frame(node, account.address, patient, readings)
    return body + sign_message(account, body)


def decode_payload(payload: bytes) -> list[Frame]:
    """Every frame in a payload, each with its recovered signer; `ValidationError` for malformed bytes
    (a payload is taken whole or refused whole: its frames cannot be told apart past a bad one)."""
    (decoded,) = decode_payloads([payload])
    if isinstance(decoded, ValidationError):
        raise decoded
    return decoded


def decode_payloads(payloads: Sequence[bytes]) -> list[list[Frame] | ValidationError]:
    """`decode_payload` for many payloads, their signatures recovered as one batch (in parallel when it is
    large); a malformed payload's place holds its `ValidationError`."""
    split: list[list[tuple[_Fields, bytes, bytes]] | ValidationError] = []
    for payload in payloads:
        try:
            split.append(_split(payload))
        except ValidationError as exc:
            split.append(exc)
    signed = [(body, signature) for part in split if isinstance(part, list) for _, body, signature in part]
    signers = iter(recover_message_signers(signed))
    return [
        part if isinstance(part, ValidationError) else [Frame(*fields, signer=next(signers)) for fields, _, _ in part]
        for part in split
    ]


_Fields = tuple[str, str, str, tuple[Reading, ...]]


def _split(payload: bytes) -> list[tuple[_Fields, bytes, bytes]]:
    """A payload's frames: each one's fields, the bytes it signed, and its signature."""
    frames = []
    offset = 0
    while offset < len(payload):
        end, node, device, patient, readings = _decode_body(payload, offset)
        signature = payload[end : end + SIGNATURE_BYTES]
        if len(signature) != SIGNATURE_BYTES:
            raise ValidationError(f"frame at byte {offset} ends before its signature")
        frames.append(((node, device, patient, readings), payload[offset:end], signature))
        offset = end + SIGNATURE_BYTES
    if not frames:
        raise ValidationError("the payload holds no frame")
    return frames


def _decode_body(data: bytes, start: int) -> tuple[int, str, str, str, tuple[Reading, ...]]:
    try:
        version, node, device, patient, count = _HEADER.unpack_from(data, start)
        if version != VERSION:
            raise ValidationError(f"frame at byte {start} is version {version}; this node reads version {VERSION}")
        if not 1 <= count <= MAX_READINGS:
            raise ValidationError(f"frame at byte {start} claims {count} readings (1 to {MAX_READINGS})")
        offset = start + _HEADER.size
        readings = []
        for _ in range(count):
            reading, offset = _decode_reading(data, offset)
            readings.append(reading)
    except (struct.error, IndexError, UnicodeDecodeError):
        raise ValidationError(f"frame at byte {start} is cut short or malformed") from None
    return offset, checksum_address(node), checksum_address(device), checksum_address(patient), tuple(readings)


def _decode_reading(data: bytes, offset: int) -> tuple[Reading, int]:
    sequence, time_ms = _READING.unpack_from(data, offset)
    code, offset = _read_text(data, offset + _READING.size)
    count = data[offset]
    offset += 1
    values = []
    for _ in range(count):
        (value,) = _VALUE.unpack_from(data, offset)
        unit, offset = _read_text(data, offset + _VALUE.size)
        if not math.isfinite(value):
            raise ValidationError(f"reading {sequence} has a value that is not a finite number")
        values.append((value, unit))
    return Reading(sequence, time_ms, code, tuple(values)), offset


def _read_text(data: bytes, offset: int) -> tuple[str, int]:
    length = data[offset]
    end = offset + 1 + length
    if end > len(data):
        raise IndexError(end)
    return data[offset + 1 : end].decode("ascii"), end


def _text(value: str) -> bytes:
    encoded = value.encode("ascii")
    if len(encoded) > 255:
        raise ValidationError(f"{value[:20]!r}… is longer than 255 characters")
    return bytes([len(encoded)]) + encoded


def _address(address: str) -> bytes:
    raw = bytes.fromhex(address.removeprefix("0x"))
    if len(raw) != 20:
        raise ValidationError(f"{address!r} is not an Ethereum address")
    return raw
