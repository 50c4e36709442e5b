"""The node's supply chain service (`node.supply`): EPCIS capture and query, custody steps on chain, traces.

A capture is all or nothing, as EPCIS's capture interface defines it (`rollback`):

```
body ─► validate_document (GS1's schema: 400 naming the pointer)
     ─► each event: its careledger:signature verified (400 naming the event), or signed as this node
     ─► duplicates refused (an eventID or a digest already here, or twice in the document)
     ─► chain effects of this node's events worked out and tried on the chain's state as a whole (`Ledger`)
        ─ any refused: the job fails, each error naming its event, nothing stored or sent
     ─► effects sent (chunked) ─► events, their EPCs and the job stored in one transaction ─► audited
```

Who may act: the node's operator (`by` is the node) and its staff (a live affiliation this node attested); anyone
else is refused and the refusal audited. Another node's shipping notice (`accept_notice`) is the exception: its
signatures and the chain's shipment to this node are what let it in (`_notices.py`). Audit entries name the action
(`supply.capture`, `supply.ship`, …), the actor and the count, never an event's content: no patient is ever in one.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from careledger.audit import Access, Action, AuditLog, Outcome
from careledger.chain import IdentityRegistry, Receipt, RecordAnchor, SupplyChain
from careledger.crypto import keccak
from careledger.errors import AccessDenied, CareLedgerError, Conflict, InvalidSignature, NotFound, ValidationError
from careledger.shared import Tickets
from careledger.store import Database
from careledger.supplychain._cbv import biz_step, disposition
from careledger.supplychain._effects import CHAIN, FOREIGN, OBSERVATION, Effect, Ledger, effects_of, key_of, moved
from careledger.supplychain._epcis import (
    SIGNATURE,
    commissioning,
    digest,
    document,
    packing,
    party_uri,
    receiving,
    shipping,
    sign_event,
    signer_of,
    unpacking,
    validate_document,
)
from careledger.supplychain._gs1 import Container, Identifier, Pack, parse_epc
from careledger.supplychain._notices import Outbox, Signed, checked, claimed_sender, packed_in
from careledger.supplychain._query import EventPage, EventQuery
from careledger.supplychain._store import FAILURE, SUCCESS, CaptureJob, NewEvent, SupplyStore, served
from careledger.supplychain._trace import Trace, Tracer

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

Progress = Callable[[int, int], None]
# An event's EPCs by the role the EPCIS query matches them in; `desadv` is the shipment it ships or receives.
# Packs a commissioning sends between two progress reports (its chunks pipelined in between).
_PROGRESS_GROUP = 600
_ROLES = {
    "epcList": "epc",
    "childEPCs": "epc",
    "parentID": "parent",
    "inputEPCList": "input",
    "outputEPCList": "output",
}


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
        staff: Callable[[str], bool],
        tickets: Tickets,
        identity: Callable[[], IdentityRegistry],
    ) -> None:
        """`chain` signs as the node wallet; `account` is that wallet's key (asked for only when an event is
        signed); `staff` says whether an actor is of this node's staff; `tickets` keep the shipping notices waiting
        for a receiver's node, found by its endpoint in `identity`."""
        self.store = SupplyStore(db)
        self._audit = audit
        self._chain = chain
        self._anchor = anchor
        self._account = account
        self.node = node
        self.chain_id = chain_id
        self._staff = staff
        self.notices = Outbox(tickets, identity, chain, self.notice)

    def capture(self, body: object, *, by: str, progress: Progress | None = None) -> CaptureJob:
        """Capture an EPCISDocument (or one event), all or nothing: the job says how it went. `ValidationError`
        for a document the schema refuses or an event whose signature does not verify."""
        return self._capture(body, by, "supply.capture", progress)

    def capture_job(self, capture_id: str, *, by: str | None = None) -> CaptureJob:
        """One capture job; `NotFound` for an id unknown here."""
        self._allowed(by, "supply.read")
        return self.store.job(capture_id)

    def capture_jobs(self, *, by: str | None = None) -> list[CaptureJob]:
        """The newest capture jobs, newest first."""
        self._allowed(by, "supply.read")
        return self.store.jobs()

    def events(self, query: EventQuery, *, by: str | None = None) -> EventPage:
        """A page of the events the query asks for, in the order they were recorded here."""
        self._allowed(by, "supply.read")
        return self.store.page(query)

    def event(self, event_id: str, *, by: str | None = None) -> dict[str, Any]:
        """One event as captured (signature included); `NotFound` for an id unknown here."""
        self._allowed(by, "supply.read")
        stored = self.store.event(event_id)
        return served(stored.body, stored.record_time)

    def commission(self, packs: Sequence[Pack], *, by: str, progress: Progress | None = None) -> list[dict[str, Any]]:
        """Commission serialised packs of one GTIN, lot and expiry, this node as their manufacturer (it must be
        admitted): one event, its serials sent in chunks; `progress(done, total)` as they are sent."""
        event = commissioning(packs, self._party(self.node))
        return self._own(event, by, "supply.commission", progress)

    def pack(self, container: Container, children: Sequence[Identifier], *, by: str) -> list[dict[str, Any]]:
        """Pack items this node holds into a case or pallet: custody follows the container from then on."""
        return self._own(packing(container, children, self._party(self.node)), by, "supply.pack")

    def unpack(self, container: Container, children: Sequence[Identifier], *, by: str) -> list[dict[str, Any]]:
        """Take items out of a case or pallet this node holds."""
        return self._own(unpacking(container, children, self._party(self.node)), by, "supply.unpack")

    def ship(self, items: Sequence[Identifier], to: str, *, by: str) -> str:
        """Ship items this node holds to the party `to` (an address): the shipment's id, which the receiver
        receives it by. Its `notice` is then delivered to the receiver's node, or kept and sent again by the
        leader's rounds (`notices.waiting` says why it waits): the ship stands either way."""
        shipment = str(uuid.uuid4())
        self._own(shipping(items, self._party(self.node), self._party(to), shipment), by, "supply.ship")
        self.notices.send(shipment, to)
        return shipment

    def notice(self, shipment_id: str, *, by: str | None = None) -> dict[str, Any]:
        """This node's signed shipping event of a shipment and the packing events of the cases it shipped (and of
        those inside them: whoever packed them, each whose packs are all still inside), as an EPCISDocument: what
        the receiver needs to know the items it receives, and the packs inside, by their EPCs (the chain holds only
        their keys)."""
        self._allowed(by, "supply.read")
        shipped = [e for e in self.store.shipment(_reference(shipment_id)) if e.signer == self.node]
        sent = [e.body for e in shipped if biz_step(str(e.body.get("bizStep", ""))) == "shipping"]
        if not sent:
            raise NotFound(f"this node shipped nothing as shipment {shipment_id[:60]}")
        epcs = [str(epc) for event in sent for epc in event.get("epcList", ())]
        return document([*sent, *packed_in(epcs, self.store, self._chain())])

    def accept_notice(self, body: object) -> dict[str, Any]:
        """Another node's shipping notice to this node (`POST /epcis/notices`, `drug receive --notice`): its events
        not held yet stored as their signers' (no chain effect) if it holds (`_notices.checked`); what was taken.
        A refusal is a 4xx, audited without the notice's content."""
        try:
            signed = [self._signed(_received(event), sign=False) for event in validate_document(body)]
            notice = checked(signed, self._chain(), self.store, here=self.node, chain_id=self.chain_id)
        except CareLedgerError as exc:
            refused = f"a shipping notice refused ({type(exc).__name__})"
            self._record("supply.notice", Outcome.DENIED, claimed_sender(body), refused)
            raise
        if notice.new:
            job = self._keep(notice.new, notice.sender, "supply.notice", None, datetime.now(UTC))
            if not job.ok:  # an event twice, or another delivery stored it a moment ago (sent again, it is held)
                raise Conflict(f"the notice was not stored: {job.errors[0]}")
        return notice.to_json()

    def receive(self, shipment_id: str, *, by: str, items: Sequence[Identifier] | None = None) -> list[dict[str, Any]]:
        """Receive the open shipment to this node: its items as the chain lists them, named by their EPCs from
        `items` (as scanned on arrival) or from the sender's shipping event captured here; the items received."""
        self._allowed(by, "supply.receive")
        chain = self._chain()
        key = keccak(_reference(shipment_id).encode())
        shipment = chain.shipment(key)
        if shipment is None or not shipment.open or shipment.receiver != self.node:
            raise NotFound(f"no open shipment {shipment_id[:60]} to this node")
        keys = chain.shipment_items(key)
        named = self._named(keys, shipment_id, items)
        event = receiving(named, self._party(shipment.sender), self._party(self.node), str(uuid.UUID(shipment_id)))
        self._own(event, by, "supply.receive")
        return [{"epc": item.epc, "key": "0x" + key.hex()} for item, key in zip(named, keys, strict=True)]

    def trace(self, identifier: Identifier, *, by: str | None = None) -> Trace:
        """Every custody step of a pack or container, from this node's events and the chain's logs, each local
        event with its signer (verified) and its anchor proof."""
        self._allowed(by, "supply.trace")
        return Tracer(self.store, self._chain(), self._anchor, self.chain_id).trace(identifier)

    def admit(
        self, manufacturer: str, company_prefix: str, licence: str | bytes, expires_at: int, *, by: str
    ) -> Receipt:
        """Admit a manufacturer with its GS1 company prefix until `expires_at` (unix seconds), this node as the
        regulator (it must hold the role); only the licence's hash goes on chain."""
        self._allowed(by, "supply.admit")
        hashed = licence if isinstance(licence, bytes) and len(licence) == 32 else keccak(_text(licence))
        try:
            receipt = self._chain().admit(manufacturer, company_prefix, hashed, expires_at)
        except CareLedgerError as exc:
            self._record("supply.admit", Outcome.DENIED, by, f"{manufacturer}: {exc}")
            raise
        self._record("supply.admit", Outcome.SUCCESS, by, f"{manufacturer} prefix {company_prefix}")
        return receipt

    def _own(
        self, event: dict[str, Any], by: str, action: str, progress: Progress | None = None
    ) -> list[dict[str, Any]]:
        """Capture one event of this node's; the refusal as the error it is (who may not, what is not there, what
        clashes with the chain's state)."""
        job = self._capture(document([event]), by, action, progress)
        if not job.ok:
            raise _refused(job.errors[0])
        return [self.event(event_id, by=by) for event_id in job.event_ids]

    def _capture(self, body: object, by: str, action: str, progress: Progress | None) -> CaptureJob:
        self._allowed(by, action)
        created = datetime.now(UTC)
        try:
            # A repository sets the time it records an event: one the sender wrote is not kept (nor signed).
            signed = [self._signed(_received(event)) for event in validate_document(body)]
        except ValidationError as exc:
            self._record(action, Outcome.DENIED, by, str(exc))
            raise
        return self._keep(signed, by, action, progress, created)

    def _keep(
        self, signed: Sequence[Signed], by: str, action: str, progress: Progress | None, created: datetime
    ) -> CaptureJob:
        """Store checked events and send this node's chain effects of them, all or nothing (module docstring)."""
        ids = tuple(str(event["eventID"]) for event, _ in signed)
        errors = self._duplicates([event for event, _ in signed])
        planned = [self._planned(event, signer) for event, signer in signed]
        errors = errors or self._dry_run(planned)
        if errors:
            return self._failed(created, errors, by, action)
        chain = self._chain()
        stored: list[NewEvent] = []
        for index, plan in enumerate(planned):
            try:
                txs = [tx for step in plan.steps for tx in _sent(step, chain, progress)]
            except CareLedgerError as exc:  # the chain refused what the dry run let by (a race, a serial)
                errors = [f"{ids[index]}: {exc}"] + [
                    f"{later}: not captured: an event before it failed" for later in ids[index + 1 :]
                ]
                return self._failed(created, errors, by, action, stored)
            stored.append(_new(plan, txs))
        job = CaptureJob(str(uuid.uuid4()), created, datetime.now(UTC), SUCCESS, ids)
        self.store.save(job, stored, by=by)
        self._record(action, Outcome.SUCCESS, by, f"{len(stored)} events, capture {job.id}")
        return job

    def _signed(self, event: dict[str, Any], *, sign: bool = True) -> Signed:
        """The event and its signer: its signature checked, or (`sign`) signed as this node if it has none (named
        first, if it has no eventID)."""
        contract = self._chain().address
        if SIGNATURE in event or not sign:
            try:
                return event, signer_of(event, self.chain_id, contract)
            except InvalidSignature as exc:
                raise ValidationError(f"{str(event.get('eventID'))[:120]}: {exc}") from None
        named = event if event.get("eventID") else {**event, "eventID": uuid.uuid4().urn}
        account = self._account()
        return sign_event(named, account, self.chain_id, contract), str(account.address)

    def _duplicates(self, events: Sequence[dict[str, Any]]) -> list[str]:
        ids = [str(event["eventID"]) for event in events]
        digests = [digest(event) for event in events]
        known_ids, known_digests = self.store.known(ids, digests)
        errors, seen = [], set()
        for event_id, hashed in zip(ids, digests, strict=True):
            if event_id in known_ids or event_id in seen:
                errors.append(f"{event_id}: duplicate eventID: an event of that id was captured before")
            elif hashed in known_digests:
                errors.append(f"{event_id}: duplicate event: the same event was captured before under another id")
            seen.add(event_id)
        return errors

    def _planned(self, event: dict[str, Any], signer: str) -> _Plan:
        """The event with what it does on chain: this node's own steps (`CHAIN`, or `OBSERVATION` if it has
        none), or another party's (`FOREIGN`), or why it cannot have its steps."""
        if signer != self.node:
            return _Plan(event, signer, FOREIGN)
        try:
            steps = effects_of(event, self.chain_id)
        except ValidationError as exc:
            return _Plan(event, signer, CHAIN, refused=str(exc))
        return _Plan(event, signer, CHAIN if steps else OBSERVATION, tuple(steps))

    def _dry_run(self, planned: list[_Plan]) -> list[str]:
        """Try every step on the chain's state in the document's order; the refusals, each naming its event. An
        event none of whose packs or containers the chain (or the document before it) knows, other than a
        commissioning, is an observation, whatever it lacks for a custody step."""
        ledger = Ledger(self._chain(), self.node)
        errors = []
        for index, plan in enumerate(planned):
            event_id = str(plan.event["eventID"])
            commissions = biz_step(str(plan.event.get("bizStep", ""))) == "commissioning"
            if plan.effect == CHAIN and not commissions and not ledger.known(moved(plan.event)):
                planned[index] = _Plan(plan.event, plan.signer, OBSERVATION)
                continue
            if plan.refused is not None:
                errors.append(f"{event_id}: {plan.refused}")
                continue
            for step in plan.steps:
                try:
                    refused = ledger.refusal(step)
                except ValidationError as exc:  # a value the contract cannot take (a lot of 21 characters)
                    refused = str(exc)
                if refused is not None:
                    errors.append(f"{event_id}: {refused}")
                    break
                ledger.apply(step)
        return errors

    def _failed(
        self,
        created: datetime,
        errors: list[str],
        by: str,
        action: str,
        stored: Sequence[NewEvent] = (),
    ) -> CaptureJob:
        """A failed job: nothing stored, unless the chain took the steps of `stored` before it refused one (then
        they are stored, as the chain holds them, and the job names them)."""
        kept = tuple(event.event_id for event in stored)
        job = CaptureJob(str(uuid.uuid4()), created, datetime.now(UTC), FAILURE, kept, tuple(errors))
        self.store.save(job, stored, by=by)
        self._record(action, Outcome.DENIED, by, f"capture {job.id} refused: " + "; ".join(errors)[:500])
        return job

    def _named(self, keys: Sequence[bytes], shipment_id: str, items: Sequence[Identifier] | None) -> list[Identifier]:
        """The shipment's items by their EPCs, in the chain's order: from the scans given, else from the shipping
        event of that shipment captured here."""
        known: dict[bytes, Identifier] = {}
        sources = (
            [items]
            if items is not None
            else [
                [parse_epc(epc) for epc in e.body.get("epcList", ())]
                for e in self.store.shipment(_reference(shipment_id))
            ]
        )
        for source in sources:
            known.update((key_of(item), item) for item in source)
        missing = [key for key in keys if key not in known]
        if missing:
            raise ValidationError(
                f"items: {len(missing)} of the shipment's {len(keys)} items are known here only by their chain keys:"
                " the sender's notice has not arrived; scan them, or take its notice by hand (drug receive --notice)"
            )
        return [known[key] for key in keys]

    def _allowed(self, by: str | None, action: str) -> None:
        """Refuse (audited) anyone but the node's operator and its staff; `None` is the operator (the CLI)."""
        if by is None or by == self.node or self._staff(by):
            return
        self._record(action, Outcome.DENIED, by, "not staff of this node")
        raise AccessDenied(f"{by} is not staff of this node: only its operator and staff act for its supply chain")

    def _record(self, action: str, outcome: Outcome, by: str, detail: str) -> None:
        self._audit.record(Access(Action.EXECUTE, action, outcome, by, detail=detail))

    def _party(self, address: str) -> str:
        return party_uri(self.chain_id, address)


