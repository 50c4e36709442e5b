"""CareLedger benchmarks: `make bench` (or `python -m benchmarks`) prints a table.

Each `bench_*.py` module defines `BENCHMARKS`, a list of functions returning `Result`s.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import psycopg

if TYPE_CHECKING:
    from careledger.chain import Role
    from careledger.identity import Wallet
    from careledger.node import Node

PG_SERVER = os.environ.get("CARELEDGER_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
"""The PostgreSQL server the benchmarks on PostgreSQL make their databases in (they drop them after)."""


@dataclass(frozen=True, slots=True)
class Result:
    name: str
    unit: str
    value: float
    conditions: str


def registered_wallet(node: Node, name: str, role: Role) -> Wallet:
    """A new wallet of the node's home (passphrase `pw`), registered on chain by the node."""
    from careledger.config import NODE_WALLET

    wallet = node.wallets.create(name, role, "pw")
    registry = node.contracts.identity_registry(as_wallet=NODE_WALLET)
    registry.register_actor(wallet.address, wallet.role, wallet.encryption_key)
    return wallet


@contextmanager
def fresh_database() -> Iterator[str]:
    """A new PostgreSQL database on `PG_SERVER` (its SQLAlchemy URL), dropped afterwards."""
    name = f"careledger_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_SERVER, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_SERVER.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1) + f"/{name}"
    finally:
        with psycopg.connect(PG_SERVER, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@contextmanager
def baseline_server(target: str, port: int) -> Iterator[str]:
    """`benchmarks.plain_fhir` as its own process (`target`: a database URL, or `bare`); its base URL."""
    target = target.replace("postgresql+psycopg://", "postgresql://", 1)
    command = [sys.executable, "-m", "benchmarks.plain_fhir", target, str(port)]
    process = subprocess.Popen(command, cwd=Path(__file__).parent.parent, stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while process.poll() is None:
            try:
                httpx.get(f"{url}/Patient/none", timeout=1)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{command} did not answer within 60 s") from None
                time.sleep(0.1)
        else:
            raise RuntimeError(f"{command} exited with {process.returncode}")
        yield url
    finally:
        process.terminate()
        process.wait(30)
