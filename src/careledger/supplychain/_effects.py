"""What a captured event does on chain, and whether the chain would take it, before anything is sent.

An event's business step names its custody step on the SupplyChain contract:

```
commissioning ─► commission      packing ─► pack      unpacking ─► unpack      shipping ─► ship (to the
receiving ─► receive             dispensing | decommissioning | destroying ─► decommission   owning_party destination)
```

Only the events this node signs move custody from its wallet: another party's signed event is that party's step,
sent by its own node (`FOREIGN`). Of the events this node signs, which are custody claims is `_capture.py`'s word
(an event naming no party of this chain, or marked `careledger:observation`, is an `OBSERVATION`); `actor_of` says
whom a claim names as its actor.

The dry run (`Ledger`) reads what the chain holds of every key a document names (its statuses in JSON-RPC batches),
the node's admission, the lots and the shipments, and tries each step in the document's order on that state, so a
document that commissions, packs and ships the same packs is judged as a whole, all or nothing. It mirrors each
rule of the contract a step can break (a serial commissioned before, a recalled lot, a container inside itself or
nested deeper than 3, an item not held, …) in the contract's own `supply: …` words; the contract stays the final
judge when the steps are sent. A container's height on chain is not in its status: one packed before counts as
holding packs (height 1), so a document nesting deeper than 3 is caught, and one nesting under containers packed
deep elsewhere is left to the contract.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from careledger.chain import (
    PackState,
    PackStatus,
    Reason,
    SupplyChain,
    container_key,
    items_hash,
    pack_key,
)
from careledger.crypto import keccak
from careledger.errors import ValidationError
from careledger.supplychain._cbv import BizStep, biz_step, biz_transaction_type, source_destination_type
from careledger.supplychain._epcis import PARTY, party_address
from careledger.supplychain._gs1 import Container, Identifier, Pack, company_prefix_ok, parse_epc

CHAIN = "chain"
OBSERVATION = "observation"
FOREIGN = "foreign"
MAX_DEPTH = 3  # containers nest at most 3 deep (the contract's bound)
CUSTODY_STEPS = frozenset(BizStep)  # the business steps the chain follows (module docstring)

DECOMMISSIONS = {"dispensing": Reason.DISPENSED, "decommissioning": Reason.OTHER, "destroying": Reason.DESTROYED}
_BATCH = 500  # statuses asked in one JSON-RPC batch (a commissioning of 1,000 packs reads 1,000 keys)


@dataclass(frozen=True, slots=True)
class Refused:
    """Why a step or an event is refused: the rule's words (the contract's `supply: …`, or this node's) and the item
    or value it names, apart, so that an audit entry can say the rule without quoting the event."""

    reason: str
    named: str | None = None
    audit: str | None = None  # what an audit entry says of it, where `reason` itself may quote a value

    def __str__(self) -> str:
        return f"{self.reason} ({self.named})" if self.named else self.reason

    @property
    def audited(self) -> str:
        """The refusal as an audit entry says it."""
        return self.audit or self.reason

    @classmethod
    def invalid(cls, exc: ValidationError) -> Refused:
        """A refusal of malformed input: its message for the sender, the field it names alone for an audit."""
        return cls(str(exc), audit=f"{str(exc).partition(': ')[0]}: malformed")


@dataclass(frozen=True, slots=True)
class Effect:
    """One custody step on chain: its action and the keys it moves (with their EPCs, to name them), and what else
    its action takes."""

    action: str  # commission | pack | unpack | ship | receive | decommission
    keys: tuple[bytes, ...]
    epcs: tuple[str, ...]
    container: bytes | None = None
    sscc: str | None = None  # the container's, which the contract takes to pack into and unpack from
    shipment: bytes | None = None
    receiver: str | None = None
    reason: Reason | None = None
    lot: tuple[str, str, date] | None = None  # gtin, lot, expiry: a commissioning's
    serials: tuple[str, ...] = ()

    def send(self, chain: SupplyChain) -> list[str]:
        """Send the step as the facade's signer; the hashes of its transactions."""
        if self.action == "commission" and self.lot is not None:
            gtin, lot, expiry = self.lot
            receipts = chain.commission(gtin, lot, expiry, self.serials)
        elif self.action in ("pack", "unpack") and self.sscc is not None:
            receipts = getattr(chain, self.action)(self.sscc, self.keys)
        elif self.action == "ship" and self.shipment is not None and self.receiver is not None:
            receipts = [chain.ship(self.shipment, self.receiver, self.keys)]
        elif self.action == "receive" and self.shipment is not None:
            receipts = [chain.receive(self.shipment, self.keys)]
        elif self.action == "decommission" and self.reason is not None:
            receipts = chain.decommission(self.keys, self.reason)
        else:
            raise ValidationError(f"{self.action}: not a custody step this node sends")
        return [receipt.tx_hash.to_0x_hex() for receipt in receipts]


