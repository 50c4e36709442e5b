"""The requester's side: ask a custodian for a patient's records, verify all of it, then keep it.

```
custodian's endpoint (IdentityRegistry) ◄── signed request
response ─► every record: content id, salted commitment, Merkle proof to a root anchored on
            chain, data key opened with our key, ciphertext decrypted, id/type/category match
         ─► only if all pass: stored as our records, with a FHIR Provenance naming the source
```

A single bad record rejects the whole response: nothing half-verified is ever stored.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from careledger.access import SystemRepository
from careledger.audit import Access, Action, AuditLog, Outcome
from careledger.chain import IdentityRegistry, RecordAnchor
from careledger.consent import Purpose
from careledger.crypto import (
    PrivateKey,
    RecordContext,
    SealedKey,
    check_content_id,
    decrypt,
    open_data_key,
    verify_proof,
)
from careledger.errors import CareLedgerError, IntegrityError, NotFound
from careledger.exchange._request import FetchRequest
from careledger.exchange._response import FetchResponse, SharedRecord
from careledger.fhir import provenance_view
from careledger.identity import did_pkh
from careledger.records import Category, Resource, StoredRecord, categorise, commitment

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount


@dataclass(frozen=True, slots=True)
class FetchResult:
    custodian: str
    patient: str
    stored: tuple[StoredRecord, ...]
    provenance_id: str | None
    withheld: tuple[str, ...]


class Requester:
    """Fetches patients' records from the nodes that hold them."""

    def __init__(
        self,
        records: SystemRepository,
        audit: AuditLog,
        identity: Callable[[], IdentityRegistry],
        anchor: Callable[[], RecordAnchor],
        *,
        chain_id: int,
    ) -> None:
        self._records = records
        self.audit = audit
        self._identity = identity
        self._anchor = anchor
        self.chain_id = chain_id

    def fetch(
        self,
        signer: LocalAccount,
        key: PrivateKey,
        custodian: str,
        patient: str,
        categories: list[Category],
        purpose: Purpose,
    ) -> FetchResult:
        """Ask `custodian` as `signer` (whose registered encryption key is `key`'s) and keep what checks out."""
        identity = self._identity()
        actor = identity.actor(custodian)
        if actor is None or not actor.endpoint:
            raise NotFound(f"{custodian} has no node endpoint in the IdentityRegistry")
        mask = 0
        for category in categories:
            mask |= category.bit
        request = FetchRequest.new(signer.address, custodian, patient, mask, purpose.bit)
        signed = request.sign(signer, self.chain_id, identity.address)
        from careledger.client import FhirClient  # httpx and siwe: ~0.8 s to import, for a fetch only

        with FhirClient(actor.endpoint) as client:
            body = client.exchange(signed.to_json())
        return self.accept(request, FetchResponse.from_json(body), key)

    def pull(self, patient: LocalAccount, key: PrivateKey, custodians: list[str] | None = None) -> list[FetchResult]:
        """The patient's own agent: every record of `patient` from every node that holds some.

        Each custodian is asked for every category with purpose PATRQT (the patient's own
        request), which a custodian always allows its patient; `custodians` defaults to
        every node with an endpoint in the IdentityRegistry but this one's patient itself.
        """
        everything = list(Category)
        found = custodians if custodians is not None else [a.address for a in self._identity().nodes()]
        return [
            self.fetch(patient, key, custodian, patient.address, everything, Purpose.PATRQT)
            for custodian in found
            if custodian != patient.address
        ]

    def accept(self, request: FetchRequest, response: FetchResponse, key: PrivateKey) -> FetchResult:
        """Verify every record of `response` against the chain, then store them all (or none)."""
        if response.custodian != request.custodian or response.patient != request.patient:
            raise IntegrityError("the response is not for this request")
        anchored = _AnchoredRoots(self._anchor())
        opened = [(item, _open(item, request.patient, key, anchored)) for item in response.records]
        wanted = set(Category.from_mask(request.categories))
        for item, _resource in opened:
            if Category(item.category) not in wanted:
                raise IntegrityError(
                    f"{item.resource_type}/{item.record_id} is {item.category}, which was not asked for"
                )
        self._audit(request, opened)
        if not opened:
            return FetchResult(request.custodian, request.patient, (), None, response.withheld)
        # The records and their Provenance: one transaction, one group of fsyncs.
        provenance = _provenance(request, opened, self.chain_id)
        drafts = [self._records.prepare(r, patient_address=request.patient) for _, r in opened]
        provenance_draft = self._records.prepare(provenance, patient_address=request.patient)
        # Stored as the node's own work for the purpose the request named, audited so in her accounting.
        keeper = self._records.for_purpose(Purpose.from_mask(request.purpose)[0])
        *stored, _ = keeper.store([*drafts, provenance_draft])
        return FetchResult(request.custodian, request.patient, tuple(stored), provenance["id"], response.withheld)

    def _audit(self, request: FetchRequest, opened: list[tuple[SharedRecord, Resource]]) -> None:
        self.audit.record(
            Access(
                action=Action.CREATE,
                interaction="receive",
                outcome=Outcome.SUCCESS,
                agent=request.custodian,
                patient=request.patient,
                entities=tuple(f"{item.resource_type}/{item.record_id}/_history/{item.version}" for item, _ in opened),
                purpose=Purpose.from_mask(request.purpose)[0].value,
                break_glass=False,
                detail=f"received from {request.custodian}",
            )
        )