def _sent(step: Effect, chain: SupplyChain, progress: Progress | None) -> list[str]:
    """Send one step; a commissioning's progress told as each group of its packs is sent."""
    if progress is None or step.action != "commission":
        return step.send(chain)
    txs: list[str] = []
    for start in range(0, len(step.keys), _PROGRESS_GROUP):
        end = start + _PROGRESS_GROUP
        group = replace(step, keys=step.keys[start:end], epcs=step.epcs[start:end], serials=step.serials[start:end])
        txs += group.send(chain)
        progress(min(end, len(step.keys)), len(step.keys))
    return txs


def _reference(shipment_id: str) -> str:
    """A shipment's despatch advice reference: `urn:uuid:…` for a shipment id that is a UUID."""
    try:
        return uuid.UUID(shipment_id.removeprefix("urn:uuid:")).urn
    except ValueError:
        raise ValidationError(f"shipment: a UUID, not {shipment_id[:60]!r}") from None


def _text(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


def _refused(error: str) -> CareLedgerError:
    """A refused step of the node's own as the error a face maps: who may not (403), what is not there (404), what
    clashes with the chain's state (409)."""
    reason = error.split(": ", 1)[1] if ": " in error else error
    if reason.startswith("supply: not ") and "packed" not in reason:
        return AccessDenied(reason)
    if reason.startswith(("supply: no such", "supply: unknown")):
        return NotFound(reason)
    if reason.startswith("supply: "):
        return Conflict(reason)
    return ValidationError(reason)


@dataclass(frozen=True, slots=True)
class _Plan:
    """A captured event, its signer, and what it does on chain: its steps, or why it cannot take them."""

    event: dict[str, Any]
    signer: str
    effect: str
    steps: tuple[Effect, ...] = ()
    refused: str | None = None


def _new(plan: _Plan, txs: list[str]) -> NewEvent:
    """The event as stored: the query's columns, its EPCs by role (and the shipments it names), its digest."""
    event = plan.event
    epcs: list[tuple[str, str, bytes | None]] = []
    for member, role in _ROLES.items():
        value = event.get(member)
        for epc in [value] if isinstance(value, str) else value if isinstance(value, list) else []:
            canonical, key = _keyed(str(epc))
            epcs.append((canonical, role, key))
    for entry in event.get("bizTransactionList", ()):
        if isinstance(entry.get("bizTransaction"), str):
            epcs.append((str(entry["bizTransaction"]), "desadv", None))
    return NewEvent(
        event_id=str(event["eventID"]),
        event_type=str(event["type"]),
        biz_step=biz_step(str(event["bizStep"])) if event.get("bizStep") else None,
        disposition=disposition(str(event["disposition"])) if event.get("disposition") else None,
        event_time=datetime.fromisoformat(str(event["eventTime"])),
        digest=digest(event),
        signer=plan.signer,
        effect=plan.effect,
        body=event,
        epcs=tuple(epcs),
        txs=tuple(txs),
    )


def _keyed(epc: str) -> tuple[str, bytes | None]:
    """An EPC in its Digital Link form and its key on chain, if it names a pack or container; else as given."""
    try:
        identifier = parse_epc(epc)
    except ValidationError:
        return epc, None
    return identifier.epc, key_of(identifier)


def _received(event: dict[str, Any]) -> dict[str, Any]:
    """An event as captured: its time checked (an RFC 3339 time with its offset), any `recordTime` left out."""
    try:
        at = datetime.fromisoformat(str(event.get("eventTime")))
    except ValueError:
        at = None
    if at is None or at.tzinfo is None:
        shown = str(event.get("eventID", "(an event without eventID)"))[:120]
        raise ValidationError(f"{shown}: eventTime: {str(event.get('eventTime'))[:40]!r} is not a time with its offset")
    return {name: value for name, value in event.items() if name != "recordTime"}
