"""The guarded repository of one caller: the one door through which a face reads, writes, searches, lists history.

Bound to its caller (`Accessor`) when it is handed out (`RecordAccess.for_caller`), each call asks the
policy (`_policy.py`) about every version it would touch, each by its own category, and audits the
outcome: a write's audit entry is committed in the same transaction as the versions it records (a crash
leaves both or neither), a refusal is audited and raised, and a search or listing answers with what may
be seen (possibly nothing) and audits what it withheld.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import partial

from sqlalchemy.orm import Session

from careledger.access._about import WriteRefused, about_readable, refusal_told
from careledger.access._compartment import outside_compartment, searched_patients
from careledger.access._entries import access_entry, by_patient, page_entries, write_entries
from careledger.access._facts import PolicyFacts
from careledger.access._members import Members, members_seen
from careledger.access._messaging import recipients_of
from careledger.access._policy import (
    CLAIM_TYPES,
    Accessor,
    Decision,
    may_bill,
    may_message,
    may_read,
    may_write,
)
from careledger.audit import Access, AuditLog
from careledger.consent import Purpose
from careledger.crypto import PrivateKey
from careledger.errors import AccessDenied, NotFound, UnheldPatient, UnknownRecord, ValidationError, Withheld
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
    records_about,
    references_to,
    satisfies,
    search_query,
    sort_resources,
)

OUTSIDE_SCOPES = "outside what the token's scopes narrow it to"
MAX_INNER_SEARCHES = 8  # chained and _has parameters: each costs a search


def _read_key(stored: StoredRecord) -> tuple[Category, str | None]:
    """What a read decision depends on besides the patient: the category, and for a sensitive one its author;
    for a claim's record the version itself (its payer reads the versions of that claim it pays, none of hers)."""
    if stored.resource_type in CLAIM_TYPES:
        return stored.category, f"{stored.record_id}/_history/{stored.version}"
    return stored.category, stored.author if stored.category.sensitive else None


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a search: its records, decrypted, and how many the whole search shows the caller."""

    resources: list[Resource]
    total: int


def _inner(resource_type: str, params: tuple[tuple[str, str], ...]) -> SearchQuery:
    """The search a chain or `_has` names; every parameter must be understood (an ignored one would widen it)."""
    query, unknown = search_query(resource_type, params, patient_address=None)
    if unknown:
        raise ValidationError(f"unknown search parameters of {resource_type}: {', '.join(unknown)}")
    return query


class Repository:
    """The door bound to one caller (`accessor`): the only record handle a face gets, from `RecordAccess.for_caller`.

    Every read, search, history, listing and write is judged by the policy for this caller and audited as hers.
    """

    def __init__(self, accessor: Accessor, records: RecordService, audit: AuditLog, facts: PolicyFacts) -> None:
        self.accessor = accessor
        self._records = records
        self.audit = audit
        self._facts = facts

    def read(self, record_id: str, version: int | None = None) -> Resource:
        """One record (a version, or the current one), if `accessor` may see it; else `Withheld`, told as an
        unknown id is (`UnknownRecord`). Both are audited, so a refusal costs what an unknown id does."""
        return self._records.open(self.stored(record_id, version))

    def stored(self, record_id: str, version: int | None = None) -> StoredRecord:
        """One version's metadata (type, owner, category, anchoring) if the caller may read it, refused as `read`
        is; audited as a read, since it tells of the record."""
        stored, decision, entry = self._judge_read(record_id, version)
        self.audit.record(entry)
        return self._release(record_id, version, stored, decision)

    async def read_async(self, record_id: str, version: int | None = None) -> Resource:
        """`read` from an event loop (the API): decided and decrypted on the loop, a fraction of a
        millisecond, with the durable audit entry awaited from the log's committer thread. A
        break-glass read may first send a transaction, so it runs in a thread instead."""
        if self.accessor.purpose == Purpose.ETREAT:
            return await asyncio.to_thread(self.read, record_id, version)
        stored, decision, entry = self._judge_read(record_id, version)
        await self.audit.record_async(entry)
        return self._records.open(self._release(record_id, version, stored, decision))

    def _judge_read(self, record_id: str, version: int | None) -> tuple[StoredRecord | None, Decision, Access]:
        """A read's record (None if unknown), whether it may be seen, and its audit entry (written first)."""
        interaction = "vread" if version else "read"
        try:
            stored = self._records.get(record_id, version)
        except NotFound as unknown:
            decision = Decision(False, str(unknown))
            return None, decision, access_entry(self.accessor, interaction, None, [], decision, entities=[record_id])
        decision = self._judge(stored)
        if decision.allowed and not self._within_scopes([stored]):
            decision = Decision(False, OUTSIDE_SCOPES)
        return stored, decision, access_entry(self.accessor, interaction, stored.patient_address, [stored], decision)

    @staticmethod
    def _release(record_id: str, version: int | None, stored: StoredRecord | None, decision: Decision) -> StoredRecord:
        """The version a judged read found, or the refusal an unknown id gets (whether it is unknown or withheld)."""
        if stored is None:
            raise UnknownRecord(record_id, version)
        if not decision.allowed:
            raise Withheld(decision.why, record_id, version)
        return stored

    def current_version(self, record_id: str, interaction: str) -> int:
        """The current version of a record `accessor` means to change (0: there is none), once it may read it:
        else `Withheld` (audited), so a conditional write tells no version or category to one who may not
        know of the record, and the answer is an unknown id's whatever `If-Match` said."""
        try:
            stored = self._records.get(record_id)
        except NotFound:
            return 0
        decision = self._quiet()._decide_read(stored)
        if not decision.allowed:
            self.audit.record(access_entry(self.accessor, interaction, stored.patient_address, [stored], decision))
            raise Withheld(decision.why, record_id)
        return stored.version

    def history(self, record_id: str, resource_type: str | None = None) -> list[tuple[StoredRecord, Resource | None]]:
        """The versions of a record `accessor` may see, newest first, each judged by its own category.

        Decrypted (None for deletions); one audit entry naming what was shown and what withheld.
        Refused if none may be seen.
        """
        versions = self._records.history(record_id)
        shown, _, refusal = self._visible(versions, "history-instance")
        if not shown:
            raise Withheld(refusal, record_id)
        if resource_type is not None and versions[0].resource_type != resource_type:
            raise NotFound(f"no {resource_type}/{record_id}")
        return [(v, None if v.deleted else self._records.open(v)) for v in shown]

    def search(self, query: SearchQuery, *, interaction: str = "search-type") -> list[Resource]:
        """Current records matching `query` that `accessor` may see, in its order; withheld ones audited, not told.
        Chains and `_has` are searches of their own, through this door; `interaction` names it in the audit."""
        return self.search_page(query, interaction=interaction).resources

    def search_page(
        self, query: SearchQuery, *, offset: int = 0, count: int | None = None, interaction: str = "search-type"
    ) -> Page:
        """The `count` records after the first `offset` of what `search` answers, and how many it answers in all.

        When the index orders the matches (`SearchQuery.index_ordered`: by `_lastUpdated` or `_id`, the default),
        visibility is decided on the versions' metadata and only the page is decrypted: a page of a 2,000-record
        chart costs a page. Any other order is the decrypted records', so all are opened. Either way only the
        page is audited as shown.
        """
        query = self._resolve(query)
        patients = searched_patients(self.accessor, self._facts)
        found = self._records.search(replace(query, patients=patients))
        if patients is not None:
            self.audit.record_later(partial(self._withheld_elsewhere, query, patients, interaction))
        window = slice(offset, None if count is None else offset + count)
        if query.index_ordered:
            shown, total, _ = self._visible(found, interaction, page=lambda seen: seen[window])
            return Page([self._records.open(s) for s in shown], total)
        opened: dict[str, Resource] = {}

        def sorted_page(seen: list[StoredRecord]) -> list[StoredRecord]:
            """The `window` of `seen` in the order of its decrypted records (all opened to tell)."""
            by_id = {s.record_id: s for s in seen}
            opened.update((s.record_id, self._records.open(s)) for s in seen)
            return [by_id[r["id"]] for r in sort_resources(list(opened.values()), query.sort)[window]]

        shown, total, _ = self._visible(found, interaction, page=sorted_page)
        return Page([opened[s.record_id] for s in shown], total)

    def _withheld_elsewhere(self, query: SearchQuery, seen: frozenset[str], interaction: str) -> list[Access]:
        """The audit of what a search narrowed to `seen` left out, per patient, found after the answer by the
        audit log's thread (`AuditLog.record_later`): what the index matched of other patients' records
        (nothing is decrypted for it, so a value the index only narrows counts as matched)."""
        withheld = self._records.search(replace(query, checks=(), patients=None, other_than=seen))
        entries = []
        for patient, versions in by_patient(withheld).items():
            out = outside_compartment(self.accessor, patient, self._facts.custodian)
            why = {
                _read_key(s): (out or may_read(self.accessor, patient, s.category, self._facts, author=s.author)).why
                for s in versions
            }
            categories = ", ".join(sorted({category.value for category, _ in why}))
            refusal = Decision(False, f"withheld {categories}: {next(iter(why.values()))}")
            entries.append(access_entry(self.accessor, interaction, patient, [], refusal))
        return entries

    def _resolve(self, query: SearchQuery) -> SearchQuery:
        """`query` with its chains and `_has` replaced by what `accessor`'s own searches of them found."""
        if len(query.chains) + len(query.has) > MAX_INNER_SEARCHES:
            raise ValidationError(f"at most {MAX_INNER_SEARCHES} chained and _has parameters in one search")
        tokens = list(query.tokens)
        record_ids = query.record_ids
        for chain in query.chains:
            found = self.search(_inner(chain.target, chain.params))
            tokens.append(TokenCondition(chain.param, tuple(f"{chain.target}/{r['id']}" for r in found)))
        for has in query.has:
            found = self.search(_inner(has.source, has.params))
            ids = {i for r in found for i in references_to(r, has.param, query.resource_type or "")}
            record_ids = tuple(ids if record_ids is None else ids & set(record_ids))
        return replace(query, tokens=tuple(tokens), record_ids=record_ids, chains=(), has=())

    def type_history(
        self, resource_type: str, *, patient_address: str | None = None, limit: int = 100
    ) -> list[tuple[StoredRecord, Resource | None]]:
        """The newest versions of a type's records that `accessor` may see (None for deletions)."""
        versions = self._records.versions(resource_type, patient_address=patient_address, limit=limit)
        visible = self.visible(versions, "history-type")
        return [(v, None if v.deleted else self._records.open(v)) for v in visible]

    def visible(
        self, found: Sequence[StoredRecord], interaction: str, *, refuse_if_none: bool = False
    ) -> list[StoredRecord]:
        """The versions of `found` `accessor` may see, in order; an audit entry per patient naming what it withheld.

        `refuse_if_none`: raise the refusal when versions were found and none may be seen (a
        request that named its patient and categories, as a node-to-node fetch does); since the
        answer tells of the refusal anyway, its audit is durable before it is raised.
        """
        shown, _, refusal = self._visible(found, interaction, withheld_later=not refuse_if_none)
        if refuse_if_none and found and not shown:
            raise AccessDenied(refusal)
        return shown

    def _visible(
        self,
        found: Sequence[StoredRecord],
        interaction: str,
        *,
        withheld_later: bool = True,
        page: Callable[[list[StoredRecord]], list[StoredRecord]] = list,
    ) -> tuple[list[StoredRecord], int, str]:
        """The `page` of the versions of `found` the caller may see, how many she may see in all, and the first
        refusal's reason (for the callers that refuse when nothing may be seen); nothing is decrypted to decide
        (but for scopes narrowed by a query). A patient with versions on the page has an audit entry naming them,
        durable before they are shown; one with none has an entry only if something of hers was withheld
        (`page_entries`). With `withheld_later`, an entry that only records a withholding is written off the
        answer's path, so no timing tells of it (a crash within a quarter of a second of the answer may lose it)."""
        found = self._within_scopes(found)
        decisions: dict[str, dict[tuple[Category, str | None], Decision]] = {}
        for patient, stored_records in by_patient(found).items():
            decided = decisions.setdefault(patient, {})
            for stored in stored_records:
                if (key := _read_key(stored)) not in decided:
                    decided[key] = self._judge(stored)
        seen = [s for s in found if decisions[s.patient_address][_read_key(s)].allowed]
        shown = page(seen)
        disclosed, withheld_only = page_entries(self.accessor, interaction, decisions, shown)
        refusal = next((d.why for decided in decisions.values() for d in decided.values() if not d.allowed), "")
        if withheld_later:
            self.audit.record_all(disclosed)
            self.audit.record_later(withheld_only)
        else:
            self.audit.record_all(disclosed + withheld_only)
        return shown, len(seen), refusal

    def _within_scopes(self, found: Sequence[StoredRecord]) -> list[StoredRecord]:
        """The versions of `found` the accessor's narrowed scopes let it ask for (each decrypted here to tell)."""
        return [
            stored
            for stored in found
            if (queries := self.accessor.narrowed(stored.resource_type)) is None
            or (not stored.deleted and satisfies(self._records.open(stored), queries))
        ]

    def billable(self, encounter_id: str) -> tuple[StoredRecord, Resource]:
        """The Encounter the caller bills for as this node, read through the door (audited); refused (audited)
        unless the caller is the node or its care team."""
        stored = self.stored(encounter_id)
        decision = may_bill(self.accessor, self._facts)
        if not decision.allowed:
            raise self.refuse(stored.patient_address, decision.why, "create")
        return stored, self._records.open(stored)

    def refuse(self, patient: str, why: str, interaction: str) -> AccessDenied:
        """Audit a refusal decided before any record was looked at; the error to raise."""
        self.audit.record(access_entry(self.accessor, interaction, patient, [], Decision(False, why)))
        return AccessDenied(why)

    # Writes: the policy judges every version inside the records service, before anything
    # is written; the audit entry is committed with the versions; a refusal is audited.

    def _guard(self, resource_type: str | None = None, drafts: Sequence[Draft] = ()) -> Guard:
        """The records service's check of each version `accessor` would store (`drafts`' messages: to whom too)."""
        addressed = recipients_of(drafts)

        def check(current: StoredRecord | None, new: StoredRecord) -> None:
            """The guard `RecordService` calls before a write: refuse (audited) what the policy refuses."""
            if resource_type is not None and current is not None and current.resource_type != resource_type:
                raise NotFound(f"no {resource_type}/{current.record_id}")
            decision = may_write(self.accessor, current, new, self._facts)
            if decision.allowed and new.record_id in addressed:
                sent = addressed[new.record_id]
                sender = sent.sender_of(new.patient_address)
                decision = may_message(self.accessor, new.patient_address, sender, sent.recipients, self._facts)
            if not decision.allowed:
                raise WriteRefused(decision.why, new)

        return check

    def _also(self, *, then: Also | None = None) -> Also:
        """The audit of versions `accessor` stored (and the caller's `then`), in the transaction that stores them."""

        def audit(session: Session, stored: list[StoredRecord]) -> None:
            """The `also` `RecordService` calls in the write's transaction: the allowed writes' audit entries."""
            self.audit.append(session, write_entries(self.accessor, stored, Decision(True, "allowed")))
            if then is not None:
                then(session, stored)

        return audit

    @contextmanager
    def _refusals_audited(self, drafts: Sequence[Draft] = ()) -> Iterator[None]:
        """Around a write: a version the policy refused is audited against its record, and raised as `AccessDenied`;
        a Patient `drafts` name that is not here, or that the writer may not read, is told as not here (`_about`)."""
        try:
            yield
        except (WriteRefused, UnheldPatient) as failed:
            raise refusal_told(
                self.accessor, failed, drafts, self._quiet()._judge_read, self.audit.record_all
            ) from None

    def write(self, body: bytes | str | Resource | Draft, *, patient_address: str | None = None) -> StoredRecord:
        """Write one record as `accessor`, if the policy lets it; the stored version. Refusals are audited."""
        draft = body if isinstance(body, Draft) else self.prepare(body, patient_address=patient_address)
        about_readable([draft], self._quiet()._judge_read, self.audit.record_all)
        with self._refusals_audited([draft]):
            return self._records.write(
                replace(draft, author=self.accessor.address), check=self._guard(drafts=[draft]), also=self._also()
            )

    async def write_async(self, draft: Draft) -> StoredRecord:
        """`write` from an event loop (the API): stored, with its audit entry, by the committer thread."""
        if records_about(draft.data):  # its targets' reads, judged and audited, off the loop
            await asyncio.to_thread(about_readable, [draft], self._quiet()._judge_read, self.audit.record_all)
        try:
            return await self._records.write_async(
                replace(draft, author=self.accessor.address), check=self._guard(drafts=[draft]), also=self._also()
            )
        except (WriteRefused, UnheldPatient) as failed:  # its answer reads a Patient and commits: off the loop too
            told = partial(
                refusal_told, self.accessor, failed, [draft], self._quiet()._judge_read, self.audit.record_all
            )
            raise await asyncio.to_thread(told) from None

    def store(self, drafts: Sequence[Draft], *, also: Also | None = None) -> list[StoredRecord]:
        """Drafts stored all or none (a transaction Bundle), each judged, audited and `also` done in one transaction."""
        drafts = [replace(d, author=self.accessor.address) for d in drafts]
        about_readable(drafts, self._quiet()._judge_read, self.audit.record_all)
        with self._refusals_audited(drafts):
            return self._records.store(drafts, check=self._guard(drafts=drafts), also=self._also(then=also))

    def delete(self, record_id: str, resource_type: str | None = None) -> StoredRecord:
        """A tombstone version, if `accessor` may write the record (and it is a `resource_type`, when given)."""
        self.current_version(record_id, "delete")  # one it may not read is told as unknown
        with self._refusals_audited():
            return self._records.delete(
                record_id,
                author=self.accessor.address,
                check=self._guard(resource_type),
                also=self._also(),
            )

    def importer(self, *, patient_wallet: Callable[[Resource], str | None]) -> Importer:
        """A bulk import by `accessor`: each chunk judged, and audited with its checkpoint."""
        return Importer(self._records, patient_wallet=patient_wallet, check=self._guard(), also=self._also())

    def listing(self, *, limit: int | None = None, offset: int = 0, **criteria: str | None) -> list[StoredRecord]:
        """Current records by type, ids or owner (`RecordService.list`) the caller may see; nothing is decrypted."""
        return self.visible(self._records.list(limit=limit, offset=offset, **criteria), "search-type")

    def open_visible(self, found: Sequence[StoredRecord], interaction: str) -> list[Resource]:
        """The versions of `found` the caller may see, decrypted, in order; audited as `visible` is."""
        return [self._records.open(stored) for stored in self.visible(found, interaction)]

    def export(self, key: PrivateKey) -> tuple[int, Iterator[Resource]]:
        """How many of the caller's own records there are, and each decrypted with her own key as it is read (data
        portability: a progress bar can follow); audited as an export."""
        stored = self._records.list(patient_address=self.accessor.address)
        entry = access_entry(self.accessor, "export", self.accessor.address, stored, Decision(True, "allowed"))
        self.audit.record(entry)
        return len(stored), (self._records.decrypt(version, key) for version in stored)

    def prepare(self, body: bytes | str | Resource, *, patient_address: str | None = None) -> Draft:
        """`body` parsed and placed (whose record it is) for `write` or `store`; nothing is stored yet."""
        return self._records.prepare(body, patient_address=patient_address)

    def _judge(self, stored: StoredRecord) -> Decision:
        """A read's decision: a record outside the compartment the caller acts for is refused before the policy
        is asked (`_compartment`); any other is the policy's (`_decide_read`)."""
        refused = outside_compartment(self.accessor, stored.patient_address, self._facts.custodian)
        return refused or self._decide_read(stored)

    def _quiet(self) -> Repository:
        """This door for the reads a write implies (what it names or changes), which open no break-glass window:
        that is an explicit read, and a write's would send an `EmergencyAccess` for a write ETREAT never allows,
        its refusal (an unlicensed caller's) telling that the record exists."""
        return Repository(replace(self.accessor, reason=None), self._records, self.audit, self._facts)

    def _decide_read(self, stored: StoredRecord) -> Decision:
        """The policy's read decision; an ETREAT with a reason first opens the break-glass window it needs."""
        patient = stored.patient_address
        decision = may_read(self.accessor, patient, stored.category, self._facts, author=stored.author, record=stored)
        if not decision.allowed and self.accessor.purpose == Purpose.ETREAT and self.accessor.reason:
            self._facts.break_glass(self.accessor.address, patient, self.accessor.reason)
            decision = may_read(
                self.accessor, patient, stored.category, self._facts, author=stored.author, record=stored
            )
        return decision

    def members(self, patient_ids: Sequence[str] | None, interaction: str, page: slice = slice(None)) -> Members:
        """The `page` of the members behind `patient_ids` (None: every Patient here) whose coverage the caller may
        see, and their number (`_members.members_seen`: judged, audited); the rest left out as unknown ids are."""
        return members_seen(self.accessor, self._records, self.audit, self._facts, patient_ids, interaction, page)