def shipment_key(reference: str) -> bytes:
    """A shipment's id on chain: keccak256 of its despatch advice reference (`urn:uuid:…` for the node's own)."""
    return keccak(reference.encode())


def despatch_advice(shipment_id: str) -> str:
    """A shipment's despatch advice reference, as its events name it: `urn:uuid:…` of its UUID (bare or a URN)."""
    try:
        return uuid.UUID(shipment_id.removeprefix("urn:uuid:")).urn
    except ValueError:
        raise ValidationError(f"shipment: a UUID, not {shipment_id[:60]!r}") from None


def key_of(identifier: Identifier) -> bytes:
    """The chain's key of a pack or container."""
    if isinstance(identifier, Container):
        return container_key(identifier.sscc)
    return pack_key(identifier.gtin, identifier.serial)


def keys_named(
    event: dict[str, Any],
    members: Sequence[str] = ("epcList", "childEPCs", "parentID", "inputEPCList", "outputEPCList"),
) -> set[bytes]:
    """The chain keys of the packs and containers an event names in `members` (all its EPCs, by default)."""
    named = [event.get(member) for member in members]
    epcs = [
        epc
        for value in named
        for epc in ([value] if isinstance(value, str) else value if isinstance(value, list) else [])
    ]
    return {key_of(item) for item in _identified(epcs)}


def effects_of(event: dict[str, Any], chain_id: int) -> list[Effect]:
    """The custody steps of one event (none for a step the chain does not follow); `ValidationError` for an event
    whose step the chain follows but which lacks what it needs (a commissioning's lot, a shipment's receiver)."""
    step = biz_step(str(event.get("bizStep", "")))
    items = _identified(event.get("epcList", ()))
    if step == "commissioning":
        return [_commissioning(event, items)]
    if step in ("packing", "unpacking"):
        parent = event.get("parentID")
        container = parse_epc(parent) if isinstance(parent, str) else None
        if not isinstance(container, Container):
            raise ValidationError(f"parentID: a {step} event names its case or pallet by its SSCC")
        children = _identified(event.get("childEPCs", ()))
        action = "pack" if step == "packing" else "unpack"
        boxed = _effect(action, children, container=container_key(container.sscc), sscc=container.sscc)
        return [boxed] if children else []
    if step in ("shipping", "receiving") and items:
        shipment = shipment_key(_shipment_reference(event))
        if step == "receiving":
            return [_effect("receive", items, shipment=shipment)]
        return [_effect("ship", items, shipment=shipment, receiver=_receiver(event, chain_id))]
    if step in DECOMMISSIONS and items:
        return [_effect("decommission", items, reason=DECOMMISSIONS[step])]
    return []


def parties(event: dict[str, Any], chain_id: int) -> set[str]:
    """The parties of this chain an event names (`careledger:party`, its sources' and destinations' did:pkh)."""
    named = [event.get(PARTY)]
    named += [entry.get("source") for entry in _entries(event, "sourceList")]
    named += [entry.get("destination") for entry in _entries(event, "destinationList")]
    found = set()
    for uri in named:
        try:
            chain, address = party_address(uri)
        except ValidationError:
            continue
        if chain == chain_id:
            found.add(address)
    return found


