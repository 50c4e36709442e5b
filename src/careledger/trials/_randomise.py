"""Stratified permuted-block randomisation from a 32-byte seed, computed so that anyone can check it.

```
seed ─► keccak ─► seed_hash on chain before the first enrolment
seed ‖ trial ‖ stratum ‖ block ‖ k ─► sha256 words ─► uniform(n) ─► block size, Fisher-Yates shuffle of the block
Enrolled logs (index order) ─► each stratum's participants fill its blocks in order ─► arms
seed ‖ trial ‖ participant ‖ arm ─► keccak ─► the allocation's commitment on chain while blinded
```

The sponsor holds the seed; everyone else recomputes every arm from the revealed seed and the enrolment order on
chain (`scripts/trial_allocations.py` does so without importing CareLedger). Each stratum's blocks draw from their
own word streams, so a participant in one stratum never moves another stratum's sequence.
"""

from __future__ import annotations

import hashlib
import itertools
import secrets
from collections.abc import Iterator, Mapping, Sequence
from typing import Protocol

from careledger.crypto import keccak
from careledger.errors import ValidationError

SEED_BYTES = 32
PARTICIPANT_BYTES = 32
MAX_ARMS = 8  # Trials.vy keeps ratios in DynArray[uint8, 8]
MAX_BLOCK_MULTIPLES = 4  # and block multiples in DynArray[uint8, 4]
STRATA = 2**16  # a stratum is a uint16 on chain
_WORD_SPACE = 2**256


class _Factor(Protocol):
    """What `stratum_of` needs of a protocol's stratification factor (`StratumFactor`)."""

    @property
    def name(self) -> str: ...

    @property
    def levels(self) -> tuple[str, ...]: ...


def new_seed() -> bytes:
    """A fresh randomisation seed: 32 bytes from the operating system's CSPRNG, which only the sponsor holds."""
    return secrets.token_bytes(SEED_BYTES)


def seed_commitment(seed: bytes) -> bytes:
    """keccak256(seed): what the sponsor commits on chain before the first enrolment, so the seed cannot change."""
    return keccak(_seed(seed))


def allocation_commitment(seed: bytes, trial_id: int, participant: bytes, arm: int) -> bytes:
    """keccak256(seed ‖ uint256 trial ‖ participant ‖ uint8 arm): one allocation, on chain while the trial is blinded.
    Without the seed it hides the arm (two arms would otherwise be two guesses); with it anyone checks the arm."""
    if not 0 <= arm < MAX_ARMS:
        raise ValidationError(f"arm {arm} is out of range: a trial has at most {MAX_ARMS} arms")
    return keccak(_seed(seed) + _trial(trial_id) + _participant(participant) + bytes([arm]))


def allocate(
    seed: bytes,
    trial_id: int,
    ratios: Sequence[int],
    block_multiples: Sequence[int],
    enrolments: Sequence[tuple[bytes, int]],
) -> list[int]:
    """The arm (index into `ratios`) of each enrolment, given as (participant, stratum) in the trial's enrolment
    order (`index` on chain). A pure function of its arguments: the sponsor's node and any checker agree."""
    _check_design(ratios, block_multiples)
    seed, trial = _seed(seed), _trial(trial_id)
    streams: dict[int, Iterator[int]] = {}
    arms: list[int] = []
    for participant, stratum in enrolments:
        _participant(participant)
        if not 0 <= stratum < STRATA:
            raise ValidationError(f"stratum {stratum} is out of range 0..{STRATA - 1}")
        if stratum not in streams:
            streams[stratum] = _stratum_arms(seed, trial, stratum, ratios, block_multiples)
        arms.append(next(streams[stratum]))
    return arms


