"""Merkle trees over 32-byte leaves, with sorted-pair keccak256 nodes.

The scheme is OpenZeppelin's MerkleProof, which snekmate's `merkle_proof_verification`
implements on chain: a parent is keccak256 of its two children in ascending byte order,
so a proof is just the list of siblings. A level with an odd count carries its last node
up unchanged (it has no sibling, so the proof skips that level).

Leaves are commitments (already hashes of salted data), so an inner node, a hash of 64
bytes, cannot be passed off as a leaf without a keccak preimage. Duplicate leaves are
refused: two identical commitments would mean a salt was reused.
"""

from __future__ import annotations

from collections.abc import Sequence

from careledger.crypto._keccak import keccak
from careledger.errors import ValidationError


def hash_pair(a: bytes, b: bytes) -> bytes:
    """The parent of two nodes: keccak256 of the pair in ascending order."""
    return keccak(a + b) if a <= b else keccak(b + a)


def process_proof(proof: Sequence[bytes], leaf: bytes) -> bytes:
    """The root that `proof` leads to from `leaf`."""
    node = leaf
    for sibling in proof:
        node = hash_pair(node, sibling)
    return node


def verify_proof(proof: Sequence[bytes], root: bytes, leaf: bytes) -> bool:
    """True if `proof` leads from `leaf` to `root`."""
    return process_proof(proof, leaf) == root


class MerkleTree:
    """A tree built once from its leaves, in the order given, with a proof for each."""

    def __init__(self, leaves: Sequence[bytes]) -> None:
        if not leaves:
            raise ValidationError("a Merkle tree needs at least one leaf")
        for leaf in leaves:
            if len(leaf) != 32:
                raise ValidationError(f"Merkle leaves are 32 bytes, got {len(leaf)}")
        if len(set(leaves)) != len(leaves):
            raise ValidationError("duplicate Merkle leaves: each commitment must be unique")
        self.leaves: tuple[bytes, ...] = tuple(bytes(leaf) for leaf in leaves)
        self._index = {leaf: i for i, leaf in enumerate(self.leaves)}
        self._levels: list[list[bytes]] = [list(self.leaves)]
        while len(self._levels[-1]) > 1:
            level = self._levels[-1]
            parents = [hash_pair(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
            if len(level) % 2:
                parents.append(level[-1])
            self._levels.append(parents)

    @property
    def root(self) -> bytes:
        """The tree's root."""
        return self._levels[-1][0]

    def __len__(self) -> int:
        return len(self.leaves)

    def proof(self, index: int) -> list[bytes]:
        """The sibling hashes from leaf `index` up to the root."""
        if not 0 <= index < len(self.leaves):
            raise ValidationError(f"leaf index {index} is outside a tree of {len(self.leaves)} leaves")
        proof: list[bytes] = []
        for level in self._levels[:-1]:
            sibling = index ^ 1
            if sibling < len(level):
                proof.append(level[sibling])
            index //= 2
        return proof

    def proof_for(self, leaf: bytes) -> list[bytes]:
        """The proof for a leaf given by value."""
        try:
            return self.proof(self._index[bytes(leaf)])
        except KeyError:
            raise ValidationError("that leaf is not in this tree") from None