def actor_of(event: dict[str, Any], chain_id: int) -> str | None:
    """The party an event names as the actor of its step, if it names one of this chain: the owning party it ships
    from (shipping), the one receiving (receiving), else its `careledger:party`."""
    step = biz_step(str(event.get("bizStep", "")))
    member, role = {"shipping": ("sourceList", "source"), "receiving": ("destinationList", "destination")}.get(
        step, ("", "")
    )
    named = [
        e.get(role) for e in _entries(event, member) if source_destination_type(str(e.get("type"))) == "owning_party"
    ]
    for uri in [*named, event.get(PARTY)]:
        try:
            chain, address = party_address(uri)
        except ValidationError:
            continue
        if chain == chain_id:
            return address
    return None


@dataclass
class Ledger:
    """What the chain holds of the keys, lots and shipments a document names, as its steps would leave it: each
    step is checked on this state (`refusal`), then applied to it (`apply`), so later steps see earlier ones."""

    chain: SupplyChain
    me: str
    _status: dict[bytes, PackStatus] = field(default_factory=dict)
    _shipments: dict[bytes, tuple[str | None, bytes, bool]] = field(default_factory=dict)  # receiver, hash, open
    _heights: dict[bytes, int] = field(default_factory=dict)  # containers' heights, as the document leaves them

    def read(self, keys: Sequence[bytes]) -> None:
        """Read the chain's status of the keys not read yet, in batches."""
        wanted = [key for key in dict.fromkeys(keys) if key not in self._status]
        for start in range(0, len(wanted), _BATCH):
            chunk = wanted[start : start + _BATCH]
            self._status.update(zip(chunk, self.chain.statuses(chunk), strict=True))

    def refusal(self, effect: Effect) -> Refused | None:
        """Why the contract would refuse the step now (its `supply: …` words, naming the item), or None."""
        self.read(effect.keys + ((effect.container,) if effect.container else ()))
        if effect.action == "commission":
            return self._commission(effect)
        if effect.action == "receive":
            return self._receive(effect)
        if effect.action == "unpack" and effect.container is not None:
            refused = self._in_custody(effect.container, "the container")
            packed = (
                epc
                for key, epc in zip(effect.keys, effect.epcs, strict=True)
                if self._status[key].container != effect.container
            )
            elsewhere = next(packed, None)
            return refused or (Refused("supply: not packed in that container", elsewhere) if elsewhere else None)
        if effect.action == "ship" and effect.shipment is not None:
            if self._shipment(effect.shipment) is not None:
                return Refused("supply: shipment id already used")
            if effect.receiver == self.me:
                return Refused("supply: ship to someone else")
        if effect.action == "pack" and effect.container is not None and (refused := self._packable(effect)):
            return refused
        if effect.action == "decommission":
            return self._first(effect, lambda key, epc: self._decommissionable(key, epc, effect.reason))
        return self._first(effect, self._movable)

    def _first(self, effect: Effect, check: Callable[[bytes, str], Refused | None]) -> Refused | None:
        """The first of the step's items `check` refuses, and why."""
        return next((why for key, epc in zip(effect.keys, effect.epcs, strict=True) if (why := check(key, epc))), None)

    def apply(self, effect: Effect) -> None:
        """The state after the step."""
        for key in effect.keys:
            before = self._held(key) if effect.action == "commission" else self._status[key]
            self._status[key] = replace(self._after(effect, before), key=key)
        if effect.action == "pack" and effect.container is not None:
            if self._status[effect.container].state == PackState.UNKNOWN:
                self._status[effect.container] = self._held(effect.container, is_container=True)
            self._heights[effect.container] = self._packed_height(effect)
        if effect.shipment is not None:
            opened = effect.action == "ship"
            self._shipments[effect.shipment] = (effect.receiver, items_hash(effect.keys), opened)

    def _after(self, effect: Effect, before: PackStatus) -> PackStatus:
        if effect.action == "commission":
            return before
        if effect.action == "pack":
            return replace(before, container=effect.container)
        if effect.action == "unpack":
            return replace(before, container=None, holder=self.me)
        if effect.action == "ship":
            return replace(before, state=PackState.IN_TRANSIT, receiver=effect.receiver)
        if effect.action == "receive":
            return replace(before, state=PackState.ACTIVE, holder=self.me, receiver=None)
        return replace(before, state=PackState.DECOMMISSIONED, reason=effect.reason, container=None)

    def _held(self, key: bytes, *, is_container: bool = False) -> PackStatus:
        """A pack this node just commissioned, or a container it just created by packing into it."""
        return PackStatus(
            key=key,
            state=PackState.ACTIVE,
            holder=self.me,
            receiver=None,
            manufacturer=None if is_container else self.me,
            lot=None,
            expiry=None,
            recalled=False,
            container=None,
            reason=None,
            is_container=is_container,
        )

    def _commission(self, effect: Effect) -> Refused | None:
        assert effect.lot is not None
        gtin, lot, expiry = effect.lot
        admission = self.chain.admission(self.me)
        if admission is None or not admission.in_force(self.chain.chain.timestamp()):
            return Refused("supply: not admitted")
        if not company_prefix_ok(gtin, admission.company_prefix):
            return Refused("supply: gtin outside the company prefix")
        existing = self.chain.lot(gtin, lot)
        if existing is not None and existing.manufacturer != self.me:
            return Refused("supply: lot of another manufacturer")
        if existing is not None and existing.expiry != expiry:
            return Refused("supply: expiry differs from the lot's")
        if existing is not None and existing.recalled:
            return Refused("supply: lot recalled")
        return self._first(
            effect,
            lambda key, epc: (
                Refused("supply: serial already commissioned", epc)
                if self._status[key].state != PackState.UNKNOWN
                else None
            ),
        )

    def _receive(self, effect: Effect) -> Refused | None:
        assert effect.shipment is not None
        shipment = self._shipment(effect.shipment)
        if shipment is None:
            return Refused("supply: no such shipment")
        receiver, hashed, is_open = shipment
        if not is_open:
            return Refused("supply: shipment already received")
        if receiver != self.me:
            return Refused("supply: not the receiver")
        if items_hash(effect.keys) != hashed:
            return Refused("supply: items differ from the shipment's")
        return None

    def _shipment(self, shipment: bytes) -> tuple[str | None, bytes, bool] | None:
        if shipment not in self._shipments:
            found = self.chain.shipment(shipment)
            if found is None:
                return None
            self._shipments[shipment] = (found.receiver, found.items_hash, found.open)
        return self._shipments[shipment]

    def _packable(self, effect: Effect) -> Refused | None:
        """Why items may not go into the container (the contract's `pack`, before its per-item checks), or None."""
        assert effect.container is not None
        status = self._status[effect.container]
        if status.state != PackState.UNKNOWN and not status.is_container:
            return Refused("supply: not a container")
        if status.state != PackState.UNKNOWN and (refused := self._movable(effect.container, "the container")):
            return refused
        if effect.container in effect.keys:
            return Refused("supply: a container cannot hold itself")
        if self._packed_height(effect) > MAX_DEPTH:
            return Refused(f"supply: containers nest at most {MAX_DEPTH} deep")
        return None

    def _packed_height(self, effect: Effect) -> int:
        """The container's height once the step's items are in it (a pack is height 0, a case of packs 1)."""
        assert effect.container is not None
        below = [self._height(key) + 1 if self._status[key].is_container else 1 for key in effect.keys]
        return max([self._height(effect.container), *below])

    def _height(self, container: bytes) -> int:
        """A container's height: as the document left it, else 1 for one the chain knows (it was packed into)."""
        return self._heights.get(container, 1 if self._status[container].state != PackState.UNKNOWN else 0)

    def _movable(self, key: bytes, named: str) -> Refused | None:
        """Why this node may not move the item (`_check_movable` in the contract), or None."""
        status = self._status[key]
        if status.state == PackState.UNKNOWN:
            return Refused("supply: unknown item", named)
        if status.state == PackState.DECOMMISSIONED:
            return Refused("supply: already decommissioned", named)
        if status.state == PackState.IN_TRANSIT:
            return Refused("supply: in transit", named)
        if status.container is not None:
            return Refused("supply: packed in a container", named)
        if status.holder != self.me:
            return Refused("supply: not the holder", named)
        return None

    def _in_custody(self, key: bytes, named: str) -> Refused | None:
        """Why this node does not have the item's custody (`_check_custody`: it may be packed), or None."""
        status = self._status[key]
        if status.state == PackState.UNKNOWN:
            return Refused("supply: unknown item", named)
        if status.state == PackState.IN_TRANSIT:
            return Refused("supply: in transit", named)
        if status.state == PackState.DECOMMISSIONED:
            return Refused("supply: already decommissioned", named)
        if status.holder != self.me:
            return Refused("supply: not the holder", named)
        return None

    def _decommissionable(self, key: bytes, named: str, reason: Reason | None) -> Refused | None:
        """Why this node may not decommission the pack (a packed one may be: it leaves its case), or None; a pack of
        a recalled lot may be destroyed, not dispensed."""
        status = self._status[key]
        if status.state != PackState.UNKNOWN and status.is_container:
            return Refused("supply: not a pack", named)
        if status.state == PackState.DECOMMISSIONED:
            return Refused("supply: already decommissioned", named)
        if reason == Reason.DISPENSED and status.recalled:
            return Refused("supply: lot recalled", named)
        return self._in_custody(key, named)


