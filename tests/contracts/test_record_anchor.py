"""RecordAnchor.vy under titanoboa: roles, batches, refusals and Merkle proofs."""

from __future__ import annotations

import os
from typing import Any

import boa
import pytest
from eth_utils import keccak
from hypothesis import given
from hypothesis import strategies as st

from careledger.crypto import MerkleTree
from tests.tamper import leaves_32, tamper_proof

RECORDS, AUDIT = 1, 2


def _root() -> bytes:
    return os.urandom(32)


def test_deployer_is_admin_and_anchorer(record_anchor: Any, admin: Any) -> None:
    assert record_anchor.hasRole(record_anchor.DEFAULT_ADMIN_ROLE(), admin)
    assert record_anchor.hasRole(record_anchor.ANCHORER_ROLE(), admin)
    assert record_anchor.ANCHORER_ROLE() == keccak(b"ANCHORER_ROLE")


def test_anchor_stores_batch_and_emits_event(record_anchor: Any, admin: Any) -> None:
    root = _root()
    assert not record_anchor.is_anchored(root)
    with boa.env.prank(admin):
        record_anchor.anchor(root, 1024, AUDIT)
    (event,) = record_anchor.get_logs()
    assert type(event).__name__ == "Anchored"
    assert (event.root, event.anchorer, event.leaf_count, event.kind) == (root, admin, 1024, AUDIT)
    stored = record_anchor.batch(root)
    assert (stored.root, stored.leaf_count, stored.kind, stored.anchorer) == (root, 1024, AUDIT, admin)
    assert stored.timestamp == boa.env.evm.patch.timestamp
    assert record_anchor.is_anchored(root)


def test_unknown_root_reads_empty(record_anchor: Any) -> None:
    stored = record_anchor.batch(_root())
    assert (stored.root, stored.leaf_count, stored.kind) == (bytes(32), 0, 0)


@given(leaf_count=st.integers(1, 2**32 - 1), kind=st.sampled_from([RECORDS, AUDIT]), seconds=st.integers(0, 10**9))
def test_packing_round_trips(record_anchor: Any, admin: Any, leaf_count: int, kind: int, seconds: int) -> None:
    with boa.env.anchor():
        boa.env.time_travel(seconds=seconds)
        root = _root()
        with boa.env.prank(admin):
            record_anchor.anchor(root, leaf_count, kind)
        stored = record_anchor.batch(root)
        assert (stored.leaf_count, stored.kind, stored.anchorer) == (leaf_count, kind, admin)
        assert stored.timestamp == boa.env.evm.patch.timestamp


def test_stranger_cannot_anchor(record_anchor: Any) -> None:
    with boa.env.prank(boa.env.generate_address("stranger")), boa.reverts("access_control: account is missing role"):
        record_anchor.anchor(_root(), 1, RECORDS)


def test_granted_anchorer_can_anchor_until_revoked(record_anchor: Any, admin: Any) -> None:
    batcher = boa.env.generate_address("batcher")
    role = record_anchor.ANCHORER_ROLE()
    with boa.env.prank(admin):
        record_anchor.grantRole(role, batcher)
    with boa.env.prank(batcher):
        record_anchor.anchor(_root(), 1, RECORDS)
    with boa.env.prank(admin):
        record_anchor.revokeRole(role, batcher)
    with boa.env.prank(batcher), boa.reverts("access_control: account is missing role"):
        record_anchor.anchor(_root(), 1, RECORDS)


def test_only_admin_grants_anchorer(record_anchor: Any) -> None:
    stranger = boa.env.generate_address("stranger")
    with boa.env.prank(stranger), boa.reverts("access_control: account is missing role"):
        record_anchor.grantRole(record_anchor.ANCHORER_ROLE(), stranger)


@pytest.mark.parametrize(
    ("root", "leaf_count", "kind", "reason"),
    [
        (bytes(32), 1, RECORDS, "anchor: empty root"),
        (b"\x01" * 32, 0, RECORDS, "anchor: empty batch"),
        (b"\x01" * 32, 1, 0, "anchor: unknown kind"),
        (b"\x01" * 32, 1, 3, "anchor: unknown kind"),
    ],
)
def test_anchor_refuses_bad_batch(
    record_anchor: Any, admin: Any, root: bytes, leaf_count: int, kind: int, reason: str
) -> None:
    with boa.env.prank(admin), boa.reverts(reason):
        record_anchor.anchor(root, leaf_count, kind)
    assert not record_anchor.is_anchored(root)


def test_root_anchors_once(record_anchor: Any, admin: Any) -> None:
    root = _root()
    with boa.env.prank(admin):
        record_anchor.anchor(root, 1, RECORDS)
        with boa.reverts("anchor: root already anchored"):
            record_anchor.anchor(root, 2, AUDIT)


def test_single_leaf_batch_verifies_with_empty_proof(record_anchor: Any, admin: Any) -> None:
    leaf = _root()
    with boa.env.prank(admin):
        record_anchor.anchor(leaf, 1, RECORDS)
    assert record_anchor.verify(leaf, [], leaf)
    assert not record_anchor.verify(leaf, [], _root())


def test_unanchored_root_verifies_nothing(record_anchor: Any) -> None:
    leaf = _root()
    assert not record_anchor.verify(leaf, [], leaf)  # would prove, but was never anchored
    assert not record_anchor.verify(bytes(32), [], bytes(32))


leaf_sets = st.lists(leaves_32, min_size=1, max_size=1024, unique=True)


def _anchored(record_anchor: Any, admin: Any, tree: MerkleTree) -> bytes:
    with boa.env.prank(admin):
        record_anchor.anchor(tree.root, len(tree), RECORDS)
    return tree.root


@given(leaves=leaf_sets, data=st.data())
def test_python_proofs_verify_on_chain(record_anchor: Any, admin: Any, leaves: list[bytes], data: Any) -> None:
    tree = MerkleTree(leaves)
    with boa.env.anchor():  # each example starts from the freshly deployed contract
        root = _anchored(record_anchor, admin, tree)
        index = data.draw(st.integers(0, len(leaves) - 1))
        assert record_anchor.verify(root, tree.proof(index), leaves[index])


@given(leaves=leaf_sets.filter(lambda leaves: len(leaves) >= 2), data=st.data())
def test_tampered_proofs_fail_on_chain(record_anchor: Any, admin: Any, leaves: list[bytes], data: Any) -> None:
    tree = MerkleTree(leaves)
    with boa.env.anchor():
        root = _anchored(record_anchor, admin, tree)
        index = data.draw(st.integers(0, len(leaves) - 1))
        proof = tree.proof(index)
        assert not record_anchor.verify(root, tamper_proof(data, proof), leaves[index])
        assert not record_anchor.verify(root, proof[:-1], leaves[index])
        other = data.draw(leaves_32.filter(lambda leaf: leaf not in leaves))
        assert not record_anchor.verify(root, proof, other)
