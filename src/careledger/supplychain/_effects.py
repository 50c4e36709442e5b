"""What a captured event does on chain, and whether the chain would take it, before anything is sent.

An event's business step names its custody step on the SupplyChain contract:

```
commissioning ─► commission      packing ─► pack      unpacking ─► unpack      shipping ─► ship (to the
receiving ─► receive             dispensing | decommissioning | destroying ─► decommission   owning_party destination)
```

Only the events this node signs move custody from its wallet: another party's signed event is that party's step,
sent by its own node (`FOREIGN`). An event whose EPCs the chain knows none of, and which is not a commissioning,
is an `OBSERVATION` (GS1's published examples capture this way), as is one whose business step has no custody step.

The dry run (`Ledger`) reads what the chain holds of every key a document moves (one `status` each, a few at a
time), the node's admission, the lots and the shipments, and tries each step in the document's order on that state,
so a document that commissions, packs and ships the same packs is judged as a whole. Its refusals are the contract's
own `supply: …` words; the contract stays the final judge when the steps are sent (a commissioning's serials are
left to it: the facade estimates all of a step's chunks before it sends one, so a serial commissioned before
refuses the step whole).
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
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
from careledger.supplychain._cbv import biz_step, biz_transaction_type, source_destination_type
from careledger.supplychain._epcis import party_address
from careledger.supplychain._gs1 import Container, Identifier, Pack, company_prefix_ok, parse_epc

CHAIN = "chain"
OBSERVATION = "observation"
FOREIGN = "foreign"

_DECOMMISSIONS = {"dispensing": Reason.DISPENSED, "decommissioning": Reason.OTHER, "destroying": Reason.DESTROYED}
_LOOKUPS = 8  # status reads in flight at once (a commissioning of 1,000 packs reads 1,000 keys)


@dataclass(frozen=True, slots=True)
class Effect:
    """One custody step on chain: its action and the keys it moves (with their EPCs, to name them), and what else
    its action takes."""

    action: str  # commission | pack | unpack | ship | receive | decommission
    keys: tuple[bytes, ...]
    epcs: tuple[str, ...]
    container: bytes | None = None
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
        elif self.action in ("pack", "unpack") and self.container is not None:
            receipts = getattr(chain, self.action)(self.container, self.keys)
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


def key_of(identifier: Identifier) -> bytes:
    """The chain's key of a pack or container."""
    if isinstance(identifier, Container):
        return container_key(identifier.sscc)
    return pack_key(identifier.gtin, identifier.serial)


def moved(event: dict[str, Any]) -> tuple[bytes, ...]:
    """The keys of the packs and containers an event moves (its EPCs and children, not the container it packs
    them in): whether the chain knows any of them tells an observation from a custody step."""
    items = _identified(event.get("epcList", ())) + _identified(event.get("childEPCs", ()))
    return tuple(key_of(item) for item in items)


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
        return [_effect(action, children, container=container_key(container.sscc))] if children else []
    if step in ("shipping", "receiving") and items:
        shipment = shipment_key(_shipment_reference(event))
        if step == "receiving":
            return [_effect("receive", items, shipment=shipment)]
        return [_effect("ship", items, shipment=shipment, receiver=_receiver(event, chain_id))]
    if step in _DECOMMISSIONS and items:
        return [_effect("decommission", items, reason=_DECOMMISSIONS[step])]
    return []


