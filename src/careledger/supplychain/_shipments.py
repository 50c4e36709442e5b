"""A node's shipments: what it ships (and the notice that goes with it), the notices other nodes send it, and what it
receives, named by its EPCs from a notice or from scans on arrival (the chain lists a shipment's items by key only).

```
ship ─► a shipping event of this node's, captured (the chain's ship) ─► its notice to the receiver's node (`Outbox`)
notice ─► this node's shipping event of the shipment, then the items' signed history (`_notices.history`)
accept ─► another node's notice, checked (`_notices.checked`) ─► its events not held yet stored as their signers'
receive ─► the chain's open shipment to this node ─► its items by their EPCs ─► a receiving event, captured
```
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from careledger.audit import ANONYMOUS, Outcome
from careledger.chain import IdentityRegistry, SupplyChain
from careledger.errors import CareLedgerError, Conflict, NotFound, ValidationError
from careledger.shared import Tickets
from careledger.supplychain._capture import Capturer, Record
from careledger.supplychain._cbv import BizStep, biz_step
from careledger.supplychain._effects import _identified, despatch_advice, key_of, keys_named, shipment_key
from careledger.supplychain._epcis import document, party_uri, receiving, shipping
from careledger.supplychain._gs1 import Identifier
from careledger.supplychain._notices import Outbox, checked, history
from careledger.supplychain._store import SupplyStore

Own = Callable[[dict[str, Any], str, str], list[dict[str, Any]]]  # (event, by, action): its capture as this node's


class Shipments:
    """Shipping, notices and receiving for the node `node` (module docstring)."""

    def __init__(
        self,
        store: SupplyStore,
        capturer: Capturer,
        chain: Callable[[], SupplyChain],
        record: Record,
        own: Own,
        *,
        node: str,
        chain_id: int,
        tickets: Tickets,
        identity: Callable[[], IdentityRegistry],
    ) -> None:
        """`own(event, by, action)` captures one event of this node's, or raises its refusal; `tickets` keep the
        notices waiting for a receiver's node, found by its endpoint in `identity`."""
        self._store = store
        self._capturer = capturer
        self._chain = chain
        self._record = record
        self._own = own
        self.node = node
        self.chain_id = chain_id
        self.outbox = Outbox(tickets, identity, chain, self.notice)

    def ship(self, items: Sequence[Identifier], to: str, by: str) -> str:
        """Ship items this node holds to `to`: the shipment's id; its notice delivered, or kept to send again."""
        shipment = str(uuid.uuid4())
        self._own(shipping(items, self._party(self.node), self._party(to), shipment), by, "supply.ship")
        self.outbox.send(shipment, to)
        return shipment

    def notice(self, shipment_id: str) -> dict[str, Any]:
        """This node's signed shipping event of a shipment, then the signed history of what it ships, as an
        EPCISDocument."""
        shipped = [e for e in self._store.shipment(despatch_advice(shipment_id)) if e.signer == self.node]
        sent = [e for e in shipped if biz_step(str(e.body.get("bizStep", ""))) == BizStep.SHIPPING]
        if not sent:
            raise NotFound(f"this node shipped nothing as shipment {shipment_id[:60]}")
        ids = {event.event_id for event in sent}
        keys: set[bytes] = set()
        for event in sent:
            keys |= keys_named(event.body, members=("epcList",))
        past = [event.body for event in history(keys, self._store) if event.event_id not in ids]
        return document([*(event.body for event in sent), *past])

    def accept(self, body: object) -> dict[str, Any]:
        """Another node's shipping notice to this node: its events not held yet stored as their signers' (no chain
        effect) if it holds; what was taken. A refusal (4xx) is audited without the notice's content, under the
        notice's signer once its signatures verify, else as `anonymous`."""
        sender = ANONYMOUS
        try:
            signed = self._capturer.verified(body)
            sender = signed[0][1] if signed else ANONYMOUS
            notice = checked(signed, self._chain(), self._store, here=self.node, chain_id=self.chain_id)
        except CareLedgerError as exc:
            self._record("supply.notice", Outcome.DENIED, sender, f"a shipping notice refused ({type(exc).__name__})")
            raise
        if notice.new:
            created = datetime.now(UTC)
            job, refusals = self._capturer.keep(notice.new, notice.sender, "supply.notice", None, created)
            if not job.ok:  # another delivery stored it a moment ago (sent again, it is held)
                raise Conflict(f"the notice was not stored: {refusals[0][1]}")
        return notice.to_json()

    def receive(self, shipment_id: str, by: str, items: Sequence[Identifier] | None) -> list[dict[str, Any]]:
        """Receive the open shipment to this node: its items as the chain lists them, named by their EPCs from
        `items` (as scanned on arrival) or from the sender's shipping event held here; the items received."""
        chain = self._chain()
        reference = despatch_advice(shipment_id)
        key = shipment_key(reference)
        shipment = chain.shipment(key)
        if shipment is None or not shipment.open or shipment.receiver != self.node:
            raise NotFound(f"no open shipment {shipment_id[:60]} to this node")
        keys = chain.shipment_items(key)
        named = self._named(keys, reference, items)
        source, destination = self._party(shipment.sender), self._party(self.node)
        self._own(receiving(named, source, destination, reference.removeprefix("urn:uuid:")), by, "supply.receive")
        return [{"epc": item.epc, "key": "0x" + key.hex()} for item, key in zip(named, keys, strict=True)]

    def _named(self, keys: Sequence[bytes], reference: str, items: Sequence[Identifier] | None) -> list[Identifier]:
        """The shipment's items by their EPCs, in the chain's order: from the scans given, else from the shipping
        event of that shipment held here."""
        sources = (
            [items]
            if items is not None
            else [_identified(e.body.get("epcList")) for e in self._store.shipment(reference)]
        )
        known = {key_of(item): item for source in sources for item in source}
        missing = [key for key in keys if key not in known]
        if missing:
            raise ValidationError(
                f"items: {len(missing)} of the shipment's {len(keys)} items are known here only by their chain keys:"
                " the sender's notice has not arrived; scan them, or take its notice by hand (drug receive --notice)"
            )
        return [known[key] for key in keys]

    def _party(self, address: str) -> str:
        return party_uri(self.chain_id, address)
