"""Sealing record versions: what a version's ciphertext is bound to, who can open its data key.

```
draft ─owner, version, category─► RecordContext (the AAD) ─seal─► ciphertext + data key sealed to the
                                                                  patient's key and the node's
stored version + ciphertext ─the node's (or the patient's) key─► resource
```

Kept apart from the record service so that how a version is sealed (and who may open it: the
patient, and the node, which reads, indexes and re-seals without her) is decided in one place,
and the service is left with the order of writes that keeps a crash harmless.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from careledger.crypto import (
    DataKeyCache,
    Envelope,
    PrivateKey,
    PublicKey,
    RecordContext,
    SealedKey,
    canonical_json,
    reseal,
    seal,
    sealed_to,
    unseal,
)
from careledger.errors import Conflict
from careledger.fhir import fhir_instant
from careledger.identity import CustodialIdentity, CustodialPatients
from careledger.records._blind_index import BlindIndex
from careledger.records._categories import categorise
from careledger.records._fhir import Resource, wallet_identifier
from careledger.records._rows import owner_of, version_row
from careledger.records._stored import Draft, KeyResolver, StoredRecord


@dataclass(frozen=True, slots=True)
class NewVersion:
    """A draft's next version, not yet sealed: its content (meta stamped) and what it is bound to."""

    context: RecordContext
    patient_id: str | None
    data: Resource
    author: str | None
    last_updated: datetime

    def row(self, index: BlindIndex, cid: str | None, sealed_keys: Sequence[SealedKey]) -> dict[str, Any]:
        """The `record_versions` row it is stored as: with no blob or keys, the version its writer's check sees."""
        return version_row(
            self.data["resourceType"],
            self.patient_id,
            self.context,
            self.last_updated,
            cid=cid,
            sealed_keys=sealed_keys,
            author=self.author,
            index=index,
        )


class RecordSealer:
    """Seals versions to their patient and the node, and opens them again, for the record service."""

    def __init__(
        self,
        custodian: str,
        custodian_public: PublicKey,
        custodian_key: Callable[[], PrivateKey],
        patient_key: KeyResolver,
        custodial: CustodialPatients | None,
    ) -> None:
        """`custodian_key` is asked for only when a version is opened or re-sealed: the node may run locked."""
        self._custodian = custodian
        self._custodian_public = custodian_public
        self._custodian_key = custodian_key
        self._patient_key = patient_key
        self._custodial = custodial
        # Data keys opened already: a record read again skips the HPKE decapsulation.
        self._data_keys = DataKeyCache()

    def identities(self, drafts: Sequence[Draft], known: dict[str, StoredRecord]) -> dict[str, CustodialIdentity]:
        """New identities for the new Patients that name no wallet, by record id (keys made, not yet registered)."""
        unowned = [
            draft.record_id
            for draft in drafts
            if draft.data["resourceType"] == "Patient"
            and draft.patient_address is None
            and draft.record_id not in known
            and wallet_identifier(draft.data) is None
        ]
        if not unowned or self._custodial is None:
            return {}
        return dict(zip(unowned, self._custodial.make(len(unowned)), strict=True))

    def enrol(self, identities: dict[str, CustodialIdentity]) -> None:
        """Register the identities a write made, once every version of it passed its check."""
        if identities and self._custodial is not None:
            self._custodial.enrol(list(identities.values()))

    def discard(self, identities: dict[str, CustodialIdentity]) -> None:
        """Forget the identities of a write that failed: no key of a patient who was never stored is kept."""
        if self._custodial is not None:
            self._custodial.discard(list(identities.values()))

    def new_version(
        self,
        draft: Draft,
        current: StoredRecord | None,
        known: dict[str, StoredRecord],
        identities: dict[str, CustodialIdentity],
        now: datetime,
    ) -> NewVersion:
        """The version `draft` becomes: its owner (a patient, or the node) and number are bound into its ciphertext.

        `known` holds the current versions of the records it may refer to (its Patient, perhaps
        earlier in the same batch); a record keeps its resource type from version to version.
        """
        data = dict(draft.data)
        if current is not None and current.resource_type != data["resourceType"]:
            raise Conflict(f"{draft.record_id} is a {current.resource_type}, not a {data['resourceType']}")
        given = draft.patient_address or (
            identities[draft.record_id].address if draft.record_id in identities else None
        )
        patient_id, address = owner_of(data, current, given, known, self._custodian)
        version = current.version + 1 if current else 1
        data["meta"] = {**data.get("meta", {}), "versionId": str(version), "lastUpdated": fhir_instant(now)}
        context = RecordContext(draft.record_id, version, address, categorise(data).value)
        return NewVersion(context, patient_id, data, draft.author, now)

    def seal(self, version: NewVersion, patient_keys: dict[str, PublicKey]) -> Envelope:
        """`version` encrypted under a fresh data key, sealed to its patient's key and the node's (the node's own
        resources: to the node's alone).

        `patient_keys` caches the patients' keys for one batch (a bulk import is thousands of one
        patient's records) and no longer: a patient's key may change (`resealed`).
        """
        address = version.context.patient
        if address == self._custodian:
            recipients = [self._custodian_public]
        else:
            if address not in patient_keys:
                patient_keys[address] = self._patient_key(address)
            recipients = [patient_keys[address], self._custodian_public]
        return seal(canonical_json(version.data), version.context, recipients)

    def forget_data_keys(self) -> None:
        """Drop every data key opened so far: after an erasure, none of its records' may stay in memory."""
        self._data_keys = DataKeyCache()

    def node_key(self) -> PrivateKey:
        """The node's private key, which opens every version's data key (unlocking it if need be)."""
        return self._custodian_key()

    def resealed(self, stored: StoredRecord, node_key: PrivateKey, to: PublicKey) -> str:
        """A version's sealed keys with the patient's copy sealed anew to `to` (her new key), the node's kept."""
        node_copy = sealed_to(stored.data_keys(), self._custodian_public)
        theirs = reseal(node_copy, stored.context, node_key, to)
        return json.dumps([theirs.to_bytes().hex(), node_copy.to_bytes().hex()])

    def open(self, stored: StoredRecord, ciphertext: bytes, key: PrivateKey) -> Resource:
        """A version's resource from its ciphertext, opened with `key` (the node's, or the patient's for export)."""
        envelope = Envelope(ciphertext, stored.data_keys())
        resource: Resource = json.loads(unseal(envelope, stored.context, key, self._data_keys))
        return resource