def stratum_of(factors: Sequence[_Factor], values: Mapping[str, str]) -> int:
    """The stratum number of a participant whose factor values are `values`: mixed radix over the factors' levels,
    the first factor the most significant digit (sex (female, male, other) x age (under-60, 60-plus): male, 60-plus
    is 1 x 2 + 1 = 3). No factors is stratum 0."""
    stratum, size = 0, 1
    for factor in factors:
        if not factor.levels:
            raise ValidationError(f"stratification factor {factor.name!r} has no levels")
        value = values.get(factor.name)
        if value is None:
            raise ValidationError(f"no value for stratification factor {factor.name!r}")
        if value not in factor.levels:
            raise ValidationError(
                f"{value!r} is not a level of stratification factor {factor.name!r} ({', '.join(factor.levels)})"
            )
        stratum = stratum * len(factor.levels) + factor.levels.index(value)
        size *= len(factor.levels)
    if size > STRATA:
        raise ValidationError(f"the stratification factors make {size} strata; a trial may have at most {STRATA}")
    return stratum


def _stratum_arms(
    seed: bytes, trial: bytes, stratum: int, ratios: Sequence[int], block_multiples: Sequence[int]
) -> Iterator[int]:
    """The arms of stratum `stratum`'s participants in order: its blocks 0, 1, 2, … one after another."""
    block = 0
    while True:
        yield from _block(seed, trial, stratum, block, ratios, block_multiples)
        block += 1


def _block(
    seed: bytes, trial: bytes, stratum: int, block: int, ratios: Sequence[int], block_multiples: Sequence[int]
) -> list[int]:
    """Block `block` of the stratum: its size multiple drawn first, then the arms shuffled (Fisher-Yates)."""
    prefix = seed + trial + stratum.to_bytes(2, "big") + block.to_bytes(4, "big")
    words = (hashlib.sha256(prefix + k.to_bytes(4, "big")).digest() for k in itertools.count())
    multiple = block_multiples[_uniform(words, len(block_multiples))]
    arms = [arm for arm, ratio in enumerate(ratios) for _ in range(ratio * multiple)]
    for i in range(len(arms) - 1, 0, -1):
        r = _uniform(words, i + 1)
        arms[i], arms[r] = arms[r], arms[i]
    return arms


def _uniform(words: Iterator[bytes], n: int) -> int:
    """An integer uniform on 0..n-1 from the stream: a word is taken only below the largest multiple of n (no bias)."""
    limit = _WORD_SPACE - _WORD_SPACE % n
    while (x := int.from_bytes(next(words), "big")) >= limit:
        pass
    return x % n


def _check_design(ratios: Sequence[int], block_multiples: Sequence[int]) -> None:
    if not 2 <= len(ratios) <= MAX_ARMS:
        raise ValidationError(f"a trial has 2 to {MAX_ARMS} arms, not {len(ratios)}")
    if any(not 1 <= ratio <= 255 for ratio in ratios):
        raise ValidationError(f"each arm's ratio is 1..255, not {list(ratios)}")
    if not 1 <= len(block_multiples) <= MAX_BLOCK_MULTIPLES:
        raise ValidationError(f"a trial has 1 to {MAX_BLOCK_MULTIPLES} block multiples, not {len(block_multiples)}")
    if any(not 1 <= multiple <= 255 for multiple in block_multiples):
        raise ValidationError(f"each block multiple is 1..255, not {list(block_multiples)}")


def _seed(seed: bytes) -> bytes:
    if len(seed) != SEED_BYTES:
        raise ValidationError(f"a randomisation seed is {SEED_BYTES} bytes, not {len(seed)}")
    return bytes(seed)


def _trial(trial_id: int) -> bytes:
    if not 0 <= trial_id < 2**256:
        raise ValidationError(f"trial id {trial_id} is not a uint256")
    return trial_id.to_bytes(32, "big")


def _participant(participant: bytes) -> bytes:
    if len(participant) != PARTICIPANT_BYTES:
        raise ValidationError(f"a participant id is {PARTICIPANT_BYTES} bytes, not {len(participant)}")
    return bytes(participant)
