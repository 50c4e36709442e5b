"""The record service on SQLite and PostgreSQL: round trips, versions, refusals."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from sqlalchemy import func, select

from careledger.crypto import Envelope, SealedKey, unseal
from careledger.errors import AccessDenied, Conflict, DecryptionError, NotFound, ValidationError
from careledger.fhir import URI
from careledger.records import Category, RecordService, StoredRecord
from careledger.store import Database, FileBlobStore, RecordToken, RecordVersion
from careledger.testdata import RESOURCE_TYPES, SyntheticPatient
from tests.records.conftest import Keys


def _load(records: RecordService, keys: Keys, patient: SyntheticPatient) -> str:
    address = keys.new_patient()
    records.write(patient.patient, patient_address=address)
    for record in patient.records:
        records.write(record)
    return address


def _as_sent(resource: dict[str, Any]) -> dict[str, Any]:
    """A stored resource without the versionId and lastUpdated the server assigned."""
    meta = {k: v for k, v in resource["meta"].items() if k not in ("versionId", "lastUpdated")}
    return {k: v for k, v in resource.items() if k != "meta"} | ({"meta": meta} if meta else {})


def test_round_trips_every_record_type(records: RecordService, keys: Keys) -> None:
    from careledger.testdata import synthetic_patients

    seen: set[str] = set()
    for patient in synthetic_patients(6, seed=8):
        _load(records, keys, patient)
        for resource in patient.resources:
            back = records.read(resource["id"])
            assert _as_sent(back) == resource
            assert back["meta"]["versionId"] == "1"
            assert back["meta"]["lastUpdated"].endswith("Z")
            seen.add(resource["resourceType"])
    assert seen >= set(RESOURCE_TYPES)


def test_the_patient_opens_their_own_record(records: RecordService, keys: Keys, synthetic: SyntheticPatient) -> None:
    address = _load(records, keys, synthetic)
    stored = records.get(synthetic.records[0]["id"])
    resource = records.decrypt(stored, keys.patients[address])
    assert resource["id"] == synthetic.records[0]["id"]
    with pytest.raises(DecryptionError):
        records.decrypt(stored, keys.patients[keys.new_patient()])


def test_stored_data_is_ciphertext(
    records: RecordService, keys: Keys, synthetic: SyntheticPatient, blobs: FileBlobStore
) -> None:
    _load(records, keys, synthetic)
    family = synthetic.patient["name"][0]["family"].encode()
    for path in blobs.root.rglob("*"):
        if path.is_file():
            assert family not in path.read_bytes()


def test_updates_make_versions_and_old_versions_stay_readable(
    records: RecordService, keys: Keys, synthetic: SyntheticPatient
) -> None:
    _load(records, keys, synthetic)
    observation = next(r for r in synthetic.records if r["resourceType"] == "Observation")
    changed = {**observation, "status": "amended"}
    second = records.write(changed)
    assert second.version == 2
    assert records.read(observation["id"])["status"] == "amended"
    assert records.read(observation["id"], version=1)["status"] == "final"
    assert [v.version for v in records.history(observation["id"])] == [2, 1]
    with records.db.session() as session:
        statuses = session.scalars(
            select(RecordToken.value).where(RecordToken.record_id == observation["id"], RecordToken.param == "status")
        ).all()
    assert statuses == [records.index.value("status", "amended")]


def test_delete_is_a_tombstone(records: RecordService, keys: Keys, synthetic: SyntheticPatient) -> None:
    _load(records, keys, synthetic)
    target = synthetic.records[0]["id"]
    tombstone = records.delete(target)
    assert (tombstone.version, tombstone.deleted, tombstone.cid) == (2, True, None)
    with pytest.raises(NotFound, match="was deleted in version 2"):
        records.read(target)
    assert records.read(target, version=1)["id"] == target
    assert target not in {r.record_id for r in records.list()}
    assert records.delete(target).version == 2  # deleting again changes nothing
    with pytest.raises(NotFound):
        records.delete("no-such-record")


def test_categories_and_patient_are_recorded(records: RecordService, keys: Keys, synthetic: SyntheticPatient) -> None:
    address = _load(records, keys, synthetic)
    by_type = {r.resource_type: r for r in records.list(patient_address=address)}
    assert by_type["Patient"].category is Category.GENERAL
    assert by_type["MedicationRequest" if "MedicationRequest" in by_type else "Encounter"].patient_address == address
    assert {r.patient_id for r in records.list(patient_address=address)} == {synthetic.id}
    assert len(records.list(resource_type="Patient")) == 1


def test_invalid_input_stores_nothing(records: RecordService, keys: Keys, blobs: FileBlobStore) -> None:
    address = keys.new_patient()
    bad = [
        b"not json",
        b'{"resourceType": "Spaceship"}',
        b'{"resourceType": "Patient", "gender": 5}',
        b'{"resourceType": "Observation", "status": "final"}',
        json.dumps({"resourceType": "Patient", "id": "has spaces"}).encode(),
    ]
    for body in bad:
        with pytest.raises(ValidationError):
            records.write(body, patient_address=address)
    with records.db.session() as session:
        assert session.scalar(select(func.count()).select_from(RecordVersion)) == 0
    assert not blobs.root.exists() or not any(p.is_file() for p in blobs.root.rglob("*"))


def test_ownership_refusals(records: RecordService, keys: Keys, synthetic: SyntheticPatient) -> None:
    with pytest.raises(ValidationError, match="needs the patient's wallet"):
        records.write(synthetic.patient)
    with pytest.raises(ValidationError, match="which this node does not hold"):
        records.write(synthetic.records[0])
    address = _load(records, keys, synthetic)
    with pytest.raises(ValidationError, match=f"belongs to {address}"):
        records.write(synthetic.records[0], patient_address=keys.new_patient())
    # Naming no patient would make a record the node's own: a new version of hers cannot drop her.
    orphan = {k: v for k, v in synthetic.records[0].items() if k not in ("subject", "patient")}
    with pytest.raises(AccessDenied, match="cannot move it to another patient"):
        records.write(orphan)
    # Outside the Patient compartment a resource is the node's own, sealed to its key alone.
    clinic = records.write({"resourceType": "Organization", "name": "Clinic"})
    assert (clinic.patient_id, clinic.patient_address) == (None, keys.custodian_address)
    assert records.read(clinic.record_id)["name"] == "Clinic"
    other = synthetic.records[0]
    with pytest.raises(Conflict, match=f"is a {other['resourceType']}, not a Patient"):
        records.write({**synthetic.patient, "id": other["id"]}, patient_address=address)


def test_a_new_version_never_moves_a_record_to_another_patient(
    records: RecordService, keys: Keys, synthetic: SyntheticPatient
) -> None:
    address = _load(records, keys, synthetic)
    mallory = keys.new_patient()
    records.write({"resourceType": "Patient", "id": "mallory"}, patient_address=mallory)
    with pytest.raises(AccessDenied, match="cannot move it to another patient"):
        records.write(synthetic.patient, patient_address=mallory)  # her wallet on Alice's Patient
    moved = {**synthetic.records[0], "subject": {"reference": "Patient/mallory"}}
    moved.pop("patient", None)
    with pytest.raises(AccessDenied, match="cannot move it to another patient"):
        records.write(moved)  # Alice's record, re-filed under Mallory
    assert {s.patient_address for s in records.history(synthetic.records[0]["id"])} == {address}
    assert records.get(synthetic.patient["id"]).patient_address == address


def test_a_refused_write_among_concurrent_ones_fails_alone(
    records: RecordService, keys: Keys, synthetic: SyntheticPatient
) -> None:
    _load(records, keys, synthetic)
    drafts = [
        records.prepare({"resourceType": "Patient", "id": f"p{n}"}, patient_address=keys.new_patient())
        for n in range(3)
    ]
    drafts.insert(1, records.prepare(synthetic.patient, patient_address=keys.new_patient()))

    async def together() -> list[StoredRecord | BaseException]:  # queued at once: committed as a group
        return await asyncio.gather(*(records.write_async(d) for d in drafts), return_exceptions=True)

    outcomes = asyncio.run(together())
    assert isinstance(outcomes[1], AccessDenied)
    assert [o.record_id for o in outcomes if isinstance(o, StoredRecord)] == ["p0", "p1", "p2"]


def test_sealed_to_patient_and_custodian_only(records: RecordService, keys: Keys, synthetic: SyntheticPatient) -> None:
    address = _load(records, keys, synthetic)
    stored = records.get(synthetic.id)
    with records.db.session() as session:
        row = session.get_one(RecordVersion, (stored.record_id, stored.version))
        sealed = [SealedKey.from_bytes(bytes.fromhex(h)) for h in json.loads(row.sealed_keys or "")]
    assert {s.recipient for s in sealed} == {keys.public(address).fingerprint, keys.custodian.public_key.fingerprint}
    envelope = Envelope(records.blobs.get(stored.cid or ""), tuple(sealed))
    assert json.loads(unseal(envelope, stored.context, keys.custodian))["id"] == synthetic.id


def test_export_decrypts_with_the_patients_own_key(
    records: RecordService, keys: Keys, synthetic: SyntheticPatient
) -> None:
    address = _load(records, keys, synthetic)
    records.delete(synthetic.records[0]["id"])
    exported = list(records.export(address, keys.patients[address]))
    deleted = synthetic.records[0]["id"]
    assert {r["id"] for r in exported} == {r["id"] for r in synthetic.resources} - {deleted}
    with pytest.raises(DecryptionError):
        list(records.export(address, keys.patients[keys.new_patient()]))


def test_two_processes_storing_the_same_record_at_once_conflict_and_lose_nothing(
    records: RecordService,
    keys: Keys,
    synthetic: SyntheticPatient,
    blobs: FileBlobStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The blobs are made durable outside the write lock: a writer that commits meanwhile wins, we get Conflict."""
    _load(records, keys, synthetic)
    other_db = Database(records.db.url.render_as_string(hide_password=False), schema=records.db.schema)
    other = RecordService(
        other_db,
        FileBlobStore(blobs.root),
        custodian=keys.custodian_address,
        custodian_public=keys.custodian.public_key,
        custodian_key=lambda: keys.custodian,
        patient_key=keys.public,
        index=records.index,
    )
    observation = next(r for r in synthetic.records if r["resourceType"] == "Observation")
    ours = {**observation, "status": "amended"}
    theirs = {**observation, "status": "corrected"}
    put_many = records.blobs.put_many

    def racing_put_many(data: list[bytes]) -> list[str]:
        other.write(theirs)  # the other process commits version 2 while our blobs are synced
        return put_many(data)

    monkeypatch.setattr(records.blobs, "put_many", racing_put_many)
    try:
        with pytest.raises(Conflict, match="changed by another writer"):
            records.write(ours)
    finally:
        other_db.close()
    history = records.history(ours["id"])
    assert [s.version for s in history] == [2, 1]
    assert records.read(ours["id"])["status"] == "corrected"
    with records.db.session() as session:
        current = session.scalar(
            select(func.count()).where(RecordVersion.record_id == ours["id"], RecordVersion.is_current)
        )
    assert current == 1


