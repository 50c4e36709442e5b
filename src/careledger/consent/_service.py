"""The consent service: grants, revokes and delegations on chain, checks against the node's index of them (kept
by `ConsentIndex`, in microseconds), FHIR views.

The chain is the truth: a serving node syncs its index every second, and each CLI command syncs first.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eth_utils import to_checksum_address
from sqlalchemy import or_, select

from careledger.chain import (
    ConsentRegistry,
    ConsentTerms,
    GrantRecord,
    consent_from_typed_data,
    consent_typed_data,
)
from careledger.consent._index import ConsentIndex, Grant
from careledger.consent._terms import Purpose
from careledger.crypto import check_signer, parse_signature, recover_typed_data_signer, sign_typed_data
from careledger.errors import Conflict, NotFound, ValidationError
from careledger.fhir import consent_view
from careledger.files import write_atomically
from careledger.identity import did_pkh
from careledger.records import Category
from careledger.store import ConsentGrant, Database

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

_SIGNATURE_BYTES = 65
_DAY = 86_400


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
        self._index = ConsentIndex(db, registry, clock)

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

    def check_submittable(self, signed: SignedConsent) -> None:
        """Refuse in words what the chain would refuse of `signed` for its registry, signature, deadline or nonce,
        without spending gas (a booking checks its consent before anything else is done)."""
        self._checked(self._registry(), signed)

    def submit(self, as_wallet: str, signed: SignedConsent) -> Grant:
        """Submit a signed consent (anyone may; the wallet `as_wallet` pays the gas), refusing early what the
        chain would."""
        by = self._checked(self._registry(as_wallet=as_wallet), signed)
        record: GrantRecord = by.grant_by_signature(signed.terms, signed.deadline, signed.signature)
        self.sync()
        return self.get(record.grant_id)

    def _checked(self, by: ConsentRegistry, signed: SignedConsent) -> ConsentRegistry:
        check_registry(by, "consent", signed.chain_id, signed.contract)
        typed = by.typed_data(signed.terms, nonce=signed.nonce, deadline=signed.deadline)
        check_signer(signed.signer, recover_typed_data_signer(typed, signed.signature))
        check_fresh(by, "consent", signed.terms.patient, signed.nonce, signed.deadline, self._clock())
        return by

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
        """Index the registry's events of new blocks; how many there were (`ConsentIndex.sync`)."""
        return self._index.sync()

    def blocks_behind(self) -> int:
        """How many of the chain's blocks the index has not read yet (0: current); asks the chain for its head."""
        return self._index.blocks_behind()

    def check(self, patient: str, grantee: str, category: Category, purpose: Purpose) -> Grant | None:
        """The live grant that lets `grantee` see `patient`'s `category` records for `purpose`, if any."""
        return self._index.check(patient, grantee, category, purpose)

    def between(self, patient: str, grantee: str) -> tuple[Grant, ...]:
        """Every grant `patient` gave `grantee`, live or not, from the index held in memory (checksummed addresses)."""
        return self._index.between(patient, grantee)

    def grantors(self, grantee: str, purpose: Purpose) -> frozenset[str]:
        """The patients with a live grant to `grantee` for `purpose`, of any category, from the index in memory."""
        return self._index.grantors(grantee, purpose)

    def treats(self, patient: str, grantee: str) -> bool:
        """Whether `patient` has a live grant to `grantee` for treatment, of any category (a visit's consent), from
        the index in memory."""
        return patient in self._index.grantors(grantee, Purpose.TREAT)

    def care_team_restricted(self, patient: str, custodian: str, category: Category) -> bool:
        """Whether `patient` keeps `category` from `custodian`'s care team (as of the last sync)."""
        return self._index.care_team_restricted(patient, custodian, category)

    def represented(self, delegate: str) -> dict[str, frozenset[Category]]:
        """The patients `delegate` is a live delegate of, each with the categories delegated to her
        (`ConsentIndex.represented`)."""
        return self._index.represented(delegate)

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

    def changed(self, first_block: int, last_block: int) -> list[Grant]:
        """The grants given or revoked in blocks `first_block` to `last_block`, from the index (what a compliance
        report lists for a period)."""
        query = (
            select(ConsentGrant)
            .where(
                or_(
                    ConsentGrant.granted_block.between(first_block, last_block),
                    ConsentGrant.revoked_block.between(first_block, last_block),
                )
            )
            .order_by(ConsentGrant.granted_block, ConsentGrant.grant_id)
        )
        with self.db.session() as session:
            return [Grant.of(row) for row in session.scalars(query)]


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


def _mask(items: Iterable[Category | Purpose]) -> int:
    bits = 0
    for item in items:
        bits |= item.bit
    return bits
