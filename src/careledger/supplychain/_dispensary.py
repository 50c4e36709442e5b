"""The pharmacy's counter: verify a scanned pack, dispense it to a patient, set a suspect one aside.

```
verify ─ SupplyChain.status (one eth_call) + this node's flags and dispenses ─► Verdict (audited: supply.verify)
dispense ─ verify ok? ─► her MedicationDispense through the caller's door ┐ one transaction
                         + a `supply_dispenses` row (the pack's key: a pack is dispensed once) ┘
         ─► a dispensing event captured (the pack decommissioned on chain) ─► the row marks its event
            (the chain away: the record stays, the event waits in a ticket; `retry_dispenses` sends it)
quarantine / release ─► a flag on the pack (verify says quarantined)
```

Who may act at the counter: this node (its operator) and its staff, whom the node attested an affiliation the
chain holds valid; a recall takes the operator or its supply officer (`_staff.py`, the rule the EPCIS service
follows too); anyone else is refused, audited. Staff see the verdict's reason whole: they are the node's own
people, and "cloned serial: dispensed at 0x… on …" is what they must act on. A scan that is no pack's code is
refused naming the element at fault (400), audited with that element's name, never what was scanned. A
dispense's event names the pack and the pharmacy, never the patient; once her MedicationDispense is written, its
decommission on chain is the node's own work: sent again by the leader's rounds as the node, whoever dispensed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update

from careledger.access import Accessor, RecordAccess
from careledger.audit import Access, Action, AuditLog, Outcome
from careledger.chain import PackState, PackStatus, Reason, SupplyChain, pack_key
from careledger.errors import AccessDenied, CareLedgerError, Conflict, NotFound, UnknownRecord, ValidationError
from careledger.shared import Tickets
from careledger.store import Database, SupplyDispense
from careledger.supplychain._epcis import dispensing, document, party_uri
from careledger.supplychain._flags import QUARANTINED, RECALLED, Flags
from careledger.supplychain._gs1 import Identifier, Pack, gtin_of, parse_scan
from careledger.supplychain._medication import medication_dispense
from careledger.supplychain._recall import Recalls
from careledger.supplychain._staff import SupplyRoles
from careledger.supplychain._stock import StockItem, stock
from careledger.supplychain._suspect import Suspects, VerificationAnswer
from careledger.supplychain._verdict import Known, Verdict, judge

if TYPE_CHECKING:
    from careledger.chain import Receipt
    from careledger.supplychain._service import Supply

ADMISSION_TTL = 60.0  # seconds a manufacturer's admission, once read, is believed without asking again
RETRY_AFTER = timedelta(seconds=60)  # a dispense whose event is not captured by then is sent again
EVENT_DAYS = 30  # how long a dispense's event waits in its ticket, after its last attempt, to be sent again
_PENDING = "supply-dispense-event"  # the tickets' kind: a dispense's event, until it is captured
_LOST = "supply-dispense-lost"  # a dispense whose event's ticket expired, told once a day
MAX_WAIT = 3600.0  # seconds between two attempts at sending a dispense's event, at most
_ELEMENT_NAME = frozenset("abcdefghijklmnopqrstuvwxyz ()0123456789")  # how a refused scan's element is named
_LAST_KEPT_BLOCK = 2**32 - 1  # a pack's storage word keeps its decommission block up to this bound (supply_custody.vy)
_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Dispensed:
    """A dispense: her MedicationDispense's id, the dispensing event's id, the transaction that decommissioned the
    pack on chain, and `pending` (None once it is; else what went wrong, and that the node sends the event again)."""

    record_id: str
    event_id: str
    tx_hash: str | None = None
    pending: str | None = None

    def to_json(self) -> dict[str, Any]:
        """As the API and `drug dispense --json` show it."""
        return {
            "record": f"MedicationDispense/{self.record_id}",
            "event": self.event_id,
            "tx": self.tx_hash,
            "pending": self.pending,
        }


class Dispensary:
    """The pharmacy's counter: verify and dispense packs, set suspect ones aside, list the stock; recall a lot,
    follow recalls, ask a pack's manufacturer (or answer as one)."""

    def __init__(
        self,
        supply: Supply,
        access: RecordAccess,
        audit: AuditLog,
        db: Database,
        tickets: Tickets,
        supply_chain: Callable[[], SupplyChain],
        recalls: Recalls,
        suspects: Suspects,
        roles: SupplyRoles,
        *,
        here: str,
        chain_id: int,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """`supply_chain()`: the SupplyChain facade, sending as the node wallet; `recalls` and `suspects`, the recall
        and the verification request's halves, which the counter's methods lead to; `roles`, who may do what."""
        self._supply = supply
        self._access = access
        self._audit = audit
        self._db = db
        self._tickets = tickets
        self._supply_chain = supply_chain
        self._recalls = recalls
        self._suspects = suspects
        self.roles = roles
        self.here = here
        self._chain_id = chain_id
        self._clock = clock
        self.flags = Flags(db, clock=clock)
        self._admissions: dict[str, tuple[float, bool]] = {}

    def staff(self, by: str, action: str) -> None:
        """`AccessDenied` (audited) unless `by` may take `action` for this node (`SupplyRoles.require`)."""
        self.roles.require(by, action)

    def verify(self, scan: str | Identifier, *, by: str) -> Verdict:
        """Whether the pack scanned may be dispensed here now, and if not why (audited with its code)."""
        self.staff(by, "supply.verify")
        verdict = self._judge(self._scanned(scan, by, "supply.verify"))
        self._audit_verdict("supply.verify", by, verdict)
        return verdict

    def _scanned(self, scan: str | Identifier, by: str, action: str) -> Pack:
        """The pack `scan` names; a malformed scan's `ValidationError` audited under `action` (DENIED) naming the
        element refused, never what was scanned (a misread code may hold anything)."""
        try:
            return pack_of(scan)
        except ValidationError as refused:
            self._refused_scan(action, by, refused)
            raise

    def _refused_scan(self, action: str, by: str, refused: ValidationError) -> None:
        said = str(refused).partition(":")[0]
        element = said if len(said) <= 24 and set(said) <= _ELEMENT_NAME else "scan"
        self._audit.record(Access(Action.EXECUTE, action, Outcome.DENIED, by, detail=f"malformed scan: {element}"))

    def _judge(self, pack: Pack) -> Verdict:
        facade = self._supply_chain()
        key = pack_key(pack.gtin, pack.serial)
        status = facade.status(key)
        flags = self.flags.of(key, status.lot)
        now = self._clock()
        known = Known(
            here=self.here,
            today=now.date(),
            quarantined=flags.get(QUARANTINED),
            recalled=flags.get(RECALLED),
            dispensed_here=self._dispensed_at(key),
            admitted=lambda manufacturer: self._admitted(facade, manufacturer),
            decommissioned_on=lambda: _decommissioned_on(facade, status),
        )
        return judge(pack, status, known, now)

    def _audit_verdict(self, action: str, by: str, verdict: Verdict) -> None:
        outcome = Outcome.SUCCESS if verdict.dispensable else Outcome.DENIED
        detail = f"{verdict.code}: {verdict.pack.epc}: {verdict.reason}"
        self._audit.record(Access(Action.EXECUTE, action, outcome, by, detail=detail))

    def _dispensed_at(self, key: bytes) -> datetime | None:
        with self._db.session() as session:
            found = session.scalars(select(SupplyDispense.dispensed_at).where(SupplyDispense.key == key)).first()
        return None if found is None else found.replace(tzinfo=found.tzinfo or UTC)

    def _admitted(self, facade: SupplyChain, manufacturer: str) -> bool:
        """Whether `manufacturer`'s admission holds now (read at most once a minute: it changes by the day)."""
        now = time.monotonic()
        cached = self._admissions.get(manufacturer)
        if cached is not None and now - cached[0] < ADMISSION_TTL:
            return cached[1]
        admission = facade.admission(manufacturer)
        admitted = admission is not None and admission.in_force(int(self._clock().timestamp()))
        self._admissions[manufacturer] = (now, admitted)
        return admitted

    def dispense(self, scan: str | Identifier, patient: str, accessor: Accessor, *, by: str) -> Dispensed:
        """Dispense the pack scanned to Patient `patient`: refused (`Conflict` with the verdict's reason, audited)
        unless verify says ok; her MedicationDispense written through `accessor`'s door, then the pack
        decommissioned on chain by a dispensing event (module docstring)."""
        self.staff(by, "supply.dispense")
        try:
            verdict = self.verify(scan, by=by)
        except ValidationError as refused:
            self._refused_scan("supply.dispense", by, refused)
            raise
        if not verdict.dispensable:
            self._audit_verdict("supply.dispense", by, verdict)
            raise Conflict(verdict.reason)
        pack = verdict.pack
        if pack.expiry is None and verdict.status["expiry"]:
            pack = Pack(pack.gtin, pack.serial, pack.lot, date.fromisoformat(verdict.status["expiry"]))
        door = self._access.for_caller(accessor)
        her = door.stored(patient)
        if her.resource_type != "Patient":
            raise UnknownRecord(patient)
        now = self._clock()
        record = medication_dispense(
            pack,
            patient_id=patient,
            performer=by,
            organization=by == self.here,
            chain_id=self._chain_id,
            handed_over=now,
        )
        draft = door.prepare(record, patient_address=her.patient_address)
        event = dispensing(pack, party_uri(self._chain_id, self.here), at=now)
        key, lot = pack_key(pack.gtin, pack.serial), bytes.fromhex(str(verdict.status["lot"])[2:])
        self._tickets.put(_PENDING, key.hex(), {"event": event, "by": by}, EVENT_DAYS * 86_400)
        row = SupplyDispense(key=key, lot=lot, record_id=draft.record_id, dispensed_at=now, event_id=None)
        try:
            door.store([draft], also=lambda session, _stored: session.add(row))
        except Conflict:
            self._audit_verdict("supply.dispense", by, self._judge(pack))
            raise Conflict(f"cloned serial: {pack.epc} was dispensed here a moment ago") from None
        self._audit.record(Access(Action.EXECUTE, "supply.dispense", Outcome.SUCCESS, by, detail=pack.epc))
        pending = self._send(key, event, by)
        tx = self._tx_of(event) if pending is None else None
        return Dispensed(draft.record_id, str(event["eventID"]), tx, pending)

    def _tx_of(self, event: dict[str, Any]) -> str | None:
        """The last transaction of a captured event's chain effect (None: it had none here)."""
        try:
            txs = self._supply.store.event(str(event["eventID"])).txs
        except NotFound:
            return None
        return txs[-1] if txs else None

    def _send(self, key: bytes, event: dict[str, Any], by: str) -> str | None:
        """Capture a dispense's event (the pack decommissioned on chain) and mark its row; what went wrong if it
        did not (the event stays in its ticket for `retry_dispenses`)."""
        try:
            job = self._supply.capture(document([event]), by=by)
            problem = None if job.ok else "; ".join(job.errors)
        except CareLedgerError as exc:
            problem = str(exc)
        if problem is not None and self._dispensed_here_on_chain(key):
            problem = None  # sent before, its answer lost: the chain has it
        if problem is not None:
            _log.warning("dispense of %s not decommissioned on chain yet: %s", event["epcList"], problem)
            return (
                f"the MedicationDispense is written, but the pack is not decommissioned on chain yet ({problem}):"
                " the node sends its event again"
            )
        with self._db.session() as session:
            marked = update(SupplyDispense).where(SupplyDispense.key == key).values(event_id=str(event["eventID"]))
            session.execute(marked)
        self._tickets.take(_PENDING, key.hex())
        return None

    def _dispensed_here_on_chain(self, key: bytes) -> bool:
        status = self._supply_chain().status(key)
        dispensed = status.state is PackState.DECOMMISSIONED and status.reason is Reason.DISPENSED
        return dispensed and status.holder == self.here

    def retry_dispenses(self, *, older_than: timedelta = RETRY_AFTER) -> int:
        """Send again the events of dispenses not decommissioned on chain yet, written `older_than` ago at least
        (not one a counter is sending now) and due (each waits twice as long after each failure, `MAX_WAIT` at
        most): the leader's round. The node sends them as itself, whoever dispensed (her dispense was allowed and
        audited when she made it; her affiliation may have lapsed since), naming her in the audit entry. How many
        were sent."""
        now = self._clock()
        query = select(SupplyDispense.key).where(
            SupplyDispense.event_id.is_(None), SupplyDispense.dispensed_at < now - older_than
        )
        with self._db.session() as session:
            keys = list(session.scalars(query))
        sent = 0
        for key in keys:
            pending = self._tickets.peek(_PENDING, key.hex())
            if pending is None:
                if self._tickets.add(_LOST, key.hex(), 86_400):  # said once a day, not every round
                    _log.error(
                        "dispense %s: its event is lost (kept %d days); decommission it by hand", key.hex(), EVENT_DAYS
                    )
                continue
            if pending.get("next", 0) > now.timestamp():
                continue
            if self._send(key, pending["event"], self.here) is None:
                done = f"{_epc_of(pending['event'])}: decommissioned on chain, sent again for {pending['by']}"
                self._audit.record(Access(Action.EXECUTE, "supply.dispense", Outcome.SUCCESS, self.here, detail=done))
                sent += 1
                continue
            attempts = int(pending.get("attempts", 0)) + 1
            wait = min(MAX_WAIT, RETRY_AFTER.total_seconds() * 2 ** (attempts - 1))
            later = {**pending, "attempts": attempts, "next": now.timestamp() + wait}
            self._tickets.replace(_PENDING, key.hex(), later, EVENT_DAYS * 86_400)
        return sent

    def quarantine(self, scan: str | Identifier, reason: str, *, by: str) -> bool:
        """Set the pack scanned aside as suspect (verify says quarantined until it is released); False if it was
        already. Audited."""
        self.staff(by, "supply.quarantine")
        if not reason.strip() or len(reason) > 500:
            raise ValidationError("reason: why the pack is set aside, 1 to 500 characters")
        pack = self._scanned(scan, by, "supply.quarantine")
        key = pack_key(pack.gtin, pack.serial)
        set_aside = self.flags.quarantine(key, self._supply_chain().status(key).lot, reason.strip())
        # The reason is the staff's free text: kept on the flag, which staff read, not in the audit log.
        self._audit.record(Access(Action.EXECUTE, "supply.quarantine", Outcome.SUCCESS, by, detail=pack.epc))
        return set_aside

    def release(self, scan: str | Identifier, *, by: str) -> bool:
        """Lift the pack's quarantine; False if it had none. Audited."""
        self.staff(by, "supply.release")
        pack = self._scanned(scan, by, "supply.release")
        released = self.flags.release(pack_key(pack.gtin, pack.serial))
        self._audit.record(Access(Action.EXECUTE, "supply.release", Outcome.SUCCESS, by, detail=pack.epc))
        return released

    def stock(self, *, by: str, flagged_only: bool = False) -> list[StockItem]:
        """The packs this node holds now, each with its live flags; `flagged_only`: those flagged (a recalled lot,
        a quarantine) alone. By this node's own events, the chain asked once, in one batch, of those shown
        (`_stock.py`). Staff only (`supply.stock`, audited when refused)."""
        self.staff(by, "supply.stock")
        return stock(self._db, self._supply_chain(), self.flags, here=self.here, flagged_only=flagged_only)

    def recall(self, gtin: str, lot: str, *, by: str) -> Receipt:
        """Recall `lot` of `gtin` on chain as this node (the lot's manufacturer, or a regulator: anyone else is
        refused by the contract), asked by its operator or its supply officer. Audited, refusals too."""
        self.staff(by, "supply.recall")
        detail = f"GTIN {gtin} lot {lot}"
        try:
            receipt = self._recalls.recall(gtin_of(gtin), lot)
        except (AccessDenied, Conflict, NotFound, ValidationError) as refused:
            self._audit.record(
                Access(Action.EXECUTE, "supply.recall", Outcome.DENIED, by, detail=f"{detail}: {refused}")
            )
            raise
        self._audit.record(Access(Action.EXECUTE, "supply.recall", Outcome.SUCCESS, by, detail=detail))
        return receipt

    def follow_recalls(self) -> int:
        """The leader's round: lots recalled on chain since the last round flagged here, and each patient who was
        dispensed a pack of one here told (`Recalls.follow`); how many lots were flagged."""
        return self._recalls.follow()

    def ask_manufacturer(self, scan: str | Identifier, *, by: str) -> VerificationAnswer:
        """Ask the pack's manufacturer to verify it (a DSCSA verification request); its signed answer, believed
        only if the lot's manufacturer on chain signed it (`IntegrityError` otherwise). Audited."""
        self.staff(by, "supply.verification")
        return self._suspects.ask(self._scanned(scan, by, "supply.verification"), by=by)

    def answer_verification(self, request: object) -> dict[str, Any]:
        """Answer another node's signed verification request as this manufacturer (`Suspects.answer`)."""
        return self._suspects.answer(request)


def pack_of(scan: str | Identifier) -> Pack:
    """The pack a scan names; `ValidationError` for a case's or pallet's SSCC (a pack is verified one by one)."""
    found = parse_scan(scan) if isinstance(scan, str) else scan
    if not isinstance(found, Pack):
        raise ValidationError("scan: a pack's code (GTIN and serial), not a case's or pallet's SSCC")
    return found


def _epc_of(event: dict[str, Any]) -> str:
    """The pack a dispensing event names."""
    return str(next(iter(event.get("epcList", ())), "(no pack named)"))


def _decommissioned_on(facade: SupplyChain, status: PackStatus) -> date | None:
    """The day the chain decommissioned the pack of `status` (its block's time). The pack's storage word keeps
    that block, so this is one block read, not a search of the logs; only past block 2**32 - 1, where the word
    keeps that bound, is the Decommissioned log looked for. None if it is not found."""
    block = status.decommissioned_in
    if block is None or block >= _LAST_KEPT_BLOCK:
        events = [e for e in facade.history(status.key) if e.name == "Decommissioned"]
        if not events:
            return None
        block = events[-1].block
    return datetime.fromtimestamp(facade.chain.timestamp(block), UTC).date()
