"""Erasure by key destruction, as a node offers it: a preview, her signed request carried out, the nodes that
fetched copies asked to do the same, and their answers kept.

```
signed request ─ for this node? signed by her (or her claimed wallet, or her custodian on her documented
   instruction)? fresh? unused? ─► plan: what her holds and retention rules keep ─► erase the rest (the record
   repository's `RecordEraser`), its audit entry in the same transaction ─► refusals audited, naming each rule
   ─► the bulk export jobs of whoever exported it, removed ─► the request forwarded to each node that fetched
   copies (`ErasurePeers`)
notice from a node she asked ─ signed by that node, fresh? her request inside, hers? ─► the copies this node
   received from that node, planned and erased the same way ─► a signed answer
```

Every erasure and every refusal is an audit entry of interaction `erase` (outcome success or denied, the
reason or the rule's name in its detail), so her accounting and the compliance report show them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError as DBIntegrityError
from sqlalchemy.orm import Session

from careledger.access import Accessor
from careledger.audit import Access, Action, AuditLog, Outcome
from careledger.chain import IdentityRegistry
from careledger.consent import Purpose
from careledger.erasure._peers import ErasurePeers, PeerStatus
from careledger.erasure._plan import RECEIVE, Kept, Plan, plan, references
from careledger.erasure._request import (
    ErasureAnswer,
    ErasureRequest,
    SignedErasure,
    SignedNotice,
)
from careledger.erasure._rules import LegalHolds, Retention
from careledger.errors import AccessDenied, CareLedgerError, Conflict, NotFound, Unauthenticated, ValidationError
from careledger.exchange import forget_outbox, spend_fresh
from careledger.iot import forget_journal
from careledger.records import ErasableRecord, RecordEraser
from careledger.shared import Tickets, forget_exports
from careledger.store import Database, ErasureRequestRow

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

INTERACTION = "erase"
PREVIEW = "erase-preview"
_NOBODY = "0x0000000000000000000000000000000000000000"  # the agent of a refusal whose signature recovers no one


@dataclass(frozen=True, slots=True)
class Erasure:
    """What an erasure did here: the request, what it erased and kept, and (at her custodian) each node asked."""

    request_id: str
    patient: str
    erased: tuple[str, ...]
    versions: int
    kept: tuple[Kept, ...]
    unknown: tuple[str, ...]
    peers: tuple[PeerStatus, ...] = ()
    origin: str | None = None
    received_at: datetime | None = None

    def outcome(self) -> dict[str, Any]:
        """What was erased and kept here, as an answer to another node says it."""
        return {"erased": list(self.erased), "kept": [{"record": k.record_id, "rule": k.rule} for k in self.kept]}

    def to_json(self) -> dict[str, Any]:
        """The erasure as JSON (the CLI's `--json`, the API's answer)."""
        return {
            "request": self.request_id,
            "patient": self.patient,
            "origin": self.origin,
            "received": None if self.received_at is None else self.received_at.isoformat(),
            "erased": list(self.erased),
            "versions": self.versions,
            "kept": [{"id": k.record_id, "resourceType": k.resource_type, "rule": k.rule} for k in self.kept],
            "unknown": list(self.unknown),
            "nodes": [peer.to_json() for peer in self.peers],
        }


@dataclass(frozen=True, slots=True)
class _Work:
    """One erasure about to be carried out: whose request, signed by whom, passed on by which node."""

    signed: SignedErasure
    signer: str
    origin: str
    scope: Sequence[str] | None = None  # the ids it may reach here (a node that fetched copies: those it received)
    extra: list[Access] = field(default_factory=list)


class Erasures:
    """Erasure at one node: previews, her requests, notices from the node she asked, and legal holds."""

    def __init__(
        self,
        eraser: RecordEraser,
        holds: LegalHolds,
        retention: Retention,
        peers: ErasurePeers,
        audit: AuditLog,
        db: Database,
        identity: Callable[[], IdentityRegistry],
        *,
        address: str,
        account: Callable[[], LocalAccount],
        chain_id: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._eraser = eraser
        self.holds = holds
        self.retention = retention
        self.peers = peers
        self._audit = audit
        self._db = db
        self._tickets = Tickets(db)  # bulk export jobs, whose files an erasure removes
        self._identity = identity
        self.address = address
        self._account = account
        self.chain_id = chain_id
        self._clock = clock

    # Before she confirms --------------------------------------------------------------

    def preview(self, accessor: Accessor, patient: str, records: Sequence[str] | None = None) -> Plan:
        """What erasing `records` (None: all) of `patient`'s would do here; for her (or her proxy), or this node
        acting on her instruction. Anyone else is refused (audited): the plan lists her records."""
        if patient not in (accessor.address, accessor.compartment) and accessor.address != self.address:
            why = "only the patient (or her custodian, on her instruction) may see what an erasure would do"
            self._audit.record(Access(Action.READ, PREVIEW, Outcome.DENIED, accessor.address, patient, detail=why))
            raise AccessDenied(why)
        found = self._plan(patient, records)
        self._audit.record(Access(Action.READ, PREVIEW, Outcome.SUCCESS, accessor.address, patient))
        return found

    def request(self, patient: str, records: Sequence[str] | None, *, instruction: str | None = None) -> ErasureRequest:
        """A fresh request of `patient`'s naming this node, for her wallet (or this node) to sign."""
        return ErasureRequest.new(patient, self.address, records, instruction=instruction)

    def typed_data(self, request: ErasureRequest) -> dict[str, Any]:
        """The typed data of `request` a wallet signs (`eth_signTypedData_v4`)."""
        return request.typed_data(self.chain_id, self._identity().address)

    def sign(self, request: ErasureRequest, account: LocalAccount) -> SignedErasure:
        """`request` signed by `account`: her wallet kept on this node, or this node's for a custodial patient."""
        return request.sign(account, self.chain_id, self._identity().address)

    def instructed(self, patient: str, records: Sequence[str] | None, instruction: str) -> SignedErasure:
        """A request this node signs for `patient`, whose custodian it is, on her documented `instruction`."""
        return self.sign(self.request(patient, records, instruction=instruction), self._account())

    # Carrying it out ----------------------------------------------------------------------

    def erase(self, signed: SignedErasure) -> Erasure:
        """Carry out her signed request here, then pass it to every node that fetched copies.

        `Unauthenticated` for a forged, expired or replayed request or someone else's signature; `Conflict`
        naming the rule when what she named is all kept; `NotFound` when it names nothing of hers here. Each
        refusal is audited.
        """
        request = signed.request
        with self._refusals_audited(signed):
            if request.custodian != self.address:
                raise ValidationError(f"the request is for {request.custodian}, not this node ({self.address})")
            signer = self._signer(signed)
            spend_fresh(self._db, request.patient, request.nonce, request.expiry, self._clock())
        done, peers = self._carry_out(_Work(signed, signer, self.address))
        return replace(done, peers=tuple(self.peers.forward(signed, peers)))

    def answer(self, notice: SignedNotice) -> dict[str, Any]:
        """A node she asked passes her request on: erase the copies this node received from it, and answer
        signed. `Unauthenticated` for a notice not signed by its sender, stale or replayed, or for a request
        inside it that is not hers; `ValidationError` for a notice meant for another node.

        Until the notice is known to come from its sender, fresh, to this node, nothing in it is anyone's word:
        a refusal then writes no audit entry (the API's metrics count the 401s), so a stranger cannot fill her
        accounting with refusals naming a node that never asked."""
        said = notice.request
        identity = self._identity()
        if notice.signer(self.chain_id, identity.address) != said.sender:
            raise Unauthenticated(f"the notice is not signed by its sender {said.sender}")
        if said.receiver != self.address:  # genuine, but another node's: anyone may have replayed it here
            raise ValidationError(f"the notice is for {said.receiver}, not this node ({self.address})")
        spend_fresh(self._db, said.sender, said.nonce, said.expiry, self._clock())
        with self._refusals_audited(None, said.patient, said.sender):
            signed = said.erasure()
            if (signed.request.custodian, signed.request.patient) != (said.sender, said.patient):
                raise ValidationError("the notice carries a request to another node, or of another patient")
        request = signed.request
        with self._refusals_audited(signed):
            signer = self._signer(signed)
        done = self._done(request.request_id)
        if done is None:
            work = _Work(signed, signer, said.sender, self._received(request.patient, said.sender))
            try:
                done, _ = self._carry_out(work)
            except DBIntegrityError:  # another notice of it (a round's retry) carried it out meanwhile
                done = self._done(request.request_id)
                if done is None:
                    raise
        answer = ErasureAnswer(
            self.address, said.sender, request.patient, request.nonce.to_bytes(32, "big"), done.outcome()
        )
        return answer.sign(self._account(), self.chain_id, identity.address).to_json()

    def _carry_out(self, work: _Work) -> tuple[Erasure, tuple[str, ...]]:
        """Plan the erasure, refuse it if nothing it names may go, else erase what may (audited); what was done,
        and the nodes that fetched copies of it."""
        request = work.signed.request
        asked = request.records
        reach = work.scope if asked is None else (asked if work.scope is None else sorted(set(asked) & set(work.scope)))
        planned = self._plan(request.patient, asked, reach)
        refusals = self._refusals(work, planned.kept)
        if not planned.erasable and asked is not None and work.origin == self.address:
            self._audit.record_all(refusals or [self._entry(work, Outcome.DENIED, "no such record of hers here")])
            if planned.kept:
                raise Conflict("; ".join(f"{k.resource_type}/{k.record_id} is kept by {k.rule}" for k in planned.kept))
            raise NotFound(f"no record {', '.join(asked)} of hers here")
        done = Erasure(
            request.request_id,
            request.patient,
            tuple(record.record_id for record in planned.erasable),
            planned.versions,
            planned.kept,
            planned.unknown,
            origin=work.origin,
            received_at=datetime.fromtimestamp(self._clock(), UTC),
        )
        entry = self._entry(work, Outcome.SUCCESS, self._why(work), planned.erasable)

        def also(session: Session) -> None:
            self._audit.append(session, [entry])
            session.add(_row(work, done))
            if request.everything and work.origin == self.address:  # what waits to become hers, or to reach a node
                forget_journal(session, request.patient)
                forget_outbox(session, request.patient)

        self._eraser.erase(request.patient, done.erased, request=request.request_id, also=also)
        if planned.exporters:
            forget_exports(self._tickets, planned.exporters)
        if refusals:
            self._audit.record_all(refusals)
        return done, planned.peers

    # What she and the staff see -----------------------------------------------------------

    def status(self, patient: str | None = None) -> list[Erasure]:
        """The erasures carried out here (of one patient, or all), newest first, each with the nodes asked."""
        query = select(ErasureRequestRow).order_by(ErasureRequestRow.received_at.desc())
        if patient is not None:
            query = query.where(ErasureRequestRow.patient == patient)
        with self._db.session() as session:
            rows = list(session.scalars(query))
        return [replace(_erasure_of(row), peers=tuple(self.peers.statuses(row.request_id))) for row in rows]

    def retry(self) -> int:
        """Ask again every node that has not answered and whose time has come; how many answered now."""
        return self.peers.retry_due()

    # Helpers ------------------------------------------------------------------------------

    def _plan(self, patient: str, asked: Sequence[str] | None, reach: Sequence[str] | None = None) -> Plan:
        """The plan of erasing `asked` (None: all) of `patient`'s here, now, among `reach` (None: anywhere)."""
        found = self._eraser.records_of(patient, asked if reach is None else reach)
        holds = self.holds.listing(patient)
        entries = self._audit.entries(patient=patient)
        now = datetime.fromtimestamp(self._clock(), UTC)
        return plan(patient, asked, found, holds, self.retention, entries, now=now, custodian=self.address)

    def _signer(self, signed: SignedErasure) -> str:
        """Who signed her request, if it may: she, the wallet that claimed her identity, or her custodian on chain
        (on a documented instruction it names); else `Unauthenticated`. A custodial patient's own key is her
        custodian's to hold: a signature by it is no request of hers, and is refused."""
        request = signed.request
        identity = self._identity()
        signer = signed.signer(self.chain_id, identity.address)
        custodian = identity.custodian_of(request.patient)
        if custodian is not None and signer == request.patient:
            raise Unauthenticated(
                f"{request.patient} is a custodial patient of {custodian}, which holds her key: only her custodian,"
                " on her documented instruction, may ask for her"
            )
        if signer == request.patient or identity.identity_of(signer) == request.patient:
            return signer
        if request.instruction and signer == request.custodian == custodian:
            return signer
        raise Unauthenticated(
            f"the request is signed by {signer}, not by the patient {request.patient}"
            " (nor by her custodian, on a documented instruction it names)"
        )

    @contextmanager
    def _refusals_audited(
        self, signed: SignedErasure | None, patient: str | None = None, agent: str | None = None
    ) -> Iterator[None]:
        """Audit a refusal raised within as an `erase` denied to whoever signed (her request's signer if any
        key did), then raise it again."""
        try:
            yield
        except CareLedgerError as exc:
            if signed is not None:
                patient = signed.request.patient
                try:
                    agent = signed.signer(self.chain_id, self._identity().address)
                except CareLedgerError:
                    agent = _NOBODY
            self._audit.record(
                Access(Action.DELETE, INTERACTION, Outcome.DENIED, agent or _NOBODY, patient, detail=str(exc))
            )
            raise

    def _entry(self, work: _Work, outcome: Outcome, detail: str, records: Sequence[ErasableRecord] = ()) -> Access:
        """The audit entry of an erasure (or a refusal) of `records` of hers."""
        entities = tuple(f"{r.resource_type}/{r.record_id}" for r in records)
        return Access(
            Action.DELETE,
            INTERACTION,
            outcome,
            work.signer,
            work.signed.request.patient,
            entities,
            Purpose.PATRQT.value,
            detail=detail,
        )

    def _refusals(self, work: _Work, kept: Sequence[Kept]) -> list[Access]:
        """One denied `erase` entry per rule that keeps some of what she asked, naming the rule and its records."""
        by_rule: dict[str, list[str]] = {}
        for record in kept:
            by_rule.setdefault(record.rule, []).append(f"{record.resource_type}/{record.record_id}")
        request = work.signed.request
        return [
            Access(
                Action.DELETE,
                INTERACTION,
                Outcome.DENIED,
                work.signer,
                request.patient,
                tuple(entities),
                Purpose.PATRQT.value,
                detail=f"kept by {rule}",
            )
            for rule, entities in by_rule.items()
        ]

    def _why(self, work: _Work) -> str:
        """In whose name the erasure was done, for its audit entry."""
        request = work.signed.request
        if request.instruction and work.signer != request.patient:
            why = f"on her documented instruction {request.instruction!r}, request {request.request_id}"
        else:
            why = f"at her request {request.request_id}"
        return why if work.origin == self.address else f"{why}, passed on by {work.origin}"

    def _received(self, patient: str, origin: str) -> list[str]:
        """The ids of her records this node received from the node `origin` (its audit says so)."""
        entries = self._audit.entries(patient=patient, agent=origin)
        return sorted(
            {
                record_id
                for entry in entries
                if entry.access.interaction == RECEIVE and entry.access.allowed
                for _, record_id in references(entry.access.entities)
            }
        )

    def _done(self, request_id: str) -> Erasure | None:
        """The erasure of `request_id` carried out here already (a node asked again answers the same)."""
        with self._db.session() as session:
            row = session.get(ErasureRequestRow, request_id)
            return None if row is None else _erasure_of(row)


def _row(work: _Work, done: Erasure) -> ErasureRequestRow:
    """The request's row: her signed request, to pass on, and what was done here."""
    outcome = {
        "erased": list(done.erased),
        "versions": done.versions,
        "kept": [[k.record_id, k.resource_type, k.rule] for k in done.kept],
        "unknown": list(done.unknown),
    }
    return ErasureRequestRow(
        request_id=done.request_id,
        patient=done.patient,
        origin=work.origin,
        signed=json.dumps(work.signed.to_json()),
        outcome=json.dumps(outcome),
        received_at=done.received_at.timestamp() if done.received_at else 0.0,
    )


def _erasure_of(row: ErasureRequestRow) -> Erasure:
    """A request's row read back as what was done."""
    outcome = json.loads(row.outcome)
    return Erasure(
        row.request_id,
        row.patient,
        tuple(outcome["erased"]),
        outcome["versions"],
        tuple(Kept(*kept) for kept in outcome["kept"]),
        tuple(outcome["unknown"]),
        origin=row.origin,
        received_at=datetime.fromtimestamp(row.received_at, UTC),
    )
