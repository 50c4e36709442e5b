"""Shipping notices: a shipment's signed events, sent by the shipper's node to the receiver's, so that the receiver
can name what it receives (the chain holds only hashed keys) and the packs inside each case, and holds the signed
history of each (DSCSA's transaction history: who commissioned, packed, shipped and received them, each signing).

```
ship ─► the chain's ship ─► a ticket (supply-notice) ─► the receiver's endpoint (IdentityRegistry)
        ─► POST /epcis/notices: the shipping event first, then the items' history: every signed custody event this
           node holds about the items shipped, what is inside them, and the containers those travelled in before
           (`related`), each as its actor signed it, in the order recorded here ─► arrived: ticket taken
        (no endpoint, no answer, a refusal: kept; the leader's round sends it again, each wait twice the last,
         until it arrives, the shipment is received, or `KEEP_DAYS` pass)
POST /epcis/notices (the receiver's node) ─► GS1's schema ─► every signature ─► the first event: a shipping event
        to this node ─► the chain's shipment of its id from its signer to this node (received already: 409), of its
        items (in order) ─► every other event about what it ships (`related`, from the notice's own aggregations)
        ─► the events not held yet stored as their signers' (no chain effect); the same notice again: nothing new
```

The history is passed on as its actors signed it (a wholesaler forwards the manufacturer's commissioning and packing,
which it never made), so a notice's events have many signers: the shipping event's must be the chain's sender; the
others are evidence, kept as their signers', and a trace shows each beside the chain step it matches. What a packing
event says of a case's packs is judged against the chain wherever custody matters (stock, verify), not here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

from careledger.chain import IdentityRegistry, SupplyChain, items_hash
from careledger.errors import Conflict, NotFound, ValidationError
from careledger.shared import Deliveries, Tickets
from careledger.supplychain._capture import Signed
from careledger.supplychain._cbv import BizStep, biz_step
from careledger.supplychain._effects import (
    MAX_DEPTH,
    OBSERVATION,
    _identified,
    _shipment_reference,
    despatch_advice,
    effects_of,
    key_of,
    keys_named,
    shipment_key,
)
from careledger.supplychain._epcis import instant
from careledger.supplychain._gs1 import Container
from careledger.supplychain._store import StoredEvent, SupplyStore

KIND = "supply-notice"  # the tickets' kind: a shipment's notice, until the receiver's node takes it
KEEP_DAYS = 30  # how long a notice waits to be sent again, after its shipment
FIRST_WAIT = 60.0  # seconds before a notice that did not arrive is sent again; doubled each time
MAX_WAIT = 3600.0  # seconds between two attempts, at most
TIMEOUT = 10.0  # seconds a receiver's node has to take a notice
_ROUNDS = 8  # store reads gathering a history: down into the items, then up each container they travelled in

# Posts a notice to a node's endpoint, the node's answer back (`careledger.client` over HTTP).
Post = Callable[[str, dict[str, Any]], Any]


@dataclass(frozen=True, slots=True)
class Notice:
    """A notice that holds: its shipment (a UUID), its sender, its events' ids, and those not held here yet."""

    shipment: str
    sender: str
    event_ids: tuple[str, ...]
    new: tuple[Signed, ...]

    def to_json(self) -> dict[str, Any]:
        """What `POST /epcis/notices` answers: the shipment, its sender, the events and whether any were new."""
        return {
            "shipment": self.shipment,
            "sender": self.sender,
            "eventIDs": list(self.event_ids),
            "stored": bool(self.new),
        }


def node_endpoint(identity: IdentityRegistry, party: str) -> str | None:
    """Where `party`'s node listens, as the IdentityRegistry holds it (None: no active registration with one)."""
    actor = identity.actor(party)
    return actor.endpoint if actor is not None and actor.active and actor.endpoint else None


def related(events: Sequence[dict[str, Any]], shipped: Collection[bytes]) -> set[bytes]:
    """The keys a shipment's history is about, as `events`' aggregations (packing, unpacking) tell: the items
    shipped, what was packed in them (3 levels down), and every container those were packed in, and those
    containers' own, however long ago (not what else those containers held)."""
    links = [(parent, keys_named(event, members=("childEPCs",))) for event in events if (parent := _parent(event))]
    down = set(shipped)
    for _ in range(MAX_DEPTH):
        down |= {child for parent, children in links if parent in down for child in children}
    found, frontier = set(down), set(down)
    while frontier:
        frontier = {parent for parent, children in links if frontier & children} - found
        found |= frontier
    return found


def history(shipped: Collection[bytes], store: SupplyStore) -> list[StoredEvent]:
    """The signed custody events this node holds about a shipment's items (`related`: what is in them and what they
    travelled in), oldest first (by their time, then the order recorded here); observations left out (they claim no
    step)."""
    keys = set(shipped)
    events: list[StoredEvent] = []
    for _ in range(_ROUNDS):
        events = [event for event in store.naming(sorted(keys)) if event.effect != OBSERVATION]
        found = related([event.body for event in events], shipped)
        if found <= keys:
            break
        keys = found
    about = [event for event in events if keys_named(event.body) & keys]
    return sorted(about, key=lambda event: instant("eventTime", event.body["eventTime"]))


