"""The guarded repository: the one door through which every face reads, writes, searches and lists history.

Each call takes the caller (`Accessor`), asks the policy (`_policy.py`) about every version it would
touch, each by its own category, and audits the outcome: a write's audit entry is committed in the same
transaction as the versions it records (a crash leaves both or neither), a refusal is audited and raised,
and a search or listing answers with what may be seen (possibly nothing) and audits what it withheld.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial

from sqlalchemy.orm import Session

from careledger.access._break_glass import BreakGlass, EmergencyWindow
from careledger.access._entries import access_entry
from careledger.access._policy import CARE_TEAM, Accessor, Decision, may_read, may_write, readable_patients
from careledger.audit import Access, AuditLog
from careledger.chain import ConsentRegistry, IdentityRegistry, credential_type_id
from careledger.consent import ConsentService, Purpose
from careledger.errors import AccessDenied, NotFound, UnknownRecord, ValidationError, Withheld
from careledger.identity import AFFILIATION
from careledger.records import (
    Also,
    Category,
    Draft,
    Guard,
    Importer,
    RecordService,
    Resource,
    SearchQuery,
    StoredRecord,
    TokenCondition,
    references_to,
    satisfies,
    search_query,
    sort_resources,
)

OUTSIDE_SCOPES = "outside what the token's scopes narrow it to"
MAX_INNER_SEARCHES = 8  # chained and _has parameters: each costs a search
CARE_TEAM_TTL = 15.0  # seconds a care-team membership is remembered


class _WriteRefused(AccessDenied):
    """The policy refused a version; carries it, so the refusal is audited against the record."""

    def __init__(self, why: str, new: StoredRecord) -> None:
        super().__init__(why)
        self.new = new


def _read_key(stored: StoredRecord) -> tuple[Category, str | None]:
    """What a read decision depends on besides the patient: the category, and for a sensitive one its author."""
    return stored.category, stored.author if stored.category.sensitive else None


def _by_patient(versions: Sequence[StoredRecord]) -> dict[str, list[StoredRecord]]:
    """Versions grouped by the patient they belong to, in order: one audit entry per patient."""
    grouped: dict[str, list[StoredRecord]] = {}
    for version in versions:
        grouped.setdefault(version.patient_address, []).append(version)
    return grouped


def _inner(resource_type: str, params: tuple[tuple[str, str], ...]) -> SearchQuery:
    """The search a chain or `_has` names; every parameter must be understood (an ignored one would widen it)."""
    query, unknown = search_query(resource_type, params, patient_address=None)
    if unknown:
        raise ValidationError(f"unknown search parameters of {resource_type}: {', '.join(unknown)}")
    return query


def _write_interaction(versions: Sequence[StoredRecord]) -> str:
    if any(v.deleted for v in versions):
        return "delete"
    return "create" if all(v.version == 1 for v in versions) else "update"


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
        self._care_team: dict[str, tuple[float, bool]] = {}
        self._glass = BreakGlass(records.db, audit, identity=identity, registry_as=registry_as, clock=clock)

    def read(self, accessor: Accessor, record_id: str, version: int | None = None) -> Resource:
        """One record (a version, or the current one), if `accessor` may see it; else `Withheld`, told as an
        unknown id is (`UnknownRecord`). Both are audited, so a refusal costs what an unknown id does."""
        stored, decision, entry = self._judge_read(accessor, record_id, version)
        self.audit.record(entry)
        return self._release(record_id, version, stored, decision)

    async def read_async(self, accessor: Accessor, record_id: str, version: int | None = None) -> Resource:
        """`read` from an event loop (the API): decided and decrypted on the loop, a fraction of a
        millisecond, with the durable audit entry awaited from the log's committer thread. A
        break-glass read may first send a transaction, so it runs in a thread instead."""
        if accessor.purpose == Purpose.ETREAT:
            return await asyncio.to_thread(self.read, accessor, record_id, version)
        stored, decision, entry = self._judge_read(accessor, record_id, version)
        await self.audit.record_async(entry)
        return self._release(record_id, version, stored, decision)

    def _judge_read(
        self, accessor: Accessor, record_id: str, version: int | None
    ) -> tuple[StoredRecord | None, Decision, Access]:
        """A read's record (None if unknown), whether it may be seen, and its audit entry (written first)."""
        interaction = "vread" if version else "read"
        try:
            stored = self.records.get(record_id, version)
        except NotFound as unknown:
            decision = Decision(False, str(unknown))
            return None, decision, access_entry(accessor, interaction, None, [], decision, entities=[record_id])
        decision = self._decide_read(accessor, stored.patient_address, stored.category, stored.author)
        if decision.allowed and not self._within_scopes(accessor, [stored]):
            decision = Decision(False, OUTSIDE_SCOPES)
        return stored, decision, access_entry(accessor, interaction, stored.patient_address, [stored], decision)

    def _release(
        self, record_id: str, version: int | None, stored: StoredRecord | None, decision: Decision
    ) -> Resource:
        if stored is None:
            raise UnknownRecord(record_id, version)
        if not decision.allowed:
            raise Withheld(decision.why, record_id, version)
        return self.records.open(stored)

    def current_version(self, accessor: Accessor, record_id: str, interaction: str) -> int:
        """The current version of a record `accessor` means to change (0: there is none), once it may read it:
        else `Withheld` (audited), so a conditional write tells no version or category to one who may not
        know of the record, and the answer is an unknown id's whatever `If-Match` said."""
        try:
            stored = self.records.get(record_id)
        except NotFound:
            return 0
        decision = self._decide_read(accessor, stored.patient_address, stored.category, stored.author)
        if not decision.allowed:
            self.audit.record(access_entry(accessor, interaction, stored.patient_address, [stored], decision))
            raise Withheld(decision.why, record_id)
        return stored.version

    def history(
        self, accessor: Accessor, record_id: str, resource_type: str | None = None
    ) -> list[tuple[StoredRecord, Resource | None]]:
        """The versions of a record `accessor` may see, newest first, each judged by its own category.

        Decrypted (None for deletions); one audit entry naming what was shown and what withheld.
        Refused if none may be seen.
        """
        versions = self.records.history(record_id)
        shown, refusal = self._visible(accessor, versions, "history-instance")
        if not shown:
            raise Withheld(refusal, record_id)
        if resource_type is not None and versions[0].resource_type != resource_type:
            raise NotFound(f"no {resource_type}/{record_id}")
        return [(v, None if v.deleted else self.records.open(v)) for v in shown]

    def search(self, accessor: Accessor, query: SearchQuery, *, interaction: str = "search-type") -> list[Resource]:
        """Current records matching `query` that `accessor` may see, in its order; withheld ones audited, not told.
        Chains and `_has` are searches of their own, through this door; `interaction` names it in the audit."""
        query = self._resolve(accessor, query)
        patients = readable_patients(accessor, self)
        shown = self.visible(accessor, self.records.search(replace(query, patients=patients)), interaction)
        if patients is not None:
            self.audit.record_later(partial(self._withheld_elsewhere, accessor, query, patients, interaction))
        return sort_resources([self.records.open(s) for s in shown], query.sort)

    def _withheld_elsewhere(
        self, accessor: Accessor, query: SearchQuery, seen: frozenset[str], interaction: str
    ) -> list[Access]:
        """The audit of what a search narrowed to `seen` left out, per patient, found after the answer by the
        audit log's thread (`AuditLog.record_later`): what the index matched of other patients' records
        (nothing is decrypted for it, so a value the index only narrows counts as matched)."""
        withheld = self.records.search(replace(query, checks=(), patients=None, other_than=seen))
        entries = []
        for patient, versions in _by_patient(withheld).items():
            why = {_read_key(s): may_read(accessor, patient, s.category, self, author=s.author).why for s in versions}
            categories = ", ".join(sorted({category.value for category, _ in why}))
            refusal = Decision(False, f"withheld {categories}: {next(iter(why.values()))}")
            entries.append(access_entry(accessor, interaction, patient, [], refusal))
        return entries

    def _resolve(self, accessor: Accessor, query: SearchQuery) -> SearchQuery:
        """`query` with its chains and `_has` replaced by what `accessor`'s own searches of them found."""
        if len(query.chains) + len(query.has) > MAX_INNER_SEARCHES:
            raise ValidationError(f"at most {MAX_INNER_SEARCHES} chained and _has parameters in one search")
        tokens = list(query.tokens)
        record_ids = query.record_ids
        for chain in query.chains:
            found = self.search(accessor, _inner(chain.target, chain.params))
            tokens.append(TokenCondition(chain.param, tuple(f"{chain.target}/{r['id']}" for r in found)))
        for has in query.has:
            found = self.search(accessor, _inner(has.source, has.params))
            ids = {i for r in found for i in references_to(r, has.param, query.resource_type or "")}
            record_ids = tuple(ids if record_ids is None else ids & set(record_ids))
        return replace(query, tokens=tuple(tokens), record_ids=record_ids, chains=(), has=())

    def type_history(
        self, accessor: Accessor, resource_type: str, *, patient_address: str | None = None, limit: int = 100
    ) -> list[tuple[StoredRecord, Resource | None]]:
        """The newest versions of a type's records that `accessor` may see (None for deletions)."""
        versions = self.records.versions(resource_type, patient_address=patient_address, limit=limit)
        visible = self.visible(accessor, versions, "history-type")
        return [(v, None if v.deleted else self.records.open(v)) for v in visible]

    def visible(
        self, accessor: Accessor, found: Sequence[StoredRecord], interaction: str, *, refuse_if_none: bool = False
    ) -> list[StoredRecord]:
        """The versions of `found` `accessor` may see, in order; an audit entry per patient naming what it withheld.

        `refuse_if_none`: raise the refusal when versions were found and none may be seen (a
        request that named its patient and categories, as a node-to-node fetch does); since the
        answer tells of the refusal anyway, its audit is durable before it is raised.
        """
        shown, refusal = self._visible(accessor, found, interaction, withheld_later=not refuse_if_none)
        if refuse_if_none and found and not shown:
            raise AccessDenied(refusal)
        return shown

    def _visible(
        self, accessor: Accessor, found: Sequence[StoredRecord], interaction: str, *, withheld_later: bool = True
    ) -> tuple[list[StoredRecord], str]:
        """`visible`, and the first refusal's reason (for the callers that refuse when nothing may be seen).
        What is shown is audited durably before it is; with `withheld_later`, an entry that only records a
        withholding is written off the answer's path, so no timing tells of it (a crash within a quarter of a
        second of the answer may lose it)."""
        allowed_ids: set[tuple[str, int]] = set()
        refusal = ""
        disclosed: list[Access] = []
        withheld_only: list[Access] = []
        found = self._within_scopes(accessor, found)
        for patient, stored_records in _by_patient(found).items():
            decisions: dict[tuple[Category, str | None], Decision] = {}
            for stored in stored_records:
                if (key := _read_key(stored)) not in decisions:
                    decisions[key] = self._decide_read(accessor, patient, stored.category, stored.author)
            allowed = [s for s in stored_records if decisions[_read_key(s)].allowed]
            withheld = sorted({category.value for (category, _), d in decisions.items() if not d.allowed})
            why = next((d.why for d in decisions.values() if not d.allowed), "")
            care_team = any(d.care_team for d in decisions.values())
            summary = Decision(
                allowed=bool(allowed),
                why=f"withheld {', '.join(withheld)}: {why}" if withheld else CARE_TEAM if care_team else "allowed",
                break_glass=any(d.break_glass for d in decisions.values()),
                care_team=care_team,
            )
            detail = summary.why if withheld or care_team else None
            entry = access_entry(accessor, interaction, patient, allowed, summary, detail=detail)
            (disclosed if allowed else withheld_only).append(entry)
            allowed_ids.update((s.record_id, s.version) for s in allowed)
            refusal = refusal or why
        if withheld_later:
            self.audit.record_all(disclosed)
            self.audit.record_later(withheld_only)
        else:
            self.audit.record_all(disclosed + withheld_only)
        return [s for s in found if (s.record_id, s.version) in allowed_ids], refusal

    def _within_scopes(self, accessor: Accessor, found: Sequence[StoredRecord]) -> list[StoredRecord]:
        """The versions of `found` the accessor's narrowed scopes let it ask for (each decrypted here to tell)."""
        return [
            stored
            for stored in found
            if (queries := accessor.narrowed(stored.resource_type)) is None
            or (not stored.deleted and satisfies(self.records.open(stored), queries))
        ]

    def may_bill(self, accessor: Accessor, encounter_id: str) -> None:
        """Refuse (audited) a claim unless `accessor` bills as this node (it, its care team) and reads the Encounter."""
        self.read(accessor, encounter_id)
        if accessor.address != self.custodian and not self.care_team(accessor.address):
            patient = self.records.get(encounter_id).patient_address
            raise self.refuse(accessor, patient, "only the node and its care team bill as this node", "create")

    def refuse(self, accessor: Accessor, patient: str, why: str, interaction: str) -> AccessDenied:
        """Audit a refusal decided before any record was looked at; the error to raise."""
        self.audit.record(access_entry(accessor, interaction, patient, [], Decision(False, why)))
        return AccessDenied(why)

    # Writes: the policy judges every version inside the records service, before anything
    # is written; the audit entry is committed with the versions; a refusal is audited.

    def guard(self, accessor: Accessor, resource_type: str | None = None) -> Guard:
        """The records service's check of each version `accessor` would store."""

        def check(current: StoredRecord | None, new: StoredRecord) -> None:
            """The guard `RecordService` calls before a write: refuse (audited) what the policy refuses."""
            if resource_type is not None and current is not None and current.resource_type != resource_type:
                raise NotFound(f"no {resource_type}/{current.record_id}")
            decision = may_write(accessor, current, new, self)
            if not decision.allowed:
                raise _WriteRefused(decision.why, new)

        return check

    def also(self, accessor: Accessor, *, then: Also | None = None) -> Also:
        """The audit of versions `accessor` stored (and the caller's `then`), in the transaction that stores them."""

        def audit(session: Session, stored: list[StoredRecord]) -> None:
            """The `also` `RecordService` calls in the write's transaction: the allowed writes' audit entries."""
            self.audit.append(session, self._write_entries(accessor, stored))
            if then is not None:
                then(session, stored)

        return audit

    def _write_entries(self, accessor: Accessor, stored: Sequence[StoredRecord]) -> list[Access]:
        """The audit entries of stored versions written by `accessor`: one per patient."""
        return [
            access_entry(accessor, _write_interaction(versions), patient, versions, Decision(True, "allowed"))
            for patient, versions in _by_patient(stored).items()
        ]

    @contextmanager
    def _refusals_audited(self, accessor: Accessor) -> Iterator[None]:
        """Around a write: a version the policy refused is audited against its record, and raised as `AccessDenied`."""
        try:
            yield
        except _WriteRefused as refusal:
            new = refusal.new
            decision = Decision(False, str(refusal))
            self.audit.record(access_entry(accessor, _write_interaction([new]), new.patient_address, [new], decision))
            raise AccessDenied(str(refusal)) from None

    def write(
        self, accessor: Accessor, body: bytes | str | Resource | Draft, *, patient_address: str | None = None
    ) -> StoredRecord:
        """Write one record as `accessor`, if the policy lets it; the stored version. Refusals are audited."""
        draft = body if isinstance(body, Draft) else self.records.prepare(body, patient_address=patient_address)
        with self._refusals_audited(accessor):
            return self.records.write(
                replace(draft, author=accessor.address), check=self.guard(accessor), also=self.also(accessor)
            )

    async def write_async(self, accessor: Accessor, draft: Draft) -> StoredRecord:
        """`write` from an event loop (the API): stored, with its audit entry, by the committer thread."""
        with self._refusals_audited(accessor):
            return await self.records.write_async(
                replace(draft, author=accessor.address), check=self.guard(accessor), also=self.also(accessor)
            )

    def store(self, accessor: Accessor, drafts: Sequence[Draft], *, also: Also | None = None) -> list[StoredRecord]:
        """Drafts stored all or none (a transaction Bundle), each judged, audited and `also` done in one transaction."""
        drafts = [replace(d, author=accessor.address) for d in drafts]
        with self._refusals_audited(accessor):
            return self.records.store(drafts, check=self.guard(accessor), also=self.also(accessor, then=also))

    def delete(self, accessor: Accessor, record_id: str, resource_type: str | None = None) -> StoredRecord:
        """A tombstone version, if `accessor` may write the record (and it is a `resource_type`, when given)."""
        self.current_version(accessor, record_id, "delete")  # one it may not read is told as unknown
        with self._refusals_audited(accessor):
            return self.records.delete(
                record_id,
                author=accessor.address,
                check=self.guard(accessor, resource_type),
                also=self.also(accessor),
            )

    def importer(self, accessor: Accessor, *, patient_wallet: Callable[[Resource], str | None]) -> Importer:
        """A bulk import by `accessor`: each chunk judged, and audited with its checkpoint."""
        return Importer(
            self.records, patient_wallet=patient_wallet, check=self.guard(accessor), also=self.also(accessor)
        )

    def audit_export(self, patient: str) -> None:
        """Audit a patient's export of their own records (data portability)."""
        stored = self.records.list(patient_address=patient)
        self.audit.record(
            access_entry(Accessor(patient, Purpose.PATRQT), "export", patient, stored, Decision(True, "allowed"))
        )

    def _decide_read(self, accessor: Accessor, patient: str, category: Category, author: str | None) -> Decision:
        """The policy's read decision; an ETREAT with a reason first opens the break-glass window it needs."""
        decision = may_read(accessor, patient, category, self, author=author)
        if not decision.allowed and accessor.purpose == Purpose.ETREAT and accessor.reason:
            self.break_glass(accessor.address, patient, accessor.reason)
            decision = may_read(accessor, patient, category, self, author=author)
        return decision

    # The policy's facts (`_policy.Facts`).

    def grant(self, patient: str, grantee: str, category: Category, purpose: Purpose) -> str | None:
        """The id of a live consent of `patient` to `grantee` for this category and purpose, if any."""
        grant = self.consent.check(patient, grantee, category, purpose)
        return None if grant is None else grant.hex_id

    def emergency_open(self, practitioner: str, patient: str) -> bool:
        """Whether `practitioner` has an open break-glass window on `patient`'s records."""
        return self._glass.is_open(practitioner, patient)

    def care_team(self, actor: str) -> bool:
        """Looked up on chain at most every `CARE_TEAM_TTL` seconds per actor: an attestation or its
        revocation is honoured within that time, and a read does not wait for the chain."""
        now = time.monotonic()
        cached = self._care_team.get(actor)
        if cached is not None and now - cached[0] < CARE_TEAM_TTL:
            return cached[1]
        wanted, at = credential_type_id(AFFILIATION), self._clock().timestamp()
        member = any(
            c.credential_type == wanted and c.issuer == self.custodian and not c.revoked and c.expires_at > at
            for c in self._identity().credentials_of(actor)
        )
        self._care_team[actor] = (now, member)
        return member

    def care_team_restricted(self, patient: str, category: Category) -> bool:
        """Whether `patient` keeps `category` from this node's care team."""
        return self.consent.care_team_restricted(patient, self.custodian, category)

    def grantors(self, grantee: str, purpose: Purpose) -> frozenset[str]:
        """The patients with a live consent to `grantee` for `purpose` (the consent index, in memory)."""
        return self.consent.grantors(grantee, purpose)

    def why_not(self, patient: str, grantee: str, category: Category, purpose: Purpose) -> str:
        """Why the policy refuses `grantee` `category` of `patient`'s records for `purpose`."""
        return self._refusal(patient, Accessor(grantee, purpose), category)

    def break_glass(self, practitioner: str, patient: str, reason: str) -> EmergencyWindow:
        """Open `practitioner`'s emergency window on `patient`'s records (`BreakGlass.open`)."""
        return self._glass.open(practitioner, patient, reason)

    def _refusal(self, patient: str, accessor: Accessor, category: Category) -> str:
        """Why no grant allows it, as precisely as the index can tell."""
        now = self._clock().timestamp()
        wanted = f"{category.value} records for {accessor.purpose.value}"
        relevant = [g for g in self.consent.between(patient, accessor.address) if g.covers(category, accessor.purpose)]
        if any(g.revoked for g in relevant):
            return f"the patient revoked the consent to {wanted}"
        if any(g.expiry <= now for g in relevant):
            return f"the consent to {wanted} has expired"
        if any(g.not_before > now for g in relevant):
            return f"the consent to {wanted} is not valid yet"
        if category.sensitive:
            return f"no consent names {category.value}: sensitive records need a consent that names them ({wanted})"
        return f"no consent from the patient to {wanted}"
