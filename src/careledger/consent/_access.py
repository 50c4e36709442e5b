"""Record access under consent: every read and search decided, every decision audited.

Who may see a record, in order:
1. the patient it belongs to;
2. the custodian node itself (it wrote the record and holds a key to it);
3. a grantee with a live consent naming the record's category and the purpose of use
   (sensitive categories only by a consent that names them, which the bitmask ensures);
4. a practitioner with an open break-glass window (purpose ETREAT), opened by recording
   the emergency on chain, where the patient sees it.
Anyone else is refused, and the refusal is audited like every access.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from careledger.audit import Access, Action, AuditLog, Outcome
from careledger.chain import ConsentRegistry, IdentityRegistry, Role
from careledger.consent._service import ConsentService
from careledger.consent._terms import Purpose
from careledger.crypto import keccak
from careledger.errors import AccessDenied, TransactionReverted, ValidationError
from careledger.records import Category, Draft, RecordService, Resource, SearchQuery, StoredRecord
from careledger.store import EmergencyAccess

BREAK_GLASS_WINDOW = timedelta(hours=4)

# AuditEvent.action of each interaction; the rest (search, break-glass, export) execute.
_ACTIONS = {
    "read": Action.READ,
    "vread": Action.READ,
    "history-instance": Action.READ,
    "history-type": Action.READ,
    "create": Action.CREATE,
    "update": Action.UPDATE,
    "delete": Action.DELETE,
}
MEDICAL_LICENCE = "medical-licence"


@dataclass(frozen=True, slots=True)
class Accessor:
    """Who asks, and why: the purpose of use, and for break-glass a reason."""

    address: str
    purpose: Purpose = Purpose.TREAT
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    why: str
    break_glass: bool = False


@dataclass(frozen=True, slots=True)
class EmergencyWindow:
    practitioner: str
    patient: str
    block: int
    expires_at: datetime


class RecordAccess:
    """The record service as every reader but the node's own maintenance sees it."""

    def __init__(
        self,
        records: RecordService,
        consent: ConsentService,
        audit: AuditLog,
        *,
        custodian: str,
        identity: Callable[[], IdentityRegistry],
        registry_as: Callable[[str], ConsentRegistry],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.records = records
        self.consent = consent
        self.audit = audit
        self.custodian = custodian
        self._identity = identity
        self._registry_as = registry_as
        self._clock = clock

    def read(self, accessor: Accessor, record_id: str, version: int | None = None) -> Resource:
        """One record (a version, or the current one), if `accessor` may see it."""
        stored, decision, entry = self._judge_read(accessor, record_id, version)
        self.audit.record(entry)
        return self._release(stored, decision)

    async def read_async(self, accessor: Accessor, record_id: str, version: int | None = None) -> Resource:
        """`read` from an event loop (the API): decided and decrypted on the loop, a fraction of a
        millisecond, with the durable audit entry awaited from the log's committer thread. A
        break-glass read may first send a transaction, so it runs in a thread instead."""
        if accessor.purpose == Purpose.ETREAT:
            return await asyncio.to_thread(self.read, accessor, record_id, version)
        stored, decision, entry = self._judge_read(accessor, record_id, version)
        await self.audit.record_async(entry)
        return self._release(stored, decision)

    def _judge_read(
        self, accessor: Accessor, record_id: str, version: int | None
    ) -> tuple[StoredRecord, Decision, Access]:
        """A read's record, whether it may be seen, and its audit entry (written before anything is released)."""
        stored = self.records.get(record_id, version)
        decision = self.decide(accessor, stored.patient_address, stored.category)
        entry = self._entry(accessor, "vread" if version else "read", stored.patient_address, [stored], decision)
        return stored, decision, entry

    def _release(self, stored: StoredRecord, decision: Decision) -> Resource:
        if not decision.allowed:
            raise AccessDenied(decision.why)
        return self.records.open(stored)

    def history(self, accessor: Accessor, record_id: str) -> list[tuple[StoredRecord, Resource | None]]:
        """Every version of a record, newest first, each decrypted (None for deletions); one audit entry."""
        versions = self.records.history(record_id)
        newest = versions[0]
        decision = self.decide(accessor, newest.patient_address, newest.category)
        self.audit.record(self._entry(accessor, "history-instance", newest.patient_address, versions, decision))
        if not decision.allowed:
            raise AccessDenied(decision.why)
        return [(v, None if v.deleted else self.records.open(v)) for v in versions]

    def search(self, accessor: Accessor, query: SearchQuery) -> list[Resource]:
        """Current records matching `query`, those `accessor` may see; one audit entry per patient matched."""
        return [self.records.open(s) for s in self.visible(accessor, self.records.search(query), "search-type")]

    def type_history(
        self, accessor: Accessor, resource_type: str, *, patient_address: str | None = None, limit: int = 100
    ) -> list[tuple[StoredRecord, Resource | None]]:
        """The newest versions of a type's records that `accessor` may see (None for deletions)."""
        versions = self.records.versions(resource_type, patient_address=patient_address, limit=limit)
        visible = self.visible(accessor, versions, "history-type")
        return [(v, None if v.deleted else self.records.open(v)) for v in visible]

    def visible(self, accessor: Accessor, found: Sequence[StoredRecord], interaction: str) -> list[StoredRecord]:
        """The records of `found` `accessor` may see, in order; one audit entry per patient, saying what was withheld.

        If records were found and none may be seen, the refusal is raised.
        """
        by_patient: dict[str, list[StoredRecord]] = {}
        for stored in found:
            by_patient.setdefault(stored.patient_address, []).append(stored)
        allowed_ids: set[tuple[str, int]] = set()
        refusals: list[str] = []
        for patient, stored_records in by_patient.items():
            decisions = {c: self.decide(accessor, patient, c) for c in {s.category for s in stored_records}}
            allowed = [s for s in stored_records if decisions[s.category].allowed]
            withheld = sorted({c.value for c, d in decisions.items() if not d.allowed})
            why = next((d.why for d in decisions.values() if not d.allowed), "")
            summary = Decision(
                allowed=bool(allowed),
                why=f"withheld {', '.join(withheld)}: {why}" if withheld else "allowed",
                break_glass=any(d.break_glass for d in decisions.values()),
            )
            self.audit.record(
                self._entry(accessor, interaction, patient, allowed, summary, detail=summary.why if withheld else None)
            )
            allowed_ids.update((s.record_id, s.version) for s in allowed)
            if not allowed:
                refusals.append(why)
        if not allowed_ids and refusals:
            raise AccessDenied(refusals[0])
        return [s for s in found if (s.record_id, s.version) in allowed_ids]

    def refuse(self, accessor: Accessor, patient: str, why: str, interaction: str) -> AccessDenied:
        """Audit a refusal decided before any record was looked at; the error to raise."""
        self.audit.record(self._entry(accessor, interaction, patient, [], Decision(False, why)))
        return AccessDenied(why)

    def audit_writes(self, accessor: Accessor) -> Callable[[Sequence[StoredRecord]], None]:
        """A hook that audits stored versions as writes by `accessor` (for bulk paths)."""

        def audit(stored: Sequence[StoredRecord]) -> None:
            for entry in self._write_entries(accessor, stored):
                self.audit.record(entry)

        return audit

    def _write_entries(self, accessor: Accessor, stored: Sequence[StoredRecord]) -> list[Access]:
        """The audit entries of stored versions written by `accessor`: one per patient."""
        by_patient: dict[str, list[StoredRecord]] = {}
        for version in stored:
            by_patient.setdefault(version.patient_address, []).append(version)
        return [
            self._entry(
                accessor,
                "create" if all(v.version == 1 for v in versions) else "update",
                patient,
                versions,
                Decision(True, "allowed"),
            )
            for patient, versions in by_patient.items()
        ]

    def write(
        self, accessor: Accessor, body: bytes | str | Resource | Draft, *, patient_address: str | None = None
    ) -> StoredRecord:
        stored = self.records.write(body, patient_address=patient_address)
        self.audit_writes(accessor)([stored])
        return stored

    async def write_async(self, accessor: Accessor, draft: Draft) -> StoredRecord:
        """`write` from an event loop (the API): stored and audited by the committer threads."""
        stored = await self.records.write_async(draft)
        for entry in self._write_entries(accessor, [stored]):
            await self.audit.record_async(entry)
        return stored

    def delete(self, accessor: Accessor, record_id: str) -> StoredRecord:
        stored = self.records.delete(record_id)
        self.audit.record(self._entry(accessor, "delete", stored.patient_address, [stored], Decision(True, "allowed")))
        return stored

    def audit_export(self, patient: str) -> None:
        """Audit a patient's export of their own records (data portability)."""
        stored = self.records.list(patient_address=patient)
        self.audit.record(
            self._entry(Accessor(patient, Purpose.PATRQT), "export", patient, stored, Decision(True, "allowed"))
        )

    def decide(self, accessor: Accessor, patient: str, category: Category) -> Decision:
        """May `accessor` see `patient`'s records of `category` for its purpose? (Not audited.)"""
        if accessor.address == patient:
            return Decision(True, "the patient's own record")
        if accessor.address == self.custodian:
            return Decision(True, "the custodian node")
        grant = self.consent.check(patient, accessor.address, category, accessor.purpose)
        if grant is not None:
            return Decision(True, f"consent {grant.hex_id}")
        if accessor.purpose == Purpose.ETREAT:
            if self._window_open(accessor.address, patient):
                return Decision(True, "break-glass", break_glass=True)
            if accessor.reason:
                self.break_glass(accessor.address, patient, accessor.reason)
                return Decision(True, "break-glass", break_glass=True)
        return Decision(False, self._refusal(patient, accessor, category))

    def break_glass(self, practitioner: str, patient: str, reason: str) -> EmergencyWindow:
        """Record an emergency access on chain and open a window of `BREAK_GLASS_WINDOW`; audited either way."""
        if not reason.strip():
            raise ValidationError("break-glass needs a reason")
        accessor = Accessor(practitioner, Purpose.ETREAT, reason)
        refusal = self._break_glass_refusal(practitioner)
        if refusal is None:
            salt = os.urandom(32)
            reason_hash = keccak(salt + reason.encode())
            try:
                block = self._registry_as(practitioner).record_emergency_access(patient, reason_hash)
            except (TransactionReverted, AccessDenied) as exc:
                refusal = str(exc)
        if refusal is not None:
            self.audit.record(
                self._entry(accessor, "break-glass", patient, [], Decision(False, refusal, break_glass=True))
            )
            raise AccessDenied(f"break-glass refused: {refusal}")
        now = self._clock()
        window = EmergencyWindow(practitioner, patient, block, now + BREAK_GLASS_WINDOW)
        with self.records.db.session() as session:
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
        self.audit.record(self._entry(accessor, "break-glass", patient, [], Decision(True, reason, break_glass=True)))
        return window

    def _break_glass_refusal(self, practitioner: str) -> str | None:
        identity = self._identity()
        actor = identity.actor(practitioner)
        if actor is None or not actor.active or actor.role != Role.PRACTITIONER:
            return f"{practitioner} is not a registered, active practitioner"
        if not identity.has_valid_credential(practitioner, MEDICAL_LICENCE):
            return f"{practitioner} holds no valid {MEDICAL_LICENCE}"
        return None

    def _window_open(self, practitioner: str, patient: str) -> bool:
        now = self._clock()
        with self.records.db.session() as session:
            expiry = session.scalars(
                select(EmergencyAccess.expires_at)
                .where(EmergencyAccess.practitioner == practitioner, EmergencyAccess.patient == patient)
                .order_by(EmergencyAccess.expires_at.desc())
                .limit(1)
            ).first()
        return expiry is not None and expiry.replace(tzinfo=expiry.tzinfo or UTC) > now

    def _refusal(self, patient: str, accessor: Accessor, category: Category) -> str:
        """Why no grant allows it, as precisely as the index can tell."""
        now = self._clock().timestamp()
        wanted = f"{category.value} records for {accessor.purpose.value}"
        relevant = [
            g
            for g in self.consent.grants(patient=patient, grantee=accessor.address)
            if g.covers(category, accessor.purpose)
        ]
        if any(g.revoked for g in relevant):
            return f"the patient revoked the consent to {wanted}"
        if any(g.expiry <= now for g in relevant):
            return f"the consent to {wanted} has expired"
        if any(g.not_before > now for g in relevant):
            return f"the consent to {wanted} is not valid yet"
        if category.sensitive:
            return f"no consent names {category.value}: sensitive records need a consent that names them ({wanted})"
        return f"no consent from the patient to {wanted}"

    @staticmethod
    def _entry(
        accessor: Accessor,
        interaction: str,
        patient: str,
        stored: Sequence[StoredRecord],
        decision: Decision,
        *,
        detail: str | None = None,
    ) -> Access:
        """One audit entry; its detail is the refusal, the break-glass reason, or `detail`."""
        return Access(
            action=_ACTIONS.get(interaction, Action.EXECUTE),
            interaction=interaction,
            outcome=Outcome.SUCCESS if decision.allowed else Outcome.DENIED,
            agent=accessor.address,
            patient=patient,
            entities=tuple(f"{s.resource_type}/{s.record_id}/_history/{s.version}" for s in stored),
            purpose=accessor.purpose.value,
            break_glass=decision.break_glass,
            detail=decision.why if not decision.allowed or decision.break_glass else detail,
        )