def _naming(patient: dict[str, Any], *values: str, system: str = URI) -> dict[str, Any]:
    """`patient` with did:pkh identifiers of these values (and her MRN)."""
    return {**patient, "identifier": [*patient["identifier"], *({"system": system, "value": v} for v in values)]}


def test_a_patient_carries_no_other_wallets_did_pkh(
    records: RecordService, keys: Keys, synthetic: SyntheticPatient
) -> None:
    alice, bob = keys.new_patient(), keys.new_patient()
    theirs = f"did:pkh:eip155:31337:{bob}"
    for refused, given in (
        (_naming(synthetic.patient, theirs), alice),  # hers, as she writes it, naming his wallet
        (_naming(synthetic.patient, f"did:pkh:eip155:31337:{alice}", theirs), None),  # filed by its first did:pkh
        (_naming(synthetic.patient, theirs.lower(), system="urn:example:wallets"), alice),  # under any system
        (_naming(synthetic.patient, f"did:pkh:solana:1:{alice}"), alice),  # not an account of hers here
    ):
        with pytest.raises(ValidationError, match=f"belongs to {alice}: the only did:pkh it may carry"):
            records.write(refused, patient_address=given)
    assert records.list(resource_type="Patient") == []
    own = records.write(_naming(synthetic.patient, f"did:pkh:eip155:1:{alice.lower()}"), patient_address=alice)
    assert own.patient_address == alice
    with pytest.raises(ValidationError, match="the only did:pkh it may carry"):
        records.write(_naming(synthetic.patient, theirs))  # nor on a later version, by anyone
    assert records.get(synthetic.patient["id"]).version == 1
