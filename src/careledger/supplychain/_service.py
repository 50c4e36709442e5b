"""The node's supply chain service (`node.supply`): EPCIS capture and query, custody steps on chain, traces.

```
capture ─► _capture.Capturer: validate, signatures, duplicates, custody claims, dry run, send, store (all or nothing)
commission · pack · unpack ─► an event of this node's, built (`_epcis`) and captured as one
ship · notice · accept_notice · receive ─► _shipments.Shipments (the notice carries the items' signed history)
events · event · capture_job(s) ─► _store (the EPCIS query: `_query`)
trace ─► _trace.Tracer (the chain's logs, this node's events, their anchors)     admit ─► the chain, as regulator
```

Who may act (`SupplyRoles`): the node's operator (`by` is the node, or `OPERATOR` from its CLI) and its staff (a live
affiliation this node attested), a supply officer for admissions; anyone else is refused and the refusal audited.
`by` is never implied: a face that forgets to say who acts is a type error, not the operator. Another node's
shipping notice (`accept_notice`) is the exception: its signatures and the chain's shipment to this node are what
let it in (`_notices.py`). Audit entries name the action (`supply.capture`, `supply.ship`, …), the actor, the job
and the rules broken, never an event's content: no patient is ever in one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from careledger.audit import Access, Action, AuditLog, Outcome
from careledger.chain import IdentityRegistry, Receipt, RecordAnchor, SupplyChain, supply_refusal
from careledger.crypto import keccak
from careledger.errors import CareLedgerError, Conflict, ValidationError
from careledger.shared import Tickets
from careledger.store import Database
from careledger.supplychain._capture import Capturer, Progress
from careledger.supplychain._effects import Refused
from careledger.supplychain._epcis import commissioning, document, packing, party_uri, unpacking
from careledger.supplychain._gs1 import Container, Identifier, Pack
from careledger.supplychain._notices import Outbox
from careledger.supplychain._query import EventPage, EventQuery
from careledger.supplychain._shipments import Shipments
from careledger.supplychain._staff import SupplyRoles
from careledger.supplychain._store import CaptureJob, SupplyStore, served
from careledger.supplychain._trace import Trace, Tracer

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

OPERATOR = "operator"  # `by` for the node's operator at its home (the CLI): the node itself acts


class Supply:
    """EPCIS events captured and served, custody steps sent for this node's own, traces of a pack's custody."""

    def __init__(
        self,
        db: Database,
        audit: AuditLog,
        chain: Callable[[], SupplyChain],
        anchor: Callable[[], RecordAnchor],
        account: Callable[[], LocalAccount],
        *,
        node: str,
        chain_id: int,
        roles: SupplyRoles,
        tickets: Tickets,
        identity: Callable[[], IdentityRegistry],
    ) -> None:
        """`chain` signs as the node wallet; `account` is that wallet's key (asked for only when an event is
        signed); `roles` says who may act for this node; `tickets` keep the shipping notices waiting for a
        receiver's node, found by its endpoint in `identity`."""
        self.store = SupplyStore(db)
        self._audit = audit
        self._chain = chain
        self._anchor = anchor
        self._roles = roles
        self.node = node
        self.chain_id = chain_id
        self._capturer = Capturer(self.store, self._record, chain, account, node=node, chain_id=chain_id)
        self._shipments = Shipments(
            self.store,
            self._capturer,
            chain,
            self._record,
            self._own,
            node=node,
            chain_id=chain_id,
            tickets=tickets,
            identity=identity,
        )

    @property
    def notices(self) -> Outbox:
        """The shipping notices this node sends receivers' nodes, each kept until it arrives."""
        return self._shipments.outbox

    def capture(self, body: object, *, by: str, progress: Progress | None = None) -> CaptureJob:
        """Capture an EPCISDocument, an EPCISQueryDocument or one event, all or nothing: the job says how it went
        (a bad signature, a duplicate, a claim the chain refuses fail it, each error naming its event).
        `ValidationError` for a document that is not well formed (GS1's schema, this node's bounds)."""
        actor = self._allowed(by, "supply.capture")
        return self._capturer.capture(body, actor, "supply.capture", progress)[0]

    def capture_job(self, capture_id: str, *, by: str) -> CaptureJob:
        """One capture job; `NotFound` for an id unknown here."""
        self._allowed(by, "supply.read")
        return self.store.job(capture_id)

    def capture_jobs(self, *, by: str) -> list[CaptureJob]:
        """The newest capture jobs, newest first."""
        self._allowed(by, "supply.read")
        return self.store.jobs()

    def events(self, query: EventQuery, *, by: str) -> EventPage:
        """A page of the events the query asks for, in the order they were recorded here."""
        self._allowed(by, "supply.read")
        return self.store.page(query)

    def event(self, event_id: str, *, by: str) -> dict[str, Any]:
        """One event as captured (signature included), with the time it was recorded here; `NotFound` for an id
        unknown here."""
        self._allowed(by, "supply.read")
        stored = self.store.event(event_id)
        return served(stored.body, stored.record_time)

    def commission(self, packs: Sequence[Pack], *, by: str, progress: Progress | None = None) -> list[dict[str, Any]]:
        """Commission serialised packs of one GTIN, lot and expiry, this node as their manufacturer (it must be
        admitted): one event, its serials sent in chunks; `progress(done, total)` as they are sent."""
        return self._own(commissioning(packs, self._party()), by, "supply.commission", progress)

    def pack(self, container: Container, children: Sequence[Identifier], *, by: str) -> list[dict[str, Any]]:
        """Pack items this node holds into a case or pallet: custody follows the container from then on."""
        return self._own(packing(container, children, self._party()), by, "supply.pack")

    def unpack(self, container: Container, children: Sequence[Identifier], *, by: str) -> list[dict[str, Any]]:
        """Take items out of a case or pallet this node holds."""
        return self._own(unpacking(container, children, self._party()), by, "supply.unpack")

    def ship(self, items: Sequence[Identifier], to: str, *, by: str) -> str:
        """Ship items this node holds to the party `to` (an address): the shipment's id, which the receiver
        receives it by. Its `notice` is then delivered to the receiver's node, or kept and sent again by the
        leader's rounds (`notices.waiting` says why it waits): the ship stands either way."""
        return self._shipments.ship(items, to, self._allowed(by, "supply.ship"))

    def notice(self, shipment_id: str, *, by: str) -> dict[str, Any]:
        """This node's signed shipping event of a shipment, then the signed history of what it ships (every custody
        event this node holds of those items, what is inside them and what they travelled in, as each actor signed
        it), as an EPCISDocument: what the receiver needs to name the items, and to trace them."""
        self._allowed(by, "supply.read")
        return self._shipments.notice(shipment_id)

    def accept_notice(self, body: object) -> dict[str, Any]:
        """Another node's shipping notice to this node (`POST /epcis/notices`, `drug receive --notice`): its events
        not held yet stored as their signers' (no chain effect) if it holds (`_notices.checked`); what was taken.
        A refusal is a 4xx, audited without the notice's content (a shipment received already: `Conflict`)."""
        return self._shipments.accept(body)

    def receive(self, shipment_id: str, *, by: str, items: Sequence[Identifier] | None = None) -> list[dict[str, Any]]:
        """Receive the open shipment to this node: its items as the chain lists them, named by their EPCs from
        `items` (as scanned on arrival) or from the sender's shipping event held here; the items received."""
        return self._shipments.receive(shipment_id, self._allowed(by, "supply.receive"), items)

    def trace(self, identifier: Identifier, *, by: str) -> Trace:
        """Every custody step of a pack or container, from this node's events and the chain's logs, each event
        held here with its signer (verified) and its anchor proof."""
        self._allowed(by, "supply.trace")
        return Tracer(self.store, self._chain(), self._anchor, self.chain_id).trace(identifier)

    def admit(
        self, manufacturer: str, company_prefix: str, licence: str | bytes, expires_at: int, *, by: str
    ) -> Receipt:
        """Admit a manufacturer with its GS1 company prefix until `expires_at` (unix seconds), this node as the
        regulator (it must hold the role); only the licence's hash goes on chain."""
        actor = self._allowed(by, "supply.admit")
        hashed = licence if isinstance(licence, bytes) and len(licence) == 32 else keccak(_text(licence))
        try:
            receipt = self._chain().admit(manufacturer, company_prefix, hashed, expires_at)
        except CareLedgerError as exc:
            self._record("supply.admit", Outcome.DENIED, actor, f"{manufacturer}: {type(exc).__name__}: {exc}")
            raise
        self._record("supply.admit", Outcome.SUCCESS, actor, f"{manufacturer} prefix {company_prefix}")
        return receipt

    def _own(
        self, event: dict[str, Any], by: str, action: str, progress: Progress | None = None
    ) -> list[dict[str, Any]]:
        """Capture one event of this node's; the refusal as the error it is (who may not, what is not there, what
        clashes with the chain's state)."""
        actor = self._allowed(by, action)
        job, refusals = self._capturer.capture(document([event]), actor, action, progress)
        if not job.ok:
            raise _refused(refusals[0][1])
        return [served(stored.body, stored.record_time) for stored in map(self.store.event, job.event_ids)]

    def _allowed(self, by: str, action: str) -> str:
        """Who acts (`OPERATOR`: this node), once `SupplyRoles` lets them take `action` (else `AccessDenied`,
        audited)."""
        actor = self.node if by == OPERATOR else by
        self._roles.require(actor, action)
        return actor

    def _record(self, action: str, outcome: Outcome, by: str, detail: str) -> None:
        self._audit.record(Access(Action.EXECUTE, action, outcome, by, detail=detail))

    def _party(self) -> str:
        return party_uri(self.chain_id, self.node)


def _text(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


def _refused(refused: Refused) -> CareLedgerError:
    """A refused event of the node's own as the error a face maps: a custody rule's (`supply: …`) as the chain's
    refusal of it is (`supply_refusal`), an event held already as a clash (409), any other as malformed (400)."""
    said = str(refused)
    if refused.reason.startswith("supply: "):
        return supply_refusal(refused.reason, said)
    return Conflict(said) if refused.reason.startswith("duplicate") else ValidationError(said)
