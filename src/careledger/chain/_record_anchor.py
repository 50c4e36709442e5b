"""Facade of RecordAnchor.vy: anchor Merkle roots of commitment batches, verify proofs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from enum import IntEnum

from eth_utils import to_checksum_address

from careledger.chain._facades import ContractFacade
from careledger.chain._signer import TxRequest
from careledger.errors import NotFound, ValidationError


class AnchorKind(IntEnum):
    """What a batch's leaves commit to (`KIND_*` in RecordAnchor.vy)."""

    RECORDS = 1
    AUDIT = 2


@dataclass(frozen=True, slots=True)
class Batch:
    """One anchored batch as the chain holds it; its root is its id."""

    root: bytes
    leaf_count: int
    kind: AnchorKind
    anchorer: str
    timestamp: int
    # The block its transaction landed in, when this facade sent it: the contract keeps no block, so `batch` cannot
    # tell it; not part of what the batch is.
    block: int | None = field(default=None, compare=False)


class RecordAnchor(ContractFacade):
    """Merkle roots of commitment batches (records, audit heads) and proof checks."""

    contract_name = "RecordAnchor"

    def anchor_request(self, root: bytes, leaf_count: int, kind: AnchorKind) -> TxRequest:
        """The transaction that anchors `root` (to send alone or in a pipeline)."""
        if len(root) != 32:
            raise ValidationError(f"a Merkle root is 32 bytes, got {len(root)}")
        return self._request("anchor", root, leaf_count, int(kind))

    def anchor(self, root: bytes, leaf_count: int, kind: AnchorKind) -> Batch:
        """Anchor one root; the batch as recorded on chain, with the block it was anchored in."""
        receipt = self._transact(self.anchor_request(root, leaf_count, kind))
        return replace(self.batch(root), block=receipt.block)

    def batch(self, root: bytes) -> Batch:
        """The batch anchored under `root`; `NotFound` if it never was."""
        stored_root, leaf_count, kind, anchorer, timestamp = self._call("batch", root)
        if stored_root == bytes(32):
            raise NotFound(f"root 0x{root.hex()} is not anchored on chain {self.chain.chain_id}")
        return Batch(bytes(stored_root), int(leaf_count), AnchorKind(kind), str(anchorer), int(timestamp))

    def anchored_roots(
        self, from_block: int = 0, *, kind: AnchorKind | None = None, anchorer: str | None = None
    ) -> list[bytes]:
        """Every root anchored since `from_block` (of one kind, by one anchorer), in order, from `Anchored` events."""
        filters = {"anchorer": to_checksum_address(anchorer)} if anchorer else None
        logs = self.contract.events.Anchored().get_logs(from_block=from_block, argument_filters=filters)
        return [bytes(log["args"]["root"]) for log in logs if kind is None or log["args"]["kind"] == kind]

    def is_anchored(self, root: bytes) -> bool:
        """Whether `root` has been anchored."""
        return bool(self._call("is_anchored", root))

    def verify(self, root: bytes, proof: Sequence[bytes], leaf: bytes) -> bool:
        """True if `root` is anchored and `proof` leads from `leaf` to it (asked of the chain)."""
        return bool(self._call("verify", root, list(proof), leaf))

    def is_anchorer(self, address: str) -> bool:
        """Whether `address` holds ANCHORER_ROLE."""
        role = self._call("ANCHORER_ROLE")
        return bool(self._call("hasRole", role, to_checksum_address(address)))

    def is_admin(self, address: str) -> bool:
        """Whether `address` may grant and revoke the anchoring role (the deployer, at first)."""
        return bool(self._call("hasRole", bytes(32), to_checksum_address(address)))

    def grant_anchorer(self, address: str) -> None:
        """Let `address` anchor batches; only an admin of the contract may."""
        role = self._call("ANCHORER_ROLE")
        self._transact(self._request("grantRole", role, to_checksum_address(address)))