def _effect(action: str, items: Sequence[Identifier], **args: Any) -> Effect:
    return Effect(action, tuple(key_of(item) for item in items), tuple(item.epc for item in items), **args)


def _commissioning(event: dict[str, Any], items: Sequence[Identifier]) -> Effect:
    """A commissioning of packs of one GTIN, lot and expiry (the lot and expiry in its ILMD, as GS1's CBV master
    data names them)."""
    packs = [item for item in items if isinstance(item, Pack)]
    if not packs or len(packs) != len(items):
        raise ValidationError("epcList: a commissioning names serialised packs (SGTINs) only")
    if len({pack.gtin for pack in packs}) != 1:
        raise ValidationError("epcList: a commissioning names packs of one GTIN")
    ilmd = event.get("ilmd")
    ilmd = ilmd if isinstance(ilmd, dict) else {}
    lot, expiry = ilmd.get("cbvmda:lotNumber"), ilmd.get("cbvmda:itemExpirationDate")
    if not isinstance(lot, str) or not isinstance(expiry, str):
        raise ValidationError(
            "ilmd: a commissioning names its lot (cbvmda:lotNumber) and expiry (cbvmda:itemExpirationDate)"
        )
    try:
        expires = date.fromisoformat(expiry)
    except ValueError:
        raise ValidationError(f"ilmd: cbvmda:itemExpirationDate {expiry!r} is not a date (YYYY-MM-DD)") from None
    serials = tuple(pack.serial for pack in packs)
    return _effect("commission", packs, lot=(packs[0].gtin, lot, expires), serials=serials)


