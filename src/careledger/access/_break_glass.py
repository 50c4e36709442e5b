"""Break-glass: a licensed practitioner reads without consent in an emergency, with a reason.

The access is recorded on chain (`EmergencyAccess`, the reason only as a salted hash) so the
patient sees it, opens a window of `BREAK_GLASS_WINDOW` kept in the node's database (its reason
sealed as the audit log seals the same text, `AuditLog.seal_copy`), and is audited whether it
opens or is refused. The window, its audit entry and its place in the staff's
review queue (`_break_glass_reviews`) are written in one transaction. The policy asks `is_open`;
nothing else decides here.

The patient may turn break-glass off for herself, and back on (`EmergencySwitch`): the switch is
the chain's (ConsentRegistry's `set_emergency_access`), so a practitioner is refused at every node
from the next block, and only she (or whoever acts for her identity, or a delegate for every
category) can flip it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from careledger.access._entries import access_entry
from careledger.access._policy import Accessor, Decision
from careledger.audit import Access, Action, AuditLog, Outcome
from careledger.chain import ConsentRegistry, IdentityRegistry, Role
from careledger.consent import Purpose
from careledger.crypto import keccak
from careledger.errors import AccessDenied, TransactionReverted, ValidationError
from careledger.identity import MEDICAL_LICENCE
from careledger.store import Database, EmergencyAccess, EmergencyReview, NodeState, secure_delete

BREAK_GLASS_WINDOW = timedelta(hours=4)
_STATE = "sealed_break_glass"  # node_state: `pending` while windows opened before 0032 keep a bare reason


@dataclass(frozen=True, slots=True)
class EmergencyWindow:
    practitioner: str
    patient: str
    block: int
    expires_at: datetime


class BreakGlass:
    """Emergency windows: opened on chain and audited, remembered in the database until they close."""

    def __init__(
        self,
        db: Database,
        audit: AuditLog,
        *,
        identity: Callable[[], IdentityRegistry],
        registry_as: Callable[[str], ConsentRegistry],
        clock: Callable[[], datetime],
    ) -> None:
        self._db = db
        self._audit = audit
        self._identity = identity
        self._registry_as = registry_as
        self._clock = clock

    def open(self, practitioner: str, patient: str, reason: str) -> EmergencyWindow:
        """Record an emergency access on chain and open a window of `BREAK_GLASS_WINDOW`; audited either way."""
        if not reason.strip():
            raise ValidationError("break-glass needs a reason")
        accessor = Accessor(practitioner, Purpose.ETREAT, reason)
        refusal = self._refusal(practitioner)
        if refusal is None:
            salt = os.urandom(32)
            reason_hash = keccak(salt + reason.encode())
            try:
                block = self._registry_as(practitioner).record_emergency_access(patient, reason_hash)
            except (TransactionReverted, AccessDenied) as exc:
                refusal = str(exc)
        if refusal is not None:
            decision = Decision(False, refusal, break_glass=True)
            self._audit.record(access_entry(accessor, "break-glass", patient, [], decision))
            raise AccessDenied(f"break-glass refused: {refusal}")
        now = self._clock()
        window = EmergencyWindow(practitioner, patient, block, now + BREAK_GLASS_WINDOW)
        row = EmergencyAccess(
            practitioner=practitioner,
            patient=patient,
            reason=self._audit.seal_copy(reason, _reason_place(practitioner, patient, salt)),
            salt=salt,
            reason_hash=reason_hash,
            block=block,
            opened_at=now,
            expires_at=window.expires_at,
        )
        entry = access_entry(accessor, "break-glass", patient, [], Decision(True, reason, break_glass=True))
        with self._db.session() as session:
            session.add(row)
            session.flush()
            (seq,) = self._audit.append(session, [entry])
            session.add(EmergencyReview(entry=seq, emergency_id=row.id))  # queued for the staff's review
        return window

    def is_open(self, practitioner: str, patient: str) -> bool:
        """Whether `practitioner` has an open window on `patient`'s records."""
        now = self._clock()
        with self._db.session() as session:
            expiry = session.scalars(
                select(EmergencyAccess.expires_at)
                .where(EmergencyAccess.practitioner == practitioner, EmergencyAccess.patient == patient)
                .order_by(EmergencyAccess.expires_at.desc())
                .limit(1)
            ).first()
        return expiry is not None and expiry.replace(tzinfo=expiry.tzinfo or UTC) > now

    def _refusal(self, practitioner: str) -> str | None:
        identity = self._identity()
        actor = identity.actor(practitioner)
        if actor is None or not actor.active or actor.role != Role.PRACTITIONER:
            return f"{practitioner} is not a registered, active practitioner"
        if not identity.has_valid_credential(practitioner, MEDICAL_LICENCE):
            return f"{practitioner} holds no valid {MEDICAL_LICENCE}"
        return None


