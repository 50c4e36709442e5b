"""A capture, all or nothing (EPCIS's `rollback`): a document checked, its events' signatures verified (or the events
signed as this node), their chain effects tried together, then sent and stored.

```
body ─► validate_document (GS1's schema) ─► each event as received (`received`): its eventTime converted and
        bounded, eventID, bizStep, disposition, EPCs and business transactions at most 255 characters, each EPC of
        the SGTIN or SSCC scheme a GS1 identifier ─ any refused: `Malformed` (400) naming its JSON pointer
     ─► each signature verified, or (none) the event signed as this node, named by its content if it has no eventID
     ─► duplicates: an eventID held here or twice in the document (the same unnamed event again has the same id)
     ─► what each event does (`_planned`): another party's is evidence (FOREIGN); this node's is an observation
        (marked `careledger:observation`, or naming no party of this chain, as GS1's published examples) or a
        custody claim, which names this node as its actor and takes effect on chain
     ─► the chain effects of the whole document tried on the chain's state (`Ledger`)
     ─► effects sent ─► the events, their EPCs and the job stored in one transaction ─► audited
```

From the signatures on, a refusal is the job's, as GS1's capture interface reports one: a failed job (`success`
false), each error naming its event, nothing sent or stored. Should the chain refuse a step after all (a race) or the
store fail after a send, the job fails naming what was sent, and the events the chain took are stored if they can be.
Audit entries name the action, the actor, the job and the rules broken, never a value of the body.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from careledger.audit import Outcome
from careledger.chain import SupplyChain
from careledger.errors import CareLedgerError, InvalidSignature, ValidationError
from careledger.supplychain._cbv import biz_step, disposition
from careledger.supplychain._effects import (
    CHAIN,
    CUSTODY_STEPS,
    FOREIGN,
    OBSERVATION,
    Effect,
    Ledger,
    Refused,
    actor_of,
    effects_of,
    key_of,
    parties,
)
from careledger.supplychain._epcis import (
    SIGNATURE,
    Malformed,
    digest,
    event_pointer,
    instant,
    sign_event,
    signer_of,
    validate_document,
)
from careledger.supplychain._gs1 import parse_epc
from careledger.supplychain._store import FAILURE, SUCCESS, CaptureJob, NewEvent, SupplyStore

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

Progress = Callable[[int, int], None]
Record = Callable[[str, Outcome, str, str], None]  # action, outcome, agent, detail: an audit entry
Signed = tuple[dict[str, Any], str]  # an event and its signer, its signature verified
Refusal = tuple[str, Refused]  # an event's id, and why it is refused

OBSERVED = "careledger:observation"  # `true`: an event of this node's that claims no custody step
MAX_MEMBER = 255  # the widest value a stored column takes (an eventID, an EPC, a business transaction)
# Packs a commissioning sends between two progress reports (its chunks pipelined in between).
_PROGRESS_GROUP = 600
# An event's EPCs by the role the EPCIS query matches them in; `desadv` is the shipment it ships or receives.
_ROLES = {
    "epcList": "epc",
    "childEPCs": "epc",
    "parentID": "parent",
    "inputEPCList": "input",
    "outputEPCList": "output",
}
# An EPC of the SGTIN or SSCC scheme, as a Digital Link (any host and path prefix) or an EPC URN: one that fails to
# parse is refused, where an EPC of another scheme (a location's, an asset's) is kept as it is.
_GS1_ITEM = re.compile(r"(?i)^(urn:epc:id:(sgtin|sscc):|https?://[^/?#]*(/[^?#]*)?/0[01]/)")
# The namespace of the eventIDs given to events that came without one (their content's digest names them).
_UNNAMED = uuid.UUID("6f5e3b0a-41c2-4d0c-9a53-2c3e8d1f7b11")
_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Plan:
    """A captured event, its signer, and what it does on chain: its steps, or why it cannot take them."""

    event: dict[str, Any]
    signer: str
    effect: str
    steps: tuple[Effect, ...] = ()
    refused: Refused | None = None


class Capturer:
    """Captures documents for the node `node` (module docstring)."""

    def __init__(
        self,
        store: SupplyStore,
        record: Record,
        chain: Callable[[], SupplyChain],
        account: Callable[[], LocalAccount],
        *,
        node: str,
        chain_id: int,
    ) -> None:
        """`record` writes an audit entry; `chain` signs as the node wallet, whose key `account` gives (asked for
        only when an event is signed)."""
        self._store = store
        self._record = record
        self._chain = chain
        self._account = account
        self.node = node
        self.chain_id = chain_id

    def capture(
        self, body: object, by: str, action: str, progress: Progress | None
    ) -> tuple[CaptureJob, list[Refusal]]:
        """Capture a document as `by`: the job, and why each refused event was (none if it succeeded);
        `Malformed` (audited) for a document that is not well formed."""
        created = datetime.now(UTC)
        try:
            events = [received(event, event_pointer(body, i)) for i, event in enumerate(validate_document(body))]
        except ValidationError as exc:
            self._record(action, Outcome.DENIED, by, _audited(exc))
            raise
        signed, unnamed, refusals = self._signatures(events)
        if refusals:
            return self._failed(created, refusals, by, action), refusals
        return self.keep(signed, by, action, progress, created, unnamed=unnamed)

    def verified(self, body: object) -> list[Signed]:
        """A document's events, each with its verified signer: `ValidationError` for a malformed one or one whose
        signature does not verify (another node's notice: signed by whoever made each event)."""
        contract = self._chain().address
        signed = []
        for index, event in enumerate(validate_document(body)):
            checked = received(event, event_pointer(body, index))
            try:
                signed.append((checked, signer_of(checked, self.chain_id, contract)))
            except InvalidSignature as exc:
                raise ValidationError(f"{str(checked.get('eventID'))[:120]}: {exc}") from None
        return signed

    def keep(
        self,
        signed: Sequence[Signed],
        by: str,
        action: str,
        progress: Progress | None,
        created: datetime,
        *,
        unnamed: frozenset[str] = frozenset(),
    ) -> tuple[CaptureJob, list[Refusal]]:
        """Store checked events and send this node's chain effects of them, all or nothing (module docstring)."""
        refusals = self._duplicates([event for event, _ in signed], unnamed)
        plans = [self._planned(event, signer) for event, signer in signed]
        refusals = refusals or self._dry_run(plans)
        if refusals:
            return self._failed(created, refusals, by, action), refusals
        return self._sent(plans, by, action, progress, created)

    def _signatures(self, events: Sequence[dict[str, Any]]) -> tuple[list[Signed], frozenset[str], list[Refusal]]:
        """Each event with its signer: its signature verified, or (it has none) signed as this node, named by its
        content first if it has no eventID (so the same event sent again is the same event); the ids so named, and
        the refusal of each event whose signature does not verify."""
        contract = self._chain().address
        signed: list[Signed] = []
        unnamed: set[str] = set()
        refusals: list[Refusal] = []
        for event in events:
            if SIGNATURE not in event:
                if not event.get("eventID"):
                    event = {**event, "eventID": uuid.uuid5(_UNNAMED, digest(event).hex()).urn}
                    unnamed.add(event["eventID"])
                account = self._account()
                signed.append((sign_event(event, account, self.chain_id, contract), str(account.address)))
                continue
            try:
                signed.append((event, signer_of(event, self.chain_id, contract)))
            except (InvalidSignature, ValidationError) as exc:
                shown = str(event.get("eventID") or "(an event without eventID)")[:120]
                refusals.append((shown, Refused("signature: it does not verify", str(exc))))
        return signed, frozenset(unnamed), refusals

    def _duplicates(self, events: Sequence[dict[str, Any]], unnamed: frozenset[str]) -> list[Refusal]:
        """An event whose id is held here already, or given twice in the document."""
        ids = [str(event["eventID"]) for event in events]
        held = self._store.known(ids)
        refusals, seen = [], set()
        for event_id in ids:
            if event_id in held or event_id in seen:
                said = (
                    "duplicate event: the same event (named by its content: it has no eventID) was captured before"
                    if event_id in unnamed
                    else "duplicate eventID: an event of that id was captured before"
                )
                refusals.append((event_id, Refused(said)))
            seen.add(event_id)
        return refusals

    def _planned(self, event: dict[str, Any], signer: str) -> Plan:
        """What an event does on chain (module docstring): another party's is evidence; this node's observation has
        no step; this node's custody claim names this node as its actor and has steps the chain follows."""
        if signer != self.node:
            return Plan(event, signer, FOREIGN)
        if event.get(OBSERVED) is True or not parties(event, self.chain_id):
            return Plan(event, signer, OBSERVATION)
        actor = actor_of(event, self.chain_id)
        if actor is not None and actor != self.node:
            refused = Refused("this node signs only its own custody steps: the event names another actor", actor)
            return Plan(event, signer, CHAIN, refused=refused)
        step = biz_step(str(event.get("bizStep", "")))
        if step not in CUSTODY_STEPS:
            return Plan(event, signer, OBSERVATION)
        try:
            steps = effects_of(event, self.chain_id)
        except ValidationError as exc:
            return Plan(event, signer, CHAIN, refused=Refused.invalid(exc))
        if not steps:
            said = f"bizStep: this node's {step} names no pack or case (mark it {OBSERVED} if it claims no step)"
            return Plan(event, signer, CHAIN, refused=Refused(said))
        return Plan(event, signer, CHAIN, tuple(steps))

    def _dry_run(self, plans: Sequence[Plan]) -> list[Refusal]:
        """Try every step on the chain's state in the document's order; the refusals, each naming its event."""
        ledger = Ledger(self._chain(), self.node)
        refusals: list[Refusal] = []
        for plan in plans:
            event_id = str(plan.event["eventID"])
            if plan.refused is not None:
                refusals.append((event_id, plan.refused))
                continue
            for step in plan.steps:
                try:
                    refused = ledger.refusal(step)
                except ValidationError as exc:  # a value the contract cannot take (a lot of 21 characters)
                    refused = Refused.invalid(exc)
                if refused is not None:
                    refusals.append((event_id, refused))
                    break
                ledger.apply(step)
        return refusals

    def _sent(
        self, plans: Sequence[Plan], by: str, action: str, progress: Progress | None, created: datetime
    ) -> tuple[CaptureJob, list[Refusal]]:
        """Send each event's steps, then store them all; a refusal by the chain after all fails the job."""
        chain = self._chain()
        ids = [str(plan.event["eventID"]) for plan in plans]
        stored: list[NewEvent] = []
        for index, plan in enumerate(plans):
            try:
                txs = [tx for step in plan.steps for tx in _send_step(step, chain, progress)]
            except CareLedgerError as exc:  # the chain refused what the dry run let by (a race)
                refusals = [(ids[index], Refused(str(exc)))]
                refusals += [(later, Refused("not captured: an event before it failed")) for later in ids[index + 1 :]]
                return self._failed(created, refusals, by, action, stored), refusals
            stored.append(_new(plan, txs))
        job = CaptureJob(str(uuid.uuid4()), created, datetime.now(UTC), SUCCESS, tuple(ids))
        if not self._saved(job, stored, by, action):
            return self._store_failed(created, stored, by, action)
        self._record(action, Outcome.SUCCESS, by, f"{len(stored)} events, capture {job.id}")
        return job, []

    def _failed(
        self, created: datetime, refusals: Sequence[Refusal], by: str, action: str, stored: Sequence[NewEvent] = ()
    ) -> CaptureJob:
        """A failed job: nothing stored, unless the chain took the steps of `stored` before it refused one (then
        they are stored, as the chain holds them, and the job names them)."""
        kept = tuple(event.event_id for event in stored)
        errors = tuple(f"{event_id}: {refused}" for event_id, refused in refusals)
        job = CaptureJob(str(uuid.uuid4()), created, datetime.now(UTC), FAILURE, kept, errors)
        if not self._saved(job, stored, by, action):
            return self._store_failed(created, stored, by, action)[0]
        rules = "; ".join(dict.fromkeys(refused.audited for _, refused in refusals))
        self._record(action, Outcome.DENIED, by, f"capture {job.id} refused: {rules}"[:500])
        return job

    def _saved(self, job: CaptureJob, events: Sequence[NewEvent], by: str, action: str) -> bool:
        """Store the job and its events; False (logged) if the store failed after the chain took their steps."""
        try:
            self._store.save(job, events, by=by)
        except Exception:
            if not any(event.txs for event in events):
                raise  # nothing sent: the failure is the caller's to see, as any other
            _log.exception("%s: the chain took the steps of capture %s, but its events were not stored", action, job.id)
            return False
        return True

    def _store_failed(
        self, created: datetime, sent: Sequence[NewEvent], by: str, action: str
    ) -> tuple[CaptureJob, list[Refusal]]:
        """The job of a capture whose steps the chain took but whose events this node could not store: failed,
        naming each event and the transactions that carried it."""
        refusals = [
            (event.event_id, Refused("sent, not stored: the chain took its steps", ", ".join(event.txs) or None))
            for event in sent
        ]
        errors = tuple(f"{event_id}: {refused}" for event_id, refused in refusals)
        job = CaptureJob(str(uuid.uuid4()), created, datetime.now(UTC), FAILURE, (), errors)
        self._store.save(job, [], by=by)
        self._record(action, Outcome.ERROR, by, f"capture {job.id}: its events were sent but not stored")
        return job, refusals


def received(event: dict[str, Any], where: str = "") -> dict[str, Any]:
    """An event as captured, checked beyond GS1's schema where this node keeps or acts on it (`where`: its JSON
    pointer, ending in `/`); any `recordTime` left out, as a repository sets its own."""
    instant(f"{where}eventTime", event.get("eventTime"))
    declared = event.get("errorDeclaration")
    if isinstance(declared, dict) and "declarationTime" in declared:
        instant(f"{where}errorDeclaration/declarationTime", declared["declarationTime"])
    for member in ("eventID", "bizStep", "disposition"):
        _short(f"{where}{member}", event.get(member))
    for member in _ROLES:
        value = event.get(member)
        named = [(f"{where}{member}", value)] if isinstance(value, str) else []
        named += [(f"{where}{member}/{j}", epc) for j, epc in enumerate(value if isinstance(value, list) else [])]
        for pointer, epc in named:
            _short(pointer, epc)
            _identifier(pointer, epc)
    for j, entry in enumerate(event.get("bizTransactionList") or ()):
        if isinstance(entry, dict):
            _short(f"{where}bizTransactionList/{j}/bizTransaction", entry.get("bizTransaction"))
    return {name: value for name, value in event.items() if name != "recordTime"}


def _short(pointer: str, value: object) -> None:
    if isinstance(value, str) and len(value) > MAX_MEMBER:
        raise Malformed(pointer, f"at most {MAX_MEMBER} characters", f"{len(value)} characters, at most {MAX_MEMBER}")


def _identifier(pointer: str, epc: object) -> None:
    """An EPC of the SGTIN or SSCC scheme must be one (`…/epcList/1: gtin: check digit should be 2, not 3`)."""
    if isinstance(epc, str) and _GS1_ITEM.match(epc):
        try:
            parse_epc(epc)
        except ValidationError as exc:
            raise Malformed(pointer, "a GS1 identifier (SGTIN or SSCC)", str(exc)) from None


def _audited(exc: ValidationError) -> str:
    """A document's refusal as an audit entry says it: where and which rule, never the value."""
    return exc.audited if isinstance(exc, Malformed) else "a malformed document"


def _send_step(step: Effect, chain: SupplyChain, progress: Progress | None) -> list[str]:
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


def _new(plan: Plan, txs: list[str]) -> NewEvent:
    """The event as stored: the query's columns, its EPCs by role (and the shipments it names), its digest."""
    event = plan.event
    epcs: list[tuple[str, str, bytes | None]] = []
    for member, role in _ROLES.items():
        value = event.get(member)
        for epc in [value] if isinstance(value, str) else value if isinstance(value, list) else []:
            canonical, key = _keyed(str(epc))
            epcs.append((canonical, role, key))
    for entry in event.get("bizTransactionList") or ():
        if isinstance(entry, dict) and isinstance(entry.get("bizTransaction"), str):
            epcs.append((str(entry["bizTransaction"]), "desadv", None))
    return NewEvent(
        event_id=str(event["eventID"]),
        event_type=str(event["type"]),
        biz_step=biz_step(str(event["bizStep"])) if event.get("bizStep") else None,
        disposition=disposition(str(event["disposition"])) if event.get("disposition") else None,
        event_time=instant("eventTime", event["eventTime"]),
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