def _entries(event: dict[str, Any], member: str) -> list[dict[str, Any]]:
    found = event.get(member)
    return [entry for entry in found if isinstance(entry, dict)] if isinstance(found, list) and member else []


def _identified(epcs: object) -> list[Identifier]:
    """The packs and containers among an event's EPCs (other EPCs, such as a location's, move nothing on chain)."""
    found: list[Identifier] = []
    for epc in epcs if isinstance(epcs, list) else ():
        try:
            found.append(parse_epc(epc))
        except ValidationError:
            continue
    return found


def _shipment_reference(event: dict[str, Any]) -> str:
    for entry in _entries(event, "bizTransactionList"):
        if biz_transaction_type(str(entry.get("type", ""))) == "desadv" and isinstance(
            entry.get("bizTransaction"), str
        ):
            return str(entry["bizTransaction"])
    raise ValidationError("bizTransactionList: a shipment names its despatch advice (type desadv)")


def _receiver(event: dict[str, Any], chain_id: int) -> str:
    for entry in _entries(event, "destinationList"):
        if source_destination_type(str(entry.get("type", ""))) != "owning_party":
            continue
        try:
            chain, address = party_address(entry.get("destination"))
        except ValidationError:
            continue
        if chain == chain_id:
            return address
    raise ValidationError(f"destinationList: a shipment names its owning_party as did:pkh:eip155:{chain_id}:<address>")