def open_reason(audit: AuditLog, stored: str, practitioner: str, patient: str, salt: bytes) -> str:
    """The reason kept (sealed) with the window `practitioner` opened on `patient`'s records with `salt`;
    `DecryptionError` if it does not open (changed, or moved from another window)."""
    return audit.open_copy(stored, _reason_place(practitioner, patient, salt))


def seal_older_reasons(db: Database, audit: AuditLog) -> int:
    """Seal in place the reasons of windows opened before reasons were sealed; how many there were.

    Runs once per database (migration 0032 marks one with windows `pending`; a migration has no key), when the
    node wires its door. On SQLite the overwritten text is zeroed in the file (`secure_delete`); on PostgreSQL the
    old row versions stay until the table is vacuumed. One transaction: a crash leaves them, sealed next time.
    """
    with db.reading() as connection:
        state = connection.execute(select(NodeState.value).where(NodeState.name == _STATE)).scalar()
    if state != "pending":
        return 0
    columns = EmergencyAccess.__table__.c
    with db.writing() as connection, secure_delete(connection, db.backend):
        older = connection.execute(
            select(columns.id, columns.practitioner, columns.patient, columns.salt, columns.reason).where(
                columns.reason.not_like("sealed:%")
            )
        ).all()
        for row_id, practitioner, patient, salt, reason in older:
            sealed = audit.seal_copy(reason, _reason_place(practitioner, patient, salt))
            connection.execute(update(EmergencyAccess).where(columns.id == row_id).values(reason=sealed))
        connection.execute(update(NodeState).where(NodeState.name == _STATE).values(value="done"))
    return len(older)


def _reason_place(practitioner: str, patient: str, salt: bytes) -> bytes:
    """Where a window's reason is kept: its row, named by who opened it on whose records and its random salt."""
    return b"|".join((b"emergency_accesses.reason", practitioner.lower().encode(), patient.lower().encode(), salt))


class EmergencySwitch:
    """A patient's switch for break-glass on her records, kept on chain; every flip audited, refusals too."""

    def __init__(
        self,
        audit: AuditLog,
        *,
        registry: Callable[[], ConsentRegistry],
        registry_as: Callable[[str], ConsentRegistry],
    ) -> None:
        """`registry()` reads the chain; `registry_as(address)` signs as the wallet this node keeps for `address`."""
        self._audit = audit
        self._registry = registry
        self._registry_as = registry_as

    def allowed(self, patient: str) -> bool:
        """Whether a practitioner may break the glass on `patient`'s records (on, unless she turned it off)."""
        return self._registry().emergency_access_allowed(patient)

    def transaction(self, patient: str, allowed: bool) -> dict[str, Any]:
        """What her own wallet sends (and pays for) to turn break-glass on `patient`'s records on or off: `to`, `data`
        (0x-hex) and `chainId`, for `eth_sendTransaction`; the chain refuses it from anyone who does not act for her."""
        registry = self._registry()
        request = registry.set_emergency_access_request(patient, allowed)
        return {"to": request.to, "data": "0x" + request.data.hex(), "chainId": registry.chain.chain_id}

    def turn(self, signer: str, patient: str, allowed: bool) -> None:
        """Turn break-glass on `patient`'s records on or off, signed by `signer` (she, whoever acts for her identity,
        or her delegate for every category: the chain refuses anyone else); audited as `signer`'s either way."""
        word = "on" if allowed else "off"
        try:
            self._registry_as(signer).set_emergency_access(patient, allowed)
        except (TransactionReverted, AccessDenied) as exc:
            self._audit.record(_setting(signer, patient, Outcome.DENIED, f"break-glass not turned {word}: {exc}"))
            raise AccessDenied(f"break-glass not turned {word}: {exc}") from None
        self._audit.record(_setting(signer, patient, Outcome.SUCCESS, f"break-glass turned {word}"))


def _setting(signer: str, patient: str, outcome: Outcome, detail: str) -> Access:
    purpose = Purpose.PATRQT.value
    return Access(Action.UPDATE, "break-glass-setting", outcome, signer, patient, purpose=purpose, detail=detail)
