"""Recalls: a lot recalled on chain by its manufacturer (or a regulator), followed by every node that holds or
dispensed packs of it; each patient who was dispensed one is told by the node that dispensed it, and by no one else.

```
recall(gtin, lot) ─► SupplyChain.recall ─► LotRecalled(lot, gtin, by) on chain
follow (the leader's round) ─ LotRecalled since the cursor ─► a `recalled` flag on the lot (its packs here: verify
    says recalled, stock shows them), the cursor moved in the same transaction
  ─► for each dispense here of a recalled lot with no notice yet: her MedicationDispense read, a Communication to
     her (category alert: the medicine, the lot, what to do, the pharmacy) written through the node's system
     repository ("drug recall notice", audited in her accounting) ─► her unread count and her portal's stream
```

A notice's id follows from its dispense and lot, and is stored as a new record only (`fresh`): a round that runs
twice, or two workers at once, write it once; a round that fails midway is finished by the next one. Nothing about
her leaves the node: the chain and the manufacturer see the lot, never who got it.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from careledger.access import SystemRepository, wallet_reference
from careledger.chain import ChainEvent, SupplyChain
from careledger.errors import Conflict, NotFound
from careledger.fhir import concept, fhir_instant
from careledger.indexing import EventReader
from careledger.records import Resource, SearchQuery
from careledger.store import Database, SupplyDispense, SupplyFlag
from careledger.supplychain._flags import RECALLED
from careledger.supplychain._medication import DispenseRecord, read_dispense

if TYPE_CHECKING:
    from careledger.chain import Receipt

RECALLS = "supply-recalls"  # the event cursor's stream
NOTICE_DAYS = 30  # a recall older than this is not looked at again for dispenses left untold
COMMUNICATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/communication-category"
_NOTICES = uuid.UUID("6f1c3b1e-41a0-4c39-9d52-5e0f4c2b7a41")  # the namespace of notices' ids
_log = logging.getLogger(__name__)


def notice_id(dispense_id: str, lot: bytes) -> str:
    """The id of the recall notice of one dispense: the same on every worker and every round."""
    return str(uuid.uuid5(_NOTICES, f"{dispense_id}|{lot.hex()}"))


def recall_notice(
    notice: str, dispensed: DispenseRecord, *, pharmacy: str, name: str, chain_id: int, sent: datetime
) -> Resource:
    """The Communication telling her that a pack she was dispensed here is of a recalled lot, and what to do."""
    lot = f"lot {dispensed.lot}" if dispensed.lot else "its lot"
    day = f" on {dispensed.handed_over[:10]}" if dispensed.handed_over else ""
    who = name or "your pharmacy"
    text = (
        f"Drug recall: the medicine with GTIN {dispensed.gtin} ({lot}) that {who} dispensed to you{day} has been"
        f" recalled by its manufacturer. Do not take it; bring it back to {who}. If it treats an ongoing condition,"
        " ask your pharmacist or doctor before you stop it: they will give you a replacement."
    )
    subject = {"reference": f"Patient/{dispensed.patient_id}"}
    return {
        "resourceType": "Communication",
        "id": notice,
        "status": "completed",
        "category": [concept(COMMUNICATION_CATEGORY, "alert", "Alert")],
        "priority": "urgent",
        "subject": subject,
        "about": [{"reference": f"MedicationDispense/{dispensed.record_id}"}],
        "sent": fhir_instant(sent),
        "sender": wallet_reference("Organization", pharmacy, chain_id, display=name or None),
        "recipient": [subject],
        "payload": [{"contentString": text}],
    }


class Recalls:
    """Recalling a lot as this node (its manufacturer, or a regulator), and following every recall on chain: the
    lot flagged here, and each patient this node dispensed a pack of it told, once, by this node alone."""

    def __init__(
        self,
        db: Database,
        supply_chain: Callable[[], SupplyChain],
        notices: SystemRepository,
        arrived: Callable[[Resource, str], None],
        *,
        here: str,
        chain_id: int,
        name: str = "",
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """`notices`: the node's system repository of its "drug recall notice" work; `arrived(message, wallet)`:
        her receipts and notification of a message stored for her (the messages service's)."""
        self._db = db
        self._supply_chain = supply_chain
        self._notices = notices
        self._arrived = arrived
        self._here = here
        self._chain_id = chain_id
        self._name = name
        self._clock = clock

    def recall(self, gtin: str, lot: str) -> Receipt:
        """Recall `lot` of `gtin` on chain as this node (its manufacturer, or a regulator: the contract refuses
        anyone else)."""
        return self._supply_chain().recall(gtin, lot)

    def follow(self) -> int:
        """Flag the lots recalled since the cursor, then tell each patient dispensed a pack of a recalled lot here
        who was not told yet; how many lots were flagged."""
        facade = self._supply_chain()
        flagged = EventReader(facade, self._db, RECALLS).poll(lambda session, event: self._flag(session, event, facade))
        self.tell_due()
        return flagged

    def _flag(self, session: Session, event: ChainEvent, facade: SupplyChain) -> None:
        """A LotRecalled event: its lot flagged `recalled` here (once), in the cursor's transaction, saying who
        recalled it (its manufacturer, or a regulator)."""
        if event.name != "LotRecalled":
            return
        lot = bytes(event.args["lot"])
        held = session.scalars(
            select(SupplyFlag.id).where(SupplyFlag.lot == lot, SupplyFlag.kind == RECALLED, SupplyFlag.key.is_(None))
        ).first()
        if held is None:
            by = str(event.args["by"])
            who = "a regulator" if facade.is_regulator(by) else "its manufacturer"
            reason = f"recalled by {who} ({by}) in block {event.block}"
            session.add(SupplyFlag(key=None, lot=lot, kind=RECALLED, reason=reason, since=self._clock()))

    def tell_due(self) -> int:
        """Write and notify each recall notice due: a dispense here of a lot recalled in the last `NOTICE_DAYS`
        days whose notice is not written yet. How many were written."""
        since = self._clock() - timedelta(days=NOTICE_DAYS)
        query = (
            select(SupplyDispense.record_id, SupplyDispense.lot)
            .join(SupplyFlag, SupplyFlag.lot == SupplyDispense.lot)
            .where(SupplyFlag.kind == RECALLED, SupplyFlag.key.is_(None), SupplyFlag.since >= since)
            .order_by(SupplyDispense.dispensed_at)
        )
        with self._db.session() as session:
            due = {notice_id(record_id, lot): record_id for record_id, lot in session.execute(query)}
        if not due:
            return 0
        written = SearchQuery(resource_type="Communication", record_ids=tuple(due))
        for stored in self._notices.search(written):
            due.pop(stored.record_id, None)
        return sum(self._tell(notice, record_id) for notice, record_id in due.items())

    def _tell(self, notice: str, record_id: str) -> bool:
        """Write one notice to the patient of dispense `record_id` and notify her; False if it was written by
        another worker meanwhile, or her dispense is gone (deleted, erased)."""
        try:
            stored = self._notices.get(record_id)
            dispensed = read_dispense(self._notices.open(stored))
        except NotFound:
            return False
        her = stored.patient_address
        message = recall_notice(
            notice, dispensed, pharmacy=self._here, name=self._name, chain_id=self._chain_id, sent=self._clock()
        )
        try:
            self._notices.store([self._notices.prepare(message, patient_address=her)], fresh=True)
        except Conflict:
            return False
        self._arrived(message, her)
        _log.info("recall notice %s written for dispense %s", notice, record_id)
        return True
