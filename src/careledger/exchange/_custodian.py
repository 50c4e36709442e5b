"""The custodian's side: answer a signed fetch for a patient's records, under consent.

```
signed request ─ signature, addressee, expiry, nonce unused ─► requester registered and active
   ─► consent index synced ─► per category: patient, consent or break-glass (audited)
   ─► pending commitments anchored ─► each data key re-sealed to the requester's registered key
   ─► ciphertexts + sealed keys + salts + proofs
```

Every answer, and every refusal after the signature checks out, is in the audit log, so
the patient's accounting of disclosures lists both.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy.exc import IntegrityError as DBIntegrityError

from careledger.access import Accessor, RecordAccess, SystemRepository
from careledger.anchoring import Anchorer
from careledger.chain import IdentityRegistry
from careledger.consent import ConsentService, Purpose
from careledger.crypto import PrivateKey, PublicKey, reseal, sealed_to
from careledger.errors import Unauthenticated, ValidationError
from careledger.exchange._request import LIFETIME, SignedFetch
from careledger.exchange._response import FetchResponse, SharedRecord
from careledger.records import Category, StoredRecord
from careledger.store import Database, ExchangeNonce

INTERACTION = "share"


class Custodian:
    """Answers other nodes' fetches for the records this node holds."""

    def __init__(
        self,
        records: SystemRepository,
        db: Database,
        access: RecordAccess,
        consent: ConsentService,
        anchorer: Anchorer,
        identity: Callable[[], IdentityRegistry],
        *,
        address: str,
        key: Callable[[], PrivateKey],
        chain_id: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._records = records
        self._db = db
        self.access = access
        self.consent = consent
        self.anchorer = anchorer
        self._identity = identity
        self.address = address
        self._key = key
        self.chain_id = chain_id
        self._clock = clock

    def answer(self, signed: SignedFetch) -> FetchResponse:
        """The records the request may have.

        `Unauthenticated` for a forged, expired or replayed request; `AccessDenied` (audited)
        for an unregistered requester or when no consent covers any record asked for.
        """
        request = signed.request
        identity = self._identity()
        signer = signed.signer(self.chain_id, identity.address)
        if signer != request.requester:
            raise Unauthenticated(f"the request is signed by {signer}, not by the requester {request.requester}")
        if request.custodian != self.address:
            raise ValidationError(f"the request is for {request.custodian}, not this node ({self.address})")
        spend_fresh(self._db, request.requester, request.nonce, request.expiry, self._clock())
        purposes = Purpose.from_mask(request.purpose)
        if len(purposes) != 1 or request.categories == 0:
            raise ValidationError("a fetch names one purpose of use and at least one category")
        accessor = Accessor(request.requester, purposes[0])
        requester = identity.actor(request.requester)
        if requester is None or not requester.active:
            why = "the requester is not an active registered actor"
            raise self.access.for_caller(accessor).refuse(request.patient, why, INTERACTION)
        self.consent.sync()
        wanted = set(Category.from_mask(request.categories))
        found = [s for s in self._records.listing(patient_address=request.patient) if s.category in wanted]
        if not found:
            return FetchResponse(self.address, request.patient, (), ())
        shared = self.access.for_caller(accessor).visible(found, INTERACTION, refuse_if_none=True)
        if any(s.anchored_batch is None for s in shared):
            self.anchorer.anchor_pending()
        withheld = sorted({s.category.value for s in found} - {s.category.value for s in shared})
        items = self._shared(shared, requester.encryption_key)
        return FetchResponse(self.address, request.patient, tuple(items), tuple(withheld))

    def _shared(self, shared: list[StoredRecord], to: PublicKey) -> list[SharedRecord]:
        key = self._key()
        items = []
        for copy in self._records.anchored(shared):
            stored = copy.stored
            own = sealed_to(stored.data_keys(), key.public_key)
            items.append(
                SharedRecord(
                    resource_type=stored.resource_type,
                    record_id=stored.record_id,
                    version=stored.version,
                    category=stored.category.value,
                    cid=stored.cid or "",
                    ciphertext=copy.ciphertext,
                    sealed_key=reseal(own, stored.context, key, to).to_bytes(),
                    salt=copy.salt,
                    commitment=copy.commitment,
                    proof=copy.proof,
                    root=copy.root,
                )
            )
        return items


def spend_fresh(db: Database, signer: str, nonce: int, expiry: int, now: float) -> None:
    """Use a signed request once, while it is fresh: `Unauthenticated` if it has expired or claims to live longer
    than `LIFETIME`, or if its nonce was spent before (a replay). The nonce is remembered until it expires."""
    if not int(now) < expiry <= int(now) + LIFETIME:
        raise Unauthenticated("the request has expired (or claims to live longer than five minutes)")
    try:
        with db.session() as session:
            session.add(ExchangeNonce(requester=signer, nonce=f"{nonce:#066x}", expiry=expiry))
    except DBIntegrityError:
        raise Unauthenticated("this request was already answered: a replay is refused") from None
