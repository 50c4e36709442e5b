"""A node killed by SIGKILL between storing and anchoring loses nothing and anchors once."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from careledger.chain import Chain, Role, open_chain
from careledger.config import Home, Settings, load_settings
from careledger.homes import init_home
from careledger.node import Node
from careledger.records import verify_record
from careledger.store import AnchorBatch, RecordVersion
from tests.crash import run_worker

pytestmark = pytest.mark.anvil


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Home]:
    home = Home(tmp_path / "home")
    init_home(home, Settings(light_kdf=True), "pw")
    # The test keeps the chain, as `careledger chain up` would: the killed workers are
    # nodes connected to it, so a crash takes down the node, not the chain.
    with open_chain("anvil", chain_dir=home.chain_dir, keep=True), _node(home) as node:
        node.wallets.create("alice", Role.PATIENT, "pw")
        node.deploy()
        yield home


def _node(home: Home) -> Node:
    return Node(home, load_settings(home), lambda _wallet: "pw")


def _worker(home: Home, seed: int, crash_at: str | None = None) -> int:
    return run_worker("tests.records.crash_worker", home, seed, crash_at)


@pytest.mark.parametrize("crash_at", ["record-blob-written", "anchor-prepared", "anchor-sent"])
def test_every_record_is_anchored_exactly_once_after_a_crash(home: Home, crash_at: str) -> None:
    assert _worker(home, seed=1, crash_at=crash_at) == -signal.SIGKILL
    assert _worker(home, seed=2) == 0  # the restarted node: more records, and it settles the crash
    assert _worker(home, seed=-1) == 0
    with _node(home) as node:
        chain: Chain = node.chain
        anchor = node.contracts.record_anchor()
        with node.db.session() as session:
            rows = session.scalars(select(RecordVersion)).all()
            batches = session.scalars(select(AnchorBatch)).all()
        assert rows
        assert all(row.batch_id is not None for row in rows)
        assert {b.status for b in batches} == {"anchored"}
        on_chain = anchor.anchored_roots()
        assert len(on_chain) == len(set(on_chain)) == len(batches)
        assert set(on_chain) == {b.root for b in batches}
        assert chain.chain_id == 31337
        key = node.unlock().encryption_key()
        for row in rows[:: max(1, len(rows) // 25)]:
            assert all(check.ok for check in verify_record(node._records, anchor, key, row.record_id, row.version))
