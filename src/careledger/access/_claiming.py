"""Claiming: a patient takes over, with her own wallet, the custodial identity the node made for her.

The front desk prints a one-time code (`issue`); she presents it with a signature of her
own wallet (SIWE over the API, or her keystore's passphrase at the CLI), and `claim`:

1. checks the code: known, unused, unexpired, and not burnt by `MAX_FAILURES` wrong tries;
   every refusal is audited and changes nothing else, but refused claims are paced per
   client address and per code (`_claim_limits`, in buckets every worker shares). A code that is not this patient's is
   told in the same words whatever the reason (no such Patient, no code issued, a wrong,
   used, expired or burnt code) after the same work (a decryption, a constant-time
   comparison and one counted wrong try committed, against a stand-in row where there is
   no live code), so a refusal tells a stranger
   nothing an unknown id would not; only the holder of the right code hears that it
   expired, was used or was burnt, and the front desk sees every reason in the audit log
   and `status`;
2. hands the identity to her wallet on chain (`IdentityRegistry.claim_custodial`): from
   then on her wallet, not the node, manages her consents, and the identity's encryption
   key is hers;
3. re-seals every data key of her records to that key, marks the code used and audits
   the claim, all in one database transaction;
4. deletes the custodial key file.

A crash after step 2 is finished by trying again with the same code: the chain already
names her wallet, so the claim goes on from step 3. A crash after step 3 leaves a key file
the node no longer needs; `forget_claimed` (run when a node opens) deletes it.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from eth_utils import to_checksum_address
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError as DBIntegrityError
from sqlalchemy.orm import Session

from careledger.access._claim_limits import (
    ADDRESS_FAILURES,
    ADDRESS_REFILL_SECONDS,
    CODE_FAILURES,
    CODE_REFILL_SECONDS,
    FailureBudget,
    network_of,
)
from careledger.audit import Access, Action, AuditLog, Outcome
from careledger.chain import IdentityRegistry
from careledger.crypto import AtRestKey, PublicKey
from careledger.errors import AccessDenied, NotFound, ValidationError
from careledger.identity import CustodialKeys
from careledger.records import RecordService
from careledger.shared import Buckets
from careledger.store import ClaimCode, Database

CLAIM_CODE_DAYS = 14.0
MAX_FAILURES = 10  # wrong tries that burn a code; fewer come from one address, and fewer at once (`_claim_limits`)
_CODE_LENGTH = 12  # Crockford base32: 60 bits, read out as XXXX-XXXX-XXXX
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_READS_AS = str.maketrans({"I": "1", "L": "1", "O": "0"})
_AAD = b"careledger/claim-code/v1\x00"
_ASK_THE_DESK = "ask the front desk for a new one"
# What a claim whose code is not the patient's is told, whatever the reason: it must not say whether the id is a
# Patient of this node, nor whether a code is out for her.
_WRONG_CODE = (
    "wrong claim code for this Patient: check the code and the Patient id; the front desk issues a new code if "
    "yours is lost"
)
_NOBODY = "0x" + "0" * 40  # the identity looked up, as a real one would be, for an id that names no Patient here


@dataclass(frozen=True, slots=True)
class IssuedCode:
    patient: str
    code: str
    expires_at: float


class CodeState(StrEnum):
    """Where a patient's claim code stands, as the front desk needs to know it."""

    NONE = "none"  # never issued
    LIVE = "live"  # she can claim with it
    USED = "used"  # she claimed her identity
    EXPIRED = "expired"  # the desk must issue another
    BURNT = "burnt"  # too many wrong tries: the desk must issue another


@dataclass(frozen=True, slots=True)
class CodeStatus:
    """A patient's claim code for the front desk: its state, wrong tries so far, expiry, who claimed with it,
    and whether the node still holds her identity (so that the desk can issue her a code)."""

    patient: str
    state: CodeState
    custodial: bool
    failures: int = 0
    expires_at: float | None = None
    claimed_by: str | None = None


