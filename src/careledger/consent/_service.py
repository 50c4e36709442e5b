"""The consent service: the node's index of on-chain grants, checks in microseconds, FHIR views.

The chain is the truth. The node indexes ConsentRegistry's events (`ConsentGranted`,
`ConsentRevoked`, `Delegation`) into its database with a cursor, and keeps the grants of
each patient-grantee pair, and the delegations to each delegate, in memory, so a check is a
dictionary lookup. `sync()` reads the
events of new blocks: a revoke is honoured by the first check after the node has seen the
block it is in (a serving node syncs every second; each CLI command syncs first).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eth_utils import to_checksum_address
from sqlalchemy import select
from sqlalchemy.orm import Session

from careledger.chain import (
    ChainEvent,
    ConsentRegistry,
    ConsentTerms,
    GrantRecord,
    consent_from_typed_data,
    consent_typed_data,
    grant_from_event,
)
from careledger.consent._terms import Purpose
from careledger.crypto import check_signer, parse_signature, recover_typed_data_signer, sign_typed_data
from careledger.errors import Conflict, NotFound, ValidationError
from careledger.fhir import consent_view
from careledger.files import write_atomically
from careledger.identity import did_pkh
from careledger.indexing import EventReader
from careledger.records import Category
from careledger.store import CareTeamRestriction, ConsentDelegation, ConsentGrant, Database

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

_STREAM = "consent"
_SIGNATURE_BYTES = 65
_DAY = 86_400


@dataclass(frozen=True, slots=True)
class Grant:
    """One grant as the node knows it."""

    grant_id: int
    patient: str
    grantee: str
    categories: tuple[Category, ...]
    purposes: tuple[Purpose, ...]
    not_before: int
    expiry: int
    granted_by: str
    revoked: bool

    @property
    def hex_id(self) -> str:
        """The grant's id as 0x-prefixed hex."""
        return f"{self.grant_id:#066x}"

    def live_at(self, now: float) -> bool:
        """Whether the grant is in force at `now` (started, unexpired, not revoked)."""
        return not self.revoked and self.not_before <= now < self.expiry

    def covers(self, category: Category, purpose: Purpose) -> bool:
        """Whether the grant names this category and purpose."""
        return category in self.categories and purpose in self.purposes

    @classmethod
    def of(cls, row: ConsentGrant) -> Grant:
        """A grant from its index row."""
        return cls(
            grant_id=int(row.grant_id, 16),
            patient=row.patient,
            grantee=row.grantee,
            categories=tuple(Category.from_mask(row.categories)),
            purposes=tuple(Purpose.from_mask(row.purposes)),
            not_before=row.not_before,
            expiry=row.expiry,
            granted_by=row.granted_by,
            revoked=row.revoked_block is not None,
        )


@dataclass(frozen=True, slots=True)
class SignedConsent:
    """An EIP-712 consent a patient signed offline, for anyone to submit (`consent submit`)."""

    terms: ConsentTerms
    nonce: int
    deadline: int
    chain_id: int
    contract: str
    signer: str
    signature: bytes

    def typed_data(self) -> dict[str, Any]:
        """What was signed: standard EIP-712 typed data, as `eth_signTypedData_v4` takes it."""
        return consent_typed_data(
            self.terms, nonce=self.nonce, deadline=self.deadline, chain_id=self.chain_id, contract=self.contract
        )

    @classmethod
    def from_typed_data(cls, typed: Any, signature: bytes) -> SignedConsent:
        """A consent from typed data and the 65-byte signature any wallet made over it; the signer is whoever
        the signature recovers to. `ValidationError` for anything else."""
        if len(signature) != _SIGNATURE_BYTES:
            raise ValidationError(f"a signature is {_SIGNATURE_BYTES} bytes (r, s, v), not {len(signature)}")
        message = consent_from_typed_data(typed)
        canonical = consent_typed_data(
            message.terms,
            nonce=message.nonce,
            deadline=message.deadline,
            chain_id=message.chain_id,
            contract=message.contract,
        )
        signer = recover_typed_data_signer(canonical, signature)
        return cls(
            message.terms, message.nonce, message.deadline, message.chain_id, message.contract, signer, signature
        )