@dataclass
class Ledger:
    """What the chain holds of the keys, lots and shipments a document names, as its steps would leave it: each
    step is checked on this state (`refusal`), then applied to it (`apply`), so later steps see earlier ones."""

    chain: SupplyChain
    me: str
    _status: dict[bytes, PackStatus] = field(default_factory=dict)
    _shipments: dict[bytes, tuple[str | None, bytes, bool]] = field(default_factory=dict)  # receiver, hash, open

    def read(self, keys: Sequence[bytes]) -> None:
        """Read the chain's status of the keys not read yet, a few at a time."""
        wanted = [key for key in dict.fromkeys(keys) if key not in self._status]
        with ThreadPoolExecutor(min(_LOOKUPS, max(1, len(wanted))), thread_name_prefix="careledger-supply") as pool:
            self._status.update(zip(wanted, pool.map(self.chain.status, wanted), strict=True))

    def known(self, keys: Sequence[bytes]) -> bool:
        """Whether the chain (or an earlier step of the document) knows any of these keys."""
        self.read(keys)
        return any(self._status[key].state != PackState.UNKNOWN for key in keys)

    def refusal(self, effect: Effect) -> str | None:
        """Why the contract would refuse the step now (its `supply: …` words, naming the item), or None."""
        if effect.action == "commission":
            return self._commission(effect)
        self.read(effect.keys + ((effect.container,) if effect.container else ()))
        if effect.action == "receive":
            return self._receive(effect)
        if effect.action == "unpack" and effect.container is not None:
            refused = self._movable(effect.container, "the container")
            packed = (
                epc for key, epc in zip(effect.keys, effect.epcs, strict=True) if self._in(key) != effect.container
            )
            elsewhere = next(packed, None)
            return refused or (f"supply: not packed in that container ({elsewhere})" if elsewhere else None)
        if effect.action == "ship" and effect.shipment is not None:
            if self._shipment(effect.shipment) is not None:
                return "supply: shipment id already used"
            if effect.receiver == self.me:
                return "supply: ship to someone else"
        if effect.action == "pack" and effect.container is not None:
            state = self._status[effect.container].state
            if state != PackState.UNKNOWN and (refused := self._movable(effect.container, "the container")):
                return refused
        check = self._decommissionable if effect.action == "decommission" else self._movable
        return next((why for key, epc in zip(effect.keys, effect.epcs, strict=True) if (why := check(key, epc))), None)

    def apply(self, effect: Effect) -> None:
        """The state after the step."""
        for key in effect.keys:
            before = self._held(key) if effect.action == "commission" else self._status[key]
            self._status[key] = replace(self._after(effect, before), key=key)
        if effect.action == "pack" and effect.container is not None:
            self._status[effect.container] = self._held(effect.container, is_container=True)
        if effect.shipment is not None:
            opened = effect.action == "ship"
            self._shipments[effect.shipment] = (effect.receiver, items_hash(effect.keys), opened)

    def _after(self, effect: Effect, before: PackStatus) -> PackStatus:
        if effect.action == "commission":
            return self._held(before.key)
        if effect.action == "pack":
            return replace(before, container=effect.container)
        if effect.action == "unpack":
            return replace(before, container=None)
        if effect.action == "ship":
            return replace(before, state=PackState.IN_TRANSIT, receiver=effect.receiver)
        if effect.action == "receive":
            return replace(before, state=PackState.ACTIVE, holder=self.me, receiver=None)
        return replace(before, state=PackState.DECOMMISSIONED, reason=effect.reason, container=None)

    def _held(self, key: bytes, *, is_container: bool = False) -> PackStatus:
        return PackStatus(key, PackState.ACTIVE, self.me, None, None, None, None, False, None, None, None, is_container)

    def _commission(self, effect: Effect) -> str | None:
        assert effect.lot is not None
        gtin, lot, expiry = effect.lot
        admission = self.chain.admission(self.me)
        if admission is None or not admission.in_force(self.chain.chain.timestamp()):
            return "supply: not admitted"
        if not company_prefix_ok(gtin, admission.company_prefix):
            return "supply: gtin outside the company prefix"
        existing = self.chain.lot(gtin, lot)
        if existing is not None and existing.manufacturer != self.me:
            return "supply: lot of another manufacturer"
        if existing is not None and existing.expiry != expiry:
            return "supply: expiry differs from the lot's"
        # Serials commissioned before are not read one by one (1,000 reads for 1,000 packs): the facade estimates
        # every chunk before it sends any, so such a commissioning is refused whole, before anything is sent.
        return None

    def _receive(self, effect: Effect) -> str | None:
        assert effect.shipment is not None
        shipment = self._shipment(effect.shipment)
        if shipment is None:
            return "supply: no such shipment"
        receiver, hashed, is_open = shipment
        if not is_open:
            return "supply: shipment already received"
        if receiver != self.me:
            return "supply: not the receiver"
        if items_hash(effect.keys) != hashed:
            return "supply: items differ from the shipment's"
        return None

    def _shipment(self, shipment: bytes) -> tuple[str | None, bytes, bool] | None:
        if shipment not in self._shipments:
            found = self.chain.shipment(shipment)
            if found is None:
                return None
            self._shipments[shipment] = (found.receiver, found.items_hash, found.open)
        return self._shipments[shipment]

    def _movable(self, key: bytes, named: str) -> str | None:
        """Why this node may not move the item (`_check_movable` in the contract), or None."""
        status = self._status[key]
        if status.state == PackState.UNKNOWN:
            return f"supply: unknown item ({named})"
        if status.state == PackState.DECOMMISSIONED:
            return f"supply: already decommissioned ({named})"
        if status.state == PackState.IN_TRANSIT:
            return f"supply: in transit ({named})"
        if status.container is not None:
            return f"supply: packed in a container ({named})"
        if status.holder != self.me:
            return f"supply: not the holder ({named})"
        return None

    def _decommissionable(self, key: bytes, named: str) -> str | None:
        """Why this node may not decommission the pack (a packed one may be: it leaves its case), or None."""
        status = self._status[key]
        if status.state == PackState.UNKNOWN:
            return f"supply: unknown item ({named})"
        if status.is_container:
            return f"supply: not a pack ({named})"
        if status.state == PackState.DECOMMISSIONED:
            return f"supply: already decommissioned ({named})"
        if status.state == PackState.IN_TRANSIT:
            return f"supply: in transit ({named})"
        if status.holder != self.me:
            return f"supply: not the holder ({named})"
        return None

    def _in(self, key: bytes) -> bytes | None:
        return self._status[key].container


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
    for entry in event.get("bizTransactionList", ()):
        if biz_transaction_type(str(entry.get("type", ""))) == "desadv" and isinstance(
            entry.get("bizTransaction"), str
        ):
            return str(entry["bizTransaction"])
    raise ValidationError("bizTransactionList: a shipment names its despatch advice (type desadv)")


def _receiver(event: dict[str, Any], chain_id: int) -> str:
    for entry in event.get("destinationList", ()):
        if source_destination_type(str(entry.get("type", ""))) != "owning_party":
            continue
        try:
            chain, address = party_address(entry.get("destination"))
        except ValidationError:
            continue
        if chain == chain_id:
            return address
    raise ValidationError(f"destinationList: a shipment names its owning_party as did:pkh:eip155:{chain_id}:<address>")