def checked(signed: Sequence[Signed], chain: SupplyChain, store: SupplyStore, *, here: str, chain_id: int) -> Notice:
    """The notice `signed` (its events, signatures verified) if it holds for this node `here` (module docstring).
    `ValidationError` (malformed, addressed elsewhere, off its subject), `NotFound` (no such shipment), `Conflict`
    (received already, or the chain says otherwise)."""
    if not signed or signed[0][0]["type"] != "ObjectEvent" or _step(signed[0][0]) != BizStep.SHIPPING:
        raise ValidationError("epcisBody/eventList/0: a shipping notice starts with its shipping event")
    event, sender = signed[0]
    effects = effects_of(event, chain_id)
    if not effects:
        raise ValidationError("epcList: a shipping event names the packs or cases it ships")
    ship = effects[0]
    if ship.receiver != here:
        raise ValidationError(f"destinationList: the shipment goes to {ship.receiver}, not to this node")
    assert ship.shipment is not None  # a ship step always names its shipment
    shipment = _shipment_reference(event).removeprefix("urn:uuid:")
    found = chain.shipment(ship.shipment)
    if found is None or found.sender != sender or found.receiver != here:
        raise NotFound(f"no shipment {shipment} from {sender} to this node on chain")
    if not found.open:
        raise Conflict(f"shipment {shipment} was already received: its notice is of no use now")
    if found.items_hash != items_hash(ship.keys):
        raise Conflict(f"epcList: the items differ from those of shipment {shipment} on chain")
    about = related([e for e, _ in signed], ship.keys)
    stray = next((e for e, _ in signed[1:] if not keys_named(e) & about), None)
    if stray is not None:
        raise ValidationError(f"{str(stray['eventID'])[:120]}: not about what shipment {shipment} carries")
    ids = tuple(str(e["eventID"]) for e, _ in signed)
    held = store.known(ids)
    # This node's own events are never taken from another's document: stored again, they would be sent again.
    new = tuple((e, s) for e, s in signed if str(e["eventID"]) not in held and s != here)
    return Notice(shipment, sender, ids, new)


def _post(endpoint: str, body: dict[str, Any]) -> Any:
    from careledger.client import FhirClient  # httpx: imported when a notice is sent

    with FhirClient(endpoint, timeout=TIMEOUT) as client:
        return client.notice(body)


class Outbox:
    """The notices this node sends receivers' nodes, each kept (a ticket) until it arrives (module docstring)."""

    def __init__(
        self,
        tickets: Tickets,
        identity: Callable[[], IdentityRegistry],
        chain: Callable[[], SupplyChain],
        notice: Callable[[str], dict[str, Any]],
        *,
        post: Post = _post,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`notice(shipment_id)`: this node's notice of one of its shipments, as it would send it now."""
        self._identity = identity
        self._chain = chain
        self._notice = notice
        self._post = post
        self._kept = Deliveries(
            tickets, KIND, self._deliver, keep_days=KEEP_DAYS, first_wait=FIRST_WAIT, max_wait=MAX_WAIT, clock=clock
        )

    def send(self, shipment_id: str, receiver: str) -> str | None:
        """Keep the notice of a shipment just shipped to `receiver`, then deliver it: None if it arrived, else why
        it waits (`waiting`)."""
        why = self._kept.send(shipment_id, {"shipment": shipment_id, "receiver": receiver})
        return None if why is None else f"notice waiting for {receiver}: {why}"

    def waiting(self, shipment_id: str) -> str | None:
        """ "notice waiting for 0x…: why" while the notice of a shipment waits to be sent again; None once it
        arrived (or was never kept)."""
        pending = self._kept.waiting(shipment_id)
        if pending is None:
            return None
        return f"notice waiting for {pending['receiver']}: {pending.get('why', 'not sent yet')}"

    def retry(self, *, at: float | None = None) -> int:
        """Send again each notice due (as of `at`, now unless given): the leader's round. How many arrived."""
        return self._kept.retry(at=at)

    def _deliver(self, pending: dict[str, Any]) -> None:
        """One attempt: the notice posted to the receiver's node. A shipment no longer open (received, by scans or
        a file) needs its notice no more."""
        shipment, receiver = str(pending["shipment"]), str(pending["receiver"])
        found = self._chain().shipment(shipment_key(despatch_advice(shipment)))
        if found is not None and found.open:
            endpoint = node_endpoint(self._identity(), receiver)
            if endpoint is None:
                raise NotFound(f"{receiver} has no node endpoint on chain")
            self._post(endpoint, self._notice(shipment))


def _parent(event: dict[str, Any]) -> bytes | None:
    """The key of the container a packing or unpacking event (an AggregationEvent) names; None for any other."""
    if event.get("type") != "AggregationEvent" or _step(event) not in (BizStep.PACKING, BizStep.UNPACKING):
        return None
    parent = _identified([event["parentID"]] if isinstance(event.get("parentID"), str) else [])
    return key_of(parent[0]) if parent and isinstance(parent[0], Container) else None


def _step(event: dict[str, Any]) -> str:
    return biz_step(str(event.get("bizStep", "")))
