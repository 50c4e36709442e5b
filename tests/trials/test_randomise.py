"""Stratified permuted-block randomisation: deterministic, balanced per block, strata apart, commitments checkable."""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass

import pytest
from eth_utils import keccak
from hypothesis import given
from hypothesis import strategies as st

from careledger.errors import ValidationError
from careledger.trials import allocate, allocation_commitment, new_seed, seed_commitment, stratum_of
from careledger.trials._randomise import _block

SEED = bytes(range(32))
PARTICIPANTS = [keccak(b"participant-%d" % i) for i in range(12)]
STRATA = [0, 1, 1, 0, 0, 1, 0, 1, 1, 1, 0, 0]


@dataclass(frozen=True, slots=True)
class Factor:
    name: str
    levels: tuple[str, ...]


SEX = Factor("sex", ("female", "male", "other"))
AGE = Factor("age", ("under-60", "60-plus"))


def test_a_frozen_vector_pins_the_algorithm() -> None:
    """Computed once from the spec's algorithm: any change to words, draws, blocks or order fails here."""
    enrolments = list(zip(PARTICIPANTS, STRATA, strict=True))
    assert allocate(SEED, 42, [1, 1], [1, 2], enrolments) == [0, 1, 0, 1, 1, 1, 0, 1, 0, 0, 0, 1]
    assert allocate(SEED, 42, [2, 1], [1, 2], enrolments) == [1, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0]
    assert allocate(SEED, 43, [1, 1], [1, 2], enrolments) != allocate(SEED, 42, [1, 1], [1, 2], enrolments)


def test_the_same_seed_gives_the_same_arms_and_another_seed_others() -> None:
    enrolments = [(keccak(b"p%d" % i), i % 3) for i in range(60)]
    first = allocate(SEED, 7, [1, 1], [1, 2], enrolments)
    assert first == allocate(SEED, 7, [1, 1], [1, 2], enrolments)
    assert first != allocate(new_seed(), 7, [1, 1], [1, 2], enrolments)


def test_a_block_draws_its_size_from_the_seeds_sha256_words() -> None:
    """The block's first word is sha256(seed ‖ uint256 trial ‖ uint16 stratum ‖ uint32 block ‖ uint32 k=0)."""
    word = hashlib.sha256(SEED + (9).to_bytes(32, "big") + (3).to_bytes(2, "big") + (5).to_bytes(4, "big") + bytes(4))
    multiples = [1, 2, 3]
    multiple = multiples[int.from_bytes(word.digest(), "big") % 3]  # rejection has odds 2**-254 here
    block = _block(SEED, (9).to_bytes(32, "big"), 3, 5, [1, 2], multiples)
    assert Counter(block) == {0: multiple, 1: 2 * multiple}


@given(
    ratios=st.lists(st.integers(1, 4), min_size=2, max_size=8),
    multiples=st.lists(st.integers(1, 4), min_size=1, max_size=4),
    stratum=st.integers(0, 2**16 - 1),
    number=st.integers(0, 2**32 - 1),
)
def test_every_block_holds_each_arm_ratio_times_its_multiple(
    ratios: list[int], multiples: list[int], stratum: int, number: int
) -> None:
    block = _block(SEED, (1).to_bytes(32, "big"), stratum, number, ratios, multiples)
    multiple = len(block) // sum(ratios)
    assert multiple in multiples
    assert Counter(block) == {arm: ratio * multiple for arm, ratio in enumerate(ratios)}


def test_a_stratum_fills_whole_blocks_in_order() -> None:
    """With one block size, each consecutive run of a stratum's participants is a balanced block."""
    enrolments = [(keccak(b"q%d" % i), 0) for i in range(40)]
    arms = allocate(SEED, 3, [1, 3], [2], enrolments)
    for start in range(0, 40, 8):
        assert Counter(arms[start : start + 8]) == {0: 2, 1: 6}


def test_strata_are_independent() -> None:
    """A participant in stratum 2 does not move stratum 1's sequence, wherever she enrols."""
    alone = [(keccak(b"one-%d" % i), 1) for i in range(20)]
    mixed: list[tuple[bytes, int]] = []
    for i, enrolment in enumerate(alone):
        mixed.append(enrolment)
        mixed.extend((keccak(b"two-%d-%d" % (i, j)), 2) for j in range(i % 3))
    arms_alone = allocate(SEED, 5, [1, 1], [1, 2], alone)
    arms_mixed = allocate(SEED, 5, [1, 1], [1, 2], mixed)
    assert [arm for arm, (_, stratum) in zip(arms_mixed, mixed, strict=True) if stratum == 1] == arms_alone


