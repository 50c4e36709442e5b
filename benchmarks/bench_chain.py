"""Transactions per second to the memory and anvil backends, sequential and pipelined.

Each transaction is a real `RecordAnchor.anchor` call, signed locally by one sender.
Sequential: send one, wait for its receipt, repeat. Pipelined: estimate, sign and send a
whole batch (JSON-RPC batches over HTTP), then wait for all receipts.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from eth_account import Account

from benchmarks import Result
from careledger.chain import AnchorKind, Chain, Deployer, RecordAnchor, open_chain

COUNTS = {"memory": (20, 100), "anvil": (200, 1000)}


ROUNDS = 3


def _rate(count: int, send: Callable[[], None]) -> float:
    """The median rate over `ROUNDS` runs: a 2-core machine shares its cores with anvil."""
    rates = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        send()
        rates.append(count / (time.perf_counter() - start))
    return statistics.median(rates)


def _bench(spec: str) -> list[Result]:
    sequential_n, pipelined_n = COUNTS[spec]
    with tempfile.TemporaryDirectory() as tmp, open_chain(spec, chain_dir=Path(tmp) / "chain") as chain:
        anchor = _deployed(chain)
        signer = anchor.signer
        assert signer is not None

        def sequential() -> None:
            for _ in range(sequential_n):
                anchor.anchor(os.urandom(32), 1, AnchorKind.RECORDS)

        def pipelined() -> None:
            signer.send_many([anchor.anchor_request(os.urandom(32), 1, AnchorKind.RECORDS) for _ in range(pipelined_n)])

        conditions = f"1 sender, RecordAnchor.anchor, local signing (coincurve), median of {ROUNDS}"
        return [
            Result(f"tx {spec} sequential", "tx/s", _rate(sequential_n, sequential), f"{conditions}, n={sequential_n}"),
            Result(f"tx {spec} pipelined", "tx/s", _rate(pipelined_n, pipelined), f"{conditions}, n={pipelined_n}"),
        ]


def _deployed(chain: Chain) -> RecordAnchor:
    signer = chain.signer(Account.create())
    address = Deployer(chain, None).deploy(signer, "RecordAnchor").deployment.address
    return RecordAnchor(chain, address, signer)


def bench_tx_memory() -> list[Result]:
    return _bench("memory")


def bench_tx_anvil() -> list[Result]:
    return _bench("anvil")


BENCHMARKS = [bench_tx_memory, bench_tx_anvil]
