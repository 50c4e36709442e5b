"""Envelope encryption and Merkle trees, on one core.

- encrypt + seal: a 2 KB record under a fresh data key sealed to one recipient.
- Merkle: build a tree of 100,000 commitments and produce every proof.
"""

from __future__ import annotations

import os
import time

from benchmarks import Result
from careledger.crypto import MerkleTree, PrivateKey, RecordContext, Suite, seal

RECORD = os.urandom(2048)
CONTEXT = RecordContext(record_id="bench", version=1, patient="0x" + "ab" * 20, category="labs")


def bench_envelope() -> list[Result]:
    results = []
    for suite in Suite:
        recipient = PrivateKey.generate(suite).public_key
        count = 5000
        start = time.perf_counter()
        for _ in range(count):
            seal(RECORD, CONTEXT, [recipient])
        rate = count / (time.perf_counter() - start)
        results.append(Result(f"encrypt+seal {suite.label}", "ops/s", rate, f"2 KB record, 1 recipient, n={count}"))
    return results


def bench_merkle() -> list[Result]:
    leaves = [os.urandom(32) for _ in range(100_000)]
    start = time.perf_counter()
    tree = MerkleTree(leaves)
    built = time.perf_counter() - start
    for index in range(len(leaves)):
        tree.proof(index)
    total = time.perf_counter() - start
    return [
        Result("merkle build", "s", built, "100,000 leaves, sorted-pair keccak256"),
        Result("merkle build + all proofs", "s", total, "100,000 leaves"),
    ]


BENCHMARKS = [bench_envelope, bench_merkle]
