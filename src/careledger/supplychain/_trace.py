"""A pack's custody, step by step: from the chain's logs and this node's events, each step with its evidence.

The chain says what happened to a pack and to every case and pallet it travelled in (`SupplyChain.history`):
commissioned, packed, shipped, received, unpacked, decommissioned, each with its actor, transaction and block,
whoever's node sent it. This node's stored events add what the chain cannot: the EPCIS event of a step (its id,
its actor's signature, checked here) and the proof that its digest was anchored (the batch's root, the Merkle path
from the digest to it, the anchoring transaction, checked against RecordAnchor). A step of another node's shows from
the chain alone; an event of this node's that the chain holds no step of (an observation) shows from the event
alone, and says so.

```
key ─► status, history (logs of the pack and its containers) ─► steps ◄─ this node's events naming those keys
                                                                   └─► signer_of, Merkle path ─► RecordAnchor.verify
```
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from hexbytes import HexBytes

from careledger.chain import ChainEvent, Reason, RecordAnchor, SupplyChain
from careledger.crypto import verify_proof
from careledger.errors import CareLedgerError
from careledger.supplychain._cbv import biz_step
from careledger.supplychain._effects import DECOMMISSIONS, key_of, keys_named, shipment_key
from careledger.supplychain._epcis import SIGNATURE, signer_of
from careledger.supplychain._gs1 import Identifier
from careledger.supplychain._store import StoredEvent, SupplyStore
from careledger.supplychain._verdict import status_json

NOT_ANCHORED = "not yet anchored"
# Each log's step, who acted in it (its argument), and the business steps of the events that make it.
_STEPS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "Commissioned": ("commissioned", "manufacturer", ("commissioning",)),
    "Packed": ("packed", "by", ("packing",)),
    "Unpacked": ("unpacked", "by", ("unpacking",)),
    "Shipped": ("shipped", "sender", ("shipping",)),
    "Received": ("received", "receiver", ("receiving",)),
    "Decommissioned": ("decommissioned", "holder", tuple(DECOMMISSIONS)),
    "LotRecalled": ("recalled", "by", ()),
}


@dataclass(frozen=True, slots=True)
class AnchorProof:
    """Where an event's digest is anchored: the batch's root, the digest's leaf and Merkle path to it, the anchoring
    transaction, and whether the path leads to a root RecordAnchor holds (asked of the chain)."""

    root: str
    leaf_index: int
    siblings: tuple[str, ...]
    block: int | None
    transaction: str | None
    anchored_at: datetime | None
    verified: bool

    def as_json(self) -> dict[str, Any]:
        """The proof as JSON."""
        return {
            "root": self.root,
            "leafIndex": self.leaf_index,
            "siblings": list(self.siblings),
            "block": self.block,
            "transaction": self.transaction,
            "anchoredAt": _instant(self.anchored_at),
            "verified": self.verified,
        }


@dataclass(frozen=True, slots=True)
class TraceStep:
    """One custody step: what happened (`kind`) to which item (the pack, or a container it was in), who did it,
    when; its transaction and block (None: the chain holds no step of it); its EPCIS event here, if any, with the
    signer, whether the signature verifies, the digest and its anchor (None: not yet anchored)."""

    kind: str
    item: str
    actor: str | None
    at: datetime | None
    counterparty: str | None = None
    tx: str | None = None
    block: int | None = None
    event_id: str | None = None
    signer: str | None = None
    signature: str | None = None
    signature_ok: bool | None = None
    digest: str | None = None
    anchor: AnchorProof | None = None
    note: str = ""

    def as_json(self) -> dict[str, Any]:
        """The step as JSON (times RFC 3339, hashes 0x-hex)."""
        shown: dict[str, Any] = {
            "kind": self.kind,
            "item": self.item,
            "actor": self.actor,
            "at": _instant(self.at),
            "counterparty": self.counterparty,
            "tx": self.tx,
            "block": self.block,
            "eventID": self.event_id,
            "signer": self.signer,
            "signature": self.signature,
            "signatureVerified": self.signature_ok,
            "digest": self.digest,
            "anchor": self.anchor.as_json() if self.anchor else (NOT_ANCHORED if self.event_id else None),
        }
        if self.note:
            shown["note"] = self.note
        return shown


@dataclass(frozen=True, slots=True)
class Trace:
    """A pack's (or container's) custody: what the chain says of it now, and every step, oldest first."""

    identifier: str
    key: str
    status: dict[str, Any]
    steps: tuple[TraceStep, ...] = field(default=())

    def as_json(self) -> dict[str, Any]:
        """The trace as JSON."""
        return {
            "identifier": self.identifier,
            "key": self.key,
            "status": self.status,
            "steps": [step.as_json() for step in self.steps],
        }


class Tracer:
    """Builds traces from the chain and this node's store."""

    def __init__(
        self, store: SupplyStore, chain: SupplyChain, anchor: Callable[[], RecordAnchor], chain_id: int
    ) -> None:
        self._store = store
        self._chain = chain
        self._anchor = anchor
        self._chain_id = chain_id
        self._times: dict[int, datetime] = {}

    def trace(self, identifier: Identifier) -> Trace:
        """Every step of `identifier` and of the containers it travelled in."""
        key = key_of(identifier)
        status = self._chain.status(key)
        history = self._chain.history(key)
        keys = {key} | {bytes(v) for e in history for n, v in e.args.items() if n in ("container", "item", "child")}
        local = self._store.naming(sorted(keys))
        matched: set[str] = set()
        steps = []
        for log in history:
            if log.name not in _STEPS:
                continue
            event = _matching(log, local)
            if event is not None:
                matched.add(event.event_id)
            steps.append(self._chain_step(log, event))
        steps += [self._local_step(event) for event in local if event.event_id not in matched]
        steps.sort(key=lambda step: (step.at or datetime.min.replace(tzinfo=UTC), step.block or 0))
        return Trace(identifier.epc, _hex(key), status_json(status), tuple(steps))

    def _chain_step(self, log: ChainEvent, event: StoredEvent | None) -> TraceStep:
        kind, actor, _ = _STEPS[log.name]
        if log.name == "Decommissioned":  # dispensed (to a patient, never named), destroyed, or else
            reason = Reason(int(log.args["reason"]))
            kind = kind if reason == Reason.OTHER else reason.name.lower()
        evidence = self._evidence(event) if event is not None else {}
        return TraceStep(
            kind=kind,
            item=_hex(_moved(log)),
            actor=str(log.args[actor]),
            at=self._time(log.block),
            counterparty=str(log.args["receiver"]) if log.name == "Shipped" else None,
            tx=log.tx_hash,
            block=log.block,
            note="" if event is not None else "from the chain: this node does not hold the event",
            **evidence,
        )

    def _local_step(self, event: StoredEvent) -> TraceStep:
        step = biz_step(str(event.body.get("bizStep", ""))) or "observed"
        note = (
            "observation: the chain holds no step of it"
            if event.effect == "observation"
            else "the chain holds no step matching this event"
        )
        return TraceStep(
            kind=step,
            item=", ".join(_epcs(event.body))[:500],
            actor=event.signer,
            at=datetime.fromisoformat(str(event.body["eventTime"])),
            note=note,
            **self._evidence(event),
        )

    def _evidence(self, event: StoredEvent) -> dict[str, Any]:
        """An event's id, signer, signature (verified against the SupplyChain's EIP-712 domain) and anchor proof."""
        try:
            signed_by: str | None = signer_of(event.body, self._chain_id, self._chain.address)
        except CareLedgerError:
            signed_by = None
        return {
            "event_id": event.event_id,
            "signer": event.signer,
            "signature": event.body.get(SIGNATURE),
            "signature_ok": signed_by == event.signer,
            "digest": _hex(event.digest),
            "anchor": self._proof(event),
        }

    def _proof(self, event: StoredEvent) -> AnchorProof | None:
        """The event's anchor proof, checked on chain; None while its batch is not anchored."""
        anchor = event.anchor
        if anchor is None or not anchor.anchored:
            return None
        from careledger.proofs import AnchorReader  # eth-abi's grammar: built when a proof is first shown

        record_anchor = self._anchor()
        reader = AnchorReader(record_anchor.chain.w3, record_anchor.address)
        batch = reader.batch(anchor.root)
        found = reader.anchoring(anchor.root, anchor.block) if batch is not None else None
        verified = verify_proof(anchor.siblings, anchor.root, event.digest) and reader.verify(
            anchor.root, anchor.siblings, event.digest
        )
        return AnchorProof(
            root=_hex(anchor.root),
            leaf_index=anchor.leaf_index,
            siblings=tuple(_hex(sibling) for sibling in anchor.siblings),
            block=found[0] if found else anchor.block,
            transaction=found[1] if found else None,
            anchored_at=datetime.fromtimestamp(batch.timestamp, UTC) if batch is not None else None,
            verified=verified,
        )

    def _time(self, block: int) -> datetime:
        if block not in self._times:
            self._times[block] = datetime.fromtimestamp(self._chain.chain.timestamp(block), UTC)
        return self._times[block]