class ConsentService:
    """Grants, revokes and checks consents; the node's cache of ConsentRegistry."""

    def __init__(
        self,
        db: Database,
        registry: Callable[..., ConsentRegistry],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db = db
        self._registry = registry
        self._clock = clock
        self._lock = threading.Lock()
        # One sync at a time: a second caller (a request beside the server's sync loop) must not
        # return while the first has indexed its events but not yet put them in the cache.
        self._sync_lock = threading.Lock()
        self._pairs: dict[tuple[str, str], tuple[Grant, ...]] | None = None
        self._restrictions: dict[tuple[str, str], int] | None = None  # (patient, custodian) -> categories
        self._delegates: dict[str, tuple[tuple[str, int, int], ...]] | None = None  # -> (patient, categories, expiry)
        # The event cursor as this process last left it: if another process sharing the
        # database (another worker, the CLI beside a server) moved it, the cache missed those events.
        self._cursor_seen: int | None = None

    # Terms and writes --------------------------------------------------------------

    def terms(
        self,
        patient: str,
        grantee: str,
        categories: Iterable[Category],
        purposes: Iterable[Purpose],
        *,
        days: float,
        starts: int | None = None,
    ) -> ConsentTerms:
        """Consent terms from names: from `starts` (default now) for `days` days."""
        if days <= 0:
            raise ValidationError("a consent lasts a positive number of days")
        start = int(self._clock()) if starts is None else starts
        return ConsentTerms(
            patient=to_checksum_address(patient),
            grantee=to_checksum_address(grantee),
            categories=_mask(categories),
            purposes=_mask(purposes),
            not_before=start,
            expiry=start + int(days * _DAY),
        )

    def grant(self, as_wallet: str, terms: ConsentTerms) -> Grant:
        """Grant on chain, signed by the wallet held here of the patient or whoever manages her consents, and
        index it."""
        record = self._registry(as_wallet=as_wallet).grant(terms)
        self.sync()
        return self.get(record.grant_id)

    def prepare(self, terms: ConsentTerms, *, valid_for_days: float = 7) -> dict[str, Any]:
        """The EIP-712 typed data of a consent for the patient (or a delegate) to sign with any wallet, to be
        submitted within `valid_for_days`."""
        registry = self._registry()
        deadline = int(self._clock() + valid_for_days * _DAY)
        return registry.typed_data(terms, nonce=registry.nonce(terms.patient), deadline=deadline)

    def sign(self, signer: LocalAccount, terms: ConsentTerms, *, valid_for_days: float = 7) -> SignedConsent:
        """A consent signed offline by the patient (or a delegate) held here, to submit within `valid_for_days`."""
        typed = self.prepare(terms, valid_for_days=valid_for_days)
        return SignedConsent.from_typed_data(typed, sign_typed_data(signer, typed))

    def submit(self, as_wallet: str, signed: SignedConsent) -> Grant:
        """Submit a signed consent (anyone may; the wallet `as_wallet` pays the gas), refusing early what the
        chain would."""
        by = self._registry(as_wallet=as_wallet)
        check_registry(by, "consent", signed.chain_id, signed.contract)
        typed = by.typed_data(signed.terms, nonce=signed.nonce, deadline=signed.deadline)
        check_signer(signed.signer, recover_typed_data_signer(typed, signed.signature))
        check_fresh(by, "consent", signed.terms.patient, signed.nonce, signed.deadline, self._clock())
        record: GrantRecord = by.grant_by_signature(signed.terms, signed.deadline, signed.signature)
        self.sync()
        return self.get(record.grant_id)

    def revoke(self, as_wallet: str, grant_id: int) -> Grant:
        """Revoke a grant, signed by the patient's wallet or whoever manages her consents; `Conflict` if revoked."""
        grant = self.get(grant_id)
        if grant.revoked:
            raise Conflict(f"consent {grant.hex_id} is already revoked")
        self._registry(as_wallet=as_wallet).revoke(grant.patient, grant.grantee, grant_id)
        self.sync()
        return self.get(grant_id)

    def delegate(self, as_wallet: str, delegate: str, categories: Iterable[Category], *, days: float) -> None:
        """Let `delegate` manage the consents of the patient whose wallet `as_wallet` is, in `categories`, for
        `days` days (0 days ends it)."""
        mask = _mask(categories)
        self._registry(as_wallet=as_wallet).delegate(
            delegate, mask if days > 0 else 0, int(self._clock() + days * _DAY) if days > 0 else 0
        )
        self.sync()

    # Reads -------------------------------------------------------------------------

    def sync(self) -> int:
        """Index the registry's events of new blocks; how many there were."""
        with self._sync_lock:
            return self._sync()

    def _sync(self) -> int:
        touched: set[tuple[str, str]] = set()
        seen: set[str] = set()  # the names of the events handled

        def handle(session: Session, event: ChainEvent) -> None:
            if event.name == "CareTeamRestricted":
                _index_restriction(session, event)
                self._restrictions = None  # rare: reloaded from the database when next asked
                return
            seen.add(event.name)
            pair = _index(session, event)
            if pair is not None:
                touched.add(pair)

        reader = EventReader(self._registry(), self.db, _STREAM)
        cached = self._pairs is not None or self._delegates is not None
        before = reader.last_block()
        if cached and before != self._cursor_seen:
            with self._lock:  # indexed by another process: reloaded when next asked
                self._pairs = self._restrictions = self._delegates = None
        # From `before`, not the cursor read again: what another worker indexes meanwhile sets `indexed_elsewhere`.
        handled = reader.poll(handle, since=before)
        if reader.indexed_elsewhere or "Delegation" in seen:
            with self._lock:  # rare, or the other process's events are not in `touched`: reloaded when next asked
                self._delegates = None  # once committed, so a load under the lock cannot keep what it ended
                if reader.indexed_elsewhere:
                    self._pairs = self._restrictions = None
        self._cursor_seen = reader.reached
        if touched:
            with self._lock:
                if self._pairs is not None:
                    with self.db.session() as session:
                        for patient, grantee in touched:
                            self._pairs[(patient, grantee)] = _pair_grants(session, patient, grantee)
        return handled

    def blocks_behind(self) -> int:
        """How many of the chain's blocks the index has not read yet (0: current); asks the chain for its head."""
        registry = self._registry()
        return max(0, registry.chain.block_number() - EventReader(registry, self.db, _STREAM).last_block())

    def check(self, patient: str, grantee: str, category: Category, purpose: Purpose) -> Grant | None:
        """The live grant that lets `grantee` see `patient`'s `category` records for `purpose`, if any."""
        now = self._clock()
        for grant in self.between(patient, grantee):
            if grant.live_at(now) and grant.covers(category, purpose):
                return grant
        return None

    def between(self, patient: str, grantee: str) -> tuple[Grant, ...]:
        """Every grant `patient` gave `grantee`, live or not, from the index held in memory (checksummed addresses)."""
        pairs = self._grant_index()
        return pairs.get((patient, grantee), ())

    def grantors(self, grantee: str, purpose: Purpose) -> frozenset[str]:
        """The patients with a live grant to `grantee` for `purpose`, of any category, from the index in memory."""
        pairs, now = self._grant_index(), self._clock()
        return frozenset(
            patient
            for (patient, to), grants in pairs.items()
            if to == grantee and any(g.live_at(now) and purpose in g.purposes for g in grants)
        )

    def care_team_restricted(self, patient: str, custodian: str, category: Category) -> bool:
        """Whether `patient` keeps `category` from `custodian`'s care team (as of the last sync)."""
        restrictions = self._restrictions
        if restrictions is None:
            with self.db.session() as session:
                restrictions = {
                    (row.patient, row.custodian): row.categories for row in session.scalars(select(CareTeamRestriction))
                }
            self._restrictions = restrictions
        return bool(restrictions.get((patient, custodian), 0) & category.bit)

    def restrict_care_team(self, as_wallet: str, patient: str, custodian: str, categories: Iterable[Category]) -> None:
        """Keep `custodian`'s care team from `categories` of `patient`'s records (none: lift it), signed by
        `as_wallet`; synced at once."""
        self._registry(as_wallet=as_wallet).restrict_care_team(patient, custodian, _mask(categories))
        self.sync()

    def check_on_chain(self, patient: str, grantee: str, category: Category, purpose: Purpose) -> bool:
        """The same question asked of the contract (no cache)."""
        return self._registry().is_allowed(patient, grantee, category.bit, purpose.bit)

    def get(self, grant_id: int) -> Grant:
        """A grant by its id, from the index; `NotFound` if the node has not seen it."""
        with self.db.session() as session:
            row = session.get(ConsentGrant, f"{grant_id:#066x}")
            if row is None:
                raise NotFound(f"no consent {grant_id:#066x} on this chain (or the node has not seen it yet)")
            return Grant.of(row)

    def grants(self, *, patient: str | None = None, grantee: str | None = None) -> list[Grant]:
        """Every grant indexed, or those of a patient or to a grantee."""
        query = select(ConsentGrant).order_by(ConsentGrant.granted_block, ConsentGrant.grant_id)
        if patient is not None:
            query = query.where(ConsentGrant.patient == to_checksum_address(patient))
        if grantee is not None:
            query = query.where(ConsentGrant.grantee == to_checksum_address(grantee))
        with self.db.session() as session:
            return [Grant.of(row) for row in session.scalars(query)]

    def represented(self, delegate: str) -> dict[str, frozenset[Category]]:
        """The patients `delegate` is a live delegate of (a guardian, a proxy), each with the categories delegated
        to her, from the index in memory: a delegation ended or narrowed counts from the first sync after its
        block, one that expired from its expiry (`delegation(...)` on chain, its `Delegation` events here)."""
        delegates = self._delegates
        if delegates is None:
            delegates = self._load_delegates()
        now = self._clock()
        return {
            patient: frozenset(Category.from_mask(categories))
            for patient, categories, expiry in delegates.get(delegate, ())
            if categories and now < expiry
        }

    def _grant_index(self) -> dict[tuple[str, str], tuple[Grant, ...]]:
        """The grant index, loaded again if a sync dropped it. `_pairs` is read once: read twice ("if it is not
        None, it"), a sync dropping it in between handed a request None, and the request a 500."""
        pairs = self._pairs
        return pairs if pairs is not None else self._load()

    def _load_delegates(self) -> dict[str, tuple[tuple[str, int, int], ...]]:
        with self._lock:
            if self._delegates is None:
                found: dict[str, list[tuple[str, int, int]]] = {}
                with self.db.session() as session:
                    for row in session.scalars(select(ConsentDelegation)):
                        found.setdefault(row.delegate, []).append((row.patient, row.categories, row.expiry))
                self._delegates = {delegate: tuple(rows) for delegate, rows in found.items()}
            return self._delegates

    def _load(self) -> dict[tuple[str, str], tuple[Grant, ...]]:
        with self._lock:
            if self._pairs is None:
                pairs: dict[tuple[str, str], list[Grant]] = {}
                with self.db.session() as session:
                    for row in session.scalars(select(ConsentGrant)):
                        pairs.setdefault((row.patient, row.grantee), []).append(Grant.of(row))
                self._pairs = {pair: tuple(grants) for pair, grants in pairs.items()}
            return self._pairs


def check_registry(by: ConsentRegistry, what: str, chain_id: int, contract: str) -> None:
    """Refuse something signed for another ConsentRegistry or chain than `by`'s (its signer would not recover)."""
    if (chain_id, contract) != (by.chain.chain_id, by.address):
        raise ValidationError(
            f"this {what} was signed for ConsentRegistry {contract} on chain {chain_id}, "
            f"not {by.address} on chain {by.chain.chain_id}"
        )


def check_fresh(by: ConsentRegistry, what: str, patient: str, nonce: int, deadline: int, now: float) -> None:
    """Refuse, before any gas is spent, a signed `what` past its deadline or not on the patient's next nonce."""
    if deadline < now:
        raise ValidationError(f"this signed {what} is past its deadline; ask the patient to sign again")
    if by.nonce(patient) != nonce:
        raise Conflict(f"this signed {what} was already submitted (or something the patient signed after it was)")


def signature_file(path: Path) -> Path:
    """Where the signature of the consent at `path` is kept beside it (`consent.json` → `consent.json.sig`)."""
    return path.with_name(path.name + ".sig")


def write_consent(path: Path, typed: dict[str, Any], signature: bytes | None = None) -> None:
    """Write a consent's typed data to `path` as a wallet takes it, and its signature, if any, beside it."""
    write_atomically(path, json.dumps(typed, indent=2).encode() + b"\n", mode=0o600)
    if signature is not None:
        write_atomically(signature_file(path), f"0x{signature.hex()}\n".encode(), mode=0o600)


def read_signed_consent(path: Path, signature: str | None = None) -> SignedConsent:
    """A consent's typed data from `path`, signed by `signature` (hex), else by the one in its `.sig` file;
    `NotFound` if either is missing, `ValidationError` if either is malformed."""
    try:
        typed = json.loads(path.read_text())
        if signature is None:
            signature = signature_file(path).read_text().strip()
    except FileNotFoundError as exc:
        raise NotFound(f"no file {exc.filename}: sign {path} with the patient's wallet and pass --signature") from None
    except ValueError as exc:
        raise ValidationError(f"{path} is not JSON: {exc}") from None
    return SignedConsent.from_typed_data(typed, parse_signature(signature.strip()))


def consent_resource(grant: Grant, *, chain_id: int, now: float) -> dict[str, Any]:
    """The FHIR R4 `Consent` view of a grant (a privacy consent, opt-in, permit)."""
    return consent_view(
        consent_id=grant.hex_id[2:],
        patient_did=did_pkh(chain_id, grant.patient),
        grantee_did=did_pkh(chain_id, grant.grantee),
        period=(grant.not_before, grant.expiry),
        active=not grant.revoked and now < grant.expiry,
        purposes=[purpose.value for purpose in grant.purposes],
        categories=[category.value for category in grant.categories],
    )


def _index(session: Session, event: ChainEvent) -> tuple[str, str] | None:
    """Write one registry event into the index; the (patient, grantee) pair it touched."""
    args = event.args
    if event.name == "ConsentGranted":
        granted = grant_from_event(args).terms
        session.merge(
            ConsentGrant(
                grant_id=f"{int(args['grant_id']):#066x}",
                patient=granted.patient,
                grantee=granted.grantee,
                categories=granted.categories,
                purposes=granted.purposes,
                not_before=granted.not_before,
                expiry=granted.expiry,
                granted_by=str(args["granted_by"]),
                granted_block=event.block,
                revoked_block=None,
            )
        )
        return str(args["patient"]), str(args["grantee"])
    if event.name == "ConsentRevoked":
        row = session.get(ConsentGrant, f"{int(args['grant_id']):#066x}")
        if row is not None:
            row.revoked_block = event.block
        return str(args["patient"]), str(args["grantee"])
    if event.name == "Delegation":
        session.merge(
            ConsentDelegation(
                patient=str(args["patient"]),
                delegate=str(args["delegate"]),
                categories=int(args["categories"]),
                expiry=int(args["expiry"]),
            )
        )
    return None


def _index_restriction(session: Session, event: ChainEvent) -> None:
    args = event.args
    session.merge(
        CareTeamRestriction(
            patient=str(args["patient"]), custodian=str(args["custodian"]), categories=int(args["categories"])
        )
    )


def _pair_grants(session: Session, patient: str, grantee: str) -> tuple[Grant, ...]:
    rows = session.scalars(
        select(ConsentGrant).where(ConsentGrant.patient == patient, ConsentGrant.grantee == grantee)
    ).all()
    return tuple(Grant.of(row) for row in rows)


def _mask(items: Iterable[Category | Purpose]) -> int:
    bits = 0
    for item in items:
        bits |= item.bit
    return bits
