"""Erasing records by key destruction: every version's keys, blobs and tokens gone, everywhere; a marker stays."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import event, select

from careledger.errors import Gone, NotFound
from careledger.records import RecordEraser, RecordService, SearchQuery, TokenCondition, _erasure
from careledger.store import RECORD_TOKENS, Database, DatabaseBlobStore, FileBlobStore
from tests.records.conftest import Keys

PHRASE = "purple giraffe under the stairs"


def _note(record_id: str, patient_id: str, text: str) -> dict[str, object]:
    return {
        "resourceType": "Condition",
        "id": record_id,
        "subject": {"reference": f"Patient/{patient_id}"},
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "35489007"}], "text": text},
    }


def _found(root: Path, needles: list[bytes]) -> list[tuple[str, int]]:
    """Which needles (by position) each file under `root` holds: the byte scan of a home."""
    hits = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        hits.extend((path.name, at) for at, needle in enumerate(needles) if needle in data)
    return hits


def test_erased_versions_are_gone_from_every_store_and_the_file_but_others_stay(
    tmp_path: Path, records: RecordService, blobs: FileBlobStore, keys: Keys, database: Database
) -> None:
    alice, bob = keys.new_patient(), keys.new_patient()
    records.write({"resourceType": "Patient", "id": "alice"}, patient_address=alice)
    records.write({"resourceType": "Patient", "id": "bob"}, patient_address=bob)
    records.write(_note("psy-1", "alice", f"first: {PHRASE}"))
    second = records.write(_note("psy-1", "alice", f"second: {PHRASE}"))
    old = records.write(_note("old-1", "alice", f"old: {PHRASE}"))
    records.delete("old-1")  # a tombstone: the version before it still opens
    with pytest.raises(Gone, match="deleted in version 2"):
        records.read("old-1")
    kept = records.write(_note("bobs", "bob", PHRASE))
    code = SearchQuery(resource_types=("Condition",), tokens=(TokenCondition("code", ("35489007",)),))
    assert {s.record_id for s in records.search(code)} == {"psy-1", "bobs"}
    versions = [records.get("psy-1", 1), second, old]
    copies = DatabaseBlobStore(database)  # a store the blobs were moved to, and left in
    copies.put_many([blobs.get(v.cid or "") for v in versions])
    needles = [PHRASE.encode()]
    needles += [blobs.get(v.cid or "")[40:72] for v in versions]  # the ciphertexts
    needles += [(v.sealed_keys or "")[2:66].encode() for v in versions]  # the sealed data keys, as stored
    # The scan finds them while they exist: blobs in files, keys in the database's file (PostgreSQL's is elsewhere).
    in_files = set(range(1, 7)) if database.backend == "sqlite" else {1, 2, 3}
    assert {at for _, at in _found(tmp_path, needles)} == in_files

    eraser = RecordEraser(records, [blobs, copies])
    assert {r.record_id: r.versions for r in eraser.records_of(alice)} == {"alice": 1, "psy-1": 2, "old-1": 2}
    assert eraser.erase(alice, ["psy-1", "old-1", "bobs"], request="0x" + "ab" * 32) == 4  # bob's is not hers

    assert _found(tmp_path, needles) == []
    for record_id, version in (("psy-1", 1), ("psy-1", 2), ("old-1", 1), ("old-1", 2)):
        stored = records.get(record_id, version)
        assert (stored.deleted, stored.cid, stored.sealed_keys) == (True, None, None)
        with pytest.raises(Gone, match=f"Condition/{record_id} was erased on .* UTC: its content is destroyed"):
            records.open(stored)
    with pytest.raises(NotFound):
        records.decrypt(second, keys.patients[alice])
    assert not any(copies.has(v.cid or "") or blobs.has(v.cid or "") for v in versions)
    mark = eraser.mark("psy-1")
    assert mark is not None
    assert (mark.patient, mark.versions, mark.request) == (alice, 2, "0x" + "ab" * 32)
    assert eraser.mark("bobs") is None
    assert [r.record_id for r in eraser.records_of(alice)] == ["alice"]
    assert records.read("bobs")["code"]["text"] == PHRASE
    assert records.search(code) == [kept]


def test_a_charts_search_tokens_are_deleted_in_chunks_each_id_sent_once(
    records: RecordService, blobs: FileBlobStore, keys: Keys, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_erasure, "_CHUNK", 2)  # a chart of three chunks, without writing a thousand records
    alice = keys.new_patient()
    records.write({"resourceType": "Patient", "id": "alice"}, patient_address=alice)
    chart = ["alice", *(records.write(_note(f"n-{n}", "alice", "a note")).record_id for n in range(5))]
    sent: list[int] = []

    def count(_conn: object, _cursor: object, statement: str, parameters: object, *_: object) -> None:
        if statement.lstrip().upper().startswith("DELETE FROM RECORD_TOKENS"):
            sent.append(len(parameters))  # type: ignore[arg-type]

    event.listen(database.engine, "before_cursor_execute", count)
    try:
        RecordEraser(records, [blobs]).erase(alice, chart, request="0x" + "cd" * 32)
    finally:
        event.remove(database.engine, "before_cursor_execute", count)
    assert sent == [2, 2, 2]
    with database.reading() as connection:
        assert connection.execute(select(RECORD_TOKENS.c.record_id)).all() == []
