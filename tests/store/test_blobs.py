"""The blob stores (files under the home, rows of the database): one contract, and moving blobs between them."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import event, text

from careledger.crypto import content_id
from careledger.errors import IntegrityError, NotFound, ValidationError
from careledger.store import BlobStore, BlobStores, BlobUsage, Database, DatabaseBlobStore, FileBlobStore
from tests.conftest import PG_URL, _postgres_schema

BLOBS = [f"ciphertext {n}".encode() * (n + 1) for n in range(150)]


def _database(kind: str, tmp_path: Path) -> Iterator[Database]:
    """A migrated database: SQLite in `tmp_path`, or PostgreSQL in a schema of its own."""
    if kind == "sqlite":
        db = Database(f"sqlite:///{tmp_path / 'blobs.db'}")
        db.migrate()
        yield db
        db.close()
        return
    for schema in _postgres_schema():
        db = Database(PG_URL, schema=schema)
        db.migrate()
        try:
            yield db
        finally:
            db.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    yield from _database(request.param, tmp_path)


@pytest.fixture(params=["files", "database-sqlite", pytest.param("database-postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BlobStore]:
    """Each store, on each database it runs on."""
    if request.param == "files":
        yield FileBlobStore(tmp_path / "blobs")
        return
    for db in _database(request.param.removeprefix("database-"), tmp_path):
        yield DatabaseBlobStore(db)


def _tamper(store: BlobStore, cid: str, data: bytes) -> None:
    """Change a stored blob's bytes behind the store's back, as a disk error or an intruder would."""
    if isinstance(store, FileBlobStore):
        store.path(cid).write_bytes(data)
        return
    assert isinstance(store, DatabaseBlobStore)
    with store._db.writing() as connection:
        connection.execute(text("UPDATE blobs SET data = :data WHERE cid = :cid"), {"data": data, "cid": cid})


def test_put_get_has_and_idempotence(store: BlobStore) -> None:
    cid = store.put(b"ciphertext")
    assert cid == content_id(b"ciphertext")
    assert store.get(cid) == b"ciphertext"
    assert store.has(cid)
    assert not store.has(content_id(b"never stored"))
    assert store.put(b"ciphertext") == cid  # a no-op
    assert store.usage() == BlobUsage(1, len(b"ciphertext"))


def test_put_many_names_each_blob_in_order_and_lists_them(store: BlobStore) -> None:
    cids = store.put_many([*BLOBS, BLOBS[0]])  # a blob twice in one call is stored once
    assert cids == [*(content_id(data) for data in BLOBS), content_id(BLOBS[0])]
    assert [store.get(cid) for cid in cids[:-1]] == BLOBS
    assert sorted(store.cids()) == sorted(set(cids))
    assert store.usage() == BlobUsage(len(BLOBS), sum(map(len, BLOBS)))
    assert store.put_many([]) == []


def test_a_changed_blob_is_refused_at_its_content_id(store: BlobStore) -> None:
    cid = store.put(b"ciphertext")
    _tamper(store, cid, b"ciphertexT")
    with pytest.raises(IntegrityError, match="does not match its id"):
        store.get(cid)
    _tamper(store, cid, b"")
    with pytest.raises(IntegrityError, match="does not match its id"):
        store.get(cid)


def test_missing_and_malformed_ids(store: BlobStore) -> None:
    with pytest.raises(NotFound, match="no blob"):
        store.get(content_id(b"never stored"))
    for bad in ("../../etc/passwd", "x' OR '1'='1", content_id(b"x").upper()):
        with pytest.raises(ValidationError):
            store.get(bad)
        with pytest.raises(ValidationError):
            store.has(bad)
    assert list(store.cids()) == []


def test_database_put_many_is_one_transaction(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    store = DatabaseBlobStore(db)
    store.put(BLOBS[0])
    calls: list[int] = []
    real = db.writing

    def counted():  # type: ignore[no-untyped-def]
        calls.append(1)
        return real()

    monkeypatch.setattr(db, "writing", counted)
    store.put_many(BLOBS)  # the first is there already: skipped, not an error
    assert calls == [1]
    assert store.usage().count == len(BLOBS)


def test_the_record_services_store_leaves_the_flush_to_the_rows_commit_on_postgresql(db: Database) -> None:
    statements: list[str] = []
    event.listen(db.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    lazy = ["SET LOCAL synchronous_commit = off"] if db.backend == "postgresql" else []

    def asked(put: Callable[[], object]) -> list[str]:
        statements.clear()
        put()
        return [s for s in statements if "synchronous_commit" in s]

    assert asked(lambda: DatabaseBlobStore(db).put(b"durable at once")) == []
    assert asked(lambda: BlobStores("database", Path(), db).store("database").put(b"moved")) == []
    assert asked(lambda: BlobStores("database", Path(), db).current.put(b"named by rows committed next")) == lazy


def test_files_are_owner_only_in_the_flat_layout(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path / "blobs")
    cid = store.put(b"ciphertext")
    path = store.path(cid)
    assert path == tmp_path / "blobs" / cid[-2:] / cid
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    (path.parent / f".{cid}.1.2.tmp").write_bytes(b"half")  # a crashed write's temp file is not a blob
    assert list(store.cids()) == [cid]


def test_a_store_in_the_old_layout_is_moved_when_opened(tmp_path: Path) -> None:
    blobs = [f"ciphertext {n}".encode() for n in range(40)]
    for data in blobs:  # the old layout: blobs/<2>/<2>/<cid>, with a crashed write's temp file
        cid = content_id(data)
        old = tmp_path / cid[-4:-2] / cid[-2:] / cid
        old.parent.mkdir(parents=True, exist_ok=True)
        old.write_bytes(data)
    (old.parent / f".{cid}.1.2.tmp").write_bytes(b"half")
    store = FileBlobStore(tmp_path)
    assert [store.get(content_id(data)) for data in blobs] == blobs
    leftovers = [p for p in tmp_path.rglob("*") if (p.is_dir() and p.parent != tmp_path) or p.name.endswith(".tmp")]
    assert leftovers == []
    assert (tmp_path / "LAYOUT").is_file()
    assert FileBlobStore(tmp_path).get(content_id(blobs[0])) == blobs[0]  # opening again changes nothing


def test_a_move_cut_short_is_finished_by_the_next_open(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blobs = [f"ciphertext {n}".encode() for n in range(40)]
    for data in blobs:
        cid = content_id(data)
        old = tmp_path / cid[-4:-2] / cid[-2:] / cid
        old.parent.mkdir(parents=True, exist_ok=True)
        old.write_bytes(data)
    real_rmdir, calls = os.rmdir, []

    def crash_on_the_fifth(path: str) -> None:
        calls.append(path)
        if len(calls) == 5:
            raise OSError("power cut")
        real_rmdir(path)

    monkeypatch.setattr(os, "rmdir", crash_on_the_fifth)
    with pytest.raises(OSError, match="power cut"):
        FileBlobStore(tmp_path)
    monkeypatch.setattr(os, "rmdir", real_rmdir)
    assert not (tmp_path / "LAYOUT").exists()
    store = FileBlobStore(tmp_path)
    assert [store.get(content_id(data)) for data in blobs] == blobs
    assert not [p for p in tmp_path.rglob("*") if p.is_dir() and p.parent != tmp_path]
    assert (tmp_path / "LAYOUT").is_file()


@pytest.mark.parametrize("to", ["database", "files"])
def test_move_copies_every_blob_and_a_rerun_copies_none(db: Database, tmp_path: Path, to: str) -> None:
    stores = BlobStores("files", tmp_path / "blobs", db)
    source = stores.store("files" if to == "database" else "database")
    source.put_many(BLOBS)
    seen: list[int] = []
    moved = stores.move(to, seen.append)  # type: ignore[arg-type]
    assert (moved.source, moved.target) == (source.kind, to)
    assert (moved.moved, moved.already_there) == (len(BLOBS), 0)
    assert moved.moved_bytes == moved.total_bytes == sum(map(len, BLOBS))
    assert sum(seen) == len(BLOBS)
    assert len(seen) > 1  # told page by page
    target = stores.store(to)  # type: ignore[arg-type]
    assert [target.get(content_id(data)) for data in BLOBS] == BLOBS
    again = stores.move(to)  # type: ignore[arg-type]
    assert (again.moved, again.already_there, again.moved_bytes) == (0, len(BLOBS), 0)
    assert again.total_bytes == moved.total_bytes
    assert source.usage() == target.usage()  # the source is left as it was


def test_a_move_interrupted_mid_way_is_finished_by_a_rerun(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stores = BlobStores("files", tmp_path / "blobs", db)
    stores.store("files").put_many(BLOBS)
    pages: list[str] = []

    def ctrl_c_on_the_second_page(name: str) -> None:
        pages.append(name)
        if len(pages) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr("careledger.store._blob_stores.crash_point", ctrl_c_on_the_second_page)
    with pytest.raises(KeyboardInterrupt):
        stores.move("database")
    assert pages == ["blobs-page-moved"] * 2
    done = stores.store("database").usage().count
    assert 0 < done < len(BLOBS)
    monkeypatch.undo()
    finished = stores.move("database")
    assert finished.moved == len(BLOBS) - done
    assert finished.already_there == done
    assert [stores.store("database").get(content_id(data)) for data in BLOBS] == BLOBS


def test_a_damaged_blob_stops_the_move_before_it_is_copied(db: Database, tmp_path: Path) -> None:
    stores = BlobStores("files", tmp_path / "blobs", db)
    files = stores.store("files")
    assert isinstance(files, FileBlobStore)
    cids = files.put_many(BLOBS[:3])
    files.path(cids[1]).write_bytes(b"rotted")
    with pytest.raises(IntegrityError, match="does not match its id"):
        stores.move("database")
    assert not stores.store("database").has(cids[1])


def test_the_current_store_is_the_configured_one(db: Database, tmp_path: Path) -> None:
    assert BlobStores("files", tmp_path, db).current.kind == "files"
    assert BlobStores("database", tmp_path, db).current.kind == "database"
