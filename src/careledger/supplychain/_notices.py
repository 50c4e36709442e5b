"""Shipping notices: a shipment's signed events, sent by the shipper's node to the receiver's, so that the receiver
can name what it receives (the chain holds only hashed keys) and the packs inside each case it receives.

```
ship ─► the chain's ship ─► a ticket (supply-notice) ─► the receiver's endpoint (IdentityRegistry)
        ─► POST /epcis/notices: the shipping event + the packing events of the cases shipped (and of those inside
           them), each signed by whoever packed it, those whose packs are all still inside ─► arrived: ticket taken
        (no endpoint, no answer, a refusal: kept; the leader's round sends it again, each wait twice the last,
         until it arrives, the shipment is received, or `KEEP_DAYS` pass)
POST /epcis/notices (the receiver's node) ─► GS1's schema ─► every signature ─► one shipping event, to this node
        ─► the chain's open shipment of its id from its signer to this node, of its items (in order)
        ─► each packing event's case shipped (or inside one shipped), each of its children inside it on chain now
        ─► the events not held yet stored as the sender's (no chain effect); the same notice again: nothing new
```

A packing event is passed on as its packer signed it (a wholesaler forwards the manufacturer's cases, which it never
packed), so the events of one notice may have more than one signer: the shipping event's must be the chain's
sender, and what a packing event says is checked against the chain itself (each child inside its case now).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from careledger.chain import IdentityRegistry, PackStatus, SupplyChain, items_hash
from careledger.crypto import checksum_address
from careledger.errors import CareLedgerError, Conflict, NotFound, ValidationError
from careledger.shared import Tickets
from careledger.supplychain._cbv import BizStep, biz_step
from careledger.supplychain._effects import _identified, _shipment_reference, effects_of, key_of, shipment_key
from careledger.supplychain._epcis import SIGNER
from careledger.supplychain._gs1 import Container, Identifier
from careledger.supplychain._store import SupplyStore

KIND = "supply-notice"  # the tickets' kind: a shipment's notice, until the receiver's node takes it
KEEP_DAYS = 30  # how long a notice waits to be sent again, after its shipment
FIRST_WAIT = 60.0  # seconds before a notice that did not arrive is sent again; doubled each time
MAX_WAIT = 3600.0  # seconds between two attempts, at most
TIMEOUT = 10.0  # seconds a receiver's node has to take a notice
MAX_DEPTH = 3  # containers nest at most 3 deep (the contract's bound)
NOBODY = "0x" + "0" * 40  # the agent of a refused notice that names no signer
_LOOKUPS = 8  # status reads in flight at once (a notice of 1,000 packs checks 1,000 keys)
_log = logging.getLogger(__name__)

Signed = tuple[dict[str, Any], str]  # an event and its signer, its signature verified
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


def packed_in(epcs: Iterable[str], store: SupplyStore, chain: SupplyChain) -> list[dict[str, Any]]:
    """The packing events this node holds of the containers among `epcs` and of those inside them, whoever signed
    them, each whose children are all inside its container on chain now (a stale one, a pack taken out since, is left
    out): what names the packs inside what is shipped."""
    containers = {key_of(item): item for item in _identified(list(epcs)) if isinstance(item, Container)}
    found: list[dict[str, Any]] = []
    for _ in range(MAX_DEPTH):
        if not containers:
            break
        events = [e.body for e in store.naming(list(containers)) if _packing_into(e.body) in containers]
        statuses = _statuses(chain, [key_of(child) for body in events for child in _children(body)])
        inside = [body for body in events if _all_inside(body, statuses)]
        found += inside
        containers = {
            key_of(child): child for body in inside for child in _children(body) if isinstance(child, Container)
        }
    return found


def checked(signed: Sequence[Signed], chain: SupplyChain, store: SupplyStore, *, here: str, chain_id: int) -> Notice:
    """The notice `signed` (its events, signatures verified) if it holds for this node `here`: one shipping event, the
    chain's open shipment of its id from its signer to here, of its items; packing events of what it ships only, each
    child inside its case on chain. `ValidationError` (malformed, addressed elsewhere), `NotFound` (no such shipment),
    `Conflict` (the chain says otherwise)."""
    shipped = [(e, s) for e, s in signed if e["type"] == "ObjectEvent" and _step(e) == BizStep.SHIPPING]
    packings = [e for e, _ in signed if e["type"] == "AggregationEvent" and _packing_into(e) is not None]
    if len(shipped) != 1 or len(packings) != len(signed) - 1:
        raise ValidationError(
            "epcisBody: a shipping notice holds one shipping event and the packing events of what it ships, no other"
        )
    [(event, sender)] = shipped
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
    if found.items_hash != items_hash(ship.keys):
        raise Conflict(f"epcList: the items differ from those of shipment {shipment} on chain")
    _check_packings(packings, ship.keys, chain)
    ids = tuple(str(e["eventID"]) for e, _ in signed)
    held_ids, _ = store.known(ids, [])
    if str(event["eventID"]) not in held_ids and not found.open:
        raise Conflict(f"shipment {shipment} was received already: its notice is of no use now")
    # This node's own events are never taken from another's document: stored again, they would be sent again.
    new = tuple((e, s) for e, s in signed if str(e["eventID"]) not in held_ids and s != here)
    return Notice(shipment, sender, ids, new)


def claimed_sender(body: object) -> str:
    """Who a notice says sent it (its first event's signer), for the audit of its refusal: unverified, so only an
    address, else `NOBODY`."""
    inside = body.get("epcisBody") if isinstance(body, dict) else None
    events = inside.get("eventList") if isinstance(inside, dict) else None
    first = events[0] if isinstance(events, list) and events and isinstance(events[0], dict) else {}
    claimed = first.get(SIGNER)
    if not isinstance(claimed, str) or not re.fullmatch(r"0x[0-9a-fA-F]{40}", claimed):
        return NOBODY
    return checksum_address(bytes.fromhex(claimed[2:]))


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
        self._tickets = tickets
        self._identity = identity
        self._chain = chain
        self._notice = notice
        self._post = post
        self._clock = clock

    def send(self, shipment_id: str, receiver: str) -> str | None:
        """Keep the notice of a shipment just shipped to `receiver`, then deliver it: None if it arrived, else why
        it waits (`waiting`)."""
        pending = {"shipment": shipment_id, "receiver": receiver, "attempts": 0, "next": 0.0}
        self._tickets.put(KIND, shipment_id, pending, KEEP_DAYS * 86_400)
        return self._deliver(pending, self._clock())

    def waiting(self, shipment_id: str) -> str | None:
        """ "notice waiting for 0x…: why" while the notice of a shipment waits to be sent again; None once it
        arrived (or was never kept)."""
        pending = self._tickets.peek(KIND, shipment_id)
        if pending is None:
            return None
        return f"notice waiting for {pending['receiver']}: {pending.get('why', 'not sent yet')}"

    def retry(self, *, at: float | None = None) -> int:
        """Send again each notice due (as of `at`, now unless given): the leader's round. How many arrived."""
        now = self._clock() if at is None else at
        due = [pending for pending in self._tickets.every(KIND) if float(pending.get("next", 0)) <= now]
        return sum(self._deliver(pending, now) is None for pending in due)

    def _deliver(self, pending: dict[str, Any], now: float) -> str | None:
        """One attempt: the notice posted to the receiver's node (the ticket taken), or kept with why it failed and
        when to try again. A shipment no longer open (received, by scans or a file) needs its notice no more."""
        shipment, receiver = str(pending["shipment"]), str(pending["receiver"])
        try:
            found = self._chain().shipment(shipment_key(f"urn:uuid:{shipment}"))
            if found is not None and found.open:
                endpoint = node_endpoint(self._identity(), receiver)
                if endpoint is None:
                    raise NotFound(f"{receiver} has no node endpoint on chain")
                self._post(endpoint, self._notice(shipment))
        # The ship stands whatever befell its notice: every failure keeps it, to be sent again.
        except Exception as exc:
            if not isinstance(exc, CareLedgerError):
                _log.exception("notice of shipment %s for %s failed", shipment, receiver)
            attempts = int(pending.get("attempts", 0)) + 1
            why = str(exc)[:300] or type(exc).__name__
            later = {**pending, "attempts": attempts, "why": why}
            later["next"] = now + min(MAX_WAIT, FIRST_WAIT * 2 ** (attempts - 1))
            self._tickets.replace(KIND, shipment, later, KEEP_DAYS * 86_400)
            _log.info("notice of shipment %s waits for %s (attempt %d): %s", shipment, receiver, attempts, why)
            return f"notice waiting for {receiver}: {why}"
        self._tickets.take(KIND, shipment)
        return None


def _check_packings(packings: Sequence[dict[str, Any]], shipped: Collection[bytes], chain: SupplyChain) -> None:
    """Each packing event's case is shipped, or inside one shipped (as the notice's own packing events say, 3 deep at
    most), and each of its children is inside it on chain now."""
    reachable = set(shipped)
    for _ in range(MAX_DEPTH):
        reachable |= {key_of(c) for e in packings if _packing_into(e) in reachable for c in _children(e)}
    statuses = _statuses(chain, [key_of(child) for event in packings for child in _children(event)])
    for event in packings:
        if _packing_into(event) not in reachable:
            raise ValidationError(f"parentID: {str(event['parentID'])[:80]} is not among what the notice ships")
        if not _all_inside(event, statuses):
            raise Conflict(f"childEPCs: a child of {str(event['parentID'])[:80]} is not inside it on chain")


def _all_inside(event: dict[str, Any], statuses: dict[bytes, PackStatus]) -> bool:
    container = _packing_into(event)
    return all(statuses[key_of(child)].container == container for child in _children(event))


def _packing_into(event: dict[str, Any]) -> bytes | None:
    """The key of the container a packing event (an AggregationEvent ADD) packs into; None for any other event."""
    if event.get("type") != "AggregationEvent" or event.get("action") != "ADD" or _step(event) != BizStep.PACKING:
        return None
    parent = _identified([event["parentID"]] if isinstance(event.get("parentID"), str) else [])
    return key_of(parent[0]) if parent and isinstance(parent[0], Container) else None


def _children(event: dict[str, Any]) -> list[Identifier]:
    return _identified(event.get("childEPCs", ()))


def _statuses(chain: SupplyChain, keys: Collection[bytes]) -> dict[bytes, PackStatus]:
    """The chain's status of each key, a few read at a time."""
    wanted = list(dict.fromkeys(keys))
    if not wanted:
        return {}
    with ThreadPoolExecutor(min(_LOOKUPS, len(wanted)), thread_name_prefix="careledger-notice") as pool:
        return dict(zip(wanted, pool.map(chain.status, wanted), strict=True))


def _step(event: dict[str, Any]) -> str:
    return biz_step(str(event.get("bizStep", "")))