@dataclass(frozen=True, slots=True)
class _Refusal:
    """Why a claim is refused: `audited` for the front desk, `told` to the claimant (the words of a wrong code,
    unless she presented the right one)."""

    audited: str
    told: str = _WRONG_CODE

    @classmethod
    def plain(cls, why: str) -> _Refusal:
        """A refusal told as it is audited: of someone who holds the right code."""
        return cls(why, why)


@dataclass(frozen=True, slots=True)
class Claimed:
    patient: str  # the identity: what her records and consents name
    wallet: str  # her own wallet, which acts for it from now on
    resealed: int  # record versions whose data keys were re-sealed to her


class IdentityClaims:
    """Claim codes and claims of one node's custodial patients."""

    def __init__(
        self,
        db: Database,
        keys: CustodialKeys,
        kek: AtRestKey,
        registry: Callable[[], IdentityRegistry],
        records: RecordService,
        audit: AuditLog,
        *,
        custodian: str,
        registry_as: Callable[[str], IdentityRegistry],
        after_claim: Callable[[str], object] = lambda _patient: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`registry` signs as the custodian node, `registry_as(name)` as another of its wallets; `kek` seals
        the codes at rest; `after_claim(patient)` runs once her identity is hers (paying her held rewards)."""
        self.db = db
        self._keys = keys
        self._kek = kek
        self._registry = registry
        self._registry_as = registry_as
        self._records = records
        self._audit = audit
        self._custodian = custodian
        self._after_claim = after_claim
        self._clock = clock
        self._make_stand_in()
        buckets = Buckets(db, clock=lambda: self._clock())
        self._by_address = FailureBudget(
            buckets,
            "claim-address",
            ADDRESS_FAILURES,
            ADDRESS_REFILL_SECONDS,
            refusal="too many refused claims from your network address: try again in {wait} min",
        )
        self._by_code = FailureBudget(
            buckets,
            "claim-code",
            CODE_FAILURES,
            CODE_REFILL_SECONDS,
            refusal="too many wrong tries of this claim code just now: try again in {wait} min",
        )

    def patient_of(self, record_id: str) -> str:
        """The identity a Patient record of this node belongs to (`Patient/<id>` or the bare id)."""
        record_id = record_id.removeprefix("Patient/")
        identity = self._identity_of(record_id)
        if identity is None:
            raise NotFound(f"no Patient/{record_id} on this node")
        return identity

    def issue(self, patient: str, *, days: float = CLAIM_CODE_DAYS) -> IssuedCode:
        """A new one-time code for `patient` (replacing any earlier one), valid for `days`."""
        patient = to_checksum_address(patient)
        if days <= 0:
            raise ValidationError("a claim code lasts a positive number of days")
        if not self._keys.holds(patient):
            raise NotFound(f"{patient} is not a custodial identity this node holds (claimed already?)")
        raw = "".join(secrets.choice(_ALPHABET) for _ in range(_CODE_LENGTH))
        expires_at = self._clock() + days * 86_400
        with self.db.session() as session:
            session.merge(
                ClaimCode(
                    patient=patient,
                    sealed_code=self._kek.seal(raw.encode(), _AAD + patient.encode()),
                    expires_at=expires_at,
                    failures=0,
                    claimed_by=None,
                )
            )
            self._audit.append(session, [_access(self._custodian, patient, "claim-code", None)])
        self._by_code.forget(patient)
        return IssuedCode(patient, "-".join(raw[i : i + 4] for i in range(0, _CODE_LENGTH, 4)), expires_at)

    def status(self, patient: str) -> CodeStatus:
        """Where `patient`'s claim code stands: whether she can still claim with it, or the desk must issue
        another."""
        patient = to_checksum_address(patient)
        custodial = self._keys.holds(patient)
        with self.db.session() as session:
            row = session.get(ClaimCode, patient)
            if row is None:
                return CodeStatus(patient, CodeState.NONE, custodial)
            return CodeStatus(patient, self._state(row), custodial, row.failures, row.expires_at, row.claimed_by)

    def claim(
        self, patient: str, code: str, wallet: str, key: PublicKey | None = None, *, client: str | None = None
    ) -> Claimed:
        """Hand `patient` to `wallet` (whose signature the caller verified); `key` is her encryption key,
        needed only if her wallet is not a registered actor (whose key is then used). `client` is the network
        address the attempt came from (None at the CLI): `TooMany` once it, or the code, has failed too often
        of late."""
        patient = to_checksum_address(patient)
        return self._claim(patient, patient, code, wallet, key, client)

    def claim_record(
        self, record_id: str, code: str, wallet: str, key: PublicKey | None = None, *, client: str | None = None
    ) -> Claimed:
        """`claim` of the Patient record `record_id` (`Patient/<id>` or the id) as a stranger names it: an id that
        names no Patient of this node is refused as a wrong code is, in its words and after its work."""
        named = f"Patient/{record_id.removeprefix('Patient/')[:64]}"  # an id has at most 64: so has a budget's key
        return self._claim(self._identity_of(record_id), named, code, wallet, key, client)

    def _claim(
        self, patient: str | None, named: str, code: str, wallet: str, key: PublicKey | None, client: str | None
    ) -> Claimed:
        """`claim` of `patient`, None if `named` (what the claimant named) is no Patient of this node."""
        wallet = to_checksum_address(wallet)
        network = network_of(client) if client is not None else None
        if network is not None:
            self._by_address.check(network)
        refusal = self._check_code(patient, named, code, wallet, paced=network is not None)
        if refusal is None and patient is not None:  # her code: the claimant may hear the rest
            registry = self._registry()
            owner = registry.claimed_by(patient)
            if owner is None and not self._keys.holds(patient):
                refusal = _Refusal.plain(f"{patient} is not a custodial identity this node holds")
            elif owner not in (None, wallet):
                refusal = _Refusal.plain(f"{patient} was claimed by another wallet")
            else:
                return self._hand_over(registry, patient, wallet, key, finishing=owner is not None)
        assert refusal is not None  # no code is right for an id that is no Patient here
        if network is not None:
            self._by_address.spend(network)
        self._audit.record(_access(wallet, patient, "claim", refusal.audited))
        raise AccessDenied(f"claim refused: {refusal.told}")

    def _hand_over(
        self, registry: IdentityRegistry, patient: str, wallet: str, key: PublicKey | None, *, finishing: bool
    ) -> Claimed:
        """The identity to `wallet` on chain (unless `finishing` a claim the chain already took), her records
        re-sealed to her key and the code spent in one transaction, then the custodial key deleted."""
        if finishing:  # her key is the one the chain holds
            key = registry.require_actor(patient).encryption_key
        else:
            if key is None:
                registered = registry.actor(wallet)
                if registered is None:
                    raise ValidationError("give your public encryption key: your wallet is not registered")
                key = registered.encryption_key
            registry.claim_custodial(patient, wallet, key)

        def mark_claimed(session: Session) -> None:
            """Record, in the transaction `session` holds, that `wallet` claimed `patient`: the code is spent."""
            row = session.get(ClaimCode, patient)
            assert row is not None
            row.claimed_by = wallet
            self._audit.append(session, [_access(wallet, patient, "claim", None)])

        resealed = self._records.reseal(patient, key, also=mark_claimed)
        self._keys.destroy(patient)
        self._after_claim(patient)
        return Claimed(patient, wallet, resealed)

    def forget_claimed(self) -> int:
        """Delete the custodial keys of identities already claimed (a claim cut short after its commit)."""
        with self.db.session() as session:
            claimed = session.scalars(select(ClaimCode.patient).where(ClaimCode.claimed_by.is_not(None))).all()
        lingering = [patient for patient in claimed if self._keys.holds(patient)]
        for patient in lingering:
            self._keys.destroy(patient)
        return len(lingering)

    def take_over(self, by_wallet: str, patient: str, key: PublicKey) -> int:
        """The wallet held here that now holds `patient` (after a rotation or a recovery) sets her new
        encryption key on chain, and the node re-seals her records to it; how many versions were re-sealed."""
        patient = to_checksum_address(patient)
        by = self._registry_as(by_wallet)
        wallet = by.signer.address if by.signer is not None else ""
        if self._registry().claimed_by(patient) != wallet:
            self._audit.record(_access(wallet, patient, "reseal", "this wallet does not hold the identity"))
            raise AccessDenied(f"{wallet} does not hold {patient}: only the wallet that claimed it (or its guardians)")
        by.rotate_key_of(patient, key)
        return self._records.reseal(
            patient, key, also=lambda session: self._audit.append(session, [_access(wallet, patient, "reseal", None)])
        )

    def _identity_of(self, record_id: str) -> str | None:
        """The identity the Patient record `record_id` (`Patient/<id>` or the id) belongs to; None if it names no
        Patient of this node."""
        try:
            stored = self._records.get(record_id.removeprefix("Patient/"))
        except NotFound:
            return None
        if stored is None or stored.resource_type != "Patient" or stored.deleted:
            return None
        return stored.patient_address

    def _state(self, row: ClaimCode) -> CodeState:
        """Where the code of `row` stands now."""
        if row.claimed_by is not None:
            return CodeState.USED
        if row.failures >= MAX_FAILURES:
            return CodeState.BURNT
        if row.expires_at < self._clock():
            return CodeState.EXPIRED
        return CodeState.LIVE

    def _check_code(self, patient: str | None, named: str, code: str, wallet: str, *, paced: bool) -> _Refusal | None:
        """Why `code` does not claim `patient` (None: `named` is no Patient here), or None if it does. Every code
        costs the same database work, an id with a code or not: one read of `patient`'s row and the stand-in's
        (`_make_stand_in`), one decryption, one comparison, and for a wrong code one step of the id's shared bucket
        and one count of a wrong try (against `patient`'s code if it is live, else against the stand-in) committed.
        The one that burns a code is audited for the front desk. A wrong code is `TooMany` (nothing counted) if
        the id has had too many of late, whether it names a Patient or not; the right one is never paced by the
        id, so no one who knows it can hold its holder off. Only a claim from a network address is `paced`: the
        CLI's, run by whoever holds the node's home, is bounded by `MAX_FAILURES` alone."""
        given = code.strip().upper().replace("-", "").replace(" ", "").translate(_READS_AS)
        with self.db.session() as session:
            row, stand_in = self._rows(session, patient, lock=False)
            compared = row or stand_in
            expected = self._kek.open(compared.sealed_code, _AAD + compared.patient.encode())
            if hmac.compare_digest(given.encode(), expected) and row is not None:
                return self._refusal_of_right(row)
        # A wrong code: paced by the id at every worker, in the database's buckets, before the try is counted (and
        # outside the session above, whose snapshot a second connection's write would break on SQLite).
        if paced:
            self._by_code.take(patient or named)
        with self.db.session() as session:
            row, stand_in = self._rows(session, patient, lock=True)
            return self._wrong(session, row, stand_in, patient is None, named, wallet)

    def _rows(self, session: Session, patient: str | None, *, lock: bool) -> tuple[ClaimCode | None, ClaimCode]:
        """`patient`'s code row (None if she has none, or `patient` is None) and the stand-in's; `lock`ed for
        update when a wrong try is to be counted against one of them."""
        identity = patient or _NOBODY
        query = select(ClaimCode).where(ClaimCode.patient.in_([identity, _NOBODY])).order_by(ClaimCode.patient)
        rows = {row.patient: row for row in session.scalars(query.with_for_update() if lock else query)}
        return (rows.get(identity) if patient is not None else None), rows[_NOBODY]

    def _refusal_of_right(self, row: ClaimCode) -> _Refusal | None:
        """Why the right code of `row` claims nothing (used, burnt, expired), or None if it claims."""
        state = self._state(row)
        if state is CodeState.USED:
            return _Refusal.plain("this claim code was used already")
        if state is CodeState.BURNT:
            return _Refusal.plain(
                f"this claim code is no longer valid after {MAX_FAILURES} wrong tries: {_ASK_THE_DESK}"
            )
        if state is CodeState.EXPIRED:
            when = datetime.fromtimestamp(row.expires_at, UTC).strftime("%Y-%m-%d %H:%M UTC")
            return _Refusal.plain(f"this claim code expired at {when}: {_ASK_THE_DESK}")
        return None

    def _make_stand_in(self) -> None:
        """Make, the first time, the row a wrong try counts against when no live code is (an id that is no
        Patient, one without a code, or a code that is used, expired or burnt), so that every wrong try writes and
        commits as one against a live code does; its code, sealed like any other, is random and claims no one. A
        process that makes it at the same moment wins, and its row is as good."""
        sealed = self._kek.seal(secrets.token_bytes(_CODE_LENGTH), _AAD + _NOBODY.encode())
        try:
            with self.db.session() as session:
                if session.get(ClaimCode, _NOBODY) is None:
                    session.add(ClaimCode(patient=_NOBODY, sealed_code=sealed, expires_at=0.0, failures=0))
        except DBIntegrityError:
            pass

    def _wrong(
        self, session: Session, row: ClaimCode | None, stand_in: ClaimCode, unknown: bool, named: str, wallet: str
    ) -> _Refusal:
        """The refusal of a code that is not the one of `row` (None: `named` has none, or is `unknown` here), told
        as any wrong code is; the try counts against a live code, else against `stand_in`, and the try that burns
        a code is audited for the desk."""
        live = row is not None and self._state(row) is CodeState.LIVE
        (row if row is not None and live else stand_in).failures += 1
        if row is None:
            return _Refusal(f"no {named} on this node" if unknown else f"no claim code was issued for {named}")
        if not live:
            return _Refusal(f"wrong claim code (the code is {self._state(row).value})")
        left = MAX_FAILURES - row.failures
        if left > 0:
            return _Refusal(f"wrong claim code ({left} {'try' if left == 1 else 'tries'} left)")
        burnt = f"{MAX_FAILURES} wrong tries, the last by {wallet}: the front desk must issue a new code"
        self._audit.append(session, [_access(self._custodian, row.patient, "claim-code-burnt", None, burnt)])
        return _Refusal(f"wrong claim code, the last try: the code is burnt; {_ASK_THE_DESK}")


# How a claimant gives her encryption key: as it is registered on chain (`PublicKey.to_bytes`), in hex.
_KEY_FORMAT = (
    "an encryption key is the hex of its suite byte, then its raw public key: 01 and the 32 bytes of an X25519 "
    "key (66 hex digits, e.g. 01 followed by 64 more), or 02 and the 1,216 bytes of an ML-KEM-768+X25519 key"
)


def encryption_key_from_hex(text: str) -> PublicKey:
    """An encryption key as it is registered on chain: the hex of its suite byte and raw key (`_KEY_FORMAT`)."""
    try:
        raw = bytes.fromhex(text.strip().removeprefix("0x"))
    except ValueError:
        raise ValidationError(f"the encryption key is not hex: {_KEY_FORMAT}") from None
    try:
        return PublicKey.from_bytes(raw)
    except ValidationError as exc:  # a raw X25519 key without its suite byte reads as suite id (its first byte)
        raise ValidationError(f"the encryption key's {len(raw)} bytes are not one: {exc}; {_KEY_FORMAT}") from None


def _access(
    agent: str, patient: str | None, interaction: str, refusal: str | None, detail: str | None = None
) -> Access:
    return Access(
        action=Action.EXECUTE,
        interaction=interaction,
        outcome=Outcome.SUCCESS if refusal is None else Outcome.DENIED,
        agent=agent,
        patient=patient,
        detail=refusal or detail,
    )
