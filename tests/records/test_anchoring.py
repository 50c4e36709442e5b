"""Anchoring commitments in batches, and verifying records against the chain."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from careledger.anchoring import Anchorer
from careledger.chain import AnchorKind, RecordAnchor
from careledger.errors import Conflict
from careledger.records import RecordCommitments, RecordService, verify_record
from careledger.store import AnchorBatch, RecordVersion
from careledger.testdata import SyntheticPatient
from tests.records.conftest import Keys


@pytest.fixture
def anchorer(records: RecordService, anchor: RecordAnchor) -> Anchorer:
    return Anchorer(records.db, lambda: anchor, RecordCommitments(), batch_size=16, max_wait=60)


def _load(records: RecordService, keys: Keys, patient: SyntheticPatient) -> None:
    records.write(patient.patient, patient_address=keys.new_patient())
    for record in patient.records:
        records.write(record)


def test_every_commitment_is_anchored_once(
    records: RecordService, anchorer: Anchorer, anchor: RecordAnchor, keys: Keys, synthetic: SyntheticPatient
) -> None:
    _load(records, keys, synthetic)
    total = len(synthetic.resources)
    assert anchorer.pending() == total
    batches = anchorer.anchor_pending()
    assert sum(b.leaf_count for b in batches) == total
    assert all(b.leaf_count <= 16 for b in batches)
    assert anchorer.pending() == 0
    assert anchorer.anchor_pending() == []
    assert anchor.anchored_roots() == [batch.root for batch in batches]
    with records.db.session() as session:
        rows = session.scalars(select(RecordVersion)).all()
    assert len({row.commitment for row in rows}) == total
    assert all(row.batch_id is not None for row in rows)


def test_verify_passes_every_step(
    records: RecordService, anchorer: Anchorer, anchor: RecordAnchor, keys: Keys, synthetic: SyntheticPatient
) -> None:
    _load(records, keys, synthetic)
    target = synthetic.records[3]["id"]
    before = verify_record(records, anchor, keys.custodian, target)
    assert [(c.step, c.ok) for c in before][-1] == ("anchored", False)
    anchorer.anchor_pending()
    checks = verify_record(records, anchor, keys.custodian, target)
    assert [(c.step, c.ok) for c in checks] == [
        ("content id", True),
        ("decrypt", True),
        ("commitment", True),
        ("anchored", True),
        ("proof", True),
    ]


def test_tampering_fails_at_the_right_step(
    records: RecordService, anchorer: Anchorer, anchor: RecordAnchor, keys: Keys, synthetic: SyntheticPatient
) -> None:
    _load(records, keys, synthetic)
    anchorer.anchor_pending()
    blob_target, row_target, proof_target, root_target = (r["id"] for r in synthetic.records[:4])

    path = records.blobs.path(records.get(blob_target).cid or "")
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    assert _failed_step(records, anchor, keys, blob_target) == "content id"

    with records.db.session() as session:
        session.execute(
            update(RecordVersion).where(RecordVersion.record_id == row_target).values(resource_type="Basic")
        )
    assert _failed_step(records, anchor, keys, row_target) == "commitment"

    with records.db.session() as session:
        row = session.scalars(select(RecordVersion).where(RecordVersion.record_id == proof_target)).one()
        proof = json.loads(row.proof or "[]")
        proof[0] = "00" * 32
        row.proof = json.dumps(proof)
    assert _failed_step(records, anchor, keys, proof_target) == "proof"

    with records.db.session() as session:
        batch_id = session.scalars(select(RecordVersion.batch_id).where(RecordVersion.record_id == root_target)).one()
        session.execute(update(AnchorBatch).where(AnchorBatch.id == batch_id).values(root=b"\x11" * 32))
    assert _failed_step(records, anchor, keys, root_target) == "root"


def _failed_step(records: RecordService, anchor: RecordAnchor, keys: Keys, record_id: str) -> str:
    failed = [c.step for c in verify_record(records, anchor, keys.custodian, record_id) if not c.ok]
    assert failed, "tampering went unnoticed"
    return failed[0]


def test_due_by_count_or_age(
    records: RecordService, anchor: RecordAnchor, keys: Keys, synthetic: SyntheticPatient
) -> None:
    now = datetime.now(UTC)
    source = RecordCommitments()
    by_count = Anchorer(
        records.db, lambda: anchor, RecordCommitments(), batch_size=1024, max_wait=3600, clock=lambda: now
    )
    assert not by_count.due()
    _load(records, keys, synthetic)
    assert not by_count.due()
    assert by_count.maybe_anchor() == []
    small = Anchorer(records.db, lambda: anchor, source, batch_size=5, max_wait=3600, clock=lambda: now)
    assert small.due()
    later = Anchorer(
        records.db,
        lambda: anchor,
        RecordCommitments(),
        batch_size=1024,
        max_wait=60,
        clock=lambda: now + timedelta(minutes=2),
    )
    assert later.due()
    assert sum(b.leaf_count for b in later.maybe_anchor()) == len(synthetic.resources)
    assert not later.due()


def test_a_prepared_batch_is_settled_not_duplicated(
    records: RecordService, anchorer: Anchorer, anchor: RecordAnchor, keys: Keys, synthetic: SyntheticPatient
) -> None:
    _load(records, keys, synthetic)
    prepared = anchorer._prepare()  # as if the process died right after step 1
    assert prepared is not None
    anchor.anchor(prepared.root, prepared.leaf_count, AnchorKind.RECORDS)  # …or after step 2: the tx made it
    settled = anchorer.reconcile()
    assert [b.root for b in settled] == [prepared.root]
    assert anchor.anchored_roots() == [prepared.root]
    anchorer.anchor_pending()
    roots = anchor.anchored_roots()
    assert len(roots) == len(set(roots))


def test_an_anchorer_that_lost_the_race_drops_its_batch(
    records: RecordService, anchorer: Anchorer, keys: Keys, synthetic: SyntheticPatient
) -> None:
    _load(records, keys, synthetic)
    with records.db.reading() as connection:
        late = RecordCommitments().take(connection, 1024)
    assert late is not None
    anchorer.anchor_pending()  # another anchorer (another process) takes every commitment first
    with pytest.raises(Conflict, match="another anchorer took"), records.db.session() as session:
        late.assign(session, 1)
    with records.db.session() as session:
        batches = {row.batch_id for row in session.scalars(select(RecordVersion))}
    assert None not in batches
