"""Facade of RecordAnchor.vy: anchor Merkle roots of commitment batches, verify proofs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum

from web3 import Web3

from careledger.chain._backends import Receipt
from careledger.chain._facades import ContractFacade
from careledger.chain._signer import TxRequest
from careledger.errors import NotFound, ValidationError


class AnchorKind(IntEnum):
    """What a batch's leaves commit to (`KIND_*` in RecordAnchor.vy)."""

    RECORDS = 1
    AUDIT = 2


@dataclass(frozen=True, slots=True)
class Batch:
    """One anchored batch as the chain holds it."""

    batch_id: int
    root: bytes
    leaf_count: int
    kind: AnchorKind
    anchorer: str
    timestamp: int


class RecordAnchor(ContractFacade):
    """Merkle roots of commitment batches (records, audit heads) and proof checks."""

    contract_name = "RecordAnchor"

    def anchor_request(self, root: bytes, leaf_count: int, kind: AnchorKind) -> TxRequest:
        if len(root) != 32:
            raise ValidationError(f"a Merkle root is 32 bytes, got {len(root)}")
        return self._request("anchor", root, leaf_count, int(kind))

    def anchor(self, root: bytes, leaf_count: int, kind: AnchorKind) -> Batch:
        """Anchor one root; the batch as recorded on chain."""
        receipt = self._transact(self.anchor_request(root, leaf_count, kind))
        return self.batches_in(receipt)[0]

    def batches_in(self, receipt: Receipt) -> list[Batch]:
        """The batches a receipt anchored (from its `Anchored` events)."""
        return [self.batch(int(event.args["batch_id"])) for event in self.events_in(receipt, "Anchored")]

    def batch(self, batch_id: int) -> Batch:
        root, leaf_count, kind, anchorer, timestamp = self._call("batches", batch_id)
        if root == bytes(32):
            raise NotFound(f"no anchored batch {batch_id} on chain {self.chain.chain_id}")
        return Batch(batch_id, bytes(root), int(leaf_count), AnchorKind(kind), str(anchorer), int(timestamp))

    def batch_of_root(self, root: bytes) -> int | None:
        """The id of the batch that anchored `root`, if one did."""
        batch_id = int(self._call("batch_of_root", root))
        return batch_id or None

    def batch_count(self) -> int:
        return int(self._call("batch_count"))

    def verify(self, batch_id: int, proof: Sequence[bytes], leaf: bytes) -> bool:
        """True if `proof` leads from `leaf` to the root of batch `batch_id` (read from chain)."""
        return bool(self._call("verify", batch_id, list(proof), leaf))

    def is_anchorer(self, address: str) -> bool:
        role = self._call("ANCHORER_ROLE")
        return bool(self._call("hasRole", role, Web3.to_checksum_address(address)))

    def grant_anchorer(self, address: str) -> None:
        """Let `address` anchor batches; only an admin of the contract may."""
        role = self._call("ANCHORER_ROLE")
        self._transact(self._request("grantRole", role, Web3.to_checksum_address(address)))