class _AnchoredRoots:
    """Asks the chain once per root: a response's records mostly share a few batches."""

    def __init__(self, anchor: RecordAnchor) -> None:
        self._anchor = anchor
        self._known: dict[bytes, bool] = {}

    def __contains__(self, root: bytes) -> bool:
        if root not in self._known:
            self._known[root] = self._anchor.is_anchored(root)
        return self._known[root]


def _open(item: SharedRecord, patient: str, key: PrivateKey, anchored: _AnchoredRoots) -> Resource:
    """The record's resource, if the ciphertext is what the chain committed to; else `IntegrityError`."""
    name = f"{item.resource_type}/{item.record_id} version {item.version}"
    check_content_id(item.cid, item.ciphertext)
    expected = commitment(
        salt=item.salt, cid=item.cid, patient=patient, resource_type=item.resource_type, version=item.version
    )
    if expected != item.commitment:
        raise IntegrityError(f"{name}: its commitment does not match its content")
    if not verify_proof(list(item.proof), item.root, item.commitment):
        raise IntegrityError(f"{name}: its Merkle proof does not lead to the root it names")
    if item.root not in anchored:
        raise IntegrityError(f"{name}: its root 0x{item.root.hex()} is not anchored on chain")
    context = RecordContext(item.record_id, item.version, patient, item.category)
    try:
        data_key = open_data_key(SealedKey.from_bytes(item.sealed_key), context, key)
        resource: Resource = json.loads(decrypt(item.ciphertext, context, data_key))
    except (CareLedgerError, ValueError) as exc:
        raise IntegrityError(f"{name}: cannot be opened with our key: {exc}") from None
    if resource.get("resourceType") != item.resource_type or resource.get("id") != item.record_id:
        raise IntegrityError(f"{name}: the content is a different resource")
    if categorise(resource).value != item.category:
        raise IntegrityError(f"{name}: the content is {categorise(resource).value}, not {item.category}")
    return resource


def _provenance(request: FetchRequest, opened: list[tuple[SharedRecord, Resource]], chain_id: int) -> Resource:
    """Where the records came from: the custodian node, and each source version's commitment."""
    return provenance_view(
        provenance_id=f"fetch-{uuid.uuid4()}",
        recorded=datetime.now(UTC),
        custodian_did=did_pkh(chain_id, request.custodian),
        sources=[
            (f"{item.resource_type}/{item.record_id}/_history/{item.version}", item.commitment) for item, _ in opened
        ],
    )
