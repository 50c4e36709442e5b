"""Break-glass: a licensed practitioner reads without consent in an emergency, with a reason.

The access is recorded on chain (`EmergencyAccess`, the reason only as a salted hash) so the
patient sees it, opens a window of `BREAK_GLASS_WINDOW` kept in the node's database, and is
audited whether it opens or is refused. The policy asks `is_open`; nothing else decides here.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from careledger.access._entries import access_entry
from careledger.access._policy import Accessor, Decision
from careledger.audit import AuditLog
from careledger.chain import ConsentRegistry, IdentityRegistry, Role
from careledger.consent import Purpose
from careledger.crypto import keccak
from careledger.errors import AccessDenied, TransactionReverted, ValidationError
from careledger.identity import MEDICAL_LICENCE
from careledger.store import Database, EmergencyAccess

BREAK_GLASS_WINDOW = timedelta(hours=4)


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
        with self._db.session() as session:
            session.add(
                EmergencyAccess(
                    practitioner=practitioner,
                    patient=patient,
                    reason=reason,
                    salt=salt,
                    reason_hash=reason_hash,
                    block=block,
                    opened_at=now,
                    expires_at=window.expires_at,
                )
            )
        decision = Decision(True, reason, break_glass=True)
        self._audit.record(access_entry(accessor, "break-glass", patient, [], decision))
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