@given(
    enrolments=st.lists(st.tuples(st.binary(min_size=32, max_size=32), st.integers(0, 5)), max_size=80),
    ratios=st.lists(st.integers(1, 3), min_size=2, max_size=4),
    multiples=st.lists(st.integers(1, 3), min_size=1, max_size=4),
)
def test_allocation_is_pure_and_balanced_within_each_stratum(
    enrolments: list[tuple[bytes, int]], ratios: list[int], multiples: list[int]
) -> None:
    arms = allocate(SEED, 11, ratios, multiples, enrolments)
    assert arms == allocate(SEED, 11, ratios, multiples, list(enrolments))
    assert len(arms) == len(enrolments)
    largest_block = sum(ratios) * max(multiples)
    for stratum in {stratum for _, stratum in enrolments}:
        counts = Counter(arm for arm, (_, s) in zip(arms, enrolments, strict=True) if s == stratum)
        per_ratio = [counts[arm] / ratio for arm, ratio in enumerate(ratios)]
        # Only the stratum's open block is unbalanced: each arm is short of its share by at most that block's.
        assert max(per_ratio) - min(per_ratio) <= max(multiples)
        assert max(counts[arm] for arm in range(len(ratios))) - min(counts[a] for a in range(len(ratios))) <= (
            largest_block
        )


def test_commitments_are_keccak_of_the_packed_bytes() -> None:
    participant = PARTICIPANTS[0]
    assert seed_commitment(SEED) == keccak(SEED)
    packed = SEED + (42).to_bytes(32, "big") + participant + bytes([1])
    assert allocation_commitment(SEED, 42, participant, 1) == keccak(packed)
    assert allocation_commitment(SEED, 42, participant, 0) != allocation_commitment(SEED, 42, participant, 1)
    assert len(new_seed()) == 32
    assert new_seed() != new_seed()


@pytest.mark.parametrize(
    ("values", "stratum"),
    [
        ({"sex": "female", "age": "under-60"}, 0),
        ({"sex": "female", "age": "60-plus"}, 1),
        ({"sex": "male", "age": "60-plus"}, 3),
        ({"sex": "other", "age": "under-60"}, 4),
        ({"sex": "other", "age": "60-plus", "site": "ignored"}, 5),
    ],
)
def test_stratum_of_is_mixed_radix_in_protocol_order(values: dict[str, str], stratum: int) -> None:
    assert stratum_of([SEX, AGE], values) == stratum


def test_stratum_of_no_factors_is_stratum_zero() -> None:
    assert stratum_of([], {"sex": "male"}) == 0


@pytest.mark.parametrize(
    ("factors", "values", "message"),
    [
        ([SEX, AGE], {"sex": "unknown", "age": "60-plus"}, "'unknown' is not a level of stratification factor 'sex'"),
        ([SEX, AGE], {"sex": "male"}, "no value for stratification factor 'age'"),
        ([Factor("empty", ())], {"empty": "x"}, "stratification factor 'empty' has no levels"),
        ([Factor(f"f{i}", ("a", "b", "c")) for i in range(11)], {f"f{i}": "a" for i in range(11)}, "177147 strata"),
    ],
)
def test_stratum_of_refuses(factors: list[Factor], values: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        stratum_of(factors, values)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"seed": bytes(31)}, "a randomisation seed is 32 bytes, not 31"),
        ({"trial_id": -1}, "trial id -1 is not a uint256"),
        ({"ratios": [1]}, "a trial has 2 to 8 arms, not 1"),
        ({"ratios": [1, 0]}, r"each arm's ratio is 1..255, not \[1, 0\]"),
        ({"block_multiples": []}, "a trial has 1 to 4 block multiples, not 0"),
        ({"block_multiples": [0]}, r"each block multiple is 1..255, not \[0\]"),
        ({"enrolments": [(bytes(20), 0)]}, "a participant id is 32 bytes, not 20"),
        ({"enrolments": [(bytes(32), 2**16)]}, "stratum 65536 is out of range 0..65535"),
    ],
)
def test_allocate_refuses_malformed_input(kwargs: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {
        "seed": SEED,
        "trial_id": 1,
        "ratios": [1, 1],
        "block_multiples": [1, 2],
        "enrolments": [(bytes(32), 0)],
    }
    with pytest.raises(ValidationError, match=message):
        allocate(**{**arguments, **kwargs})


def test_a_commitment_refuses_an_arm_out_of_range() -> None:
    with pytest.raises(ValidationError, match="arm 8 is out of range"):
        allocation_commitment(SEED, 1, PARTICIPANTS[0], 8)