def _matching(log: ChainEvent, local: Sequence[StoredEvent]) -> StoredEvent | None:
    """This node's event of a chain step: the one whose transactions include the step's, else one its actor signed
    for the same business step, item and (for a shipment) shipment."""
    by_tx = next((event for event in local if log.tx_hash in event.txs), None)
    if by_tx is not None:
        return by_tx
    _, actor, steps = _STEPS[log.name]
    moved = _moved(log)
    for event in local:
        if event.signer != log.args[actor] or biz_step(str(event.body.get("bizStep", ""))) not in steps:
            continue
        if moved not in keys_named(event.body):
            continue
        if "shipment" in log.args and bytes(log.args["shipment"]) not in _shipments(event.body):
            continue
        return event
    return None


def _moved(log: ChainEvent) -> bytes:
    """What a step moved (or, for a recall, the lot it recalled)."""
    return bytes(next(log.args[name] for name in ("key", "child", "item", "lot") if name in log.args))


def _epcs(body: dict[str, Any]) -> list[str]:
    named = [body["parentID"]] if isinstance(body.get("parentID"), str) else []
    return named + [str(e) for member in ("epcList", "childEPCs") for e in body.get(member, ())]


def _shipments(body: dict[str, Any]) -> set[bytes]:
    return {shipment_key(str(entry.get("bizTransaction", ""))) for entry in body.get("bizTransactionList", ())}


def _hex(value: bytes) -> str:
    return HexBytes(value).to_0x_hex()


def _instant(at: datetime | None) -> str | None:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z") if at else None
