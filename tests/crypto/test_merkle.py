"""Sorted-pair keccak Merkle trees (the on-chain check is in tests/contracts)."""

from __future__ import annotations

import pytest
from eth_utils import keccak
from hypothesis import given
from hypothesis import strategies as st

from careledger.crypto import MerkleTree, hash_pair, verify_proof
from careledger.errors import ValidationError
from tests.tamper import flip_bit, leaves_32, tamper_proof


def _leaf(n: int) -> bytes:
    return keccak(n.to_bytes(8, "big"))


def test_pair_hash_is_order_independent() -> None:
    a, b = _leaf(1), _leaf(2)
    assert hash_pair(a, b) == hash_pair(b, a) == keccak(min(a, b) + max(a, b))


def test_one_leaf_is_its_own_root() -> None:
    tree = MerkleTree([_leaf(1)])
    assert tree.root == _leaf(1)
    assert tree.proof(0) == []


def test_three_leaves_carry_the_odd_one_up() -> None:
    a, b, c = _leaf(1), _leaf(2), _leaf(3)
    tree = MerkleTree([a, b, c])
    assert tree.root == hash_pair(hash_pair(a, b), c)
    assert tree.proof(2) == [hash_pair(a, b)]
    assert tree.proof(0) == [b, c]


@given(st.lists(leaves_32, min_size=1, max_size=300, unique=True))
def test_every_proof_verifies(leaves: list[bytes]) -> None:
    tree = MerkleTree(leaves)
    for index, leaf in enumerate(leaves):
        assert verify_proof(tree.proof(index), tree.root, leaf)
        assert tree.proof_for(leaf) == tree.proof(index)


@given(st.lists(leaves_32, min_size=2, max_size=64, unique=True), st.data())
def test_a_flipped_bit_anywhere_fails(leaves: list[bytes], data: st.DataObject) -> None:
    tree = MerkleTree(leaves)
    index = data.draw(st.integers(0, len(leaves) - 1))
    proof = tree.proof(index)
    assert not verify_proof(tamper_proof(data, proof), tree.root, leaves[index])
    assert not verify_proof(proof, tree.root, flip_bit(data, leaves[index]))


def test_refuses_empty_duplicate_and_malformed_leaves() -> None:
    with pytest.raises(ValidationError, match="at least one leaf"):
        MerkleTree([])
    with pytest.raises(ValidationError, match="duplicate"):
        MerkleTree([_leaf(1), _leaf(2), _leaf(1)])
    with pytest.raises(ValidationError, match="32 bytes"):
        MerkleTree([b"short"])


def test_proof_for_unknown_leaf_or_index_is_refused() -> None:
    tree = MerkleTree([_leaf(1), _leaf(2)])
    with pytest.raises(ValidationError, match="not in this tree"):
        tree.proof_for(_leaf(3))
    with pytest.raises(ValidationError, match="outside a tree of 2"):
        tree.proof(2)
