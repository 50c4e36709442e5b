"""Hypothesis helpers that damage data the way an attacker or a bad disk would."""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import strategies as st

# 32-byte leaves as commitments are: keccak outputs, so never all zero.
leaves_32 = st.binary(min_size=32, max_size=32).filter(any)


def flip_bit(data: st.DataObject, value: bytes) -> bytes:
    """`value` with one bit, drawn by hypothesis, flipped."""
    bit = data.draw(st.integers(0, len(value) * 8 - 1), label="bit")
    damaged = bytearray(value)
    damaged[bit // 8] ^= 1 << (bit % 8)
    return bytes(damaged)


def tamper_proof(data: st.DataObject, proof: Sequence[bytes]) -> list[bytes]:
    """`proof` with one bit of one sibling flipped."""
    position = data.draw(st.integers(0, len(proof) - 1), label="position")
    return [*proof[:position], flip_bit(data, proof[position]), *proof[position + 1 :]]
